"""The gateway app: FastAPI for REST, python-socketio on the same ASGI app."""

from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, AsyncIterator

import socketio
from fastapi import FastAPI

from api import errors
from api.live import LiveFeed, LiveState
from api.routes import health, markets
from api.sockets import Gateway
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse


def create_api(settings: Settings, warehouse: Warehouse, bootstrap: str | None, extra: Any = None) -> socketio.ASGIApp:
    """Return the ASGI app; `extra` is an async context manager run inside its lifespan."""
    live = LiveState()
    gateway = Gateway(settings, live)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if extra is not None:
                await stack.enter_async_context(extra)
            if bootstrap:
                feed = LiveFeed(settings, bootstrap, live, gateway.on_event)
                await feed.start()
                stack.push_async_callback(feed.stop)
            yield

    app = FastAPI(title="QuantDesk gateway", version="1", lifespan=lifespan,
                  description="Markets, candles, accounts and live channels of the QuantDesk perp venue.")
    app.state.settings, app.state.warehouse, app.state.live, app.state.gateway = settings, warehouse, live, gateway
    errors.install(app)
    app.include_router(health.router)
    app.include_router(markets.router)
    return socketio.ASGIApp(gateway.sio, other_asgi_app=app)

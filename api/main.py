"""The gateway app: FastAPI for REST, python-socketio on the same ASGI app."""

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, AsyncIterator, Sequence

import socketio
import uvicorn
from fastapi import FastAPI
from prometheus_client.registry import Collector

from api import errors, queries
from api.accounts import LiveAccounts
from api.edge import Edge
from api.live import LiveFeed, LiveState
from api.metrics import GatewayMetrics, Meter
from api.queries import DaySummaries
from api.ratelimit import Limiter, Rates
from api.routes import (accounts, admin, audit, auth, books, health, insights, liquidations, markets, metrics,
                        orders, signals, status, terminal, webhooks)
from api.sessions import open_store
from api.sockets import Gateway
from quantdesk.kafka.publisher import Publisher
from quantdesk.process import cancel
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse

HEAD_BUFFER_BYTES = 128 << 10  # per connection: ample past the header limits, small beside a 16 MiB WebSocket frame


class GatewayApp(socketio.ASGIApp):
    """Socket.IO, with the REST app as `other_asgi_app`, both behind the edge (`api.edge`), all metered
    (`api.metrics`)."""

    def __init__(self, sio: socketio.AsyncServer, rest: FastAPI, settings: Settings, meters: GatewayMetrics) -> None:
        super().__init__(sio, other_asgi_app=rest)
        self.edge = Meter(Edge(super().__call__, settings), self.engineio_path, meters)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve a connection through the edge."""
        await self.edge(scope, receive, send)


def create_api(settings: Settings, warehouse: Warehouse, bootstrap: str | None, extra: Any = None,
               rates: Rates = Rates(), collectors: Sequence[Collector] = ()) -> GatewayApp:
    """Return the ASGI app; `extra` is an async context manager run inside its lifespan; `/metrics` shows the
    `collectors` (other parts in this process: a worker's registry, a child's) beside the gateway's own."""
    live, meters = LiveState(settings.market_names), GatewayMetrics()
    sessions, limiter, views = open_store(settings), Limiter(settings, rates, meters), LiveAccounts(live)
    gateway = Gateway(settings, live, views, sessions, limiter, meters)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(sessions.close)
            stack.push_async_callback(limiter.close)
            if extra is not None:
                await stack.enter_async_context(extra)
            watch = asyncio.create_task(gateway.status.run(), name="status-watch")
            stack.push_async_callback(cancel, watch)
            if bootstrap:
                app.state.publisher = await stack.enter_async_context(Publisher(settings, bootstrap))
                live.orders.load(await queries.resting_orders(warehouse))  # before the feed's newer versions
                feed = LiveFeed(settings, bootstrap, live, gateway.on_event)
                await feed.start()
                stack.push_async_callback(feed.stop)
            yield

    app = FastAPI(title="QuantDesk gateway", version="1", lifespan=lifespan, responses=errors.UNAVAILABLE,
                  description="Markets, candles, accounts and live channels of the QuantDesk perp venue.")
    app.state.settings, app.state.warehouse, app.state.live, app.state.gateway = settings, warehouse, live, gateway
    app.state.bootstrap, app.state.publisher = bootstrap, None  # admin commands' publisher: with a broker only
    app.state.sessions, app.state.limiter, app.state.accounts = sessions, limiter, views
    app.state.metrics, app.state.collectors = meters, tuple(collectors)
    app.state.day_summaries = DaySummaries(
        warehouse, lambda: meters.inc("gateway_unreachable_total", part="clickhouse"))
    errors.install(app)
    for module in (health, metrics, markets, books, auth, accounts, orders, signals, liquidations, insights, webhooks,
                   status, admin, audit, terminal):
        app.include_router(module.router)
    return GatewayApp(gateway.sio, app, settings, meters)


def gateway_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """Return uvicorn's config of the gateway app on the API host and port.

    The app judges X-Forwarded-For itself (`api.edge`, trusting only QUANTDESK_TRUSTED_PROXIES): uvicorn's own
    proxy headers, on by default, would take any address from a loopback peer. h11 holds at most
    `HEAD_BUFFER_BYTES` of an unfinished request head: a head up to that reaches the edge, which answers 431 in
    the platform's shape; a larger one is cut off by h11, which uvicorn answers with a bare 400. A websocket
    message is bounded as a request body is (`QUANTDESK_MAX_BODY_BYTES`; uvicorn's default is 16 MB): a larger one
    ends the connection.
    """
    head_buffer = max(HEAD_BUFFER_BYTES, 2 * (settings.max_header_bytes + settings.max_header_line_bytes))
    return uvicorn.Config(app, host=settings.api_host, port=settings.api_port, http="h11", proxy_headers=False,
                          h11_max_incomplete_event_size=head_buffer, ws_max_size=settings.max_body_bytes, **options)

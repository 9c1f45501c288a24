"""A gateway of the test's own making: not served, its members put in rooms by hand and what was queued for them
read back; or its Socket.IO app served on a free port."""

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterator

import socketio
import uvicorn
from engineio.async_socket import AsyncSocket

from api.accounts import LiveAccounts
from api.embedded import WEBSOCKETS
from api.live import LiveState
from api.metrics import GatewayMetrics
from api.ratelimit import Limiter, Rates
from api.sessions import open_store
from api.sockets import Gateway
from quantdesk.broker import free_port
from quantdesk.settings import Settings
from tests.waiting import eventually


def gateway_of(settings: Settings, rates: Rates = Rates()) -> Gateway:
    """Return a gateway that is not served (its members are added by hand)."""
    live = LiveState(settings.market_names)
    metrics = GatewayMetrics()
    return Gateway(settings, live, LiveAccounts(live), open_store(settings), Limiter(settings, rates, metrics),
                   metrics)


@asynccontextmanager
async def served(gateway: Gateway) -> AsyncIterator[str]:
    """Serve the gateway's Socket.IO app as the platform does; yield its URL."""
    port = free_port()
    config = uvicorn.Config(socketio.ASGIApp(gateway.sio), host="127.0.0.1", port=port, log_level="warning",
                            ws=WEBSOCKETS)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started
    try:
        await eventually(started, what="the gateway serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def member(gateway: Gateway, eio_sid: str, room: str) -> AsyncSocket:
    """Connect an engine.io socket to the default namespace and put it in `room`; return the socket."""
    socket = AsyncSocket(gateway.sio.eio, eio_sid)
    socket.connected = True
    gateway.sio.eio.sockets[eio_sid] = socket
    sid = await gateway.sio.manager.connect(eio_sid, "/")
    await gateway.connect(sid, {"asgi.scope": {"client": ("127.0.0.1", 40000)}})  # the session it keeps
    await gateway.sio.manager.enter_room(sid, "/", room, eio_sid)
    return socket


def events(socket: AsyncSocket) -> Iterator[list[Any]]:
    """Yield the Socket.IO events queued on an engine.io socket, as [name, data]."""
    while not socket.queue.empty():
        yield socketio.packet.Packet(encoded_packet=socket.queue.get_nowait().data).data

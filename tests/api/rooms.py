"""A gateway that is not served, its members put in rooms by hand, and what was queued for them."""

from typing import Any, Iterator

import socketio
from engineio.async_socket import AsyncSocket

from api.accounts import LiveAccounts
from api.live import LiveState
from api.metrics import GatewayMetrics
from api.ratelimit import Limiter, Rates
from api.sessions import open_store
from api.sockets import Gateway
from quantdesk.settings import Settings


def gateway_of(settings: Settings) -> Gateway:
    """Return a gateway that is not served (its members are added by hand)."""
    live = LiveState(settings.market_names)
    metrics = GatewayMetrics()
    return Gateway(settings, live, LiveAccounts(live), open_store(settings), Limiter(settings, Rates(), metrics),
                   metrics)


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

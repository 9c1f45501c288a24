"""A push reaches a room's members on this replica by queueing one encoded event on each, no task per member."""

import asyncio
from typing import Any, Iterator

import socketio
from engineio.async_socket import AsyncSocket

from api.accounts import LiveAccounts
from api.live import LiveState
from api.ratelimit import Limiter, Rates
from api.sessions import open_store
from api.sockets import Gateway
from quantdesk.settings import Settings

MEMBERS = 20


def gateway_of(settings: Settings) -> Gateway:
    """Return a gateway that is not served (its members are added by hand)."""
    live = LiveState(settings.market_names)
    return Gateway(settings, live, LiveAccounts(live), open_store(settings), Limiter(settings, Rates()))


async def member(gateway: Gateway, eio_sid: str, room: str) -> AsyncSocket:
    """Connect an engine.io socket to the default namespace and put it in `room`; return the socket."""
    socket = AsyncSocket(gateway.sio.eio, eio_sid)
    socket.connected = True
    gateway.sio.eio.sockets[eio_sid] = socket
    sid = await gateway.sio.manager.connect(eio_sid, "/")
    await gateway.sio.manager.enter_room(sid, "/", room, eio_sid)
    return socket


def events(socket: AsyncSocket) -> Iterator[list[Any]]:
    """Yield the Socket.IO events queued on an engine.io socket, as [name, data]."""
    while not socket.queue.empty():
        yield socketio.packet.Packet(encoded_packet=socket.queue.get_nowait().data).data


async def test_a_push_queues_the_event_on_every_member_without_a_task_each(backed: Settings) -> None:
    gateway = gateway_of(backed)
    sockets = [await member(gateway, f"e{i}", "ticker:BTC-PERP") for i in range(MEMBERS)]
    outsider = await member(gateway, "other", "ticker:ETH-PERP")
    loop = asyncio.get_running_loop()
    started: list[object] = []
    loop.set_task_factory(lambda lp, coro, **kw: started.append(coro) or asyncio.Task(coro, loop=lp, **kw))
    try:
        await gateway.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 1})
    finally:
        loop.set_task_factory(None)
    assert started == []
    expected = ["ticker", {"channel": "ticker", "market": "BTC-PERP", "seq": 1, "snapshot": False,
                           "data": {"market": "BTC-PERP", "ts": 1}}]
    assert all(list(events(s)) == [expected] for s in sockets)
    assert list(events(outsider)) == []

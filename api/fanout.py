"""One event to many Socket.IO clients: encoded once, framed once, written on each local member's connection.

python-socketio's `emit` starts a task per member, and engine.io's writer waits on its queue with
`asyncio.wait_for(queue.get(), …)`, which on Python 3.11 starts another task per packet; then each
send goes through the ASGI server's websocket code, which frames the same text once per member.
Here a push starts no task: `fan_out` builds the websocket frame once, with the `websockets`
library, and writes it straight on each member's transport when nothing is queued or being sent on
that connection and it is not paused for backpressure (so nothing is overtaken); otherwise it queues
the packets on the socket's `Mailbox`, whose `get` is a future. The wire format is python-socketio's
own; a frame written straight is uncompressed, which permessage-deflate allows for any message.
A member whose connection has ended gets nothing (dropped: `gone`); nor does one that has not answered a ping
within the ping timeout, which engine.io then cuts off (dropped: `slow_client`; the mailbox itself is unbounded).
What one client must see before any later push of a room (its snapshot, or the deltas it missed) is queued on
its connection at once by `queue`, with no await, so a push can only come after it.
"""

import asyncio
from collections import deque
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers import asgi as eio_asgi
from engineio.async_socket import AsyncSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from quantdesk.metrics import Metrics


class Mailbox:
    """An engine.io socket's outgoing queue whose `get` is a future, so the writer's timed wait starts no task.

    engine.io waits with `asyncio.wait_for(queue.get(), timeout)`, which wraps a coroutine (asyncio.Queue's)
    in a task of its own: one more task per socket and packet.
    """

    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.unfinished = 0
        self.drained = asyncio.Event()
        self.drained.set()

    def get(self) -> "asyncio.Future[Any]":
        """Return a future of the next item, already done when one is queued."""
        waiter = asyncio.get_running_loop().create_future()
        if self.items:
            waiter.set_result(self.items.popleft())
        else:
            self.waiters.append(waiter)
        return waiter

    def get_nowait(self) -> Any:
        """Return the next queued item, or raise `asyncio.QueueEmpty`."""
        if not self.items:
            raise asyncio.QueueEmpty
        return self.items.popleft()

    def put_nowait(self, item: Any) -> None:
        """Hand an item to the oldest waiting `get`, or queue it."""
        self.unfinished += 1
        self.drained.clear()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        self.items.append(item)

    async def put(self, item: Any) -> None:
        """Queue an item (the mailbox is unbounded)."""
        self.put_nowait(item)

    def task_done(self) -> None:
        """Count one item handled."""
        self.unfinished -= 1
        if self.unfinished <= 0:
            self.drained.set()

    def empty(self) -> bool:
        """Return whether no item is queued."""
        return not self.items

    async def join(self) -> None:
        """Wait until every item put was handled."""
        await self.drained.wait()


class Connection(eio_asgi.WebSocket):
    """engine.io's ASGI websocket, known to its socket, telling when a frame may go straight on the wire."""

    def __init__(self, handler: Any, server: Any) -> None:
        super().__init__(handler, server)
        self.sending = False
        socket = getattr(handler, "__self__", None)  # the engine.io socket whose websocket handler this runs
        if isinstance(socket, AsyncSocket):  # else its pushes are all queued
            socket.connection = self  # type: ignore[attr-defined]

    async def send(self, message: Any) -> None:
        """Send one encoded engine.io packet, noting that a send is under way."""
        self.sending = True
        try:
            await super().send(message)
        finally:
            self.sending = False

    def wire(self) -> asyncio.Transport | None:
        """Return the transport when a frame may be written on it now: the connection open, not paused, idle."""
        protocol = getattr(self.asgi_send, "__self__", None)
        if self.sending or not isinstance(protocol, WebSocketsSansIOProtocol) or protocol.close_sent:
            return None
        if protocol.conn.state is not State.OPEN or not protocol.writable.is_set() or protocol.transport.is_closing():
            return None
        return protocol.transport

    def abort(self) -> None:
        """Drop the connection at once, whatever is unsent (a close frame would wait behind it)."""
        protocol = getattr(self.asgi_send, "__self__", None)
        if isinstance(protocol, WebSocketsSansIOProtocol):
            protocol.transport.abort()


class Engine(engineio.AsyncServer):
    """The engine.io server, its sockets queueing in mailboxes and known to their websocket connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._async = {**self._async, "websocket": Connection}

    def create_queue(self, *args: Any, **kwargs: Any) -> Mailbox:
        """Return a socket's outgoing queue."""
        return Mailbox()


class Server(socketio.AsyncServer):
    """The Socket.IO server, on the mailbox engine."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        """Return the engine.io server class."""
        return Engine


def event_packets(sio: socketio.AsyncServer, event: str, data: Any) -> list[eio_packet.Packet]:
    """Return the engine.io packets of one Socket.IO event, encoded once for every recipient."""
    encoded = sio.packet_class(socketio.packet.EVENT, namespace="/", data=[event, data]).encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    return [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]


def text_frame(packets: list[eio_packet.Packet]) -> bytes | None:
    """Return the websocket frame of a one-packet text event, None for anything else (binary attachments)."""
    encoded = packets[0].encode() if len(packets) == 1 else None
    return Frame(Opcode.TEXT, encoded.encode()).serialize(mask=False) if isinstance(encoded, str) else None


def idle_wire(socket: AsyncSocket | None) -> asyncio.Transport | None:
    """Return a socket's transport when a frame written on it now overtakes nothing, else None."""
    connection = getattr(socket, "connection", None)
    if connection is None or socket.closed or socket.upgrading or not socket.upgraded or socket.queue.unfinished:
        return None
    return connection.wire()


def queue(sio: socketio.AsyncServer, sid: str, packets: list[eio_packet.Packet]) -> bool:
    """Queue packets on one client's connection at once, with no await: after what it has queued, before any
    later push (a push goes straight only to a connection with nothing queued). Return whether it is there."""
    socket = sio.eio.sockets.get(sio.manager.eio_sid_from_sid(sid, "/"))
    if socket is None or socket.closed:
        return False
    for pkt in packets:
        socket.queue.put_nowait(pkt)
    return True


async def cut_off(socket: AsyncSocket) -> None:
    """Close a client's socket and drop its connection with what it has not read."""
    connection = getattr(socket, "connection", None)
    await socket.close(wait=False, abort=True)
    if isinstance(connection, Connection):
        connection.abort()


async def fan_out(sio: socketio.AsyncServer, event: str, packets: list[eio_packet.Packet], name: str,
                  metrics: Metrics, most_queued: int) -> int:
    """Send one encoded event to every local member of a room, without a task per member as `emit` starts:
    straight on the wire where the connection is idle, queued otherwise; cut off a member with `most_queued`
    packets queued (it reads slower than pushes come: they would pile up here without end); count what was sent
    and what was dropped. Return how many got it straight."""
    members = [eio_sid for _, eio_sid in sio.manager.get_participants("/", name)]
    frame, straight, sent = text_frame(packets) if members else None, 0, 0
    for eio_sid in members:
        socket = sio.eio.sockets.get(eio_sid)
        if socket is None or socket.closed:
            metrics.inc("gateway_socket_dropped_total", reason="gone")
            continue
        if not await socket.check_ping_timeout():  # it closes the socket: its disconnect counts the slow client
            metrics.inc("gateway_socket_dropped_total", reason="slow_client")
            continue
        if socket.queue.unfinished >= most_queued:
            await cut_off(socket)
            metrics.families["gateway_socket_slow_clients_total"].inc()
            metrics.inc("gateway_socket_dropped_total", reason="slow_client")
            continue
        sent += 1
        wire = idle_wire(socket) if frame else None
        if wire is not None:
            wire.write(frame)
            straight += 1
            continue
        for pkt in packets:
            await sio.eio.send_packet(eio_sid, pkt)
    metrics.inc("gateway_socket_emits_total", sent, channel=event)
    return straight

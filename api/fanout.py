"""One event to many Socket.IO clients: encoded once, queued on each local member's engine.io socket.

python-socketio's `emit` starts a task per member, and engine.io's writer waits on its queue with
`asyncio.wait_for(queue.get(), …)`, which on Python 3.11 starts another task per packet. Here a push
starts none: `fan_out` queues the packets member by member, and each socket's queue is a `Mailbox`
whose `get` is a future. The wire format is python-socketio's own.
"""

import asyncio
from collections import deque
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet


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


class Engine(engineio.AsyncServer):
    """The engine.io server, its sockets queueing in mailboxes."""

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


async def fan_out(sio: socketio.AsyncServer, event: str, data: Any, name: str) -> None:
    """Queue one event on every local member of a room in turn, without a task per member as `emit` starts."""
    members = [eio_sid for _, eio_sid in sio.manager.get_participants("/", name)]
    packets = event_packets(sio, event, data) if members else []
    for eio_sid in members:
        for pkt in packets:
            await sio.eio.send_packet(eio_sid, pkt)

"""A push reaches a room's members on this replica by queueing one encoded event on each: no task per member,
nor per packet in a socket's writer."""

import asyncio
import time
from typing import Any

import socketio

from api.fanout import Mailbox, event_packets, fan_out
from api.sockets import Gateway
from quantdesk.settings import Settings
from tests.api.listening import Listener
from tests.api.rooms import events, gateway_of, member, served
from tests.api.scraped import Page
from tests.waiting import eventually

MEMBERS = 20


class TaskCount:
    """Count the tasks the running loop starts inside the block."""

    def __init__(self) -> None:
        self.started: list[object] = []

    def __enter__(self) -> "TaskCount":
        asyncio.get_running_loop().set_task_factory(self.start)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.get_running_loop().set_task_factory(None)

    def start(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        """Note and start a task."""
        self.started.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)


async def test_a_push_queues_the_event_on_every_member_without_a_task_each(backed: Settings) -> None:
    gateway = gateway_of(backed)
    sockets = [await member(gateway, f"e{i}", "ticker:BTC-PERP") for i in range(MEMBERS)]
    outsider = await member(gateway, "other", "ticker:ETH-PERP")
    with TaskCount() as tasks:
        await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 1})
    assert tasks.started == []
    expected = ["ticker", {"channel": "ticker", "market": "BTC-PERP", "seq": 1, "snapshot": False,
                           "data": {"market": "BTC-PERP", "ts": 1}}]
    assert all(list(events(s)) == [expected] for s in sockets)
    assert list(events(outsider)) == []


async def test_a_socket_writer_waits_for_its_next_packet_without_a_task(settings: Settings) -> None:
    gateway = gateway_of(settings)
    socket = await member(gateway, "e0", "ticker:BTC-PERP")
    writer = asyncio.create_task(socket.poll())
    with TaskCount() as tasks:
        await asyncio.sleep(0)  # the writer starts waiting
        await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 1})
        packets = await writer
    assert tasks.started == []
    assert [socketio.packet.Packet(encoded_packet=p.data).data[1]["seq"] for p in packets] == [1]


async def test_a_mailbox_hands_items_in_order_skips_abandoned_waits_and_joins_when_all_are_handled() -> None:
    box = Mailbox()
    abandoned, first = box.get(), box.get()
    abandoned.cancel()
    box.put_nowait("a")
    await box.put("b")
    assert await first == "a" and box.get_nowait() == "b" and box.empty()
    joined = asyncio.create_task(box.join())
    box.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    box.task_done()
    await joined


async def ticker(gateway: Gateway, seq: object) -> int:
    """Fan a ticker event marked `seq` out to the BTC ticker room; return how many got it straight."""
    sio = gateway.sio
    return await fan_out(sio, "ticker", event_packets(sio, "ticker", {"seq": seq}), "ticker:BTC-PERP", gateway.metrics,
                         gateway.settings.socket_max_queued)


async def test_a_push_goes_straight_to_idle_connections_and_never_overtakes_what_one_has_queued(
        settings: Settings) -> None:
    gateway = gateway_of(settings)
    sio = gateway.sio
    async with served(gateway) as url:
        listeners = [await Listener().connect(url) for _ in range(3)]
        for listener in listeners:
            assert (await listener.subscribe(channel="ticker", market="BTC-PERP"))["ok"]
        busy = next(iter(sio.eio.sockets.values()))
        for pkt in event_packets(sio, "ticker", {"seq": "queued"}):
            await sio.eio.send_packet(busy.sid, pkt)  # queued; its writer has not run yet
        straight = [await ticker(gateway, n) for n in (1, 2)]

        async def idle() -> bool:
            return not busy.queue.unfinished and not busy.connection.sending
        await eventually(idle, what="the busy socket's writer done")
        straight.append(await ticker(gateway, 3))
        assert straight == [2, 2, 3]

        async def delivered() -> bool:
            return sum(len(listener.events["ticker"]) for listener in listeners) == 13
        await eventually(delivered, what="every push at every listener")
        received = sorted(([str(e["seq"]) for e in listener.events["ticker"]] for listener in listeners), key=len)
        assert received == [list("0123"), list("0123"), ["0", "queued", "1", "2", "3"]]  # the snapshot, then in order
        for listener in listeners:
            await listener.close()


async def test_a_push_waits_behind_a_send_that_backpressure_held(settings: Settings) -> None:
    gateway = gateway_of(settings)
    sio = gateway.sio
    async with served(gateway) as url:
        listener = await Listener().connect(url)
        assert (await listener.subscribe(channel="ticker", market="BTC-PERP"))["ok"]
        socket = next(iter(sio.eio.sockets.values()))
        protocol = socket.connection.asgi_send.__self__
        protocol.pause_writing()  # as the transport does when its buffer passes the high-water mark
        for pkt in event_packets(sio, "ticker", {"seq": "held"}):
            await sio.eio.send_packet(socket.sid, pkt)

        async def held() -> bool:
            return socket.connection.sending and not socket.queue.unfinished
        await eventually(held, what="the writer waiting for the wire")
        protocol.resume_writing()  # the writer may go on, but has not run yet
        assert await ticker(gateway, 1) == 0

        async def delivered() -> bool:
            return len(listener.events["ticker"]) == 3
        await eventually(delivered, what="both events")
        assert [str(e["seq"]) for e in listener.events["ticker"]] == ["0", "held", "1"]
        await listener.close()


async def test_a_push_skips_a_member_gone_and_cuts_off_one_past_its_ping_timeout_counting_both(
        settings: Settings) -> None:
    gateway = gateway_of(settings)
    room, eio = "ticker:BTC-PERP", gateway.sio.eio
    listening, _, slow = [await member(gateway, eio_sid, room) for eio_sid in ("l", "g", "s")]
    del eio.sockets["g"]  # its connection ended before the push
    slow.last_ping = time.time() - eio.ping_timeout - 1  # a ping it has not answered within the timeout
    await gateway.pushes.push_market("ticker", "BTC-PERP", {"market": "BTC-PERP", "ts": 1})
    assert [data["seq"] for _, data in events(listening)] == [1] and slow.closed
    page = Page(gateway.metrics.render().decode())
    assert page.value("gateway_socket_dropped_total", reason="gone") == 1
    assert page.value("gateway_socket_dropped_total", reason="slow_client") == 1
    assert page.value("gateway_socket_slow_clients_total") == 1
    assert page.value("gateway_socket_connection_seconds_count") == 1  # the slow one's, cut off
    assert page.value("gateway_socket_emits_total", channel="ticker") == 1


async def test_a_client_that_reads_slower_than_pushes_come_is_cut_off_once_its_queue_is_full(
        settings: Settings) -> None:
    gateway = gateway_of(settings.model_copy(update={"socket_max_queued": 50}))
    sio = gateway.sio
    async with served(gateway) as url:
        listener = await Listener().connect(url)
        assert (await listener.subscribe(channel="ticker", market="BTC-PERP"))["ok"]
        socket = next(iter(sio.eio.sockets.values()))
        socket.connection.asgi_send.__self__.pause_writing()  # its transport full: the client reads nothing
        queued = []
        for n in range(1, 61):
            await ticker(gateway, n)
            queued.append(socket.queue.unfinished)

        async def gone() -> bool:
            return not sio.eio.sockets and not listener.sio.connected
        await eventually(gone, what="the slow client's connection dropped")
    assert max(queued) == 50 and socket.closed  # cut off at the 51st push: nothing piles up past the bound
    page = Page(gateway.metrics.render().decode())
    assert page.value("gateway_socket_slow_clients_total") == 1
    assert page.value("gateway_socket_dropped_total", reason="slow_client") == 1  # the 51st: then it left the room

"""Subscribing: a snapshot always before the room's first delta, even with a thousand clients joining while deltas
are pushed; resync with `since_seq` (the missed deltas, or a flagged snapshot once they are gone); refusals."""

import asyncio
import sys
from asyncio.subprocess import PIPE
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson

from api.sockets import Gateway
from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.api.conftest import RELAXED, served
from tests.api.held import T0, book, funding_period, market_state
from tests.api.listening import Listener
from tests.api.rooms import gateway_of
from tests.api.rooms import served as served_alone
from tests.waiting import eventually

SUBSCRIBERS = 1000
PUSH_EVERY = 10  # joins: a delta for every join would have the crowd decode half a million of them
SUBSCRIBERS_SCRIPT = Path(__file__).resolve().parent / "subscribers.py"
MARKET_CHANNELS = ("ticker", "trades", "candles", "funding", "signals", "orderbook", "bbo")


async def push_ticker(gateway: Gateway, ts: int) -> None:
    """Hold and push a BTC market state, as the live feed does with one it read."""
    state = market_state("BTC-PERP", ts, "100", f"{100 + ts % 1000}")
    assert gateway.live.apply("markets.state", state)
    await gateway.on_event("markets.state", state)


async def line(process: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
    """Return the next JSON line of a child."""
    assert process.stdout is not None
    read = await asyncio.wait_for(process.stdout.readline(), timeout)
    assert read, f"the subscribers exited with {await process.wait()}"
    return orjson.loads(read)


async def ask(process: asyncio.subprocess.Process, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send a child one request and return its answer."""
    assert process.stdin is not None
    process.stdin.write(orjson.dumps(request) + b"\n")
    await process.stdin.drain()
    return await line(process, timeout)


def in_order(events: list[list[Any]], last: int) -> bool:
    """Tell whether a client's ticker events are a snapshot, then every delta after its seq up to `last`."""
    (first, seq), deltas = events[0], events[1:]
    return first and all(not snapshot for snapshot, _ in deltas) and \
        [s for _, s in deltas] == list(range(seq + 1, last + 1))


async def test_no_snapshot_is_overtaken_by_a_delta_with_a_thousand_clients_joining_while_deltas_are_pushed(
        settings: Settings) -> None:
    gateway = gateway_of(settings, RELAXED)
    manager, joined, entered = gateway.sio.manager, asyncio.Event(), 0
    enter = manager.basic_enter_room

    def entering(*args: Any, **kwargs: Any) -> Any:
        nonlocal entered
        entered += 1
        if entered % PUSH_EVERY == 0:
            joined.set()  # wakes the pusher: a delta pushed as a client joins, the worst time for its snapshot
        return enter(*args, **kwargs)
    manager.basic_enter_room = entering
    pushed = 0

    async def pusher() -> None:
        nonlocal pushed
        while True:
            await joined.wait()
            joined.clear()
            pushed += 1
            await push_ticker(gateway, T0 + pushed)

    async with served_alone(gateway) as url:
        crowd = await asyncio.create_subprocess_exec(sys.executable, str(SUBSCRIBERS_SCRIPT), url, "BTC-PERP",
                                                     str(SUBSCRIBERS), stdin=PIPE, stdout=PIPE, limit=1 << 28)
        pushing = asyncio.create_task(pusher())
        try:
            assert await line(crowd, 120) == {"ready": SUBSCRIBERS}
            pushing.cancel()
            await asyncio.gather(pushing, return_exceptions=True)
            await push_ticker(gateway, T0 + pushed + 1)  # a last delta every client must get
            last = gateway.pushes.logs.logs["ticker:BTC-PERP"].seq
            assert await ask(crowd, {"await": last, "timeout": 60}, 90) == {"seen": SUBSCRIBERS}
            events = (await ask(crowd, {"report": True}, 60))["events"]
        finally:
            if crowd.returncode is None:
                crowd.kill()
            await crowd.wait()
    assert pushed >= SUBSCRIBERS // PUSH_EVERY // 2  # deltas were pushed all along the joins
    overtaken = [e[:3] for e in events if not in_order(e, last)]
    assert overtaken == [], f"{len(overtaken)} of {len(events)} clients ({pushed} pushes), e.g. {overtaken[:3]}"


def state(ts: int, price: str) -> tuple[str, str, dict[str, Any]]:
    """Return a BTC market state carrying the price of the tick it accepted."""
    return "markets.state", "BTC-PERP", {**market_state("BTC-PERP", ts, price, price), "tick_price": price}


def news(start: int, count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Return `count` seconds of BTC news from second `start`: a state and an update of our venue's book a second
    (seq n + 1, whole at `start`; its best bid's size moves, so the bbo does too), a trade every 5 s, and a funding
    period and a whale signal every 10 s, so every market channel gets deltas; then a state with no tick, the
    ticker's alone (`ticker_at`). The ticker gets `count` + 1 deltas."""
    events = []
    for n in range(start, start + count):
        ts = T0 + 1000 * n
        events.append(state(ts, f"{100 + n % 7}"))
        events.append(("books", "BTC-PERP", book("quantdesk", "BTC-PERP", n + 1, ts, bids=(("99.9", f"{n + 1}"),),
                                                  asks=(("100.1", "5"),) if n == start else (),
                                                  kind="snapshot" if n == start else "delta")))
        if n % 5 == 0:
            events += [("trades.fills", f"{who}:0", {"id": f"fill:{n}:{who}", "ts": ts, "market": "BTC-PERP",
                                                     "wallet": who, "side": side, "size": "1", "price": "101",
                                                     "liquidity": who})
                       for who, side in (("taker", "buy"), ("maker", "sell"))]
        if n % 10 == 0:
            events.append(("funding.rates", "BTC-PERP", funding_period("BTC-PERP", ts, f"0.0000{n % 9}", "0.1")))
            events.append(("mikey.signals", "BTC-PERP", {"id": f"whale:{n}", "ts": ts, "kind": "whale_fill",
                                                         "severity": "info", "market": "BTC-PERP",
                                                         "subject": "BTC-PERP", "message": "a whale", "data": {}}))
    return [*events, ("markets.state", "BTC-PERP", market_state("BTC-PERP", end(start, count), "100", "100"))]


def end(start: int, count: int) -> int:
    """Return the event time of the last of `news(start, count)`."""
    return T0 + 1000 * (start + count) - 500


async def listening(stack: AsyncExitStack, url: str) -> Listener:
    """Return a connected listener, closed with the stack."""
    listener = await Listener().connect(url)
    stack.push_async_callback(listener.close)
    return listener


async def subscribe_all(listener: Listener, since: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Subscribe to every BTC market channel (1-minute candles), from `since`'s seq per channel if given; return
    the acks."""
    acks = {}
    for channel in MARKET_CHANNELS:
        resume = {"since_seq": since[channel]} if since else {}
        acks[channel] = await listener.subscribe(channel=channel, market="BTC-PERP", resolution="1m", **resume)
        assert acks[channel]["ok"], acks[channel]
    return acks


def last_seqs(listener: Listener) -> dict[str, int]:
    """Return the seq of the last event of each market channel a listener holds."""
    return {c: listener.events[c][-1]["seq"] for c in MARKET_CHANNELS}


async def caught_up(stack: AsyncExitStack, url: str, publisher: Publisher, steady: Listener, dropper: Listener,
                    missed: int) -> tuple[Listener, dict[str, Any], dict[str, int]]:
    """Let `dropper`, beside `steady`, hear some news, drop while `missed` seconds more are pushed, and resubscribe
    with `since_seq` on a new connection; return the new connection, its acks, and the seqs it left at."""
    await subscribe_all(dropper)
    await publisher.send(news(0, 20))
    await eventually(lambda: ticker_at([dropper, steady], end(0, 20)), what="both clients at the first news' end")
    left_at = last_seqs(dropper)
    await dropper.close()
    await publisher.send(news(20, missed - 1))
    await eventually(lambda: ticker_at([steady], end(20, missed - 1)), what=f"{missed} tickers pushed")
    back = await listening(stack, url)
    return back, await subscribe_all(back, left_at), left_at


async def ticker_at(listeners: list[Listener], ts: int) -> bool:
    """Tell whether every listener's last ticker is that of event time `ts`, the end of some news, and its last
    book the news' last (the books come on a topic of their own)."""
    seq = (ts + 500 - T0) // 1000  # the book's seq at the news' end
    return all((listener.events["ticker"][-1]["data"] or {}).get("ts") == ts and
               listener.events["orderbook"][-1]["data"]["seq"] == seq for listener in listeners)


async def test_a_client_that_dropped_fifty_deltas_resyncs_with_since_seq_to_the_view_of_one_that_never_dropped(
        settings: Settings, broker: EmbeddedBroker) -> None:
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(settings, broker.bootstrap))
        publisher = await stack.enter_async_context(Publisher(settings, broker.bootstrap))
        steady = await listening(stack, url)
        await subscribe_all(steady)
        dropper = await listening(stack, url)
        back, acks, left_at = await caught_up(stack, url, publisher, steady, dropper, 50)
        assert {a["resync"] for a in acks.values()} == {"deltas"}
        assert {c: a["seq"] for c, a in acks.items()} == last_seqs(steady)
        assert acks["ticker"]["seq"] - left_at["ticker"] == 50
        await publisher.send(news(70, 10))
        await eventually(lambda: ticker_at([back, steady], end(70, 10)), what="both clients at the live news' end")
    for channel in MARKET_CHANNELS:
        assert not any(e["snapshot"] for e in back.events[channel])  # the missed deltas, then the live ones
        first = steady.events[channel][0]["seq"]
        # what the dropper held up to the seq it resubscribed from: a delta that reached it while it closed (the
        # signals come on their own topic, so may still be on the way) is sent again after `since_seq`, by design
        held = [e for e in dropper.events[channel] if first < e["seq"] <= left_at[channel]]
        assert held + back.events[channel] == [e for e in steady.events[channel] if e["seq"] > first], channel


async def test_a_client_whose_missed_deltas_left_the_room_history_gets_a_snapshot_flagged_as_such(
        settings: Settings, broker: EmbeddedBroker) -> None:
    short = settings.model_copy(update={"room_history": 10})
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(short, broker.bootstrap))
        publisher = await stack.enter_async_context(Publisher(short, broker.bootstrap))
        steady = await listening(stack, url)
        await subscribe_all(steady)
        back, acks, left_at = await caught_up(stack, url, publisher, steady, await listening(stack, url), 50)
        assert acks["ticker"]["resync"] == acks["candles"]["resync"] == "snapshot"  # 50 deltas missed, 10 held
        assert acks["funding"]["resync"] == acks["signals"]["resync"] == "deltas"  # 5 each: still held
        for channel in ("ticker", "candles"):
            snapshot = back.events[channel][0]
            assert snapshot["snapshot"] and snapshot["resync"] == "snapshot"
            assert snapshot["seq"] == acks[channel]["seq"] == steady.events[channel][-1]["seq"]
            assert snapshot["data"] == steady.events[channel][-1]["data"]
        assert [e["seq"] for e in back.events["funding"]] == list(range(left_at["funding"] + 1,
                                                                        acks["funding"]["seq"] + 1))
        await publisher.send(news(70, 10))
        await eventually(lambda: ticker_at([back, steady], end(70, 10)), what="both clients at the live news' end")
        assert back.events["ticker"][1:] == [e for e in steady.events["ticker"] if e["seq"] > acks["ticker"]["seq"]]


async def test_a_since_seq_that_is_no_sequence_number_is_refused_with_an_error_event(settings: Settings) -> None:
    hostile = (-1, 2**53, 10**30, "12", 1.5, True, [3], {"seq": 3})
    async with served_alone(gateway_of(settings)) as url:
        listener = await Listener().connect(url)
        try:
            acks = [await listener.subscribe(channel="ticker", market="BTC-PERP", since_seq=v) for v in hostile]
            fine = await listener.subscribe(channel="ticker", market="BTC-PERP", since_seq=2**53 - 1)

            async def refused() -> bool:
                return len(listener.events["error"]) == len(hostile)
            await eventually(refused, what="an error event per hostile since_seq")
        finally:
            await listener.close()
    assert [a["error"]["code"] for a in acks] == ["invalid_request"] * len(hostile)
    assert all("since_seq" in a["error"]["message"] for a in acks)
    assert [e["request"]["since_seq"] for e in listener.events["error"]] == list(hostile)
    assert [e["message"] for e in listener.events["error"]] == [a["error"]["message"] for a in acks]
    assert fine["ok"] and fine["resync"] == "snapshot"  # far ahead of the room: a snapshot, not an error
    assert listener.events["ticker"][0]["resync"] == "snapshot"

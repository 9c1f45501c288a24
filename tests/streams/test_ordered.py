"""`streams.ordered`'s shared decoding: a message decoded once for every reader of a process, within a bound."""

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from quantdesk.messages import DeadLetter, Fill
from quantdesk.settings import Settings
from streams.decode import decode_events
from streams.metrics import WorkerMetrics
from streams.ordered import Decoded, OrderedInput


class Decoder:
    """A message's decoding that counts how often it ran."""

    def __init__(self, events: list[Any]) -> None:
        self.events, self.runs = events, 0

    def __call__(self) -> tuple[list[Any], list[Any]]:
        self.runs += 1
        return list(self.events), []


def test_a_message_is_decoded_once_for_every_reader_and_each_gets_a_list_of_its_own() -> None:
    shared, decode = Decoded(), Decoder([object(), object()])
    first, _ = shared.get(("trades.fills", 0), 7, decode)
    second, _ = shared.get(("trades.fills", 0), 7, decode)
    assert decode.runs == 1
    assert all(a is b for a, b in zip(first, second, strict=True))  # the same events, not copies
    first.pop()  # a reader filtering its events (late ones refused) leaves the others' whole
    assert len(second) == 2 and len(shared.get(("trades.fills", 0), 7, decode)[0]) == 2


def test_the_oldest_messages_are_let_go_once_more_events_are_kept_than_the_bound() -> None:
    shared = Decoded(most=5)
    decoders = [Decoder([offset, offset]) for offset in range(4)]
    for offset, decode in enumerate(decoders):
        shared.get(("oracle.ticks", 1), offset, decode)
    assert shared.events == 4 and [offset for _, offset in shared.kept] == [2, 3]
    shared.get(("oracle.ticks", 1), 0, decoders[0])  # a reader far behind decodes for itself
    shared.get(("oracle.ticks", 1), 3, decoders[3])
    assert [d.runs for d in decoders] == [2, 1, 1, 1]
    assert shared.get(("oracle.ticks", 2), 3, Decoder([9]))[0] == [9]  # another partition, another message


async def test_a_message_sent_here_is_taken_as_sent_unless_its_send_failed_or_a_reader_decoded_it_first() -> None:
    loop, shared = asyncio.get_running_loop(), Decoded(most=10)

    def delivered(offset: int | None) -> asyncio.Future[Any]:  # a send's future, done: at `offset`, or failed
        future = loop.create_future()
        if offset is None:
            future.set_exception(OSError("the broker never had it"))
        else:
            future.set_result(SimpleNamespace(offset=offset))
        return future
    epochs, decode = [object(), object()], Decoder([object()])
    shared.sent(("markets.epochs", 0), epochs, delivered(4))
    taken, dead = shared.get(("markets.epochs", 0), 4, decode)
    assert decode.runs == 0 and dead == [] and all(a is b for a, b in zip(taken, epochs, strict=True))
    shared.sent(("markets.epochs", 0), [object()], delivered(None))  # nothing kept
    assert shared.get(("markets.epochs", 0), 5, decode)[0] == decode.events and decode.runs == 1
    shared.sent(("markets.epochs", 0), [object(), object()], delivered(5))  # a reader decoded it first: it stays
    assert shared.get(("markets.epochs", 0), 5, decode)[0] == decode.events and shared.events == 3


class Fills(OrderedInput):
    """A reader of fills that holds what it reads and keeps the dead letters it would publish; `refuses` a market."""

    def __init__(self, shared: Decoded | None, refuses: str = "") -> None:
        pipeline = SimpleNamespace(settings=Settings(), bootstrap="localhost:9092", metrics=WorkerMetrics("feed"))
        super().__init__(pipeline, {"trades.fills": Fill}, "markets", shared=shared)  # type: ignore[arg-type]
        self.refuses, self.dead = refuses, list[DeadLetter]()

    def check(self, event: Any) -> str | None:
        return f"unknown market {event.market!r}" if event.market == self.refuses else None

    async def dead_letters(self, topic: str, dead: list[DeadLetter]) -> None:
        self.dead += dead

    async def release(self, events: Any) -> None:
        pass

    def outcome(self) -> tuple[list[Any], list[DeadLetter]]:
        """Return the events held and the dead letters."""
        return list(self.buffer.drain()), self.dead


FILLS = TopicPartition("trades.fills", 0)


def fill(n: int, market: str = "BTC-PERP") -> dict[str, Any]:
    """Return a fill as an outside producer writes it: numbers as JSON numbers, not the model's strings."""
    return {"id": f"f{n}", "ts": 1_767_225_600_000 + n, "market": market, "wallet": "w", "side": "buy", "size": 1,
            "price": 100.5, "order": "o1"}


async def read_by(readers: list[Fills], *messages: bytes) -> list[tuple[list[Any], list[DeadLetter]]]:
    """Return what each reader holds and would dead-letter once every one read `messages`."""
    for reader in readers:
        for offset, raw in enumerate(messages):
            await reader.take("trades.fills", FILLS, SimpleNamespace(offset=offset, timestamp=7, value=raw))
    return [reader.outcome() for reader in readers]


async def test_readers_that_check_differently_decode_a_message_once_and_each_gets_what_it_would_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def counted(*args: Any) -> Any:
        calls.append(args[2])
        return decode_events(*args)
    monkeypatch.setattr("streams.ordered.decode_events", counted)
    known, doge = orjson.dumps([fill(1), fill(2)]), orjson.dumps([fill(3), fill(4, "DOGE-PERP"), fill(5)])
    alone = await read_by([Fills(None, "DOGE-PERP"), Fills(None)], known, doge)
    calls.clear()

    shared = Decoded()  # the markets agent refuses a fill of a market it does not list, the orders agent does not
    assert await read_by([Fills(shared, "DOGE-PERP"), Fills(shared)], known, doge) == alone
    assert calls == [known, doge, doge]  # the refusing reader decodes DOGE's message again, with its check
    [(_, dead), (held, none)] = alone
    assert [d.reason for d in dead] == ["unknown market 'DOGE-PERP'"] and b'"size":1' in dead[0].payload.encode()
    assert len(held) == 5 and none == []

"""The accounts agent's bookkeeping without a broker: which messages may be acked, what a quiet input releases."""

from decimal import Decimal as D
from types import SimpleNamespace
from typing import Any

import orjson
from faust.types import TP

from quantdesk.settings import Settings
from streams.agents.accounts import AccountsWorker, Acks
from streams.progress import IDLE_S
from tests.streams.test_engine import T0, change, tick


def test_a_message_is_acked_once_its_events_and_every_earlier_message_of_its_partition_are_applied() -> None:
    acks = Acks()
    acks.hold("ticks/0", "m0", ["a", "b"])
    acks.hold("ticks/0", "m1", [])  # nothing new in it (dropped as seen, or dead letters only)
    acks.hold("ticks/0", "m2", ["c"])
    acks.hold("fills/0", "f0", ["d"])
    acks.applied(["c", "d", "a"])
    assert list(acks.due()) == ["f0"]  # m2 is applied, but m0 still waits for b
    acks.applied(["b"])
    assert list(acks.due()) == ["m0", "m1", "m2"] and list(acks.due()) == []


class Consumer:
    """What the worker asks Faust's consumer: which partitions, their ends, where reading them started."""

    def __init__(self, ends: dict[TP, int]) -> None:
        self.ends = ends
        self._committed_offset: dict[TP, int] = {}

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int:
        return self.ends[tp]


class Store:
    """An engine store that keeps nothing."""

    def save(self, *args: Any) -> None:
        pass


def worker_reading(settings: Settings, ends: dict[TP, int]) -> tuple[AccountsWorker, list[Any]]:
    """Return an accounts worker whose consumer reports `ends`, and the states it publishes."""
    published: list[Any] = []

    async def publish(topic: str, keyed: Any) -> None:
        published.extend(value for _, value in keyed if topic == "accounts.state")
    pipeline = SimpleNamespace(settings=settings, app=SimpleNamespace(consumer=Consumer(ends)), publish=publish)
    return AccountsWorker(pipeline, Store()), published  # type: ignore[arg-type]


async def test_once_input_stops_nothing_is_applied_that_a_partition_with_unread_input_could_precede() -> None:
    settings = Settings()
    ticks, changes = TP(settings.topic("oracle.ticks"), 0), TP(settings.topic("accounts.changes"), 0)
    worker, published = worker_reading(settings, {ticks: 5, changes: 1})
    worker.progress.saw(ticks, 2, [tick(T0 + 100, "100")])  # offsets 3 and 4 fetched, not yet delivered
    acked: list[int] = []
    deposits = [change(T0 + 50, "deposit", "10"), change(T0 + 150, "deposit", "20")]
    value = orjson.dumps([d.model_dump(mode="json") for d in deposits])
    message = SimpleNamespace(tp=changes, offset=0, timestamp=T0 / 1000)
    await worker.take(SimpleNamespace(message=message, value=value, ack=lambda: acked.append(0)), "accounts.changes")
    worker.last_input -= IDLE_S
    await worker.on_timer()
    assert [s.collateral for s in published] == [D("10")] and acked == []  # the second deposit waits for the ticks

"""Checkpoints: the tables and the offsets they cover come back as last written, from the last whole copy on,
which is written at least once a day."""

import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import orjson
import pytest

from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from streams.risk import checkpoint
from quantdesk.kafka.publisher import REQUEST_BYTES
from streams.app import faust_app
from streams.risk.checkpoint import CheckpointLog, Journal, fold_log, write


@asynccontextmanager
async def checkpoint_log(settings: Settings, partition: int) -> AsyncIterator[tuple[CheckpointLog, Any, str]]:
    """Yield the log of a partition of the test's checkpoint topic, the Faust producer that writes it (stopped after)
    and the topic's name."""
    bootstrap = settings.kafka_bootstrap or ""
    await ensure_topics(settings, bootstrap)
    producer = await faust_app(settings, bootstrap).maybe_start_producer()
    topic = settings.topic("risk.checkpoints")
    try:
        yield CheckpointLog(bootstrap, topic, partition), producer, topic
    finally:
        await producer.stop()


def test_a_whole_copy_a_crash_cut_short_counts_for_nothing() -> None:
    records = [
        {"kind": "part", "first": True, "last": False, "tables": {"t": {"a": 1}}, "offsets": {"x:0": 5}},
        {"kind": "part", "first": False, "last": True, "tables": {"t": {"b": 2}}, "offsets": {"x:0": 5}},
        {"kind": "delta", "tables": {"t": {"a": None, "c": 3}}, "offsets": {"x:0": 9}},
        {"kind": "part", "first": True, "last": False, "tables": {"t": {"z": 0}}, "offsets": {"x:0": 12}},
    ]  # the second copy's last part never made it
    restored = fold_log(records)
    assert restored.tables == {"t": {"b": 2, "c": 3}} and restored.offsets == {"x:0": 9}


def test_a_delta_in_parts_counts_once_whole_and_not_at_all_when_a_crash_cut_it_short() -> None:
    def delta(first: bool, last: bool, rows: dict, offset: int) -> dict:
        return {"kind": "delta", "first": first, "last": last, "tables": {"t": rows}, "offsets": {"x:0": offset}}
    records = [
        delta(False, True, {"z": 0}, 3),  # the tail of a delta whose head lies before the base
        {"kind": "part", "first": True, "last": True, "tables": {"t": {"a": 1, "b": 2}}, "offsets": {"x:0": 5}},
        delta(True, False, {"a": None}, 9), delta(False, True, {"c": 3}, 9),  # whole: both parts count
        delta(True, False, {"b": None}, 12),  # its last part never made it: the worker went on from 9
        delta(True, True, {"d": 4}, 14),
    ]
    restored = fold_log(records)
    assert restored.tables == {"t": {"b": 2, "c": 3, "d": 4}} and restored.offsets == {"x:0": 14}
    assert restored.checkpoints == 2


def test_a_journal_hands_out_what_changed_once() -> None:
    journal = Journal({"kept": 1})
    journal["new"], journal["kept"] = 2, 3
    del journal["new"]
    assert journal.take_changes() == {"new": None, "kept": 3} and journal.take_changes() == {}
    assert dict(journal) == {"kept": 3}


async def test_the_log_gives_back_the_tables_and_offsets_last_written_from_the_last_whole_copy(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "FULL_EVERY", 3)
    monkeypatch.setattr(checkpoint, "PART_BYTES", 64)  # whole copies in many parts
    tables = {"accounts": Journal(), "applied": Journal()}
    async with checkpoint_log(settings, 1) as (log, producer, topic):
        for n in range(10):
            tables["accounts"][f"w{n % 4}"] = {"collateral": str(n)}
            tables["applied"][str(n)] = [f"e{n}"]
            if n == 6:
                del tables["accounts"]["w1"]
            await write(log, producer, tables, {f"{topic}:0": n + 1})
    again = CheckpointLog(settings.kafka_bootstrap or "", topic, 1)
    restored = await again.restore()
    assert restored.tables == {name: journal.rows for name, journal in tables.items()}
    assert restored.offsets == {f"{topic}:0": 10}
    assert restored.checkpoints < 3 and again.base > 0  # read from the last whole copy, not from the start


async def test_a_checkpoint_larger_than_a_kafka_request_goes_in_parts_and_comes_back_whole(settings: Settings) -> None:
    # 16,000 rows of an account's size: a funding close of 16,000 holders, past the producer's 8 MB per request
    row = {"collateral": "1234.567890123", "positions": {m: ["1.5", "50000.25", "0.000123"] for m in "ABC"},
           "board": {"cash": 1234.5678, "marks": {m: [12.5, 650.0, 1300.0] for m in "ABC"}}, "pad": "x" * 400}
    tables = {"accounts": Journal()}
    async with checkpoint_log(settings, 0) as (log, producer, topic):
        await write(log, producer, tables, {f"{topic}:0": 1})
        for n in range(16_000):
            tables["accounts"][f"holder{n:07d}:0"] = {**row, "n": n}
        assert sum(len(orjson.dumps(r)) for r in tables["accounts"].values()) > REQUEST_BYTES
        await write(log, producer, tables, {f"{topic}:0": 2})
    again = CheckpointLog(settings.kafka_bootstrap or "", topic, 0)
    restored = await again.restore()
    assert restored.tables == {"accounts": tables["accounts"].rows} and restored.offsets == {f"{topic}:0": 2}


async def test_a_base_a_day_old_is_followed_by_a_whole_copy_however_few_checkpoints_came_since(
        settings: Settings) -> None:
    # a quiet venue writes few checkpoints: without the day's bound its base stayed the log's first record until the
    # broker's week of retention deleted it, and a restore then folded the deltas left without it
    tables = {"accounts": Journal()}
    async with checkpoint_log(settings, 0) as (log, producer, topic):
        for n in range(3):
            tables["accounts"][f"w{n}"] = {"collateral": str(n)}
            await write(log, producer, tables, {f"{topic}:0": n + 1})
        kinds = [r["kind"] for r in log.records(tables, {})]
        a_day_on = CheckpointLog(settings.kafka_bootstrap or "", topic, 0, clock=lambda: time.time() + 86_400)
        restored = await a_day_on.restore()  # the base's age from the broker's timestamp of its record
        assert restored.tables == {"accounts": tables["accounts"].rows} and a_day_on.base == 0
        tables["accounts"]["w9"] = {"collateral": "9"}
        await write(a_day_on, producer, tables, {f"{topic}:0": 9})
        again = await CheckpointLog(settings.kafka_bootstrap or "", topic, 0).restore()
    assert kinds == ["delta"]  # within the day, as often as before
    assert a_day_on.base == 3 and again.checkpoints == 0  # a whole copy, the new base: nothing after it
    assert (again.tables, again.offsets) == ({"accounts": tables["accounts"].rows}, {f"{topic}:0": 9})

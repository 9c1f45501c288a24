"""Checkpoints: the tables and the offsets they cover come back as last written, from the last whole copy on,
which is written at least once a day."""

import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from streams.risk import checkpoint
from quantdesk.kafka.publisher import REQUEST_BYTES
from streams.app import faust_app
from streams.risk.checkpoint import CheckpointLog, Journal, fold_log, line, write


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
    assert (journal.get("kept"), journal.get("new"), journal.get("new", 0)) == (3, None, 0)
    assert journal.take_changes() == {}  # reading changes nothing


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


ROW = st.none() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=40) | st.dictionaries(st.text(max_size=4),
                                                                                       st.text(max_size=20), max_size=3)
ROWS = st.dictionaries(st.text(max_size=8), ROW, max_size=300)


@given(st.dictionaries(st.sampled_from(["accounts", "risk_markets", "risk_applied"]), ROWS, min_size=1),
       st.integers(1, 4000))
def test_a_checkpoints_parts_hold_every_row_once_as_json_and_pass_their_size_by_a_chunk_at_most(
        tables: dict[str, dict[str, Any]], most: int) -> None:
    parts = [orjson.dumps(part) for part in checkpoint.in_parts(tables, most)]
    read = [orjson.loads(part) for part in parts]
    assert all(part.keys() <= tables.keys() for part in read)
    assert {name: {k: v for part in read for k, v in part.get(name, {}).items()} for name in tables} == tables
    assert sum(len(part.get(name, {})) for part in read for name in tables) == sum(map(len, tables.values()))
    chunk = max((len(orjson.dumps(row)) + len(orjson.dumps(key)) + 1 for rows in tables.values()
                 for key, row in rows.items()), default=0) * checkpoint.CHUNK_ROWS
    assert all(len(part) <= most + chunk + 64 for part in parts)  # the braces and names of three tables


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


def writer_records(name: str, after: int, start: int, count: int, sign: int = 1) -> list[dict]:
    """Return a writer's deltas after restoring from record `after`: a row for each position it applied (its value
    signed by the writer, so that rows of two writers mixed show), each checkpoint's offsets the next position."""
    return [{"kind": "delta", "base": 0, "tables": {"t": {f"p{n}": sign * n}}, "offsets": {"x:0": n + 1},
             "writer": name, "after": after} for n in range(start, start + count)]


@given(st.integers(0, 8), st.lists(st.booleans(), max_size=16), st.booleans())
def test_a_log_two_writers_wrote_at_once_comes_back_as_one_writers_state(
        cut: int, interleaving: list[bool], legacy: bool) -> None:
    # a worker frozen and thawed, or a feed deployed before the old one stopped, writes on beside the new writer:
    # folding both writers' deltas mixed rows of two states under one writer's offsets
    def unnamed(records: list[dict]) -> list[dict]:  # written before writers were named: one line from the start
        return [{k: v for k, v in r.items() if k not in ("writer", "after")} for r in records] if legacy else records
    log = unnamed(writer_records("old", -1, 0, cut + 1))
    # a new writer restores from the log's last record, then both write on over the same input, in any interleaving
    queues = {True: writer_records("new", cut, cut + 1, 1 + sum(interleaving)),
              False: unnamed(writer_records("old", -1, cut + 1, 1 + len(interleaving) - sum(interleaving), -1))}
    for turn in interleaving:
        log.append(queues[turn].pop(0))
    log += queues[True] + queues[False]
    restored = fold_log(line(list(enumerate(log))))
    last = log[-1].get("writer", "old")
    sign = 1 if last == "new" else -1
    through = max(n for r in log if r.get("writer", "old") == last for n in map(abs, r["tables"]["t"].values()))
    expected = {f"p{n}": n if n <= cut else sign * n for n in range(through + 1)}
    assert restored.tables == {"t": expected} and restored.offsets == {"x:0": through + 1}


async def test_a_restore_follows_the_last_writers_line_and_skips_another_writing_beside_it(settings: Settings) -> None:
    tables = {"a": Journal(), "b": Journal()}
    async with checkpoint_log(settings, 2) as (first, producer, topic):
        for n in range(3):
            tables["a"][f"p{n}"] = n
            await write(first, producer, {"t": tables["a"]}, {f"{topic}:0": n + 1})
        second = CheckpointLog(settings.kafka_bootstrap or "", topic, 2)
        assert (await second.restore()).tables == {"t": {"p0": 0, "p1": 1, "p2": 2}}
        tables["b"].rows = dict(tables["a"].rows)
        for n in range(3, 5):  # both write on, the first one last
            tables["b"][f"p{n}"] = n
            await write(second, producer, {"t": tables["b"]}, {f"{topic}:0": n + 1})
            tables["a"][f"p{n}"] = -n  # what it folded differs: a stale state, or another deploy's code
            await write(first, producer, {"t": tables["a"]}, {f"{topic}:0": n + 1})
        by_first = await CheckpointLog(settings.kafka_bootstrap or "", topic, 2).restore()
        tables["b"]["p5"] = 5
        await write(second, producer, {"t": tables["b"]}, {f"{topic}:0": 6})
        by_second = await CheckpointLog(settings.kafka_bootstrap or "", topic, 2).restore()
    assert by_first.tables == {"t": tables["a"].rows}  # the first writer's state alone
    assert by_second.tables == {"t": tables["b"].rows} and by_second.offsets == {f"{topic}:0": 6}

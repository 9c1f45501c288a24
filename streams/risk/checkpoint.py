"""Checkpoints: a worker's state and the input offsets it covers, written together in one log.

A worker that folds input into state (the risk engine) must resume exactly where its state
stands: its offsets and its state change together or not at all. Each checkpoint goes to the worker's own
partition of the checkpoint topic: the rows its tables changed since the last one (`None` for a row removed),
and the offset each input partition is to be read from next. Every `FULL_EVERY` checkpoints the tables are
written whole instead, so a restart reads only from the last whole copy on: each message names, as `base`, the
offset where the last complete whole copy starts. A whole copy is also written once the base is `WHOLE_EVERY_S` of
wall-clock time old, so that the broker's retention (7 days, `quantdesk.kafka.topics`) never deletes a base still
in use, however few checkpoints a quiet venue writes. A checkpoint goes in parts of about `PART_BYTES` (a funding
close changes every holder's row: some 650 bytes each, so 13,000 holders would pass the producer's 8 MB, 1,600
a Kafka broker's default 1 MB), marked first and last: a checkpoint counts once its last part is read, so one a
crash cut short counts for nothing.

A log may get two writers at once: a worker frozen past its group's session timeout and thawed, a feed worker
deployed before the old one stopped. Each writer names itself in its records, with the last record of the log it
restored from (`after`). A restore follows one line back from the last record: that writer's records after the one
it restored from, then the line that record ends, and so on. Another writer's records in between are skipped, never
folded in with the line's, so what comes back is one writer's state at one of its checkpoints, with its offsets.
"""

import time
import uuid
from bisect import bisect_right
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Iterator

import orjson
from aiokafka import TopicPartition

from quantdesk.kafka.reader import Reader
from streams.risk.reorder import Applied, ReorderBuffer

FULL_EVERY = 200  # checkpoints between two whole copies of the tables
WHOLE_EVERY_S = 24 * 3600  # and at most this long: well within the checkpoint topics' retention
PART_BYTES = 512 << 10  # about this much of a checkpoint in one message (a row is never split)
CHUNK_ROWS = 64  # rows encoded together: a part passes PART_BYTES by ~40 KB at most (rows of ~650 bytes)
Offsets = dict[str, int]  # "topic:partition" -> next offset to read
Fence = Callable[[], Awaitable[None]]  # returns once the writer is confirmed as the log partition's holder


class Journal(MutableMapping[str, Any]):
    """A dict that remembers which keys changed since it was last asked."""

    def __init__(self, rows: dict[str, Any] | None = None) -> None:
        self.rows: dict[str, Any] = dict(rows or {})
        self.changed: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        return self.rows[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Return a row, or `default` (the dict's own lookup: a save looks up every row it may write)."""
        return self.rows.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.rows[key] = value
        self.changed.add(key)

    def __delitem__(self, key: str) -> None:
        del self.rows[key]
        self.changed.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def take_changes(self) -> dict[str, Any]:
        """Return the changed rows (None where removed) and forget them."""
        changes = {key: self.rows.get(key) for key in self.changed}
        self.changed = set()
        return changes


@dataclass
class Restored:
    """What the checkpoint log held: each table's rows and the offsets they cover."""

    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    offsets: Offsets = field(default_factory=dict)
    checkpoints: int = 0  # how many checkpoints since the whole copy restored from

    def fold(self, record: dict[str, Any]) -> None:
        """Apply one delta checkpoint."""
        for name, changes in record["tables"].items():
            rows = self.tables.setdefault(name, {})
            for key, row in changes.items():
                if row is None:
                    rows.pop(key, None)
                else:
                    rows[key] = row
        self.offsets = record["offsets"]
        self.checkpoints += 1


def fold_log(records: list[dict[str, Any]]) -> Restored:
    """Return the state the log's records, read from a `base` on, leave: the last complete whole copy and the
    complete deltas after it (a checkpoint a crash cut short counts for nothing; a delta written before parts
    were, with no `first` or `last`, is one part)."""
    done, building, kind = Restored(), None, None
    for record in records:
        if record.get("first", True):
            building, kind = {}, record["kind"]
        elif building is None or record["kind"] != kind:
            continue  # the tail of a checkpoint whose head lies before the base, or of one cut short
        for name, rows in record["tables"].items():
            building.setdefault(name, {}).update(rows)
        if record.get("last", True):
            if kind == "part":
                done = Restored(building, record["offsets"])
            else:
                done.fold({"tables": building, "offsets": record["offsets"]})
            building = None
    return done


def line(messages: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Return the records of the line the last of `messages` (offset and record, in offset order) ends: its writer's
    records after the one it restored from, preceded by the line that one ends (records of no named writer, written
    before writers were named, are one line from the start)."""
    offsets = [offset for offset, _ in messages]
    records: list[dict[str, Any]] = []
    end = len(messages)
    while end:
        writer, after = messages[end - 1][1].get("writer"), messages[end - 1][1].get("after", -1)
        records[:0] = [r for o, r in messages[:end] if o > after and r.get("writer") == writer]
        end = bisect_right(offsets, after, 0, end)
    return records


def in_parts(tables: dict[str, dict[str, Any]], most: int) -> Iterator[dict[str, orjson.Fragment]]:
    """Yield the tables' rows in parts of about `most` bytes of JSON each (at least one part; `CHUNK_ROWS` rows more
    at most), each table's rows in a part written already (`orjson.Fragment`): encoded a chunk of rows at a time,
    once (a row at a time costs twice the whole table's encoding)."""
    part: dict[str, orjson.Fragment] = {}
    size = 0
    for name, rows in tables.items():
        listed, bodies = list(rows.items()), []  # the part's rows of this table: chunks of JSON without braces
        for start in range(0, len(listed), CHUNK_ROWS):
            body = orjson.dumps(dict(listed[start:start + CHUNK_ROWS]))[1:-1]
            if size and size + len(body) > most:
                part[name] = braced(bodies)
                yield part
                part, size, bodies = {}, 0, []
            bodies.append(body)
            size += len(body)
        part[name] = braced(bodies)
    yield part


def braced(bodies: list[bytes]) -> orjson.Fragment:
    """Return chunks of an object's members as the JSON object holding them all."""
    return orjson.Fragment(b"{" + b",".join(bodies) + b"}")


class CheckpointLog:
    """One worker's partition of the checkpoint topic: read back once on start, then appended to."""

    def __init__(self, bootstrap: str, topic: str, partition: int, clock: Callable[[], float] = time.time,
                 full_every: int | None = None) -> None:
        """Write and read one partition of `topic`, `clock` the wall-clock time in seconds, a whole copy every
        `full_every` checkpoints (`FULL_EVERY` unless given)."""
        self.servers = bootstrap.split(",")
        self.tp = TopicPartition(topic, partition)
        self.full_every = FULL_EVERY if full_every is None else full_every
        self.writer = uuid.uuid4().hex  # names this writer in its records
        self.after = -1  # the log's last record when it was restored: where this writer's line goes on from
        self.base = 0
        self.since_full = 0
        self.clock = clock
        self.based_at: float | None = None  # when the base was written (the log's first record, before a whole copy)

    async def restore(self) -> Restored:
        """Read the log from the base its last message names to its end; return what it holds."""
        async with Reader(self.servers) as reader:
            listed = (await reader.end_offsets([self.tp]))[self.tp]
            if not listed:
                return Restored()
            end = (await reader.fetched_ends({self.tp: listed}))[self.tp]
            last = await read(reader, self.tp, end - 1, end)
            self.base, self.after = orjson.loads(last[-1].value)["base"], end - 1
            messages = await read(reader, self.tp, self.base, end)
            self.based_at = messages[0].timestamp / 1000  # the producer's wall clock as it wrote the base
            restored = fold_log(line([(m.offset, orjson.loads(m.value)) for m in messages]))
            self.since_full = restored.checkpoints
            return restored

    def records(self, tables: dict[str, Journal], offsets: Offsets) -> Iterator[dict[str, Any]]:
        """Yield the records of the next checkpoint, in parts: a delta, or a whole copy every `full_every`
        checkpoints and once the base is `WHOLE_EVERY_S` old."""
        changes = {name: journal.take_changes() for name, journal in tables.items()}
        aged = self.based_at is not None and self.clock() - self.based_at >= WHOLE_EVERY_S
        whole = self.since_full >= self.full_every or aged
        if not whole:
            self.since_full += 1
        rows = {name: journal.rows for name, journal in tables.items()} if whole else changes
        parts = list(in_parts(rows, PART_BYTES))
        for n, part in enumerate(parts):
            yield {"kind": "part" if whole else "delta", "base": self.base, "first": n == 0,
                   "last": n == len(parts) - 1, "tables": part, "offsets": offsets, "writer": self.writer,
                   "after": self.after}

    def wrote(self, first_offset: int, whole: bool) -> None:
        """Note where the checkpoint just written starts; a whole copy becomes the base of what follows (and the
        log's first record, before any, is the base of an empty state)."""
        if whole:
            self.base, self.since_full = first_offset, 0
        if whole or self.based_at is None:
            self.based_at = self.clock()


async def read(reader: Reader, tp: TopicPartition, start: int, end: int) -> list[Any]:
    """Return the messages of offsets [start, end) of one partition, in order."""
    return [m for m in await reader.read_until({tp: start}, {tp: end}) if m.offset < end]


async def write(log: CheckpointLog, producer: Any, tables: dict[str, Journal], offsets: Offsets,
                fence: Fence | None = None) -> None:
    """Append the next checkpoint through `producer` (Faust's) and wait until the broker holds it; first, if given,
    wait for `fence` to confirm this worker still holds the log's partition (`RiskTasks.held`)."""
    if fence is not None:
        await fence()
    records = list(log.records(tables, offsets))
    sent = [await producer.send(log.tp.topic, None, orjson.dumps(r), log.tp.partition, None, None) for r in records]
    first = await sent[0]
    for pending in sent[1:]:
        await pending
    log.wrote(first.offset, records[0]["kind"] == "part")


class AppliedRows:
    """A reorder buffer's records of applied ids as a checkpoint table (key: the record's number): what a save adds
    and what the buffer forgot since."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        numbers = [int(n) for n in table]
        self.newest = max(numbers, default=0)  # the newest record written
        self.oldest = min(numbers, default=self.newest + 1)  # the oldest not deleted

    def save(self, buffer: ReorderBuffer) -> None:
        """Write the records the buffer made since the last save; delete those it forgot."""
        for record in reversed(buffer.applied):
            if record.n <= self.newest:
                break
            self.table[str(record.n)] = record.to_row()
        self.newest = buffer.releases
        oldest = buffer.applied[0].n if buffer.applied else buffer.releases + 1
        for n in range(self.oldest, oldest):
            self.table.pop(str(n), None)
        self.oldest = max(self.oldest, oldest)

    def records(self) -> Iterator[Applied]:
        """Yield the records the table holds."""
        return (Applied.of_row(int(n), row) for n, row in self.table.items())

"""Replay a JSONL file of `{"topic": ..., "value": {...}}` lines onto the input topics, in order."""

import asyncio
import time
from pathlib import Path
from typing import Any, Iterator

import orjson

from quantdesk.messages import EARLIEST_MS, INPUT_MODELS, LATEST_MS
from quantdesk.kafka.publisher import Keyed, Publisher, partition_key
from quantdesk.settings import Settings


class ReplayError(ValueError):
    """A replay file line that is not `{"topic": <input topic>, "value": {...}}`."""


def read_lines(path: Path) -> Iterator[Keyed]:
    """Yield (topic, key, value) for every line, or raise ReplayError naming the bad line."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield parse_line(line, number)


def parse_line(line: bytes, number: int) -> Keyed:
    """Return one line as (topic, key, value)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ReplayError(f"line {number}: not JSON ({exc})") from exc
    if not isinstance(record, dict) or record.get("topic") not in INPUT_MODELS or not isinstance(record.get("value"), dict):
        raise ReplayError(f"line {number}: needs {{topic: one of {sorted(INPUT_MODELS)}, value: {{...}}}}")
    return record["topic"], partition_key(record["topic"], record["value"]), record["value"]


async def replay(settings: Settings, bootstrap: str, path: Path, speed: float | None = None, window: int = 2000) -> int:
    """Publish the file's events in order (paced at `speed` × event time if given); return the count."""
    lines = list(read_lines(path))
    async with Publisher(settings, bootstrap) as publisher:
        if speed is None:
            return sum([await publisher.send(lines[i:i + window]) for i in range(0, len(lines), window)])
        return await paced(publisher, lines, speed)


async def paced(publisher: Publisher, lines: list[Keyed], speed: float) -> int:
    """Publish events one event-time instant at a time, waiting between them; an event without an event time the
    input takes (the workers dead-letter it) goes out without a wait."""
    started, first_ts = time.monotonic(), next((ts for _, _, v in lines if (ts := event_time(v)) is not None), 0)
    for topic, key, value in lines:
        due = ((event_time(value) or first_ts) - first_ts) / 1000 / speed
        await asyncio.sleep(max(0.0, due - (time.monotonic() - started)))
        await publisher.send([(topic, key, value)])
    return len(lines)


def event_time(value: dict[str, Any]) -> int | None:
    """Return an event's time if the input would take it, else None (a text, a float, a time out of range)."""
    ts = value.get("ts")
    return ts if type(ts) is int and EARLIEST_MS <= ts < LATEST_MS else None

"""`quantdesk tail TOPIC`: any of the platform's topics as JSON lines, one event a line, so operators can read what
travels on the internal topics (where a message may pack many events) as easily as on the input ones."""

import base64
from typing import Any, Callable

import orjson
from aiokafka import ConsumerRecord, TopicPartition

from quantdesk.broker import FETCH_MAX_WAIT_MS
from quantdesk.kafka.reader import Reader
from quantdesk.kafka.topics import ALL_TOPICS
from quantdesk.settings import Settings
from quantdesk.wire import decode


def unknown_topic(logical: str) -> str | None:
    """Return why `logical` names no topic of the platform, or None."""
    return None if logical in ALL_TOPICS else f"no topic {logical!r}: one of {', '.join(sorted(ALL_TOPICS))}"


def lines(record: ConsumerRecord, meta: bool) -> list[bytes]:
    """Return a record's events as JSON lines (with where each came from, when `meta`); a value that is not JSON
    is one line saying so, with its bytes in base64."""
    try:
        events: list[Any] = decode(record.value)
    except orjson.JSONDecodeError as exc:
        return [orjson.dumps({"partition": record.partition, "offset": record.offset, "undecodable": str(exc),
                              "value_base64": base64.b64encode(record.value or b"").decode()})]
    if not meta:
        return [orjson.dumps(event) for event in events]
    key = record.key.decode(errors="replace") if record.key is not None else None
    return [orjson.dumps({"partition": record.partition, "offset": record.offset, "key": key, "event": event})
            for event in events]


async def tail(settings: Settings, bootstrap: str, logical: str, write: Callable[[bytes], None], *,
               follow: bool = False, limit: int | None = None, meta: bool = False) -> int:
    """Write every event of a topic as a JSON line, each partition in offset order, up to the end it had when asked
    (on as new ones come with `follow`, until `limit` events); return how many were written."""
    written = 0
    async with Reader(bootstrap) as reader:
        parts = await reader.partitions([settings.topic(logical)])
        ends = await reader.fetched_ends(await reader.end_offsets(parts))
        reader.assign(dict.fromkeys(parts, 0))
        while follow or await unread(reader, ends):
            for records in (await reader.fetch(timeout_ms=FETCH_MAX_WAIT_MS)).values():
                for record in records:
                    for line in lines(record, meta):
                        write(line)
                        written += 1
                        if written == limit:
                            return written
    return written


async def unread(reader: Reader, ends: dict[TopicPartition, int]) -> bool:
    """Tell whether some partition has records before its end still to read."""
    return any([await reader.position(tp) < end for tp, end in ends.items()])

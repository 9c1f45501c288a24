"""Bytes on the wire: a Kafka message holds one event or a JSON array of events."""

from decimal import Decimal
from typing import Any, Iterable

import orjson


def _default(value: Any) -> Any:
    """Serialise what orjson does not know: decimals as exact strings."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def encode(value: Any) -> bytes:
    """Encode one event or a list of events as JSON bytes."""
    return orjson.dumps(value, default=_default)


def encode_batch(events: Iterable[Any]) -> bytes:
    """Encode several events of one partition as one JSON array."""
    return encode(list(events))


def decode(raw: bytes) -> list[Any]:
    """Decode a Kafka message value into its events (raises orjson.JSONDecodeError)."""
    value = orjson.loads(raw)
    return value if isinstance(value, list) else [value]

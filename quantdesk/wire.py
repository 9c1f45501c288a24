"""Bytes on the wire: a Kafka message holds one event or a JSON array of events."""

from decimal import Decimal
from functools import cache
from typing import Any, Iterable

import orjson
from pydantic import BaseModel, TypeAdapter


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


@cache
def array_of(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    """Return the serialiser of a list of `model` events."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def encode_batch(events: Iterable[Any]) -> bytes:
    """Encode several events of one partition as one JSON array; models of one class in one pydantic call
    (the same bytes as `encode`, at half the cost)."""
    batch = list(events)
    kinds = {type(event) for event in batch}
    if len(kinds) == 1 and issubclass(model := kinds.pop(), BaseModel):
        return array_of(model).dump_json(batch)
    return encode(batch)


def decode(raw: bytes) -> list[Any]:
    """Decode a Kafka message value into its events (raises orjson.JSONDecodeError)."""
    value = orjson.loads(raw)
    return value if isinstance(value, list) else [value]

"""Bytes on the wire: a Kafka message holds one event or a JSON array of events."""

import hashlib
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar, Iterable, Self

import numpy as np
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


def digest(value: Any) -> str:
    """Return the SHA-256 of a value's canonical JSON (keys sorted, decimals as exact strings), in hex: the same
    inputs give the same digest on any machine, in any run."""
    return hashlib.sha256(orjson.dumps(value, default=_default, option=orjson.OPT_SORT_KEYS)).hexdigest()


@cache
def array_of(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    """Return the serialiser of a list of `model` events."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~0.5 µs more to make, and a move writes thousands
class Encoded:
    """An event encoded once for the several topics it goes to: its JSON and its event time (never changed)."""

    ts: int
    json: bytes

    @classmethod
    def of(cls, event: Any) -> "Encoded":
        """Return a model event encoded (the bytes a batch of it would hold); an event written already as its own."""
        if isinstance(event, Encoded):
            return cls(event.ts, event.json)
        return cls(event.ts, event.__pydantic_serializer__.to_json(event))


@dataclass(slots=True)  # not frozen, as `Encoded`
class Written(Encoded):
    """An event written already as the JSON of a `MODEL`, read as that model: the fields a subclass carries at
    hand, any other decoded on demand."""

    MODEL: ClassVar[type[BaseModel]]

    def model(self) -> Any:
        """Return the event as its model."""
        return self.MODEL.model_validate_json(self.json)

    def __getattr__(self, name: str) -> Any:
        """Read another field of the event from its bytes (tests, a rebuild: off the engine's path)."""
        if name.startswith("__"):  # copy and pickle probe these before the slots are set
            raise AttributeError(name)
        return getattr(self.model(), name)


@dataclass(frozen=True, slots=True)
class EncodedRun:
    """Events encoded already one after another in one buffer, each followed by a comma, with their keys: rows
    [start, stop) of `data`, row r being `data[ends[r]:ends[r + 1] - 1]`. Rows side by side go into a message as
    one slice of the buffer; `part` takes some of them without copying any."""

    data: bytes | np.ndarray  # any buffer of bytes: bytes, or a uint8 array as written
    ends: np.ndarray  # int64
    keys: list[str]  # per row of `data`
    start: int
    stop: int
    ts: int  # the earliest event time among them

    def __len__(self) -> int:
        return self.stop - self.start

    def part(self, start: int, stop: int) -> Self:
        """Return rows [start, stop) of this run (counted from its first), as a run of the same kind."""
        return replace(self, start=self.start + start, stop=self.start + stop)

    def run_keys(self) -> list[str]:
        """Return the run's keys, in order."""
        return self.keys[self.start:self.stop]

    def row(self, r: int) -> bytes:
        """Return the bytes of row r (counted from the run's first)."""
        return bytes(self.data[self.ends[self.start + r]:self.ends[self.start + r + 1] - 1])


def encode_batch(events: Iterable[Any]) -> bytes:
    """Encode several events of one partition as one JSON array; models of one class in one pydantic call
    (the same bytes as `encode`, at half the cost); events `Encoded` before, joined, with any model among them
    encoded apart."""
    batch = list(events)
    kinds = {type(event) for event in batch}
    if len(kinds) == 1 and issubclass(model := next(iter(kinds)), BaseModel):
        return array_of(model).dump_json(batch)
    if any(issubclass(kind, Encoded) for kind in kinds):
        return b"[" + b",".join(e.json if isinstance(e, Encoded) else Encoded.of(e).json for e in batch) + b"]"
    return encode(batch)


def decode(raw: bytes) -> list[Any]:
    """Decode a Kafka message value into its events (raises orjson.JSONDecodeError)."""
    value = orjson.loads(raw)
    return value if isinstance(value, list) else [value]

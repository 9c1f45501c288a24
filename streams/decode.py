"""Turn a Kafka message into valid events, and everything else into dead letters.

A JSON number reaches pydantic and orjson as a float, which keeps any 15 significant digits but not
always 16: a message that may hold a number that long is parsed with exact decimals instead, so a
value is kept exactly as written or refused by the bounds, never rounded on the way in.
"""

import hashlib
import json
import re
from decimal import Decimal
from functools import cache
from typing import Any, Callable

from pydantic import TypeAdapter, ValidationError

from quantdesk.messages import DeadLetter, Message
from quantdesk.wire import decode, encode

# A cheap screen for a run of 16 digits or dots (texts such as long decimal strings pass it too), then the
# pattern of a number literal, which only a message that passed the screen pays for.
DIGITS = bytes(ord("0") if chr(b) in "0123456789." else ord(" ") for b in range(256))
DIGIT_RUN = b"0" * 16
LONG_NUMBER = re.compile(rb"[\[:,][ \t\r\n]*-?[0-9.]{16}")


def dead_letter(topic: str, ts: int, reason: str, payload: bytes) -> DeadLetter:
    """Return a dead letter for `payload`, with an id derived from its bytes."""
    digest = hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()[:32]
    return DeadLetter(id=f"dlq:{digest}", ts=ts, topic=topic, reason=reason,
                      payload=payload.decode("utf-8", "backslashreplace"))


def as_bytes(item: Any) -> bytes:
    """Return an item as JSON, through the json module where orjson cannot write it (an int past 64 bits, a lone
    surrogate, which it escapes)."""
    try:
        return encode(item)
    except TypeError:
        return json.dumps(item, default=str, separators=(",", ":")).encode()


def has_long_number(raw: bytes) -> bool:
    """Return whether a JSON text may hold a number of 16 digits or more, which a float may not keep."""
    return DIGIT_RUN in raw.translate(DIGITS) and LONG_NUMBER.search(raw) is not None


def items_of(raw: bytes) -> list[Any]:
    """Decode a message value into its events, its numbers exactly (raises ValueError or RecursionError)."""
    items = decode(raw)  # orjson also decides what is JSON on the exact path: no NaN, no lone surrogates
    if not has_long_number(raw):
        return items
    value = json.loads(raw, parse_float=Decimal)
    return value if isinstance(value, list) else [value]


def first_error(exc: ValidationError) -> str:
    """Return a one-line account of a validation error."""
    errors = exc.errors(include_url=False)
    where = ".".join(str(p) for p in errors[0]["loc"]) or "message"
    extra = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid {where}: {errors[0]['msg']}{extra}"


Check = Callable[[Any], str | None]


def validate(model: type[Message], topic: str, item: Any, ts: int, check: Check | None) -> Message | DeadLetter:
    """Return the item as a model, or as a dead letter that says why not."""
    try:
        event = model.model_validate(item)
    except ValidationError as exc:
        return dead_letter(topic, ts, first_error(exc), as_bytes(item))
    why = check(event) if check else None
    return dead_letter(topic, ts, why, as_bytes(item)) if why else event


@cache
def batch_of(model: type[Message]) -> TypeAdapter[list[Any]]:
    """Return the validator of a JSON array of `model` events."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def all_valid(model: type[Message], raw: bytes | None) -> list[Any] | None:
    """Return a message's events when it is a JSON array of which every one validates (parsed and validated in
    one call, no dicts in between) and no number of which a float may not keep, else None."""
    if not raw or raw[:1] != b"[" or has_long_number(raw):
        return None
    try:
        return batch_of(model).validate_json(raw)
    except ValidationError:
        return None


def decode_events(
    model: type[Message], topic: str, raw: bytes | None, ts: int, check: Check | None = None
) -> tuple[list[Any], list[DeadLetter]]:
    """Split a Kafka message value into valid events and dead letters (with `check`'s reasons)."""
    events = all_valid(model, raw)
    if events is not None and not (check and any(check(e) for e in events)):
        return events, []
    try:
        items = items_of(raw or b"")
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting json.loads cannot follow
        return [], [dead_letter(topic, ts, f"not JSON: {exc}", raw or b"")]
    return split_items(model, topic, items, ts, check)


def split_items(
    model: type[Message], topic: str, items: list[Any], ts: int, check: Check | None = None
) -> tuple[list[Any], list[DeadLetter]]:
    """Split decoded items into valid events and dead letters: all validated in one call, item by item when any
    fails to validate or `check` refuses one."""
    try:
        events = batch_of(model).validate_python(items)
    except ValidationError:
        events = None
    if events is not None and not (check and any(check(e) for e in events)):
        return events, []
    checked = [validate(model, topic, item, ts, check) for item in items]
    good = [c for c in checked if not isinstance(c, DeadLetter)]
    return good, [c for c in checked if isinstance(c, DeadLetter)]

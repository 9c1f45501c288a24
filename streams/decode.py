"""Turn a Kafka message into valid events, and everything else into dead letters."""

import hashlib
from functools import cache
from typing import Any, Callable

import orjson
from pydantic import TypeAdapter, ValidationError

from quantdesk.messages import DeadLetter, Message
from quantdesk.wire import decode


def dead_letter(topic: str, ts: int, reason: str, payload: bytes) -> DeadLetter:
    """Return a dead letter for `payload`, with an id derived from its bytes."""
    digest = hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()[:32]
    return DeadLetter(id=f"dlq:{digest}", ts=ts, topic=topic, reason=reason,
                      payload=payload.decode("utf-8", "backslashreplace"))


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
        return dead_letter(topic, ts, first_error(exc), orjson.dumps(item))
    why = check(event) if check else None
    return dead_letter(topic, ts, why, orjson.dumps(item)) if why else event


@cache
def batch_of(model: type[Message]) -> TypeAdapter[list[Any]]:
    """Return the validator of a JSON array of `model` events."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def all_valid(model: type[Message], raw: bytes | None) -> list[Any] | None:
    """Return a message's events when it is a JSON array of which every one validates (parsed and validated in
    one call, no dicts in between), else None."""
    try:
        return batch_of(model).validate_json(raw) if raw and raw[:1] == b"[" else None
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
        items = decode(raw or b"")
    except orjson.JSONDecodeError as exc:
        return [], [dead_letter(topic, ts, f"not JSON: {exc}", raw or b"")]
    checked = [validate(model, topic, item, ts, check) for item in items]
    good = [c for c in checked if not isinstance(c, DeadLetter)]
    return good, [c for c in checked if isinstance(c, DeadLetter)]

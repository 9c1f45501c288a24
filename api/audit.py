"""The gateway's decisions on the audit trail: sign-ins taken or refused (with why), order tickets (what was asked
and what was answered), admins' commands and refusals; each an `AuditEntry` on `audit.log` that the sink stores
beside the risk engine's.

An entry's time is the wall clock when the gateway decided (a request has no other time); its digest is that of
what the decision was taken from, so two tickets asked of the same figures show the same digest. A gateway without
a broker records nothing (it takes no commands either).

A decision is answered only once the broker holds its record, within `QUANTDESK_PUBLISH_TIMEOUT_S`; a broker that
cannot take it in that time makes the answer a 503 (the record may still land once the broker is back: a command
has an effect that the same command again does not change).
"""

import asyncio
import time
import uuid
from typing import Any, Iterable

from aiokafka.errors import KafkaError
from fastapi import Request

from api.errors import Unavailable
from quantdesk.kafka.publisher import Keyed
from quantdesk.markets import params_version
from quantdesk.messages import AuditEntry, dump
from quantdesk.wire import digest

ACTOR = "gateway"


async def record(request: Request, action: str, subject: str, data: dict[str, Any], inputs: Any = None,
                 causes: Iterable[str] = ()) -> None:
    """Put one decision on `audit.log`: `inputs` (by default `data`) are what its digest is of."""
    if request.app.state.publisher is not None:
        await delivered(request, [entry(request, action, subject, data, inputs, causes)])


def entry(request: Request, action: str, subject: str, data: dict[str, Any], inputs: Any = None,
          causes: Iterable[str] = ()) -> Keyed:
    """Return one decision's record for `audit.log`, keyed by its subject."""
    settings, live, now = request.app.state.settings, request.app.state.live, int(time.time() * 1000)
    in_force = tuple(live.params(m, now) for m in settings.markets)
    made = AuditEntry(id=f"{ACTOR}:{uuid.uuid4().hex}", ts=now, actor=ACTOR, action=action, subject=subject,
                      data=data, causes=list(causes), params=params_version(in_force),
                      digest=digest(data if inputs is None else inputs))
    return "audit.log", subject, dump(made)


async def delivered(request: Request, events: list[Keyed]) -> None:
    """Put `events` on their topics and wait until the broker holds them, or answer 503 past the publish timeout."""
    settings = request.app.state.settings
    try:
        await asyncio.wait_for(request.app.state.publisher.send(events), settings.publish_timeout_s)
    except (KafkaError, asyncio.TimeoutError) as exc:
        raise Unavailable("broker", f"the broker did not take this request's record within "
                                    f"{settings.publish_timeout_s:g} s ({type(exc).__name__}): retry once it answers"
                          ) from exc

"""The gateway's decisions on the audit trail: sign-ins taken or refused (with why), order tickets (what was asked
and what was answered), admins' commands and refusals; each an `AuditEntry` on `audit.log` that the sink stores
beside the risk engine's.

An entry's time is the wall clock when the gateway decided (a request has no other time); its digest is that of
what the decision was taken from, so two tickets asked of the same figures show the same digest. A gateway without
a broker records nothing (it takes no commands either).
"""

import time
import uuid
from typing import Any, Iterable

from fastapi import Request

from quantdesk.markets import params_version
from quantdesk.messages import AuditEntry, dump
from quantdesk.wire import digest

ACTOR = "gateway"


async def record(request: Request, action: str, subject: str, data: dict[str, Any], inputs: Any = None,
                 causes: Iterable[str] = ()) -> None:
    """Put one decision on `audit.log`: `inputs` (by default `data`) are what its digest is of."""
    publisher = request.app.state.publisher
    if publisher is None:
        return
    settings, live, now = request.app.state.settings, request.app.state.live, int(time.time() * 1000)
    in_force = tuple(live.params(m, now) for m in settings.markets)
    entry = AuditEntry(id=f"{ACTOR}:{uuid.uuid4().hex}", ts=now, actor=ACTOR, action=action, subject=subject,
                       data=data, causes=list(causes), params=params_version(in_force),
                       digest=digest(data if inputs is None else inputs))
    await publisher.send([("audit.log", subject, dump(entry))])

"""Liveness and readiness of the gateway."""

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import SettingsDep, WarehouseDep
from quantdesk.kafka.lag import unapplied

router = APIRouter(tags=["health"])
CHECK_S = 5.0  # how long a part may take to answer before it counts as unreachable


@router.get("/health")
async def health() -> dict[str, str]:
    """Say the gateway process is alive."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "the broker or ClickHouse cannot be reached, or a reader is "
                                                    "too far behind (`reason`)"}})
async def ready(request: Request, settings: SettingsDep, warehouse: WarehouseDep) -> Any:
    """Say whether the gateway can serve: ClickHouse and the broker answer, and no reader is more than
    `ready_max_lag` messages behind. `input` counts the published messages the risk worker (`risk`) and the market
    worker (`markets`) have not applied and the sink has not stored (`store`); `applied` is true once all are 0,
    e.g. when a replay has been applied in full (`input` is null for a gateway run without a broker). Unready, the
    `reason` names what failed: the part that cannot be reached, or the reader, its count and the threshold."""
    try:
        await asyncio.wait_for(warehouse.arows("SELECT 1"), CHECK_S)
    except Exception as exc:  # any failure to answer is the reason, shown as it is
        return unready(f"ClickHouse cannot be reached: {exc!r}")
    if request.app.state.bootstrap is None:
        return {"status": "ready", "input": None}
    try:
        behind = await asyncio.wait_for(unapplied(settings, request.app.state.bootstrap), CHECK_S)
    except Exception as exc:
        return unready(f"the broker cannot be reached: {exc!r}")
    state = {"input": {**behind, "applied": not any(behind.values())}}
    if lagging := {reader: n for reader, n in behind.items() if n > settings.ready_max_lag}:
        return unready("; ".join(f"the {reader} reader is behind by {n}, over ready_max_lag "
                                 f"{settings.ready_max_lag}" for reader, n in lagging.items()), state)
    return {"status": "ready", **state}


def unready(reason: str, state: dict[str, Any] | None = None) -> JSONResponse:
    """Return the 503 answer of a gateway that cannot serve, and why."""
    return JSONResponse({"status": "unready", "reason": reason, **(state or {})}, 503)

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


@router.get("/ready", responses={503: {"description": "the broker or ClickHouse cannot be reached (`reason`)"}})
async def ready(request: Request, settings: SettingsDep, warehouse: WarehouseDep) -> Any:
    """Say whether the gateway can serve: ClickHouse and the broker answer. `input` counts the published messages
    the risk worker has not applied (`risk`) and the sink has not stored (`store`); `applied` is true once both
    are 0, e.g. when a replay has been applied in full (`input` is null for a gateway run without a broker)."""
    try:
        await asyncio.wait_for(warehouse.arows("SELECT 1"), CHECK_S)
    except Exception as exc:  # any failure to answer is the reason, shown as it is
        return JSONResponse({"status": "unready", "reason": f"ClickHouse cannot be reached: {exc!r}"}, 503)
    if request.app.state.bootstrap is None:
        return {"status": "ready", "input": None}
    try:
        behind = await asyncio.wait_for(unapplied(settings, request.app.state.bootstrap), CHECK_S)
    except Exception as exc:
        return JSONResponse({"status": "unready", "reason": f"the broker cannot be reached: {exc!r}"}, 503)
    return {"status": "ready", "input": {**behind, "applied": not any(behind.values())}}

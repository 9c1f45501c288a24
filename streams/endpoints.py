"""A worker's own endpoints on its port: `/health` (the process is alive and its app has not crashed), `/ready` (its
broker and, for the roles that store, ClickHouse answer; no reader is over `ready_max_lag` messages behind) and
`/metrics` (its role's families)."""

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quantdesk.kafka.lag import reader_behind
from quantdesk.metrics import CONTENT_TYPE
from quantdesk.process import serving
from streams.pipeline import Pipeline

CHECK_S = 5.0  # how long a part may take to answer before it counts as unreachable
READERS_OF = {"risk": ("risk", "owners"), "feed": ("markets", "orders", "store"),
              "all": ("risk", "owners", "markets", "orders", "store")}


def port_of(pipeline: Pipeline) -> int:
    """Return the port a role serves its endpoints on (the `all` role the feed's)."""
    settings = pipeline.settings
    return settings.risk_worker_port if pipeline.role == "risk" else settings.feed_worker_port


async def readers_behind(pipeline: Pipeline) -> dict[str, int]:
    """Return how many published messages each of the role's readers has not applied or stored."""
    return {reader: await reader_behind(pipeline.settings, pipeline.bootstrap, reader)
            for reader in READERS_OF[pipeline.role]}


async def unready(pipeline: Pipeline) -> tuple[str | None, dict[str, int]]:
    """Return why the worker cannot count as ready (None when it can), and how far behind each reader is."""
    if pipeline.warehouse is not None:
        try:
            await asyncio.wait_for(pipeline.warehouse.arows("SELECT 1"), CHECK_S)
        except Exception as exc:  # any failure to answer is the reason, shown as it is
            return f"ClickHouse cannot be reached: {exc!r}", {}
    try:
        lags = await asyncio.wait_for(readers_behind(pipeline), CHECK_S)
    except Exception as exc:
        return f"the broker cannot be reached: {exc!r}", {}
    most = pipeline.settings.ready_max_lag
    over = [f"the {reader} reader is {n} messages behind (over {most})" for reader, n in lags.items() if n > most]
    return ("; ".join(over) or None), lags


def endpoints_app(pipeline: Pipeline) -> Starlette:
    """Return the worker's tiny app: `/health`, `/ready` and `/metrics`."""
    async def health(_: Request) -> Response:
        crashed = pipeline.app.crash_reason
        if crashed is not None:
            return JSONResponse({"status": "crashed", "reason": repr(crashed)}, status_code=503)
        return JSONResponse({"status": "ok", "role": pipeline.role, "loops": pipeline.loops})

    async def ready(_: Request) -> Response:
        reason, lags = await unready(pipeline)
        if reason is not None:
            return JSONResponse({"status": "unready", "reason": reason, "behind": lags}, status_code=503)
        return JSONResponse({"status": "ready", "behind": lags})

    async def prometheus(_: Request) -> Response:
        return Response(pipeline.metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/health", health), Route("/ready", ready), Route("/metrics", prometheus)])


@asynccontextmanager
async def endpoints_serving(pipeline: Pipeline) -> AsyncIterator[asyncio.Task[None]]:
    """Serve the worker's endpoints on its role's port until the block exits."""
    config = uvicorn.Config(endpoints_app(pipeline), host=pipeline.settings.api_host, port=port_of(pipeline),
                            log_level="warning", lifespan="off")
    async with serving(uvicorn.Server(config), f"{pipeline.role}-endpoints") as task:
        yield task

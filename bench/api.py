"""Requests/s of `GET /api/v1/markets` beside a bare Starlette endpoint on the same uvicorn setup."""

import asyncio
import sys
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from quantdesk.broker import free_port
from api.embedded import Runtime
from quantdesk.process import serving


def bare_app(body: Any) -> Starlette:
    """Return a Starlette app answering `GET /markets` with a fixed JSON body."""
    async def markets(request: Request) -> JSONResponse:
        return JSONResponse(body)
    return Starlette(routes=[Route("/markets", markets)])


async def load(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """Run the load generator in a child process against `url`; return its report with `rps`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", url, str(seconds), str(concurrency),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), seconds + 60)
    if process.returncode:
        raise RuntimeError(f"the load generator exited with {process.returncode}")
    report = orjson.loads(out)
    ok = report["status"].get("200", 0)
    return {"rps": ok / report["seconds"], "requests": report["requests"], "status": report["status"]}


async def api_rps(runtime: Runtime, seconds: float, concurrency: int) -> dict[str, Any]:
    """Return the gateway's markets rps beside a bare endpoint's, both under the same load."""
    url = f"{runtime.api_url}/api/v1/markets"
    async with httpx.AsyncClient(timeout=30) as client:
        body = (await client.get(url)).json()
    settings = runtime.settings
    config = uvicorn.Config(bare_app(body), host=settings.api_host, port=free_port(), log_level="warning",
                            lifespan="on")
    async with serving(uvicorn.Server(config), "bench-bare"):
        baseline = await load(f"http://{settings.api_host}:{config.port}/markets", seconds, concurrency)
    measured = await load(url, seconds, concurrency)
    return {**measured, "concurrency": concurrency, "seconds": seconds,
            "baseline": {"what": "bare Starlette endpoint with the same JSON body, same uvicorn config", **baseline}}


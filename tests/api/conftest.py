"""The gateway under test: in-process over ASGI, or served on its port with the live feed."""

import shutil
import subprocess
from contextlib import asynccontextmanager
from typing import AsyncIterator, Iterator

import httpx
import pytest
import redis
import uvicorn

from api.main import create_api
from api.ratelimit import Rates
from api.main import gateway_config
from quantdesk.process import serving
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from quantdesk.warehouse import Warehouse
from tests.conftest import ROOT, unavailable

RELAXED = Rates(public="10000/minute", trading="10000/minute", auth="10000/minute", subscribe="10000/minute",
                connect="10000/minute")


@pytest.fixture(params=["memory", "redis"])
def backed(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """Return the test's settings with sessions and limits in memory, or in the local Redis."""
    if request.param == "memory":
        yield settings
        return
    url = request.getfixturevalue("redis_url")
    yield settings.model_copy(update={"redis_url": url})
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{settings.app_id}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@asynccontextmanager
async def gateway(settings: Settings, rates: Rates = Rates(), bootstrap: str | None = None) -> AsyncIterator[object]:
    """Run the gateway app's lifespan (without the Faust worker) and yield the ASGI app."""
    warehouse = Warehouse.from_settings(settings)
    asgi = create_api(settings, warehouse, bootstrap, rates=rates)
    app = asgi.other_asgi_app
    try:
        async with app.router.lifespan_context(app):
            yield asgi
    finally:
        warehouse.close()


def client(asgi: object, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """Return an HTTPS client of the in-process app, calling from `ip` (so Secure cookies flow)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(asgi, client=(ip, 40000)), base_url="https://gateway.test")


@asynccontextmanager
async def served(settings: Settings, bootstrap: str | None, rates: Rates = Rates()) -> AsyncIterator[str]:
    """Serve the gateway on the settings' port, with its live feed given a broker; yield its base URL."""
    warehouse = Warehouse.from_settings(settings, settings.clickhouse_timeout_s)  # as `quantdesk api` opens it
    if bootstrap:
        await ensure_topics(settings, bootstrap)
    try:
        async with on_port(create_api(settings, warehouse, bootstrap, rates=rates), settings) as url:
            yield url
    finally:
        warehouse.close()


@asynccontextmanager
async def on_port(app: object, settings: Settings) -> AsyncIterator[str]:
    """Serve a gateway app on the settings' port as the platform does; yield its base URL."""
    server = uvicorn.Server(gateway_config(app, settings, log_level="warning", lifespan="on"))
    async with serving(server, "test-server"):
        yield f"http://{settings.api_host}:{settings.api_port}"


@pytest.fixture(scope="session")
def built() -> None:
    """Build the terminal page with the Makefile's own target (npm ci from the lock file, then Vite) unless current."""
    if not shutil.which("npm") or not shutil.which("make"):
        unavailable("npm and make", "not on PATH")
    done = subprocess.run(["make", "-s", "web"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode:
        unavailable("the terminal build (make web)", done.stderr[-800:])

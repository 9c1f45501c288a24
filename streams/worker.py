"""A Faust worker of one role, run until SIGTERM or SIGINT (or its crash: it then exits with 1): `quantdesk worker`,
and `quantdesk up`'s risk process.

`python -m streams.worker` is that risk process: it reads its settings as JSON on stdin (written by
`quantdesk.risk_process`; secrets are not in it, it inherits them from the environment).
"""

import asyncio
import logging
import signal
import sys

import orjson
import uvloop
from faust.contrib.asgi import faust_app_running

from quantdesk.serving import exit_unless_stopped_within, tune_collector
from quantdesk.settings import Settings
from quantdesk.topics import ensure_topics
from quantdesk.warehouse import Warehouse
from streams.app import App, Role, build_pipeline

log = logging.getLogger(__name__)
STOP_S = 10.0  # from a stop request, how long Faust has to stop cleanly (it hangs on a broker gone first)


async def serve_worker(settings: Settings, bootstrap: str, role: Role) -> None:
    """Run one role's agents until the process is told to stop, or exit with 1 once its app crashed."""
    warehouse = None if role == "risk" else Warehouse.from_settings(settings)
    await ensure_topics(settings, bootstrap)
    if await run_until_stopped(build_pipeline(settings, bootstrap, warehouse, role).app):
        raise SystemExit(1)


async def run_until_stopped(app: App) -> bool:
    """Run the app until SIGTERM, SIGINT or its crash, then stop it within `STOP_S`; return whether it crashed."""
    async with faust_app_running(app):
        tune_collector()
        await stop_requested(app)
        deadline = exit_unless_stopped_within(STOP_S)  # the stop, on leaving this block, may hang
    deadline.cancel()
    if app.crash_reason is not None:
        log.error("the worker crashed (%r); exiting", app.crash_reason)
    return app.crash_reason is not None


async def stop_requested(app: App) -> None:
    """Wait for SIGTERM, SIGINT or the app's crash."""
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(app.crashed())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()


def main() -> None:
    """Run the risk role with the settings the parent writes on stdin."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s risk-worker %(levelname)s %(name)s: %(message)s")
    settings = Settings(**orjson.loads(sys.stdin.buffer.read()))
    uvloop.run(serve_worker(settings, settings.kafka_bootstrap or "", "risk"))


if __name__ == "__main__":
    main()

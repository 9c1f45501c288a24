"""A Faust worker of one role, run until SIGTERM or SIGINT (or its crash: it then exits with 1): `quantdesk worker`,
and `quantdesk up`'s risk process.

`python -m streams.worker` is that risk process: it reads its settings as JSON on stdin (written by
`streams.risk_process`; secrets are not in it, it inherits them from the environment). It serves no port of its own:
its metrics go to files its parent serves (`quantdesk.metrics.ChildMetrics`), and the parent's gateway answers
`/health` and `/ready`. A worker run by `quantdesk worker` serves its endpoints on its role's port
(`streams.endpoints`).
"""

import logging
import sys
from contextlib import AsyncExitStack
from typing import Literal

import orjson
import uvloop
from faust.contrib.asgi import faust_app_running

from quantdesk.process import exit_unless_stopped_within, first_of, stop_signal, tune_collector
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from quantdesk.warehouse import Warehouse
from streams import risk_tasks
from streams.agents import markets, orders, sink, webhooks
from streams.app import App, faust_app
from streams.endpoints import endpoints_serving
from streams.ordered import Decoded
from streams.pipeline import Pipeline

log = logging.getLogger(__name__)
Role = Literal["all", "risk", "feed"]  # risk: the risk tasks; feed: market and orders agents, sink, webhooks
ROLES: tuple[Role, ...] = ("all", "risk", "feed")
STOP_S = 10.0  # from a stop request, how long Faust has to stop cleanly (it hangs on a broker gone first)


def app_id_of(settings: Settings, role: Role) -> str:
    """Return a role's Faust app id (its loops show their progress as groups of their own: `quantdesk.kafka.lag`)."""
    return settings.app_id if role == "risk" else f"{settings.app_id}-feed"


def build_pipeline(settings: Settings, bootstrap: str, warehouse: Warehouse | None, role: Role = "all") -> Pipeline:
    """Build one role's app and register its loops (the feed's sink needs the warehouse); `quantdesk.kafka.topics`
    creates the topics."""
    pipeline = Pipeline(settings, faust_app(settings, bootstrap, app_id_of(settings, role)), warehouse, bootstrap,
                        role)
    if role != "feed":
        risk_tasks.register(pipeline)
    pipeline.app.producer_only = True  # every loop reads its partitions itself: Faust's consumer has nothing to read
    if role != "risk":
        assert warehouse is not None, f"the {role} role stores to ClickHouse"
        decoded = Decoded()  # each input message decoded once for the markets and orders agents and the sink
        markets.register(pipeline, decoded)
        orders.register(pipeline, decoded)
        sink.register(pipeline, shared=decoded)
        webhooks.register(pipeline)
    return pipeline


async def serve_worker(settings: Settings, bootstrap: str, role: Role, endpoints: bool = True) -> None:
    """Run one role's agents (and, with `endpoints`, `/health`, `/ready` and `/metrics` on its port) until the
    process is told to stop, or exit with 1 once its app crashed."""
    warehouse = None if role == "risk" else Warehouse.from_settings(settings)
    await ensure_topics(settings, bootstrap)
    pipeline = build_pipeline(settings, bootstrap, warehouse, role)
    async with AsyncExitStack() as stack:
        if endpoints:
            await stack.enter_async_context(endpoints_serving(pipeline))
        crashed = await run_until_stopped(pipeline.app)
    if crashed:
        raise SystemExit(1)


async def run_until_stopped(app: App) -> bool:
    """Run the app until SIGTERM, SIGINT or its crash, then stop it within `STOP_S`; return whether it crashed."""
    async with faust_app_running(app):
        tune_collector()
        await first_of(stop_signal().wait(), app.crashed())
        deadline = exit_unless_stopped_within(STOP_S)  # the stop, on leaving this block, may hang
    deadline.cancel()
    if app.crash_reason is not None:
        log.error("the worker crashed (%r); exiting", app.crash_reason)
    return app.crash_reason is not None


def main() -> None:
    """Run the risk role with the settings the parent writes on stdin."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s risk-worker %(levelname)s %(name)s: %(message)s")
    settings = Settings(**orjson.loads(sys.stdin.buffer.read()))
    uvloop.run(serve_worker(settings, settings.kafka_bootstrap or "", "risk", endpoints=False))


if __name__ == "__main__":
    main()

"""A Faust worker of one role, run until SIGTERM or SIGINT: `quantdesk worker`, and `quantdesk up`'s risk process.

`python -m streams.worker` is that risk process: it reads its settings as JSON on stdin (written by
`quantdesk.risk_process`; secrets are not in it, it inherits them from the environment).
"""

import asyncio
import logging
import os
import signal
import sys
import threading

import orjson
import uvloop
from faust.contrib.asgi import faust_app_running

from quantdesk.serving import tune_collector
from quantdesk.settings import Settings
from quantdesk.topics import ensure_topics
from quantdesk.warehouse import Warehouse
from streams.app import Role, build_pipeline

log = logging.getLogger(__name__)
STOP_S = 10.0  # from a stop request, how long Faust has to stop cleanly (it hangs on a broker gone first)


async def serve_worker(settings: Settings, bootstrap: str, role: Role) -> None:
    """Run one role's agents until the process is told to stop."""
    warehouse = None if role == "risk" else Warehouse.from_settings(settings)
    await ensure_topics(settings, bootstrap)
    async with faust_app_running(build_pipeline(settings, bootstrap, warehouse, role).app):
        tune_collector()
        await stop_requested()


async def stop_requested() -> None:
    """Wait for SIGTERM or SIGINT; from then on the process exits after `STOP_S` whether it stopped or not."""
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    deadline = threading.Timer(STOP_S, abandon)
    deadline.daemon = True  # a clean stop exits without waiting for it
    deadline.start()


def abandon() -> None:
    """Exit at once: the clean stop took too long (what it did not commit is read again on restart)."""
    log.error("the worker did not stop within %.0f s; exiting", STOP_S)
    logging.shutdown()
    os._exit(1)


def main() -> None:
    """Run the risk role with the settings the parent writes on stdin."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s risk-worker %(levelname)s %(name)s: %(message)s")
    settings = Settings(**orjson.loads(sys.stdin.buffer.read()))
    uvloop.run(serve_worker(settings, settings.kafka_bootstrap or "", "risk"))


if __name__ == "__main__":
    main()

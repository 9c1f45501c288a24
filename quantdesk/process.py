"""Process helpers every service shares: uvicorn in a task, stop signals, the first of several waits, background
tasks, the collector, a stop deadline."""

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable

import uvicorn


log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
COLLECTOR_THRESHOLDS = (10_000, 10, 10)  # gen0 allocations, then gen1 and gen2 passes (CPython's are 700, 10, 10)


@asynccontextmanager
async def serving(server: uvicorn.Server, name: str) -> AsyncIterator[asyncio.Task[None]]:
    """Serve uvicorn in a task named `name` once it listens (or fail), and stop it when the block exits; signals
    are left to the caller (`stop_signal`), so a stop drains what the caller needs before uvicorn goes."""
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(), name=name)
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"{name} stopped while starting")
        await asyncio.sleep(0.02)
    try:
        yield task
    finally:
        server.should_exit = True
        await task  # its lifespan finishes


def stop_signal() -> asyncio.Event:
    """Return an event SIGINT or SIGTERM sets from now on (one more while stopping cuts nothing short)."""
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop


async def first_of(*waits: Awaitable[Any]) -> None:
    """Wait until the first of `waits` is done, then cancel the others this wrapped (tasks given keep running)."""
    futures = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future, wait in zip(futures, waits):
            if future is not wait:
                future.cancel()


async def cancel(*tasks: asyncio.Task[None]) -> None:
    """Cancel background tasks and wait for them."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def tune_collector() -> None:
    """Freeze what startup made and collect young objects less often, once the servers run.

    A gateway with many Socket.IO clients tracks hundreds of thousands of objects: a full collection
    stalls every push, and at CPython's thresholds one lands in most seconds of ticks (docs/BENCHMARKS.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


class CollectorPaused:
    """Hold the cyclic collector off over one burst of work, then hand it back.

    A big tick makes hundreds of thousands of objects that all outlive it: the collections their
    allocation triggers meanwhile find no garbage and rescan them again and again (a quarter of
    the tick, docs/BENCHMARKS.md); once after the burst they are scanned once. A class, not a
    generator: it wraps every event the risk worker applies.
    """

    def __enter__(self) -> None:
        self.resume = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.resume:
            gc.enable()


def exit_unless_stopped_within(seconds: float) -> threading.Timer:
    """Exit the process with 1 if it is still running `seconds` from now: a stop that hangs (a client library
    waiting on a broker gone first) must not keep a failed or stopping platform alive."""
    def abandon() -> None:
        log.error("did not stop within %.0f s; exiting", seconds)
        logging.shutdown()
        os._exit(1)
    deadline = threading.Timer(seconds, abandon)
    deadline.daemon = True
    deadline.start()
    return deadline


"""Process helpers every service shares: uvicorn in a task, background tasks, the collector, a stop deadline."""

import asyncio
import gc
import logging
import os
import threading

import uvicorn


log = logging.getLogger(__name__)
COLLECTOR_THRESHOLDS = (10_000, 10, 10)  # gen0 allocations, then gen1 and gen2 passes (CPython's are 700, 10, 10)


async def serve(server: uvicorn.Server, name: str) -> asyncio.Task[None]:
    """Start uvicorn in a task and wait until it listens (or fails)."""
    task = asyncio.create_task(server.serve(), name=name)
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"{name} stopped while starting")
        await asyncio.sleep(0.02)
    return task


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Ask uvicorn to stop and wait for its lifespan to finish."""
    server.should_exit = True
    await task


async def cancel(*tasks: asyncio.Task[None]) -> None:
    """Cancel background tasks and wait for them."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def tune_collector() -> None:
    """Freeze what startup made and collect young objects less often, once the servers run.

    With 1,000 Socket.IO clients the gateway tracks about 330k objects and a full collection stalls
    every push for 100-300 ms; at CPython's thresholds one lands in most seconds of ticks.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


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


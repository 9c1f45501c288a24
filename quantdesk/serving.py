"""Run uvicorn servers and background tasks inside an asyncio program, and stop them cleanly."""

import asyncio
import gc
import logging
import os
import threading
from typing import Any

import uvicorn

from quantdesk.settings import Settings

log = logging.getLogger(__name__)
HEAD_BUFFER_BYTES = 128 << 10  # per connection: ample past the header limits, small beside a 16 MiB WebSocket frame
COLLECTOR_THRESHOLDS = (10_000, 10, 10)  # gen0 allocations, then gen1 and gen2 passes (CPython's are 700, 10, 10)


def gateway_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """Return uvicorn's config of the gateway app on the API host and port.

    The app judges X-Forwarded-For itself (`api.edge`, trusting only QUANTDESK_TRUSTED_PROXIES): uvicorn's own
    proxy headers, on by default, would take any address from a loopback peer. h11 holds at most
    `HEAD_BUFFER_BYTES` of an unfinished request head: a head up to that reaches the edge, which answers 431 in
    the platform's shape; a larger one is cut off by h11, which uvicorn answers with a bare 400.
    """
    head_buffer = max(HEAD_BUFFER_BYTES, 2 * (settings.max_header_bytes + settings.max_header_line_bytes))
    return uvicorn.Config(app, host=settings.api_host, port=settings.api_port, http="h11", proxy_headers=False,
                          h11_max_incomplete_event_size=head_buffer, **options)


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


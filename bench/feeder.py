"""The pipeline figure's load: the bench's simulated events, published from a process of their own.

Run as `python -m bench.feeder`. It reads one JSON line (settings without secrets, the
event count and start time the bench's events were simulated with, the window), simulates the same
events, connects, prints `ready <digest of the events>`, waits for a line, publishes every window
as `replay` does, and prints one JSON line: `{"publish_seconds": s, "last_window_at": t}` (t: `time.monotonic()`
just before the last window was sent, a clock every process on the machine shares). Like the Socket.IO clients of
the latency figure, the load then does not share the measured process's event loop; an ingest
service does not share it either.
"""

import asyncio
import hashlib
import sys
import time

import orjson
import uvloop

from bench.events import simulated
from quantdesk.kafka.publisher import Keyed, Publisher
from quantdesk.settings import Settings


def digest(events: list[Keyed]) -> str:
    """Return a digest of the events, to check both processes publish and expect the same ones."""
    return hashlib.sha256(orjson.dumps(events, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


async def main() -> None:
    """Simulate, connect, report ready, publish on the go line, report the time it took."""
    order = orjson.loads(sys.stdin.buffer.readline())
    settings = Settings(**order["settings"])
    events = simulated(settings, order["count"], order["start_ms"])[0]
    window = order["window"]
    async with Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        sys.stdout.write(f"ready {digest(events)}\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.readline)
        started, last = time.perf_counter(), time.monotonic()
        for start in range(0, len(events), window):
            last = time.monotonic()
            await publisher.send(events[start:start + window])
        seconds = time.perf_counter() - started
    sys.stdout.write(orjson.dumps({"publish_seconds": seconds, "last_window_at": last}).decode() + "\n")


if __name__ == "__main__":
    uvloop.run(main())

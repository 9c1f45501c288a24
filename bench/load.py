"""A closed-loop HTTP load generator: CONCURRENCY workers GET one URL for SECONDS, then report.

Run as `python -m bench.load URL SECONDS CONCURRENCY`; it prints one JSON line with
the requests completed, the seconds they took and their status codes.
"""

import asyncio
import sys
import time
from collections import Counter

import aiohttp
import orjson


async def worker(session: aiohttp.ClientSession, url: str, deadline: float, statuses: Counter[int]) -> None:
    """GET the URL again and again until the deadline."""
    while time.perf_counter() < deadline:
        async with session.get(url) as response:
            await response.read()
            statuses[response.status] += 1


async def main(url: str, seconds: float, concurrency: int) -> None:
    """Run the workers and print the report."""
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url) as warm:
            await warm.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker(session, url, started + seconds, statuses) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    report = {"requests": sum(statuses.values()), "seconds": elapsed, "status": dict(statuses)}
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))

"""Wait on conditions with a deadline, never on a fixed sleep."""

import asyncio
import time
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], timeout: float = 30.0, what: str = "condition",
                     interval: float = 0.05) -> T:
    """Return the first truthy result of `probe`, polling every `interval` until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")


async def while_advancing(probe: Callable[[], Awaitable[T]], progress: Callable[[], Awaitable[int]],
                          stall: float = 30.0, what: str = "condition", interval: float = 0.05,
                          ceiling: float = 600.0) -> T:
    """Return the first truthy result of `probe`, waiting as long as `progress` grows at least every `stall` seconds.

    For work whose length depends on the host's speed: a slow machine gets more time, a stuck one still fails.
    """
    start = time.monotonic()
    deadline, seen = start + stall, await progress()
    while (now := time.monotonic()) < deadline and now < start + ceiling:
        if last := await probe():
            return last
        if (done := await progress()) > seen:
            deadline, seen = time.monotonic() + stall, done
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not met: no progress past {seen} for {stall}s (or {ceiling}s in all)")

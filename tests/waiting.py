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

"""Nonces and sessions in this process's memory (the embedded mode: one gateway)."""

import time
from typing import Callable

from api.sessions.session import Session

PURGE_EVERY = 1000


class MemoryStore:
    """Dicts of entries with deadlines on a monotonic clock; expired entries are dropped as met."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.nonces: dict[str, tuple[str, float]] = {}
        self.sessions: dict[str, tuple[Session, float]] = {}
        self.puts = 0

    async def put_nonce(self, nonce: str, address: str, ttl_s: int) -> None:
        """Hold a nonce issued to `address` for `ttl_s` seconds."""
        self.nonces[nonce] = (address, self.clock() + ttl_s)
        self.count_put()

    async def take_nonce(self, nonce: str) -> str | None:
        """Remove a nonce and return its address, or None when it is unknown, used or expired."""
        address, deadline = self.nonces.pop(nonce, ("", 0.0))
        return address if deadline > self.clock() else None

    async def put_session(self, key: str, session: Session, ttl_s: int) -> None:
        """Hold a session under `key` for `ttl_s` seconds."""
        self.sessions[key] = (session, self.clock() + ttl_s)
        self.count_put()

    async def get_session(self, key: str) -> Session | None:
        """Return the live session under `key`, or None."""
        held = self.sessions.get(key)
        if held is None or held[1] <= self.clock():
            self.sessions.pop(key, None)
            return None
        return held[0]

    async def drop_session(self, key: str) -> None:
        """Forget the session under `key`."""
        self.sessions.pop(key, None)

    async def close(self) -> None:
        """Nothing to release."""

    def count_put(self) -> None:
        """Drop every expired entry once in a while, so abandoned nonces do not pile up."""
        self.puts += 1
        if self.puts % PURGE_EVERY:
            return
        now = self.clock()
        self.nonces = {k: v for k, v in self.nonces.items() if v[1] > now}
        self.sessions = {k: v for k, v in self.sessions.items() if v[1] > now}

"""Where sign-in nonces and sessions live: memory in the embedded mode, Redis when configured.

Both stores have the same methods; a nonce is taken at most once, and every entry expires.
"""

from typing import Protocol

from pydantic import BaseModel

from quantdesk.settings import Settings


class Session(BaseModel):
    """A signed-in wallet, with when the session began and ends (UTC ms)."""

    wallet: str
    created_at: int
    expires_at: int


class SessionStore(Protocol):
    """Nonces waiting for a signature, and the sessions they opened."""

    async def put_nonce(self, nonce: str, address: str, ttl_s: int) -> None:
        """Hold a nonce issued to `address` for `ttl_s` seconds."""

    async def take_nonce(self, nonce: str) -> str | None:
        """Remove a nonce and return its address, or None when it is unknown, used or expired."""

    async def put_session(self, key: str, session: Session, ttl_s: int) -> None:
        """Hold a session under `key` for `ttl_s` seconds."""

    async def get_session(self, key: str) -> Session | None:
        """Return the live session under `key`, or None."""

    async def drop_session(self, key: str) -> None:
        """Forget the session under `key`."""

    async def close(self) -> None:
        """Release connections."""


def open_store(settings: Settings) -> SessionStore:
    """Return the Redis store when `redis_url` is set, else the in-memory one."""
    if settings.redis_url:
        from api.sessions.redis import RedisStore
        return RedisStore(settings.redis_url, prefix=f"{settings.app_id}:auth")
    from api.sessions.memory import MemoryStore
    return MemoryStore()

"""Nonces and sessions in Redis (production: every gateway replica sees them)."""

from contextlib import asynccontextmanager
from typing import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from api.errors import Unavailable
from api.sessions.session import Session

UNREACHABLE = "the session store (Redis) cannot be reached: sign-in and signed-in requests wait until it answers"


@asynccontextmanager
async def reached() -> AsyncIterator[None]:
    """Turn Redis failing (down, refusing, past its timeout) into `Unavailable`, a 503."""
    try:
        yield
    except RedisError as exc:
        raise Unavailable("redis", f"{UNREACHABLE} ({type(exc).__name__})") from exc


class RedisStore:
    """Keys under one prefix, each with a TTL; a nonce is taken with GETDEL, so only once. A call takes at most
    `timeout_s` to connect and as long to answer, so a Redis gone silent holds no request."""

    def __init__(self, url: str, prefix: str, timeout_s: float) -> None:
        self.redis = aioredis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        self.prefix = prefix

    def key(self, kind: str, name: str) -> str:
        """Return the Redis key of an entry."""
        return f"{self.prefix}:{kind}:{name}"

    async def put_nonce(self, nonce: str, address: str, ttl_s: int) -> None:
        """Hold a nonce issued to `address` for `ttl_s` seconds."""
        async with reached():
            await self.redis.set(self.key("nonce", nonce), address, ex=ttl_s)

    async def take_nonce(self, nonce: str) -> str | None:
        """Remove a nonce and return its address, or None when it is unknown, used or expired."""
        async with reached():
            held = await self.redis.getdel(self.key("nonce", nonce))
        return held.decode() if held else None

    async def put_session(self, key: str, session: Session, ttl_s: int) -> None:
        """Hold a session under `key` for `ttl_s` seconds."""
        async with reached():
            await self.redis.set(self.key("session", key), session.model_dump_json(), ex=ttl_s)

    async def get_session(self, key: str) -> Session | None:
        """Return the live session under `key`, or None."""
        async with reached():
            held = await self.redis.get(self.key("session", key))
        return Session.model_validate_json(held) if held else None

    async def drop_session(self, key: str) -> None:
        """Forget the session under `key`."""
        async with reached():
            await self.redis.delete(self.key("session", key))

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()

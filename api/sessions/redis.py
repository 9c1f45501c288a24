"""Nonces and sessions in Redis (production: every gateway replica sees them)."""

import redis.asyncio as aioredis

from api.sessions.session import Session


class RedisStore:
    """Keys under one prefix, each with a TTL; a nonce is taken with GETDEL, so only once."""

    def __init__(self, url: str, prefix: str) -> None:
        self.redis = aioredis.Redis.from_url(url)
        self.prefix = prefix

    def key(self, kind: str, name: str) -> str:
        """Return the Redis key of an entry."""
        return f"{self.prefix}:{kind}:{name}"

    async def put_nonce(self, nonce: str, address: str, ttl_s: int) -> None:
        """Hold a nonce issued to `address` for `ttl_s` seconds."""
        await self.redis.set(self.key("nonce", nonce), address, ex=ttl_s)

    async def take_nonce(self, nonce: str) -> str | None:
        """Remove a nonce and return its address, or None when it is unknown, used or expired."""
        held = await self.redis.getdel(self.key("nonce", nonce))
        return held.decode() if held else None

    async def put_session(self, key: str, session: Session, ttl_s: int) -> None:
        """Hold a session under `key` for `ttl_s` seconds."""
        await self.redis.set(self.key("session", key), session.model_dump_json(), ex=ttl_s)

    async def get_session(self, key: str) -> Session | None:
        """Return the live session under `key`, or None."""
        held = await self.redis.get(self.key("session", key))
        return Session.model_validate_json(held) if held else None

    async def drop_session(self, key: str) -> None:
        """Forget the session under `key`."""
        await self.redis.delete(self.key("session", key))

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()

"""The two session stores behave alike: single-use nonces, sessions that expire and can be dropped."""

import redis.asyncio as aioredis

from api.sessions import Session, open_store
from api.sessions.memory import MemoryStore
from quantdesk.settings import Settings

SESSION = Session(wallet="9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", created_at=1, expires_at=2)


async def test_a_nonce_is_taken_once_and_sessions_can_be_dropped(backed: Settings) -> None:
    store = open_store(backed)
    try:
        await store.put_nonce("n1", "wallet-a", 300)
        assert await store.take_nonce("n1") == "wallet-a"
        assert await store.take_nonce("n1") is None
        assert await store.take_nonce("never-issued") is None
        await store.put_session("k1", SESSION, 60)
        assert await store.get_session("k1") == SESSION
        await store.drop_session("k1")
        assert await store.get_session("k1") is None
    finally:
        await store.close()


async def test_redis_entries_carry_their_time_to_live(settings: Settings, redis_url: str) -> None:
    store = open_store(settings.model_copy(update={"redis_url": redis_url}))
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await store.put_nonce("n2", "wallet-a", 300)
        await store.put_session("k2", SESSION, 604800)
        assert 290 <= await raw.ttl(f"{settings.app_id}:auth:nonce:n2") <= 300
        assert 604790 <= await raw.ttl(f"{settings.app_id}:auth:session:k2") <= 604800
    finally:
        await raw.delete(f"{settings.app_id}:auth:nonce:n2", f"{settings.app_id}:auth:session:k2")
        await raw.aclose()
        await store.close()


async def test_memory_entries_expire_on_their_clock() -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    await store.put_nonce("n", "wallet-a", 300)
    await store.put_session("k", SESSION, 60)
    now[0] += 300
    assert await store.take_nonce("n") is None
    assert await store.get_session("k") is None

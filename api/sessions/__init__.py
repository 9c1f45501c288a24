"""Where sign-in nonces and sessions live: memory in the embedded mode, Redis when configured.

Both stores have the same methods; a nonce is taken at most once, and every entry expires.
"""

from api.sessions.session import Session, SessionStore
from quantdesk.settings import Settings

__all__ = ["Session", "SessionStore", "open_store"]


def open_store(settings: Settings) -> SessionStore:
    """Return the Redis store when `redis_url` is set, else the in-memory one."""
    if settings.redis_url:
        from api.sessions.redis import RedisStore
        return RedisStore(settings.redis_url, f"{settings.app_id}:auth", settings.redis_timeout_s)
    from api.sessions.memory import MemoryStore
    return MemoryStore()

"""A signed-in session, and what a store of nonces and sessions offers."""

from typing import Literal, Protocol

from pydantic import BaseModel


class Session(BaseModel):
    """A signed-in wallet, with when the session began and ends (UTC ms)."""

    wallet: str
    created_at: int
    expires_at: int
    role: Literal["trader", "admin"] = "trader"


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

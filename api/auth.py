"""Who is asking: the session cookie, the signed-in wallet, and the rule that a wallet reaches only itself."""

import hashlib
import hmac
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import APIKeyCookie

from api import audit
from api.sessions import Session, SessionStore
from quantdesk.settings import Settings

COOKIE = "qd_session"
EXAMPLE_WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
SESSION_TTL_S = 7 * 24 * 3600
cookie_scheme = APIKeyCookie(name=COOKIE, auto_error=False, description="session set by POST /api/v1/auth/verify")


@dataclass(frozen=True)
class SignedIn:
    """A live session and the store key it is held under."""

    key: str
    session: Session


def token_key(settings: Settings, token: str) -> str:
    """Return the store key of a session token (a keyed hash: the store never holds usable tokens)."""
    secret = settings.session_secret.get_secret_value().encode()
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


async def signed_in(store: SessionStore, settings: Settings, token: str | None) -> SignedIn | None:
    """Return the live session a token opens, or None."""
    if not token:
        return None
    key = token_key(settings, token)
    session = await store.get_session(key)
    return SignedIn(key, session) if session else None


def cookie_token(header: str | None) -> str | None:
    """Return the session token from a raw Cookie header (the Socket.IO handshake's)."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


async def current_session(request: Request, token: Annotated[str | None, Depends(cookie_scheme)]) -> SignedIn:
    """Return the request's live session, or refuse with 401."""
    found = await signed_in(request.app.state.sessions, request.app.state.settings, token)
    if found is None:
        raise HTTPException(401, "sign in first: no live session")
    return found


CurrentSession = Annotated[SignedIn, Depends(current_session)]


async def current_wallet(signed: CurrentSession) -> str:
    """Return the wallet of the request's session."""
    return signed.session.wallet


CurrentWallet = Annotated[str, Depends(current_wallet)]


def require_own_wallet(wallet: str, current: str) -> None:
    """Refuse with 403 when a session asks for another wallet than its own."""
    if wallet != current:
        raise HTTPException(403, "a session reaches only its own wallet")


async def admin_wallet(signed: CurrentSession, request: Request) -> str:
    """Return the wallet of an admin's session, or refuse with 403 (an admin removed from the settings is one no
    longer, whatever the session says)."""
    wallet = signed.session.wallet
    if signed.session.role != "admin" or wallet not in request.app.state.settings.admin_wallets:
        await audit.record(request, "admin_refused", wallet, {"method": request.method, "path": request.url.path})
        raise HTTPException(403, "admins only: this session's wallet is not an admin")
    return wallet


AdminWallet = Annotated[str, Depends(admin_wallet)]


WalletPath = Annotated[str, Path(description="the signed-in wallet's address", examples=[EXAMPLE_WALLET])]


async def own_wallet(wallet: WalletPath, current: CurrentWallet) -> str:
    """Return the wallet named in the path once it is the session's own."""
    require_own_wallet(wallet, current)
    return wallet


OwnWallet = Annotated[str, Depends(own_wallet)]

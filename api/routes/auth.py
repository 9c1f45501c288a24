"""Sign-In With Solana: ask for a nonce, sign the message with the wallet, get a session cookie."""

import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from solders.pubkey import Pubkey

from api import audit, siws
from api.auth import COOKIE, EXAMPLE_WALLET, SESSION_TTL_S, CurrentSession, token_key
from api.deps import SettingsDep
from api.errors import ErrorResponse
from api.ratelimit import AuthLimit, PublicLimit
from api.sessions import Session
from quantdesk.settings import Settings

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
REFUSED = {401: {"model": ErrorResponse, "description": "no live session, or the sign-in is refused"},
           422: {"model": ErrorResponse}, 429: {"model": ErrorResponse, "description": "rate limited"}}


def solana_address(value: str) -> str:
    """Return a base58 Solana address, or raise for anything else."""
    Pubkey.from_string(value)
    return value


Address = Annotated[str, Field(min_length=32, max_length=44, pattern=r"^[1-9A-HJ-NP-Za-km-z]+$",
                               examples=[EXAMPLE_WALLET]), AfterValidator(solana_address)]


class NonceRequest(BaseModel):
    """The wallet that wants to sign in."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"address": EXAMPLE_WALLET}]})

    address: Address


class NonceOffer(BaseModel):
    """A single-use nonce (valid 5 minutes) and the full SIWS message to sign with it."""

    nonce: str
    message: str
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "nonce": "3f9a0c6e1b2d4a5f8e7c6b5a49382716",
        "message": f"localhost:3002 wants you to sign in with your Solana account:\n{EXAMPLE_WALLET}\n\n"
                   f"{siws.STATEMENT}\n\nURI: http://localhost:3002\nVersion: 1\nChain ID: mainnet\n"
                   "Nonce: 3f9a0c6e1b2d4a5f8e7c6b5a49382716\nIssued At: 2026-01-01T00:00:00.000Z\n"
                   "Expiration Time: 2026-01-01T00:05:00.000Z"}]})


class SignedMessage(BaseModel):
    """The SIWS message as signed, and the wallet's ed25519 signature over it (base58)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "address": EXAMPLE_WALLET, "message": NonceOffer.model_json_schema()["examples"][0]["message"],
        "signature": "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"}]})

    address: Address
    message: Annotated[str, Field(max_length=2000)]
    signature: Annotated[str, Field(max_length=100)]


class SessionView(BaseModel):
    """The signed-in wallet and when its session ends (UTC ms)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"wallet": EXAMPLE_WALLET, "created_at": 1767225600000, "expires_at": 1767830400000, "role": "trader"}]})

    wallet: str
    created_at: int
    expires_at: int
    role: Annotated[Literal["trader", "admin"], Field(description="admin: the wallet is one of the admins")]


def now() -> datetime:
    """Return the current UTC time."""
    return datetime.now(UTC)


@router.post("/nonce", response_model=NonceOffer, responses=REFUSED, dependencies=[PublicLimit])
async def nonce(body: NonceRequest, request: Request, settings: SettingsDep) -> NonceOffer:
    """Issue a single-use nonce for a wallet and the Sign-In With Solana message it must sign."""
    fresh = secrets.token_hex(16)
    await request.app.state.sessions.put_nonce(fresh, body.address, int(siws.NONCE_TTL.total_seconds()))
    return NonceOffer(nonce=fresh, message=siws.offer(settings, body.address, fresh, now()).text())


@router.post("/verify", response_model=SessionView, responses=REFUSED, dependencies=[AuthLimit])
async def verify(body: SignedMessage, request: Request, response: Response, settings: SettingsDep) -> SessionView:
    """Check the signed message (signature, nonce, domain, URI, times) and open a 7-day session cookie. Every
    sign-in, taken or refused (with why), is on the audit trail."""
    metrics, signed = request.app.state.metrics, {"address": body.address, "message": body.message}
    try:
        message = siws.parse(body.message)
        siws.check(settings, message, body.address, now())
        siws.verify_signature(body.address, body.message, body.signature)
    except siws.SignInError as exc:
        metrics.inc("gateway_sign_ins_total", outcome=exc.kind)
        await audit.record(request, "sign_in_refused", body.address, {"reason": str(exc)}, signed)
        raise HTTPException(401, f"sign-in refused: {exc}") from exc
    if await request.app.state.sessions.take_nonce(message.nonce) != body.address:
        metrics.inc("gateway_sign_ins_total", outcome="nonce")
        why = "the nonce is unknown, used or expired"
        await audit.record(request, "sign_in_refused", body.address, {"reason": why}, signed)
        raise HTTPException(401, f"sign-in refused: {why}")
    opened = await open_session(request, response, settings, body.address)
    metrics.inc("gateway_sign_ins_total", outcome="ok")
    await audit.record(request, "sign_in", body.address, {"role": opened.role}, signed)
    return opened


async def open_session(request: Request, response: Response, settings: Settings, wallet: str) -> SessionView:
    """Hold a new session for `wallet` and hand its token to the browser as the HttpOnly cookie."""
    token = secrets.token_urlsafe(32)
    started = int(time.time() * 1000)
    role = "admin" if wallet in settings.admin_wallets else "trader"
    session = Session(wallet=wallet, created_at=started, expires_at=started + SESSION_TTL_S * 1000, role=role)
    await request.app.state.sessions.put_session(token_key(settings, token), session, SESSION_TTL_S)
    response.set_cookie(COOKIE, token, max_age=SESSION_TTL_S, path="/", secure=True, httponly=True, samesite="lax")
    return SessionView(**session.model_dump())


@router.get("/session", response_model=SessionView, responses=REFUSED, dependencies=[PublicLimit])
async def session(signed: CurrentSession) -> SessionView:
    """Return the wallet of the current session."""
    return SessionView(**signed.session.model_dump())


@router.post("/logout", status_code=204, responses=REFUSED, dependencies=[PublicLimit])
async def logout(signed: CurrentSession, request: Request, response: Response) -> None:
    """End the current session everywhere: the cookie, the stored session and its account channels."""
    await request.app.state.sessions.drop_session(signed.key)
    await request.app.state.gateway.end_session(signed.key)
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")

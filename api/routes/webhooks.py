"""A wallet's webhooks: URLs its account signals are POSTed to, signed with a secret shown once."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import OwnWallet
from api.deps import SettingsDep, WarehouseDep
from api.errors import ErrorResponse
from api.ratelimit import PublicLimit, TradingWallet
from api.routes.accounts import SIGNED_IN
from quantdesk.webhooks import (MAX_URL_CHARS, add_webhook, allows_loopback, live_webhooks, parse_url,
                                remove_webhook, url_refusal, webhook_secret)

router = APIRouter(prefix="/api/v1/accounts", tags=["webhooks"], dependencies=[PublicLimit])
MAX_KINDS = 32
Kind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$", description="a signal kind", examples=["health"])]
WebhookId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the webhook's id",
                                examples=["3f2c9a1e5b7d4c8f9a0b1c2d3e4f5a6b"])]
EXAMPLE = {"id": "3f2c9a1e5b7d4c8f9a0b1c2d3e4f5a6b", "url": "https://hooks.example.com/quantdesk",
           "kinds": ["health", "liquidation_distance"], "created_at": 1767225600000}


class WebhookRequest(BaseModel):
    """Where to POST the wallet's account signals, and which kinds (none named: every account signal)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": EXAMPLE["url"], "kinds": EXAMPLE["kinds"]}]})

    url: Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS, description="an http(s) URL")]
    kinds: Annotated[list[Kind], Field(max_length=MAX_KINDS)] = []


class WebhookView(BaseModel):
    """A registered webhook (its secret is shown only when it is registered)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    id: str
    url: str
    kinds: list[str]
    created_at: int


class WebhookCreated(WebhookView):
    """A new webhook with its signing secret, shown this once: each delivery's `X-QuantDesk-Signature` is
    `sha256=` and the hex HMAC-SHA256 of the exact body bytes under it."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**EXAMPLE, "secret": "5d41402abc4b2a76b9719d911017c592aa3bbf6e8e7a4d1f0c2b3a4d5e6f7a8b"}]})

    secret: str


def view(webhook: dict[str, Any]) -> WebhookView:
    """Return what a wallet sees of its webhook."""
    return WebhookView(id=webhook["id"], url=webhook["url"], kinds=list(webhook["kinds"]),
                       created_at=webhook["created_at"])


@router.post("/{wallet}/webhooks", status_code=201, response_model=WebhookCreated, responses={
    **SIGNED_IN, 409: {"model": ErrorResponse, "description": "the wallet holds as many webhooks as it may"},
    422: {"model": ErrorResponse, "description": "not a webhook, or a URL that is refused"},
    429: {"model": ErrorResponse, "description": "rate limited: 10 trading requests a minute per wallet"}})
async def create_webhook(wallet: OwnWallet, _: TradingWallet, body: WebhookRequest, wh: WarehouseDep,
                         settings: SettingsDep) -> WebhookCreated:
    """Register a URL that receives the signed-in wallet's account signals of the `kinds` named (none: every
    kind), raised from now on, each as a JSON POST signed in `X-QuantDesk-Signature` with the secret returned
    here (shown once), `Idempotency-Key` and `X-QuantDesk-Signal-Id` the signal's id; a failed delivery is
    retried with exponential backoff. Only http(s) URLs with a host; in production a host that is, or resolves
    to, a loopback, private, link-local, multicast, reserved or unspecified address is refused (embedded mode
    allows loopback). Counts against the trading limit: 10 requests a minute per wallet (own wallet only)."""
    if why := await url_refusal(body.url, allows_loopback(settings)):
        raise HTTPException(422, f"url: {why}")
    if len(await live_webhooks(wh, [wallet])) >= settings.webhook_max_per_wallet:
        raise HTTPException(409, f"a wallet holds at most {settings.webhook_max_per_wallet} webhooks: delete one first")
    kinds = sorted(set(body.kinds))
    webhook = await add_webhook(wh, wallet, str(parse_url(body.url)), kinds, int(time.time() * 1000))
    return WebhookCreated(**view(webhook).model_dump(), secret=webhook_secret(settings, webhook["id"]))


@router.get("/{wallet}/webhooks", response_model=list[WebhookView], responses=SIGNED_IN)
async def list_webhooks(wallet: OwnWallet, wh: WarehouseDep) -> list[WebhookView]:
    """Return the signed-in wallet's webhooks, oldest first, without their secrets (own wallet only)."""
    return [view(w) for w in await live_webhooks(wh, [wallet])]


@router.delete("/{wallet}/webhooks/{webhook_id}", status_code=204, responses={
    **SIGNED_IN, 404: {"model": ErrorResponse, "description": "the wallet has no webhook by that id"},
    429: {"model": ErrorResponse, "description": "rate limited: 10 trading requests a minute per wallet"}})
async def delete_webhook(wallet: OwnWallet, _: TradingWallet, webhook_id: WebhookId, wh: WarehouseDep) -> Response:
    """Delete one of the signed-in wallet's webhooks: it receives nothing more, retries included (own wallet
    only; counts against the trading limit)."""
    if not await remove_webhook(wh, wallet, webhook_id):
        raise HTTPException(404, f"the wallet has no webhook {webhook_id}")
    return Response(status_code=204)

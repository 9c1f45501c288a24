"""A wallet signing in as the terminal does: ask a nonce, sign the message, send it back."""

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE


def sign(keypair: Keypair, message: str) -> str:
    """Return the wallet's base58 ed25519 signature over a message."""
    return str(keypair.sign_message(message.encode()))


async def offer(http: httpx.AsyncClient, keypair: Keypair) -> dict:
    """Return the nonce and the message the gateway asks this wallet to sign."""
    response = await http.post("/api/v1/auth/nonce", json={"address": str(keypair.pubkey())})
    assert response.status_code == 200, response.text
    return response.json()


async def sign_in(http: httpx.AsyncClient, keypair: Keypair) -> str:
    """Sign in and return the session token the cookie carries."""
    message = (await offer(http, keypair))["message"]
    response = await http.post("/api/v1/auth/verify", json={
        "address": str(keypair.pubkey()), "message": message, "signature": sign(keypair, message)})
    assert response.status_code == 200, response.text
    return response.cookies[COOKIE]

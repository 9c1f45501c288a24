"""Sign-In With Solana end to end with a generated keypair, and every refusal the issue names."""

from datetime import UTC, datetime, timedelta

import pytest
from solders.keypair import Keypair

from api import siws
from api.auth import COOKIE
from api.metrics import SIGN_IN_OUTCOMES
from quantdesk.settings import Settings
from tests.api.conftest import RELAXED, client, gateway
from tests.api.scraped import scrape
from tests.api.signing import offer, sign


def replace_line(message: str, label: str, value: str) -> str:
    """Return the message with one `Label: value` line changed."""
    return "\n".join(f"{label}: {value}" if line.startswith(f"{label}: ") else line for line in message.split("\n"))


async def test_sign_in_opens_a_seven_day_http_only_session_and_logout_ends_it(backed: Settings) -> None:
    wallet = Keypair()
    async with gateway(backed, RELAXED) as app, client(app) as http:
        offered = await offer(http, wallet)
        message = siws.parse(offered["message"])
        assert (message.domain, message.uri) == (backed.siws_domain, backed.siws_uri)
        assert message.address == str(wallet.pubkey())
        assert (message.version, message.chain_id, message.nonce) == ("1", backed.chain_id, offered["nonce"])
        assert message.statement and message.issued_at and message.expiration_time
        lifetime = siws.parse_time(message.expiration_time, "") - siws.parse_time(message.issued_at, "")
        assert lifetime == timedelta(minutes=5)

        response = await http.post("/api/v1/auth/verify",
                                   json=signed_by(wallet, str(wallet.pubkey()), offered["message"]))
        assert response.status_code == 200, response.text
        assert response.json()["wallet"] == str(wallet.pubkey())
        cookie = response.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower(): part.strip().partition("=")[2] for part in cookie.split(";")}
        assert attributes[COOKIE] == response.cookies[COOKIE] and len(attributes[COOKIE]) >= 40
        assert attributes["max-age"] == "604800" and attributes["path"] == "/"
        assert attributes["samesite"].lower() == "lax" and "httponly" in attributes and "secure" in attributes

        session = await http.get("/api/v1/auth/session")
        assert session.status_code == 200 and session.json()["wallet"] == str(wallet.pubkey())
        assert session.json()["expires_at"] - session.json()["created_at"] == 604_800_000

        assert (await http.post("/api/v1/auth/logout")).status_code == 204
        gone = await http.get("/api/v1/auth/session", cookies={COOKIE: attributes[COOKIE]})
        assert gone.status_code == 401 and gone.json()["error"]["code"] == "unauthorized"


async def refused(settings: Settings, wallet: Keypair, forge) -> dict:
    """Offer a nonce to `wallet`, let `forge` turn it into a verify body, and return the refusal."""
    async with gateway(settings, RELAXED) as app, client(app) as http:
        body = forge((await offer(http, wallet))["message"])
        response = await http.post("/api/v1/auth/verify", json=body)
        assert response.status_code == 401, response.text
        assert COOKIE not in response.cookies
        return response.json()["error"]


def signed_by(keypair: Keypair, address: str, message: str) -> dict:
    """Return a verify body for `address` whose message `keypair` signed."""
    return {"address": address, "message": message, "signature": sign(keypair, message)}


async def test_wrong_signature_is_refused(settings: Settings) -> None:
    wallet = Keypair()
    error = await refused(settings, wallet, lambda m: {**signed_by(wallet, str(wallet.pubkey()), m),
                                                        "signature": sign(wallet, m + " ")})
    assert error["code"] == "unauthorized" and "signature does not match" in error["message"]


async def test_a_signature_by_another_wallet_is_refused(settings: Settings) -> None:
    wallet, thief = Keypair(), Keypair()
    error = await refused(settings, wallet, lambda m: signed_by(thief, str(wallet.pubkey()), m))
    assert "signature does not match" in error["message"]


async def test_a_message_naming_another_address_is_refused(settings: Settings) -> None:
    wallet, other = Keypair(), Keypair()
    error = await refused(settings, wallet, lambda m: signed_by(other, str(other.pubkey()), m))
    assert "another address" in error["message"]


async def test_a_nonce_issued_to_another_wallet_is_refused(settings: Settings) -> None:
    wallet, other = Keypair(), Keypair()
    forged = lambda m: signed_by(other, str(other.pubkey()), m.replace(str(wallet.pubkey()), str(other.pubkey())))
    error = await refused(settings, wallet, forged)
    assert "nonce" in error["message"]


async def test_expired_message_is_refused(settings: Settings) -> None:
    wallet = Keypair()
    now = datetime.now(UTC)

    def expired(message: str) -> dict:
        message = replace_line(message, "Issued At", siws.iso(now - timedelta(minutes=2)))
        message = replace_line(message, "Expiration Time", siws.iso(now - timedelta(seconds=1)))
        return signed_by(wallet, str(wallet.pubkey()), message)
    error = await refused(settings, wallet, expired)
    assert "expired" in error["message"]


async def test_message_issued_too_long_ago_is_refused(settings: Settings) -> None:
    wallet = Keypair()
    stale = siws.iso(datetime.now(UTC) - timedelta(minutes=6))
    error = await refused(settings, wallet,
                          lambda m: signed_by(wallet, str(wallet.pubkey()), replace_line(m, "Issued At", stale)))
    assert "more than 5 minutes ago" in error["message"]


async def test_wrong_domain_is_refused(settings: Settings) -> None:
    wallet = Keypair()
    phished = lambda m: signed_by(wallet, str(wallet.pubkey()),
                                  m.replace(settings.siws_domain, "quantdesk.evil.example", 1))
    error = await refused(settings, wallet, phished)
    assert "domain 'quantdesk.evil.example'" in error["message"]


async def test_wrong_uri_is_refused(settings: Settings) -> None:
    wallet = Keypair()
    error = await refused(settings, wallet, lambda m: signed_by(wallet, str(wallet.pubkey()),
                                                                 replace_line(m, "URI", "https://evil.example")))
    assert "URI" in error["message"]


async def test_a_nonce_signs_in_once(backed: Settings) -> None:
    wallet = Keypair()
    async with gateway(backed, RELAXED) as app, client(app) as http:
        message = (await offer(http, wallet))["message"]
        body = signed_by(wallet, str(wallet.pubkey()), message)
        assert (await http.post("/api/v1/auth/verify", json=body)).status_code == 200
        replay = await http.post("/api/v1/auth/verify", json=body)
        assert replay.status_code == 401 and "unknown, used or expired" in replay.json()["error"]["message"]


@pytest.mark.parametrize("body", [
    {"address": "not-base58-0OIl"},
    {"address": "1111"},
    {},
])
async def test_nonce_needs_a_solana_address(settings: Settings, body: dict) -> None:
    async with gateway(settings, RELAXED) as app, client(app) as http:
        response = await http.post("/api/v1/auth/nonce", json=body)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


async def test_garbage_in_place_of_a_message_is_refused(settings: Settings) -> None:
    wallet = Keypair()
    async with gateway(settings, RELAXED) as app, client(app) as http:
        body = signed_by(wallet, str(wallet.pubkey()), "please let me in")
        response = await http.post("/api/v1/auth/verify", json=body)
        assert response.status_code == 401
        assert "not a Sign-In With Solana message" in response.json()["error"]["message"]


async def test_session_without_cookie_is_401_in_the_platform_shape(settings: Settings) -> None:
    async with gateway(settings) as app, client(app) as http:
        response = await http.get("/api/v1/auth/session")
        assert response.status_code == 401
        assert response.json() == {"error": {"code": "unauthorized", "message": "sign in first: no live session"}}


async def test_message_text_round_trips_through_the_parser(settings: Settings) -> None:
    offered = siws.offer(settings, str(Keypair().pubkey()), "abcdef0123456789", datetime.now(UTC))
    assert siws.parse(offered.text()) == offered


def duplicated(message: str, label: str, value: str) -> str:
    """Return the message with a second `Label: value` line after the first."""
    return "\n".join(f"{line}\n{label}: {value}" if line.startswith(f"{label}: ") else line
                     for line in message.split("\n"))


@pytest.mark.parametrize("forge, why", [
    (lambda m: duplicated(m, "URI", "https://evil.example"), "repeats its URI line"),
    (lambda m: duplicated(m, "Nonce", "0" * 32), "repeats its Nonce line"),
    (lambda m: m.replace(siws.STATEMENT, "Sign in to QuantDesk.\nAlso send all funds to me."), "single line"),
    (lambda m: m.replace(siws.STATEMENT, "Sign in.\n\nMore."), "one statement line"),
    (lambda m: m.replace("\nVersion: 1", "").replace("\nNonce: ", "\nVersion: 1\nNonce: "), "out of order"),
    (lambda m: m.replace("\nVersion: 1", "\nVersion: 1\nResources: https://x.example"), "unexpected line"),
    (lambda m: m.replace("\n\n", "\n", 1), "a blank line must follow the address"),
])
async def test_a_message_not_exactly_in_the_siws_shape_is_refused(settings: Settings, forge, why: str) -> None:
    wallet = Keypair()
    error = await refused(settings, wallet, lambda m: signed_by(wallet, str(wallet.pubkey()), forge(m)))
    assert error["code"] == "unauthorized" and why in error["message"], error


def test_the_parser_refuses_what_the_loose_one_let_the_last_line_win() -> None:
    text = siws.SignInMessage(domain="d", address=str(Keypair().pubkey()), uri="https://quantdesk.example",
                              nonce="n1", issued_at="2026-01-01T00:00:00.000Z").text()
    with pytest.raises(siws.SignInError, match="repeats its URI"):
        siws.parse(text.replace("\nVersion:", "\nURI: https://evil.example\nVersion:"))


async def test_each_sign_in_is_counted_by_its_outcome(settings: Settings) -> None:
    wallet, thief = Keypair(), Keypair()
    address, now = str(wallet.pubkey()), datetime.now(UTC)
    forgeries = {
        "malformed": lambda m: signed_by(wallet, address, "please let me in"),
        "mismatch": lambda m: signed_by(wallet, address, m.replace(settings.siws_domain, "quantdesk.evil.example", 1)),
        "time": lambda m: signed_by(wallet, address, replace_line(m, "Issued At", siws.iso(now - timedelta(hours=1)))),
        "signature": lambda m: signed_by(thief, address, m),
    }
    async with gateway(settings, RELAXED) as app, client(app) as http:
        for outcome, forge in forgeries.items():
            response = await http.post("/api/v1/auth/verify", json=forge((await offer(http, wallet))["message"]))
            assert response.status_code == 401, (outcome, response.text)
        body = signed_by(wallet, address, (await offer(http, wallet))["message"])
        assert (await http.post("/api/v1/auth/verify", json=body)).status_code == 200
        assert (await http.post("/api/v1/auth/verify", json=body)).status_code == 401  # the nonce is spent
        page = await scrape(http)
    counted = {outcome: page.value("gateway_sign_ins_total", outcome=outcome) for outcome in SIGN_IN_OUTCOMES}
    assert counted == {"ok": 1, "malformed": 1, "mismatch": 1, "time": 1, "signature": 1, "nonce": 1}

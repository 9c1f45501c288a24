"""A session registers, lists and deletes its own wallet's webhooks only; the secret is shown once; URLs that reach
the platform's own network are refused (loopback too in production)."""

from typing import Iterator

import httpx
import pytest
import redis
from pydantic import SecretStr
from solders.keypair import Keypair

from api.auth import COOKIE
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from quantdesk.webhooks import webhook_secret
from tests.api.conftest import RELAXED, client, gateway
from tests.api.signing import sign_in


def hooks(wallet: Keypair) -> str:
    """Return the path of a wallet's webhooks."""
    return f"/api/v1/accounts/{wallet.pubkey()}/webhooks"


async def session(http: httpx.AsyncClient, wallet: Keypair) -> dict[str, str]:
    """Sign a wallet in; return the headers that carry its session (the client keeps no cookie)."""
    token = await sign_in(http, wallet)
    http.cookies.clear()
    return {"Cookie": f"{COOKIE}={token}"}


@pytest.fixture
def production(settings: Settings, redis_url: str) -> Iterator[Settings]:
    """Return the test's settings in production mode (sessions in the local Redis)."""
    yield Settings(**{**dict(settings), "mode": "production", "redis_url": redis_url, "simulator_venue": False,
                      "session_secret": SecretStr("a production secret for this test"), "topic_replication": 3})
    client_ = redis.Redis.from_url(redis_url)
    keys = list(client_.scan_iter(f"{settings.app_id}:*"))
    if keys:
        client_.delete(*keys)
    client_.close()


async def test_a_wallet_registers_lists_and_deletes_its_webhooks_and_sees_the_secret_once(
    settings: Settings, warehouse: Warehouse
) -> None:
    a = Keypair()
    async with gateway(settings, RELAXED) as asgi, client(asgi) as http:
        as_a = await session(http, a)
        created = await http.post(hooks(a), json={"url": "http://127.0.0.1:9/hook", "kinds": ["health", "health"]},
                                  headers=as_a)
        assert created.status_code == 201, created.text
        body = created.json()
        assert set(body) == {"id", "url", "kinds", "secret", "created_at"}
        assert body["url"] == "http://127.0.0.1:9/hook" and body["kinds"] == ["health"]
        assert body["secret"] == webhook_secret(settings, body["id"])  # derived again by the dispatcher
        every = await http.post(hooks(a), json={"url": "http://localhost:9/all"}, headers=as_a)
        assert every.status_code == 201 and every.json()["kinds"] == []

        listed = await http.get(hooks(a), headers=as_a)
        assert listed.status_code == 200
        assert [(w["id"], w["kinds"]) for w in listed.json()] == [(body["id"], ["health"]), (every.json()["id"], [])]
        assert all("secret" not in w for w in listed.json())
        assert body["secret"] not in listed.text and every.json()["secret"] not in listed.text
        stored = warehouse.rows(f"SELECT * FROM {warehouse.database}.webhooks")
        assert body["secret"] not in repr(stored)  # nothing secret is stored

        gone = await http.delete(f"{hooks(a)}/{body['id']}", headers=as_a)
        assert gone.status_code == 204
        assert [w["id"] for w in (await http.get(hooks(a), headers=as_a)).json()] == [every.json()["id"]]
        again = await http.delete(f"{hooks(a)}/{body['id']}", headers=as_a)
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


async def test_webhooks_are_the_owners_only(settings: Settings, warehouse: Warehouse) -> None:
    a, b = Keypair(), Keypair()
    async with gateway(settings, RELAXED) as asgi, client(asgi) as http:
        as_a, as_b = await session(http, a), await session(http, b)
        mine = (await http.post(hooks(a), json={"url": "http://127.0.0.1:9/a"}, headers=as_a)).json()
        for method, path, payload in (("POST", hooks(a), {"url": "http://127.0.0.1:9/x"}), ("GET", hooks(a), None),
                                      ("DELETE", f"{hooks(a)}/{mine['id']}", None)):
            anonymous = await http.request(method, path, json=payload)
            assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
            other = await http.request(method, path, json=payload, headers=as_b)
            assert other.status_code == 403
            assert other.json() == {"error": {"code": "forbidden", "message": "a session reaches only its own wallet"}}
            assert mine["url"] not in anonymous.text + other.text
        # B names A's webhook under its own wallet: B has none by that id
        theft = await http.delete(f"{hooks(b)}/{mine['id']}", headers=as_b)
        assert theft.status_code == 404
        assert (await http.get(hooks(b), headers=as_b)).json() == []
        assert [w["id"] for w in (await http.get(hooks(a), headers=as_a)).json()] == [mine["id"]]


async def test_a_wallet_holds_a_bounded_number_of_webhooks(settings: Settings, warehouse: Warehouse) -> None:
    a = Keypair()
    bounded = settings.model_copy(update={"webhook_max_per_wallet": 2})
    async with gateway(bounded, RELAXED) as asgi, client(asgi) as http:
        as_a = await session(http, a)
        for n in range(2):
            assert (await http.post(hooks(a), json={"url": f"http://127.0.0.1:9/{n}"}, headers=as_a)).status_code == 201
        over = await http.post(hooks(a), json={"url": "http://127.0.0.1:9/2"}, headers=as_a)
        assert over.status_code == 409 and over.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize("body, why", [
    ({"url": "ftp://127.0.0.1/x"}, "url: only http and https URLs are accepted"),
    ({"url": "http:///x"}, "url: the URL has no host"),
    ({"url": "http://user:pw@127.0.0.1/x"}, "url: credentials in the URL are not accepted"),
    ({"url": "http://10.0.0.1/hook"}, "url: refused: 10.0.0.1 is a private address"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, "url: refused: 169.254.169.254 is a link-local address"),
    ({"url": "http://[fe80::1]/hook"}, "url: refused: fe80::1 is a link-local address"),
    ({"url": "http://127.0.0.1:9/x", "kinds": ["Not A Kind"]}, "body.kinds.0:"),
    ({"url": "http://127.0.0.1:9/x", "secret": "mine"}, "body.secret:"),
])
async def test_embedded_mode_refuses_what_is_not_a_webhook_or_reaches_a_private_network(
    settings: Settings, warehouse: Warehouse, body: dict, why: str
) -> None:
    a = Keypair()
    async with gateway(settings, RELAXED) as asgi, client(asgi) as http:
        refused = await http.post(hooks(a), json=body, headers=await session(http, a))
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
        assert refused.json()["error"]["message"].startswith(why), refused.text


@pytest.mark.parametrize("url, why", [
    ("http://10.0.0.1/hook", "refused: 10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data", "refused: 169.254.169.254 is a link-local address"),
    ("http://[::1]:8080/hook", "refused: ::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]:8080/hook", "refused: ::ffff:7f00:1 is a loopback address"),
    ("http://127.0.0.1:8080/hook", "refused: 127.0.0.1 is a loopback address"),
    ("http://localhost:8080/hook", "refused: localhost resolves to 127.0.0.1, which is a loopback address"),
])
async def test_production_refuses_loopback_private_and_link_local_urls(
    production: Settings, warehouse: Warehouse, url: str, why: str
) -> None:
    a = Keypair()
    async with gateway(production, RELAXED) as asgi, client(asgi) as http:
        as_a = await session(http, a)
        refused = await http.post(hooks(a), json={"url": url}, headers=as_a)
        assert refused.status_code == 422 and refused.json()["error"]["message"] == f"url: {why}"
        assert (await http.get(hooks(a), headers=as_a)).json() == []

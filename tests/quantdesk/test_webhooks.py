"""Webhook secrets are derived (never stored) and keyed by the server secret; a signature covers the exact body;
URLs that could reach the platform's own network are refused (loopback only in production)."""

import ipaddress

import pytest
from pydantic import SecretStr

from quantdesk.settings import Settings
from quantdesk.webhooks import (address_refusal, check_addresses, parse_url, signature, url_refusal, verify,
                                webhook_secret, wants, RefusedAddress)


def test_a_secret_is_derived_from_the_server_secret_and_the_webhook_id() -> None:
    one, other = Settings(session_secret=SecretStr("one")), Settings(session_secret=SecretStr("other"))
    assert webhook_secret(one, "a") == webhook_secret(one, "a")
    assert len({webhook_secret(one, "a"), webhook_secret(one, "b"), webhook_secret(other, "a")}) == 3
    assert len(webhook_secret(one, "a")) == 64 and int(webhook_secret(one, "a"), 16) >= 0


def test_a_signature_covers_the_exact_body() -> None:
    body = b'{"id":"s1","ts":1}'
    header = signature("k", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify("k", body, header)
    assert not verify("k", body + b" ", header) and not verify("other", body, header) and not verify("k", body, None)


@pytest.mark.parametrize("address, kind", [
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("fc00::1", "private"), ("fec0::1", "site-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("100.64.0.1", "non-global"), ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"), ("2002:a00:1::", "private"), ("64:ff9b::a00:1", "reserved"),
])
def test_addresses_of_the_own_network_are_refused_in_every_mode(address: str, kind: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_refusal(ip, allow_loopback=True) == kind
    assert address_refusal(ip, allow_loopback=False) == kind


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_refused_in_production_only(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_refusal(ip, allow_loopback=False) == "loopback"
    assert address_refusal(ip, allow_loopback=True) is None


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "1.1.1.1"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_loopback=False) is None


def test_one_refused_address_among_a_hosts_addresses_refuses_it() -> None:
    check_addresses("hooks.example", ["8.8.8.8"], allow_loopback=False)
    with pytest.raises(RefusedAddress, match="hooks.example resolves to 10.1.2.3, which is a private address"):
        check_addresses("hooks.example", ["8.8.8.8", "10.1.2.3"], allow_loopback=False)
    with pytest.raises(RefusedAddress, match="no address"):
        check_addresses("hooks.example", [], allow_loopback=False)


@pytest.mark.parametrize("url, why", [
    ("ftp://8.8.8.8/x", "only http and https"), ("http:///x", "no host"), ("hooks.example/x", "only http"),
    ("http://user:pw@8.8.8.8/", "credentials"), ("http://8.8.8.8:0/", "port"), ("http://8.8.8.8/a b", "whitespace"),
    ("http://8.8.8.8/" + "a" * 2048, "longer than 2048"),
])
def test_only_absolute_http_urls_with_a_host_and_no_credentials_are_accepted(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_url(url)


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://localhost:8080/hook", "http://2130706433/hook", "http://0x7f.1/hook",
    "https://[fe80::1]/hook", "http://0.0.0.0:80/",
])
async def test_private_and_loopback_urls_are_refused_in_production(url: str) -> None:
    why = await url_refusal(url, allow_loopback=False)
    assert why is not None and why.startswith("refused:"), why


async def test_a_name_resolving_to_loopback_is_refused_in_production_and_allowed_in_embedded_mode() -> None:
    assert await url_refusal("http://localhost:9/hook", allow_loopback=False) == \
        "refused: localhost resolves to 127.0.0.1, which is a loopback address"
    assert await url_refusal("http://localhost:9/hook", allow_loopback=True) is None
    assert await url_refusal("http://127.0.0.1:9/hook", allow_loopback=True) is None
    assert await url_refusal("http://[::1]:9/hook", allow_loopback=True) is None
    assert await url_refusal("http://10.0.0.1/hook", allow_loopback=True) == "refused: 10.0.0.1 is a private address"
    assert await url_refusal("http://169.254.169.254/", allow_loopback=True) == \
        "refused: 169.254.169.254 is a link-local address"


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    why = await url_refusal("http://no-such-host.invalid/hook", allow_loopback=True)
    assert why is not None and "no-such-host.invalid" in why


def test_a_webhook_wants_its_own_wallets_signals_of_its_kinds_from_its_registration_on() -> None:
    hook = {"wallet": "A", "kinds": ["health"], "created_at": 100}
    assert wants(hook, "A", "health", 100)
    assert not wants(hook, "B", "health", 100)  # another wallet's
    assert not wants(hook, None, "health", 100) and not wants(hook, "", "health", 100)  # a market signal
    assert not wants(hook, "A", "whale", 100)  # a kind it did not ask for
    assert not wants(hook, "A", "health", 99)  # raised before it was registered
    assert wants({**hook, "kinds": []}, "A", "whale", 200)  # no kinds named: every kind

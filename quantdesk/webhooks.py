"""Webhooks, the pieces the gateway and the dispatcher share: a webhook's secret, the signature of a delivery, and
which URLs and addresses may be called (no server-side request forgery).

A webhook's secret is never stored: it is HMAC-SHA256 of the webhook id under the server's session secret, shown
once when the webhook is registered and derived again for every delivery (rotating the session secret rotates
every webhook secret). A delivery's body is signed as `sha256=<hex HMAC-SHA256 of the exact body bytes>`.

An address is refused when it is private, link-local, multicast, reserved, unspecified, shared (100.64/10) or any
other that is not global, an IPv4 address inside IPv6 (mapped `::ffff:a.b.c.d`, 6to4) judged as that IPv4
address; loopback is refused in production mode only (embedded mode calls local receivers). A host name is judged
by every address it resolves to: one refused address refuses the URL.
"""

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import uuid
from typing import Any, Iterable, Sequence

from yarl import URL

from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse

MAX_URL_CHARS = 2048
SCHEMES = ("http", "https")
RESOLVE_TIMEOUT_S = 5.0
SIGNATURE_HEADER = "X-QuantDesk-Signature"
SIGNAL_ID_HEADER = "X-QuantDesk-Signal-Id"
WEBHOOK_ID_HEADER = "X-QuantDesk-Webhook-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SECRET_CONTEXT = b"quantdesk webhook secret:"  # keeps these HMACs apart from the session-token ones (api.auth)

WEBHOOK_COLUMNS = "id, wallet, url, kinds, toUnixTimestamp64Milli(created_at) AS created_at"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddress(OSError):
    """A host that resolves to an address the platform must not call."""


def webhook_secret(settings: Settings, webhook_id: str) -> str:
    """Return a webhook's signing secret (hex), derived from the server's session secret and the webhook id."""
    key = settings.session_secret.get_secret_value().encode()
    return hmac.new(key, SECRET_CONTEXT + webhook_id.encode(), hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes) -> str:
    """Return the signature header's value for a body: `sha256=` and the hex HMAC-SHA256 of its exact bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Tell whether a signature header is the body's under the secret (what a receiver checks), in constant time."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


def allows_loopback(settings: Settings) -> bool:
    """Tell whether loopback receivers may be called: in embedded mode only (so webhooks can be tested)."""
    return settings.mode != "production"


def address_refusal(address: Address, allow_loopback: bool) -> str | None:
    """Return what kind of address this is when it must not be called (`private`, `link-local`, …), else None."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return address_refusal(inner, allow_loopback)
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    kinds = (("unspecified", address.is_unspecified), ("link-local", address.is_link_local),
             ("multicast", address.is_multicast), ("reserved", address.is_reserved),
             ("private", address.is_private),
             ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local))
    for kind, refused in kinds:
        if refused:
            return kind
    return None if address.is_global else "non-global"


def literal(host: str) -> Address | None:
    """Return the host as an IP address when it is one (IPv6 with or without brackets), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_addresses(host: str, addresses: Iterable[str], allow_loopback: bool) -> None:
    """Raise `RefusedAddress` when a host has no address or any of its addresses must not be called."""
    found = False
    for text in addresses:
        found = True
        address = literal(text.split("%", 1)[0])  # an IPv6 zone id (`fe80::1%eth0`) names no other address
        why = "not an IP address" if address is None else address_refusal(address, allow_loopback)
        if why is not None:
            shown = host if host == text else f"{host} resolves to {text}, which"
            raise RefusedAddress(f"refused: {shown} is {'an' if why[0] in 'aeiou' else 'a'} {why} address")
    if not found:
        raise RefusedAddress(f"{host} resolves to no address")


async def resolve(host: str, port: int, timeout_s: float = RESOLVE_TIMEOUT_S) -> list[str]:
    """Return every address a host name resolves to (for TCP), within `timeout_s`; raise OSError when it does not."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):  # not wait_for: on Python 3.11 it can lose a cancellation
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise OSError(f"{host} did not resolve within {timeout_s:g} s") from None
    except socket.gaierror as exc:
        raise OSError(f"{host} does not resolve: {exc.strerror}") from None
    except (UnicodeError, ValueError) as exc:  # a name the resolver cannot encode
        raise OSError(f"{host} cannot be resolved: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


async def check_host(host: str, port: int, allow_loopback: bool) -> None:
    """Raise `RefusedAddress` (an OSError) when a host is, or resolves to, an address that must not be called, and
    OSError when it does not resolve."""
    if literal(host) is not None:
        check_addresses(host, [host.strip("[]")], allow_loopback)
        return
    check_addresses(host, await resolve(host, port), allow_loopback)


def parse_url(url: str) -> URL:
    """Return a webhook URL parsed as the dispatcher's HTTP client parses it; raise ValueError (with why) for one
    that is not absolute http(s) with a host, is too long, or carries credentials."""
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"the URL is longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("the URL holds whitespace or control characters")
    try:
        parsed = URL(url)
        host, port = parsed.raw_host, parsed.port
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parsed.scheme not in SCHEMES:
        raise ValueError("only http and https URLs are accepted")
    if not host:
        raise ValueError("the URL has no host")
    if parsed.user is not None or parsed.password is not None:
        raise ValueError("credentials in the URL are not accepted: receivers authenticate the signature")
    if port is None or not 0 < port < 65536:
        raise ValueError("the URL's port is not one of 1-65535")
    return parsed


async def url_refusal(url: str, allow_loopback: bool) -> str | None:
    """Return why a webhook URL is refused (not http(s), no host, too long, credentials, or a host that does not
    resolve or resolves to an address that must not be called), else None."""
    try:
        parsed = parse_url(url)
        await check_host(parsed.raw_host or "", parsed.port or 0, allow_loopback)
    except (ValueError, OSError) as exc:
        return str(exc)
    return None


def wants(webhook: dict[str, Any], wallet: str | None, kind: str, ts: int) -> bool:
    """Tell whether a live webhook gets a signal: the signal is its own wallet's (an account signal: a market signal
    has no wallet and goes to no webhook), of a kind it asked for (none named: every kind) and raised at or after
    its registration (a broker that forgot everything replays the signal history: old alerts stay quiet)."""
    return (bool(wallet) and webhook["wallet"] == wallet and (not webhook["kinds"] or kind in webhook["kinds"])
            and ts >= webhook["created_at"])


async def add_webhook(wh: Warehouse, wallet: str, url: str, kinds: Sequence[str], created_at: int) -> dict[str, Any]:
    """Store a new webhook of a wallet and return it (without its secret)."""
    webhook = {"id": uuid.uuid4().hex, "wallet": wallet, "url": url, "kinds": list(kinds), "created_at": created_at}
    await asyncio.to_thread(_write, wh, webhook, False)
    return webhook


async def remove_webhook(wh: Warehouse, wallet: str, webhook_id: str) -> bool:
    """Mark a wallet's live webhook deleted; tell whether it had one by that id."""
    found = [w for w in await live_webhooks(wh, [wallet]) if w["id"] == webhook_id]
    if found:
        await asyncio.to_thread(_write, wh, found[0], True)
    return bool(found)


def _write(wh: Warehouse, webhook: dict[str, Any], deleted: bool) -> None:
    """Insert a webhook's row (its deletion is the same row, deleted, at a newer version)."""
    wh.command(f"INSERT INTO {wh.database}.webhooks (id, wallet, url, kinds, created_at, deleted, version) VALUES "
               "({id:String}, {wallet:String}, {url:String}, {kinds:Array(String)}, "
               "fromUnixTimestamp64Milli({created_at:Int64}), {deleted:Bool}, {version:UInt8})",
               {**webhook, "deleted": deleted, "version": int(deleted)})


async def live_webhooks(wh: Warehouse, wallets: Sequence[str]) -> list[dict[str, Any]]:
    """Return the live webhooks of the wallets, oldest first."""
    if not wallets:
        return []
    return await wh.arows(f"SELECT {WEBHOOK_COLUMNS} FROM {wh.database}.webhooks FINAL "
                          "WHERE wallet IN {wallets:Array(String)} AND NOT deleted ORDER BY created_at, id",
                          {"wallets": sorted(set(wallets))})


async def attempts_made(wh: Warehouse, signal_ids: Sequence[str]) -> dict[tuple[str, str], tuple[int, bool]]:
    """Return, per (signal id, webhook id) with recorded attempts, the last attempt's number and whether any of
    them delivered."""
    if not signal_ids:
        return {}
    rows = await wh.arows(f"SELECT signal_id, webhook_id, max(attempt) AS last, max(delivered) AS delivered "
                          f"FROM {wh.database}.webhook_deliveries WHERE signal_id IN {{ids:Array(String)}} "
                          "GROUP BY signal_id, webhook_id", {"ids": sorted(set(signal_ids))})
    return {(r["signal_id"], r["webhook_id"]): (int(r["last"]), bool(r["delivered"])) for r in rows}

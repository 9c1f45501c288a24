"""The gateway's edge, before any route or Socket.IO handler: who the caller is, how much of a request is read, and
whether a browser sent it from another site.

Pure ASGI, so it holds whatever server runs the app: the caller is the peer unless the peer is a trusted proxy
(then the right-most untrusted address of X-Forwarded-For); headers over the limits get 431; a body over its limit
gets 413, by Content-Length before anything is read, else as soon as the streamed bytes pass it.

Cross-site request forgery: the session cookie is SameSite=Lax, and a request that carries it and could change
something (POST, PUT, PATCH, DELETE, or a WebSocket handshake) is refused with 403 when its Origin is another site
(or `null`, an origin a browser hides). Browsers always send Origin on such requests; a client without a cookie,
or without an Origin (not a browser: curl, the SDKs), is not asked.
"""

from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, Awaitable, Callable, MutableMapping
from urllib.parse import urlsplit

from api.auth import cookie_token
from api.errors import CODES, error
from quantdesk.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WEBSOCKET_POLICY_VIOLATION = 1008
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class BodyTooLarge(Exception):
    """The streamed body passed its limit."""


def trusted(host: str, proxies: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    """Return whether `host` is an IP inside one of the trusted proxy networks."""
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def caller(peer: str, forwarded_for: list[str], proxies: tuple[IPv4Network | IPv6Network, ...]) -> str:
    """Return the caller's IP: the peer, unless it is a trusted proxy; then the right-most untrusted hop of
    X-Forwarded-For (what the outermost trusted proxy saw; the left of it is the caller's own to write)."""
    if not trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    nearest = peer
    for hop in reversed(hops):
        if not trusted(hop, proxies):
            return hop if _is_ip(hop) else nearest  # a proxy that wrote no address: its own peer is all we know
        nearest = hop
    return nearest


def _is_ip(text: str) -> bool:
    """Return whether `text` is an IP address."""
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def header_refusal(headers: list[tuple[bytes, bytes]], total: int, line: int) -> str | None:
    """Return why request headers are too large (over `total` bytes in all, or one line over `line`), or None."""
    sizes = [len(name) + len(value) + 4 for name, value in headers]  # "name: value\r\n"
    if any(size > line for size in sizes):
        return f"a request header line is over {line} bytes"
    if sum(sizes) > total:
        return f"the request headers are over {total} bytes in all"
    return None


def site(origin: str) -> str | None:
    """Return an Origin's host and port as a Host header names them (default port left out), or None for `null` or
    anything not an origin."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in DEFAULT_PORTS:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if port in (None, DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"


def cross_site(scope: Scope) -> str | None:
    """Return why a request is refused as cross-site, or None: one carrying the session cookie that could change
    something, from a browser page of another origin than the gateway's own (its Host)."""
    if scope["type"] == "http" and scope["method"] not in UNSAFE_METHODS:
        return None
    def named(wanted: bytes) -> list[str]:
        return [value.decode("latin-1") for name, value in scope["headers"] if name == wanted]
    origin, host = next(iter(named(b"origin")), None), next(iter(named(b"host")), "")
    if origin is None or cookie_token("; ".join(named(b"cookie"))) is None:
        return None
    host = host.lower().removesuffix(":80").removesuffix(":443")
    if (site(origin) or "").lower() == host:
        return None
    return f"cross-site request refused: a page of {origin} may not act with this site's session (Origin is not {host})"


class Edge:
    """Resolve the caller behind trusted proxies, refuse oversized headers and bodies, and refuse cross-site requests
    that carry the session cookie, in the error shape."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.proxies = app, settings.trusted_proxies
        self.max_body, self.max_headers, self.max_line = (settings.max_body_bytes, settings.max_header_bytes,
                                                          settings.max_header_line_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection: refuse it at the edge, or hand it on with its caller's address."""
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = scope["headers"]
        if why := header_refusal(headers, self.max_headers, self.max_line):
            return await self.refuse(scope, receive, send, 431, why)
        scope["client"] = self.client(scope)  # in place: the meter outside reads the route the router notes here
        if why := cross_site(scope):
            return await self.refuse(scope, receive, send, 403, why)
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        length = next((v for k, v in headers if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await self.refuse(scope, receive, send, 413, f"the request body is over {self.max_body} bytes")
        await self.limited(scope, receive, send)

    def client(self, scope: Scope) -> tuple[str, int] | None:
        """Return the scope's client with the caller's address in place of a trusted proxy's."""
        peer = scope.get("client")
        if not peer or not self.proxies:
            return peer
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        host = caller(peer[0], forwarded, self.proxies)
        return peer if host == peer[0] else (host, 0)

    async def limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app while counting the body it reads; past the limit, stop it and answer 413 instead."""
        read, started, over = 0, False, False

        async def counted() -> Message:
            nonlocal read, over
            message = await receive()
            read += len(message.get("body", b""))
            if read > self.max_body:
                over = True
                raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if over:
                return  # what the app answers to the broken-off body is replaced by the 413
            started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self.refuse(scope, receive, send, 413, f"the request body is over {self.max_body} bytes")

    @staticmethod
    async def refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        """Answer an HTTP request with an error in the platform's shape; close a WebSocket handshake."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION, "reason": message})
            return
        await error(status, CODES[status], message)(scope, receive, send)

"""The gateway's metrics: its families (`quantdesk.metrics` keeps and renders them), the label values known from
the start, and the meter every HTTP request and WebSocket handshake passes, whoever answers it (a route, an error
handler or the edge)."""

import time
from dataclasses import fields
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from api.channels import CHANNELS
from api.edge import ASGIApp, Message, Receive, Scope, Send
from api.ratelimit import Rates
from api.siws import FAILURES
from quantdesk import metrics
from quantdesk.metrics import Family

LIFETIME_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0,
                    24 * 3600.0)
FAMILIES: dict[str, Family] = {
    "gateway_requests_total": Family(Counter, "HTTP requests answered, by route template, method and status.",
                                     ("route", "method", "status")),
    "gateway_request_seconds": Family(Histogram, "Time to answer an HTTP request, by route template and method.",
                                      ("route", "method")),
    "gateway_socket_connections": Family(Gauge, "Open Socket.IO connections."),
    "gateway_socket_connects_total": Family(Counter, "Socket.IO connection attempts, by outcome (accepted, refused).",
                                            ("outcome",)),
    "gateway_socket_connection_seconds": Family(Histogram, "How long Socket.IO connections lasted.",
                                                buckets=LIFETIME_BUCKETS),
    "gateway_socket_subscriptions": Family(Gauge, "Channel subscriptions held, by channel.", ("channel",)),
    "gateway_socket_emits_total": Family(Counter, "Events sent to Socket.IO clients, one per recipient, by channel.",
                                         ("channel",)),
    "gateway_socket_dropped_total": Family(Counter, "Pushes a room member did not get, by reason.", ("reason",)),
    "gateway_socket_slow_clients_total": Family(Counter, "Clients cut off for not answering pings in time."),
    "gateway_rate_limited_total": Family(Counter, "Requests and subscriptions refused by a rate limit, by limit.",
                                         ("limit",)),
    "gateway_sign_ins_total": Family(Counter, "Sign-in attempts judged, by outcome (ok or the refusal's kind).",
                                     ("outcome",)),
    "gateway_unreachable_total": Family(
        Counter, "Times a part could not be reached while answering, by part: a 503, or a rate limit counted in this "
                 "replica's memory instead.", ("part",)),
}
CONNECT_OUTCOMES = ("accepted", "refused")
EMITTED = (*CHANNELS, "error")  # `error`: a refused subscription's answer
DROP_REASONS = ("gone", "slow_client")  # the member's connection had ended; it was cut off at the push
LIMITS = tuple(field.name for field in fields(Rates))
SIGN_IN_OUTCOMES = ("ok", *FAILURES, "nonce")  # `nonce`: unknown, used or expired
PARTS = ("redis", "broker", "clickhouse")
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))  # others are counted as `other`
UNMATCHED = "unmatched"


class GatewayMetrics(metrics.Metrics):
    """The gateway's figures, in a registry of their own, every known label value at 0 from the start."""

    def __init__(self) -> None:
        super().__init__(FAMILIES)
        for name, label, values in (("gateway_socket_connects_total", "outcome", CONNECT_OUTCOMES),
                                    ("gateway_socket_subscriptions", "channel", CHANNELS),
                                    ("gateway_socket_emits_total", "channel", EMITTED),
                                    ("gateway_socket_dropped_total", "reason", DROP_REASONS),
                                    ("gateway_rate_limited_total", "limit", LIMITS),
                                    ("gateway_sign_ins_total", "outcome", SIGN_IN_OUTCOMES),
                                    ("gateway_unreachable_total", "part", PARTS)):
            for value in values:
                self.families[name].labels(**{label: value})


def template(scope: Scope, socketio_path: str) -> str:
    """Return the path template of the route the router matched; `socketio_path` for Socket.IO's own requests
    (long-polling); `unmatched` for a request no route took, or one the edge refused before routing."""
    if (route := scope.get("route")) is not None:
        return route.path
    return socketio_path if scope["path"].startswith(socketio_path) else UNMATCHED


class Meter:
    """Count and time each HTTP request by route template, method and status; count WebSocket handshakes refused
    before they opened. Wraps the edge, so what the edge refuses is counted too."""

    def __init__(self, app: ASGIApp, socketio_path: str, meters: GatewayMetrics) -> None:
        self.app, self.socketio_path = app, socketio_path
        self.requests = meters.families["gateway_requests_total"]
        self.seconds = meters.families["gateway_request_seconds"]
        self.refused = meters.families["gateway_socket_connects_total"].labels(outcome="refused")
        self.children: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # labels() is dear on the hot path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a connection, metered."""
        if scope["type"] == "http":
            return await self.http(scope, receive, send)
        if scope["type"] == "websocket":
            return await self.websocket(scope, receive, send)
        await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve an HTTP request and record its answer's status and how long it took."""
        status = 500  # what the server answers for an app that raises or ends without answering
        started = time.perf_counter()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            self.record(scope, status, time.perf_counter() - started)

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        """Count one answered request and observe its time."""
        method = scope["method"] if scope["method"] in METHODS else "other"
        key = (template(scope, self.socketio_path), method, status)
        if (children := self.children.get(key)) is None:
            children = self.children[key] = (self.requests.labels(route=key[0], method=method, status=str(status)),
                                             self.seconds.labels(route=key[0], method=method))
        children[0].inc()
        children[1].observe(seconds)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a WebSocket, counting a handshake answered with anything but an accept as refused."""
        answered = False

        async def watched(message: Message) -> None:
            nonlocal answered
            if not answered:
                answered = True
                if message["type"] != "websocket.accept":
                    self.refused.inc()
            await send(message)

        await self.app(scope, receive, watched)

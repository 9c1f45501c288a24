"""Socket.IO: the handshake, subscribe and unsubscribe of the channels (`api.channels`), and their pushes
(`api.pushes`).

With Redis configured, the Redis manager carries what one replica must do on all (closing the account
rooms of a session that logged out).
"""

import asyncio
import time
from typing import Any

import socketio

from api import channels
from api.accounts import AccountsView
from api.auth import cookie_token, token_key
from api.channels import CHANNELS, Refusal, Subscription, account_room
from api.errors import Unavailable
from api.fanout import Server
from api.live import LiveState
from api.pushes import Pushes
from api.ratelimit import Limiter
from api.sessions import SessionStore
from api.status import StatusWatch
from quantdesk.metrics import Metrics
from quantdesk.settings import Settings


def client_ip(environ: dict[str, Any]) -> str:
    """Return the IP of a Socket.IO client from its ASGI scope."""
    client = environ.get("asgi.scope", {}).get("client")
    return client[0] if client else "unknown"


class Gateway:
    """The Socket.IO server: who may join which room, and the pushes to those rooms."""

    def __init__(self, settings: Settings, live: LiveState, accounts: AccountsView, sessions: SessionStore,
                 limiter: Limiter, metrics: Metrics) -> None:
        self.settings, self.live, self.accounts = settings, live, accounts
        self.sessions, self.limiter, self.metrics = sessions, limiter, metrics
        manager = socketio.AsyncRedisManager(settings.redis_url, channel=f"{settings.app_id}:socketio") \
            if settings.redis_url else None
        self.sio = Server(async_mode="asgi", cors_allowed_origins="*", client_manager=manager,
                          max_http_buffer_size=settings.max_body_bytes)  # a message of a client, as a request body
        self.pushes = Pushes(self.sio, live, metrics, settings.room_history, settings.socket_max_queued)
        self.status = StatusWatch(settings, live, self.pushes)
        self.on_event = self.pushes.on_event
        self.sio.on("connect", self.connect)
        self.sio.on("disconnect", self.disconnect)
        self.sio.on("subscribe", self.subscribe)
        self.sio.on("unsubscribe", self.unsubscribe)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Refuse an IP past its connection limit; remember the caller's IP, when the connection opened and the key
        of the session cookie it carries, if any: the account channels look the session up when asked, so a session
        store that cannot be reached keeps no one from the market channels."""
        ip = client_ip(environ)
        verdict = await self.limiter.hit("connect", ip)
        if not verdict.allowed:
            self.metrics.inc("gateway_socket_connects_total", outcome="refused")
            raise socketio.exceptions.ConnectionRefusedError(  # the client's connect_error: {message, data}
                f"too many connections; retry in {verdict.retry_after()} s", {"code": "rate_limited"})
        token = cookie_token(environ.get("HTTP_COOKIE"))
        signed = {"key": token_key(self.settings, token)} if token else {}
        await self.sio.save_session(sid, {"ip": ip, "opened": time.monotonic(), **signed})
        self.metrics.inc("gateway_socket_connects_total", outcome="accepted")

    async def disconnect(self, sid: str, reason: str) -> None:
        """Record how long the connection lasted, and a client cut off for not answering pings."""
        session = await self.sio.get_session(sid)
        self.metrics.families["gateway_socket_connection_seconds"].observe(time.monotonic() - session["opened"])
        if reason == self.sio.reason.PING_TIMEOUT:
            self.metrics.families["gateway_socket_slow_clients_total"].inc()

    def measure(self) -> None:
        """Set the connection and subscription gauges from this replica's rooms as they are now."""
        rooms = self.sio.manager.rooms.get("/", {})
        pending = len(self.sio.manager.pending_connect.get("/", ()))
        self.metrics.families["gateway_socket_connections"].set(len(rooms.get(None, ())) - pending)
        held = dict.fromkeys(CHANNELS, 0)
        for name, members in rooms.items():
            if isinstance(name, str) and (kind := name.partition(":")[0]) in held:
                held[kind] += len(members)
        for kind, count in held.items():
            self.metrics.set("gateway_socket_subscriptions", count, channel=kind)

    async def subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """Join a channel's room and send its snapshot, or the deltas missed since `since_seq`, or refuse (ack and
        an `error` event)."""
        try:
            sub, name, header = await self.admit(sid, data)
        except Refusal as refusal:
            # the caller is this replica's own: no need to go through Redis, which may be what refused it
            await self.sio.emit("error", {**refusal.error(), "request": data}, to=sid, ignore_queue=True)
            self.metrics.inc("gateway_socket_emits_total", channel="error")
            return {"ok": False, "error": refusal.error()}
        asked = {} if sub.since_seq is None else {"resync": channels.SNAPSHOT}

        def snapshot(seq: int) -> dict[str, Any]:
            first = self.status.snapshot() if sub.channel == "status" else channels.snapshot(sub, self.live,
                                                                                              self.accounts)
            return {**header, "seq": seq, "snapshot": True, **asked, "data": first}
        seq, caught_up = self.pushes.join(sid, name, sub.channel, sub.since_seq, snapshot)
        return {"ok": True, "room": name, "seq": seq, **({"resync": channels.DELTAS} if caught_up else asked)}

    async def admit(self, sid: str, data: Any) -> tuple[Subscription, str, dict[str, Any]]:
        """Return the subscription, its room and event header, or raise the refusal."""
        session = await self.sio.get_session(sid)
        verdict = await self.limiter.hit("subscribe", session.get("ip", "unknown"))
        if not verdict.allowed:
            raise Refusal("rate_limited", f"too many subscriptions; retry in {verdict.retry_after()} s")
        sub = channels.parse(self.settings, data)
        if sub.channel in channels.WALLET_CHANNELS:
            return sub, *await self.admit_account(sub, session)
        channels.held_venue(sub, self.live)
        return sub, channels.market_room(sub), channels.market_header(sub)

    async def admit_account(self, sub: Subscription, session: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Return the session's account (or orders) room, refusing without a live session or for another wallet."""
        try:
            found = await self.sessions.get_session(session["key"]) if session.get("key") else None
        except Unavailable as unreachable:
            self.metrics.inc("gateway_unreachable_total", part=unreachable.part)
            raise Refusal("unavailable", unreachable.message) from unreachable
        if found is None:
            raise Refusal("unauthorized", f"sign in first: the {sub.channel} channel needs a live session")
        if sub.wallet not in (None, found.wallet):
            raise Refusal("forbidden", "a session reaches only its own wallet")
        sub.wallet = found.wallet
        name = account_room(session["key"], sub.channel)
        watch = self.pushes.watch if sub.channel == "account" else self.pushes.watch_orders
        watch(found.wallet, name)
        return name, {"channel": sub.channel, "wallet": found.wallet}

    async def unsubscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """Leave a market channel's room, or the session's account room."""
        try:
            sub = channels.parse(self.settings, data)
        except Refusal as refusal:
            return {"ok": False, "error": refusal.error()}
        session = await self.sio.get_session(sid)
        if sub.channel in channels.WALLET_CHANNELS:
            if session.get("key"):
                self.pushes.leave(sid, account_room(session["key"], sub.channel))
        else:
            self.pushes.leave(sid, channels.market_room(sub))
        return {"ok": True}

    async def end_session(self, session_key: str) -> None:
        """Close a session's account and orders rooms on every replica (the Redis manager carries it, and waits on
        a Redis gone silent for ever: the wait is bounded)."""
        closing = asyncio.gather(*(self.sio.close_room(account_room(session_key, channel))
                                   for channel in channels.WALLET_CHANNELS))
        try:
            await asyncio.wait_for(closing, 4 * self.settings.redis_timeout_s)
        except asyncio.TimeoutError as exc:
            raise Unavailable("redis", "the other gateway replicas cannot be told to close the session's channels: "
                                       "Redis does not answer") from exc

"""Socket.IO: clients subscribe to channels and receive a snapshot, then numbered deltas.

Channels: `ticker`, `trades`, `candles` (with a resolution), `funding` and `signals` per market;
`account` for the wallet of the session whose cookie came with the handshake. Every event is
`{channel, market | wallet, seq, snapshot, data}` (candles add `resolution`, account deltas `kind`):
the snapshot carries the room's current `seq`, each delta the next one, so a client that sees a
gap resubscribes. Every replica reads every event from Kafka and pushes to its own clients; with
Redis configured, the Redis manager carries what one replica must do on all (closing the account
rooms of a session that logged out). A push reaches the room's local members through `api.fanout`.
"""

from typing import Any, Literal

import socketio
from pydantic import BaseModel, ValidationError

from api.accounts import AccountsView
from api.auth import cookie_token, signed_in
from api.bars import RESOLUTIONS
from api.fanout import Server, fan_out
from api.live import LiveState, public_trade
from api.ratelimit import Limiter
from api.sessions import SessionStore
from quantdesk.messages import Fill
from quantdesk.settings import Settings

MARKET_CHANNELS = ("ticker", "trades", "candles", "funding", "signals")
CHANNELS = (*MARKET_CHANNELS, "account")


class Subscription(BaseModel):
    """What a client asks for: a channel, and the market (and resolution) or wallet it is about."""

    channel: str
    market: str | None = None
    resolution: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "1m"
    wallet: str | None = None


class Refusal(Exception):
    """A subscription the gateway turns down, with an error code as REST has them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def ticker(state: dict[str, Any]) -> dict[str, Any]:
    """Return the ticker payload of a market state."""
    keys = ("market", "ts", "oracle_price", "conf", "mark_price", "oracle_twap_5m", "status", "reason")
    return {k: state.get(k) for k in keys}


def room(channel: str, market: str, resolution: str = "") -> str:
    """Return the room name of a market channel (candles rooms name their resolution)."""
    return f"{channel}:{market}:{resolution}" if resolution else f"{channel}:{market}"


def account_room(session_key: str) -> str:
    """Return the account room of one session (so a logout closes exactly its own)."""
    return f"account:{session_key}"


def client_ip(environ: dict[str, Any]) -> str:
    """Return the IP of a Socket.IO client from its ASGI scope."""
    client = environ.get("asgi.scope", {}).get("client")
    return client[0] if client else "unknown"


class Gateway:
    """The Socket.IO server and how events reach its rooms."""

    def __init__(self, settings: Settings, live: LiveState, accounts: AccountsView, sessions: SessionStore,
                 limiter: Limiter) -> None:
        self.settings, self.live, self.accounts = settings, live, accounts
        self.sessions, self.limiter = sessions, limiter
        manager = socketio.AsyncRedisManager(settings.redis_url, channel=f"{settings.app_id}:socketio") \
            if settings.redis_url else None
        self.sio = Server(async_mode="asgi", cors_allowed_origins="*", client_manager=manager)
        self.seq: dict[str, int] = {}
        self.wallet_rooms: dict[str, set[str]] = {}
        self.sio.on("connect", self.connect)
        self.sio.on("subscribe", self.subscribe)
        self.sio.on("unsubscribe", self.unsubscribe)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Remember the caller's IP and, when the handshake carries a live session cookie, its wallet."""
        found = await signed_in(self.sessions, self.settings, cookie_token(environ.get("HTTP_COOKIE")))
        signed = {"wallet": found.session.wallet, "key": found.key} if found else {}
        await self.sio.save_session(sid, {"ip": client_ip(environ), **signed})

    async def subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """Join a channel's room and send its snapshot, or refuse (ack and an `error` event)."""
        try:
            sub, name, header = await self.admit(sid, data)
        except Refusal as refusal:
            error = {"code": refusal.code, "message": refusal.message}
            await self.sio.emit("error", {**error, "request": data}, to=sid)
            return {"ok": False, "error": error}
        await self.sio.enter_room(sid, name)
        seq = self.seq.get(name, 0)
        await self.sio.emit(sub.channel, {**header, "seq": seq, "snapshot": True, "data": self.snapshot(sub)}, to=sid)
        return {"ok": True, "room": name, "seq": seq}

    async def admit(self, sid: str, data: Any) -> tuple[Subscription, str, dict[str, Any]]:
        """Return the subscription, its room and event header, or raise the refusal."""
        session = await self.sio.get_session(sid)
        verdict = await self.limiter.hit("subscribe", session.get("ip", "unknown"))
        if not verdict.allowed:
            raise Refusal("rate_limited", f"too many subscriptions; retry in {verdict.retry_after()} s")
        sub = self.parse(data)
        if sub.channel == "account":
            return sub, *await self.admit_account(sub, session)
        return sub, self.market_room(sub), self.market_header(sub)

    def parse(self, data: Any) -> Subscription:
        """Return a well-formed subscription to a known channel and market, or refuse it."""
        try:
            sub = Subscription.model_validate(data)
        except ValidationError as exc:
            raise Refusal("invalid_request", f"subscribe needs {{channel, market}}: {exc.errors()[0]['msg']}") from exc
        if sub.channel not in CHANNELS:
            raise Refusal("invalid_request", f"unknown channel {sub.channel!r}; channels: {', '.join(CHANNELS)}")
        if sub.channel != "account" and sub.market not in self.settings.market_names:
            markets = ", ".join(self.settings.market_names)
            raise Refusal("not_found", f"unknown market {sub.market!r}; markets: {markets}")
        return sub

    async def admit_account(self, sub: Subscription, session: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Return the session's account room, refusing without a live session or for another wallet."""
        if not session.get("key") or await self.sessions.get_session(session["key"]) is None:
            raise Refusal("unauthorized", "sign in first: the account channel needs a live session")
        if sub.wallet not in (None, session["wallet"]):
            raise Refusal("forbidden", "a session reaches only its own wallet")
        sub.wallet = session["wallet"]
        name = account_room(session["key"])
        self.wallet_rooms.setdefault(session["wallet"], set()).add(name)
        return name, {"channel": "account", "wallet": session["wallet"]}

    @staticmethod
    def market_room(sub: Subscription) -> str:
        """Return the room of a market subscription."""
        assert sub.market is not None
        return room(sub.channel, sub.market, sub.resolution if sub.channel == "candles" else "")

    @staticmethod
    def market_header(sub: Subscription) -> dict[str, Any]:
        """Return the fields that name a market subscription in its events."""
        extra = {"resolution": sub.resolution} if sub.channel == "candles" else {}
        return {"channel": sub.channel, "market": sub.market, **extra}

    def snapshot(self, sub: Subscription) -> Any:
        """Return what a new subscriber sees first."""
        market = sub.market or ""
        if sub.channel == "ticker":
            held = self.live.markets.get(market)
            return ticker(held) if held else None
        if sub.channel == "trades":
            return list(self.live.trades.get(market, ()))
        if sub.channel == "candles":
            bar = self.live.bars.get((market, sub.resolution))
            return bar.view() if bar else None
        if sub.channel == "funding":
            return self.live.funding.get(market)
        if sub.channel == "signals":
            return list(self.live.signals.get(market, ()))
        return self.accounts.get(sub.wallet or "") or {"wallet": sub.wallet, "subaccounts": []}

    async def unsubscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """Leave a market channel's room, or the session's account room."""
        try:
            sub = self.parse(data)
        except Refusal as refusal:
            return {"ok": False, "error": {"code": refusal.code, "message": refusal.message}}
        session = await self.sio.get_session(sid)
        if sub.channel == "account":
            if session.get("key"):
                await self.sio.leave_room(sid, account_room(session["key"]))
        else:
            await self.sio.leave_room(sid, self.market_room(sub))
        return {"ok": True}

    async def end_session(self, session_key: str) -> None:
        """Close a session's account room on every replica (the Redis manager carries it)."""
        await self.sio.close_room(account_room(session_key))

    def listened(self, name: str) -> bool:
        """Tell whether a room has members on this replica."""
        return bool(self.sio.manager.rooms.get("/", {}).get(name))

    async def push(self, channel: str, name: str, header: dict[str, Any], data: Any) -> None:
        """Emit one delta to this replica's members of a room, with the room's next sequence number.

        A room nobody here listens to gets nothing and keeps its number: who subscribes next starts
        from a snapshot carrying it."""
        if not self.listened(name):
            return
        seq = self.seq[name] = self.seq.get(name, 0) + 1
        await fan_out(self.sio, channel, {**header, "seq": seq, "snapshot": False, "data": data}, name)

    async def push_market(self, channel: str, market: str, data: Any) -> None:
        """Emit one delta to a market channel's room."""
        await self.push(channel, room(channel, market), {"channel": channel, "market": market}, data)

    async def on_event(self, topic: str, event: dict[str, Any]) -> None:
        """Push an event to the rooms that want it."""
        if topic == "markets.state":
            await self.push_market("ticker", event["market"], ticker(event))
            if event.get("tick_price") is not None:
                await self.push_bars(event["market"], event["ts"])
        elif topic == "trades.fills":
            await self.on_fill(Fill.model_validate(event))
        elif topic == "funding.rates":
            await self.push_market("funding", event["market"], event)
        elif topic == "mikey.signals":
            await self.on_signal(event)
        elif topic == "accounts.state":
            await self.push_account(event["wallet"], "state", event)

    async def on_fill(self, fill: Fill) -> None:
        """Push a taker fill to the tape and the candles, and every fill to its wallet."""
        if fill.liquidity == "taker":
            await self.push_market("trades", fill.market, public_trade(fill))
            await self.push_bars(fill.market, fill.ts)
        if fill.wallet in self.wallet_rooms:  # dumped only for a wallet with a live account room
            await self.push_account(fill.wallet, "fill", fill.model_dump(mode="json"))

    async def on_signal(self, event: dict[str, Any]) -> None:
        """Push a market signal to its market's room, an account signal to that wallet only."""
        if event.get("wallet"):
            await self.push_account(event["wallet"], "alert", event)
        else:
            await self.push_market("signals", event["market"], event)

    async def push_bars(self, market: str, ts: int) -> None:
        """Push the current candles of a market that an event at `ts` just changed."""
        for resolution in RESOLUTIONS:
            name, bar = room("candles", market, resolution), self.live.bars.get((market, resolution))
            view = bar.view() if bar and bar.time <= ts and self.listened(name) else None
            if view is not None:
                header = {"channel": "candles", "market": market, "resolution": resolution}
                await self.push("candles", name, header, view)

    async def push_account(self, wallet: str, kind: str, data: Any) -> None:
        """Push an account delta to the live account rooms of a wallet's sessions."""
        rooms = self.wallet_rooms.get(wallet, set())
        for name in list(rooms):
            if not self.listened(name):
                rooms.discard(name)
                self.seq.pop(name, None)
                continue
            await self.push("account", name, {"channel": "account", "wallet": wallet, "kind": kind}, data)
        if not rooms:
            self.wallet_rooms.pop(wallet, None)

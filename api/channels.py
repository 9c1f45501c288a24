"""Channels: what a Socket.IO client may subscribe to, the room each subscription joins, and its snapshot.

Channels: `ticker`, `trades`, `candles` (with a resolution), `funding`, `signals`, `orderbook` (consolidated, or
one `venue`'s) and `bbo` per market; `account` and `orders` for the wallet of the session whose cookie came with the
handshake;
`status` (no market: the sources' freshness, `api.status`; its deltas are the sources whose health changed). Every event is
`{channel, market | wallet, seq, snapshot, data}` (candles add `resolution`, account deltas `kind`: `state`,
`fill` or `alert`, a MIKEY signal about one of the wallet's sub-accounts, which no market room ever carries;
`orders` shows the wallet's open orders, partially filled ones among them, then each order's new state):
the snapshot carries the room's current `seq`, each delta the next one, and the snapshot always comes
before the room's first delta (whose `seq` is the snapshot's + 1). The ack is `{ok, room, seq}`, `seq` the
room's number when the client joined.

Resync: a client that sees a gap, or reconnects, subscribes again with `since_seq`, the last `seq` it holds.
If the room's log still holds every delta after it (up to `QUANTDESK_ROOM_HISTORY` per room), the client gets
exactly those, in order and as first pushed (no snapshot), then the live ones, and the ack says
`"resync": "deltas"`; else (too old, ahead of the room, or from a log that has gone) it gets a fresh snapshot
carrying `"resync": "snapshot"`, as the ack does. A `since_seq` that is not an integer from 0 to 2**53 - 1 is
refused like any bad subscription (ack and `error` event). Numbers are per gateway replica (each numbers its own
rooms), and a room's log lives while the room has members on that replica: a `since_seq` means something only to
the replica that gave it out, and only if the room has kept a member there since.
"""

from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from api.accounts import AccountsView
from api.bars import Resolution
from api.books import DEFAULT_DEPTH
from api.deps import unknown_market
from api.live import LiveState, ticker
from quantdesk.messages import NAME_CHARS
from quantdesk.settings import Settings

DELTAS, SNAPSHOT = "deltas", "snapshot"  # how a subscription with `since_seq` caught up
MAX_SEQ = 2**53 - 1  # the largest integer a JavaScript client holds exactly
Seq = Annotated[int, Field(strict=True, ge=0, le=MAX_SEQ)]
MARKET_CHANNELS = ("ticker", "trades", "candles", "funding", "signals", "orderbook", "bbo")
WALLET_CHANNELS = ("account", "orders")  # the signed-in session's own wallet
CHANNELS = (*MARKET_CHANNELS, *WALLET_CHANNELS, "status")
STATUS_ROOM = "status"


class Subscription(BaseModel):
    """What a client asks for: a channel, the market (and resolution) or wallet it is about, and the last `seq` it
    holds of that room, if any."""

    channel: str
    market: str | None = None
    resolution: Resolution = "1m"
    venue: Annotated[str | None, Field(min_length=1, max_length=NAME_CHARS)] = None
    wallet: str | None = None
    since_seq: Seq | None = None


class Refusal(Exception):
    """A subscription the gateway turns down, with an error code as REST has them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def error(self) -> dict[str, str]:
        """Return the refusal in the platform's error shape."""
        return {"code": self.code, "message": self.message}


def room(channel: str, market: str, resolution: str = "") -> str:
    """Return the room name of a market channel (candles rooms name their resolution)."""
    return f"{channel}:{market}:{resolution}" if resolution else f"{channel}:{market}"


def account_room(session_key: str, channel: str = "account") -> str:
    """Return the account (or orders) room of one session (so a logout closes exactly its own)."""
    return f"{channel}:{session_key}"


def parse(settings: Settings, data: Any) -> Subscription:
    """Return a well-formed subscription to a known channel and market, or refuse it."""
    try:
        sub = Subscription.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"])) or "request"
        raise Refusal("invalid_request", f"bad subscription: {where}: {error['msg']}") from exc
    if sub.channel not in CHANNELS:
        raise Refusal("invalid_request", f"unknown channel {sub.channel!r}; channels: {', '.join(CHANNELS)}")
    if sub.channel in MARKET_CHANNELS and (why := unknown_market(settings, sub.market)):
        raise Refusal("not_found", why)
    return sub


def held_venue(sub: Subscription, live: LiveState) -> None:
    """Refuse an orderbook subscription to a venue with no book of the market here (as REST answers 404)."""
    if sub.channel == "orderbook" and sub.venue is not None and sub.venue not in live.books.venues(sub.market or ""):
        held = ", ".join(live.books.venues(sub.market or "")) or "none yet"
        raise Refusal("not_found", f"no book of venue {sub.venue!r} for {sub.market}; venues: {held}")


def market_room(sub: Subscription) -> str:
    """Return the room of a market subscription (or the status room)."""
    if sub.channel == "status":
        return STATUS_ROOM
    assert sub.market is not None
    detail = {"candles": sub.resolution, "orderbook": sub.venue or ""}.get(sub.channel, "")
    return room(sub.channel, sub.market, detail)


def market_header(sub: Subscription) -> dict[str, Any]:
    """Return the fields that name a market subscription (or the status one) in its events."""
    if sub.channel == "status":
        return {"channel": "status"}
    extra = {"resolution": sub.resolution} if sub.channel == "candles" else {
        "venue": sub.venue} if sub.channel == "orderbook" else {}
    return {"channel": sub.channel, "market": sub.market, **extra}


def snapshot(sub: Subscription, live: LiveState, accounts: AccountsView) -> Any:
    """Return what a new subscriber sees first."""
    market = sub.market or ""
    if sub.channel == "ticker":
        held = live.markets.get(market)
        return ticker(held) if held else None
    if sub.channel == "trades":
        return list(live.trades.get(market, ()))
    if sub.channel == "candles":
        bar = live.bars.get((market, sub.resolution))
        return bar.view() if bar else None
    if sub.channel == "funding":
        return live.funding.get(market)
    if sub.channel == "signals":
        return list(live.signals.get(market, ()))
    if sub.channel == "orders":
        return live.orders.of(sub.wallet or "")
    if sub.channel == "orderbook":
        return live.books.orderbook(market, sub.venue, DEFAULT_DEPTH).model_dump(mode="json")
    if sub.channel == "bbo":
        return live.books.bbo(market).model_dump(mode="json")
    return accounts.get(sub.wallet or "") or {"wallet": sub.wallet, "subaccounts": []}

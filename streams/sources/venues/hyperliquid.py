"""Hyperliquid's public websocket feed: every coin's mid (`allMids`) and our coins' books (`l2Book`), as documented
at https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket (Subscriptions; Timeouts and
heartbeats):

- subscribe with `{"method": "subscribe", "subscription": {"type": "allMids"}}` (no `dex`: the first perp dex) and,
  per coin of `hyperliquid_markets`, `{"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}`;
  the server acknowledges each with `{"channel": "subscriptionResponse", "data": <the subscription sent>}`;
- then it sends `{"channel": "allMids", "data": {"mids": {"BTC": "97012.5", ...}}}`: `mids` maps a coin to its
  mid as a decimal string (spot pairs such as `@107` and coins we do not list are ignored); SDKs also model a
  `dex` beside `mids`: a message naming a dex other than the first ("" or absent) is skipped;
- and `{"channel": "l2Book", "data": WsBook}`, `WsBook {coin, levels: [bids, asks], time}`, each side best first
  as `WsLevel {px, sz, n}` (price and size as decimal strings, n the number of orders): a whole snapshot of the
  book's top levels (20), pushed at most every 0.5 s. Each becomes a `BookUpdate` snapshot on `books`, its event
  time and `seq` the book's `time` (ms): a book whose time is not after the last one seen of its coin (a repeat,
  e.g. the snapshot sent again on resubscribing) is dropped, and so is one whose levels equal the last one's (the
  book did not change: publishing it again would only cost). A crossed book is published as it came: the book
  domain flags it. The top of the current connection's last book rides on each mid (`bid`, `ask` of
  `venues.prices`) while it brackets the mid;
- the server closes a connection that sent it nothing for 60 s, so `{"method": "ping"}` goes out every
  `hyperliquid_ping_s`, answered by `{"channel": "pong"}`. Nothing heard for `hyperliquid_silence_s` (neither
  mids, books nor a pong) counts as a dropped connection, and so does a frame over `MESSAGE_BYTES` (read no
  further than that).

On connecting the server also sends the plain text "Websocket connection established." (the official Python
SDK skips it too). A message that is not JSON, JSON that is not an object with a `channel`, an `allMids` message
without a `mids` object, or a mid of one of our coins that is not a positive decimal string within
Decimal(38, 18) goes to `dlq` with the reason (the message's other coins are still used); so does a whole book
that is not as documented: no `coin`, a `time` that is no integer ms, `levels` not two lists, a level whose
`px` / `sz` is not a decimal string (a price must be positive, a size too), whose `n` is not an integer, more
levels than a book message holds, or a side not strictly best first. Prices and sizes are read exactly: a
Decimal from their string, never a float.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import websockets
from pydantic import ValidationError

from quantdesk.messages import BOOK_LEVELS, BookLevel, BookUpdate, DeadLetter, VenuePrice
from quantdesk.settings import Settings
from streams.decode import first_error
from streams.sources.venues.adapter import Update

VENUE = "hyperliquid"
SOURCE = "allMids"
SUBSCRIBE = {"method": "subscribe", "subscription": {"type": "allMids"}}
PING = {"method": "ping"}
GREETING = "Websocket connection established."
MESSAGE_BYTES = 4 << 20  # a larger frame ends the connection: allMids of every coin is some 20 KB, a book a few


def book_subscription(coin: str) -> dict[str, Any]:
    """Return the subscription to `coin`'s `l2Book`."""
    return {"method": "subscribe", "subscription": {"type": "l2Book", "coin": coin}}


def wall_ms() -> int:
    """Return the wall clock in UTC ms."""
    return time.time_ns() // 1_000_000


class Stamper:
    """Event times of the messages that carry prices, in UTC ms, never earlier than the one before, each with its
    number within its ms (0 for the first): a clock stepped back cannot give two messages one id."""

    def __init__(self) -> None:
        self.last, self.seq = -1, 0

    def stamp(self, received_ms: int) -> tuple[int, int]:
        """Return the (ts, sequence within that ms) of a message received at `received_ms`."""
        now = max(received_ms, self.last)
        self.seq = self.seq + 1 if now == self.last else 0
        self.last = now
        return now, self.seq


def price_id(coin: str, ts: int, seq: int) -> str:
    """Return the id of a coin's mid received at `ts` (the `seq`-th message of that ms)."""
    return f"{VENUE}:{coin}:{ts}" + (f":{seq}" if seq else "")


def book_id(coin: str, time_ms: int) -> str:
    """Return the id of a coin's book as of `time_ms`."""
    return f"{VENUE}:{coin}:l2Book:{time_ms}"


def dead(id_: str, ts: int, reason: str, raw: str | bytes, topic: str = "venues.prices") -> DeadLetter:
    """Return the dead letter of a message, or of one mid in it, that could not be used."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return DeadLetter(id=f"{id_}:dead", ts=ts, topic=topic, reason=reason, payload=text, stage="decode")


def malformed(raw: str | bytes, received_ms: int, stamper: Stamper, reason: str,
              topic: str = "venues.prices") -> Update:
    """Return the dead letter of a whole message."""
    ts, seq = stamper.stamp(received_ms)
    return Update(dead=[dead(f"{VENUE}:{ts}" + (f":{seq}" if seq else ""), ts, reason, raw, topic)])


def wire_levels(side: str, levels: Any) -> list[dict[str, Any]]:
    """Return one side's `WsLevel`s as `BookLevel` fields; raise ValueError when they are not as documented."""
    if not isinstance(levels, list):
        raise ValueError(f"{side} are not a list")
    if len(levels) > BOOK_LEVELS:
        raise ValueError(f"{len(levels)} {side} levels, more than the {BOOK_LEVELS} a book message holds")
    fields = []
    for i, level in enumerate(levels):
        if not isinstance(level, dict) or not {"px", "sz", "n"} <= level.keys():
            raise ValueError(f"{side}.{i} is not a level {{px, sz, n}}")
        for key in ("px", "sz"):  # a JSON number would already be a float: refused, never rounded
            if not isinstance(level[key], str):
                raise ValueError(f"{side}.{i}.{key} is not a decimal string but {type(level[key]).__name__}")
        fields.append({"price": level["px"], "size": level["sz"], "orders": level["n"]})
    return fields


def best_first(levels: tuple[BookLevel, ...], bids: bool) -> bool:
    """Tell whether a side's prices run strictly from the best: down for bids, up for asks."""
    prices = [level.price for level in levels]
    return all((a > b) if bids else (a < b) for a, b in zip(prices, prices[1:]))


def book_snapshot(coin: str, market: str, data: dict[str, Any]) -> BookUpdate:
    """Return a `WsBook` of `coin` as a snapshot of `market`'s book; raise ValueError saying what is wrong."""
    time_ms = data.get("time")
    if type(time_ms) is not int:  # a bool is an int to Python, and a float is no ms
        raise ValueError(f"`time` is not an integer: {time_ms!r}")
    levels = data.get("levels")
    if not isinstance(levels, list) or len(levels) != 2:
        raise ValueError("`levels` is not [bids, asks]")
    try:
        book = BookUpdate.model_validate({
            "id": book_id(coin, time_ms), "ts": time_ms, "venue": VENUE, "market": market, "kind": "snapshot",
            "seq": time_ms, "bids": wire_levels("bids", levels[0]), "asks": wire_levels("asks", levels[1])})
    except ValidationError as exc:
        raise ValueError(first_error(exc)) from None
    for side, bids in (("bids", True), ("asks", False)):
        if not best_first(getattr(book, side), bids):
            raise ValueError(f"{side} are not strictly best first")
    return book


class Feed:
    """What one Hyperliquid feed has read: the stamps of its mids, the last book seen per coin, and the tops of the
    current connection's books."""

    def __init__(self, coins: dict[str, str]) -> None:
        self.coins = coins  # coin -> market
        self.stamper = Stamper()
        self.books: dict[str, BookUpdate] = {}  # coin -> its newest book (published, or equal to the published one)
        self.tops: dict[str, tuple[BookLevel, BookLevel]] = {}  # coin -> (best bid, best ask) since connecting

    def subscriptions(self) -> list[dict[str, Any]]:
        """Return the subscriptions a connection sends: `allMids`, then each coin's `l2Book`."""
        return [SUBSCRIBE, *(book_subscription(coin) for coin in self.coins)]

    def connected(self) -> None:
        """Forget the tops of the last connection's books: a mid is only given the top of a live book."""
        self.tops.clear()

    def read(self, raw: str | bytes, received_ms: int) -> Update | None:
        """Return what one message of the feed, received at `received_ms`, means: the mids and books of our coins
        and dead letters, or None for a message that carries neither (greeting, acknowledgement, pong).

        Raise ConnectionError on an `error` message: a subscription is not running, so the connection is made again.
        """
        if raw in (GREETING, GREETING.encode()):
            return None
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return malformed(raw, received_ms, self.stamper, f"Hyperliquid message is not JSON: {exc}")
        channel = message.get("channel") if isinstance(message, dict) else None
        if not isinstance(channel, str):
            return malformed(raw, received_ms, self.stamper, "Hyperliquid message is not an object with a `channel`")
        if channel == "error":
            raise ConnectionError(f"Hyperliquid refused: {message.get('data')!r}")
        if channel == "allMids":
            return self.mids(message.get("data"), raw, received_ms)
        if channel == "l2Book":
            return self.book(message.get("data"), raw, received_ms)
        return None  # subscriptionResponse, pong, or a channel we did not ask for

    def mids(self, data: Any, raw: str | bytes, received_ms: int) -> Update:
        """Return our coins' mids of an `allMids` message, each with its book's top when that brackets it."""
        mids = data.get("mids") if isinstance(data, dict) else None
        if not isinstance(mids, dict):
            return malformed(raw, received_ms, self.stamper, "Hyperliquid allMids message without a `mids` object")
        if data.get("dex", ""):
            return Update()  # another perp dex's mids: not the first dex's, which we subscribed to
        ts, seq = self.stamper.stamp(received_ms)
        update = Update()
        for coin, market in self.coins.items():
            if coin not in mids:
                continue
            id_, mid = price_id(coin, ts, seq), mids[coin]
            if not isinstance(mid, str):  # a JSON number would already be a float: refused, never rounded
                update.dead.append(dead(id_, ts, f"Hyperliquid mid of {coin} is not a decimal string: {mid!r}", raw))
                continue
            try:
                price = VenuePrice.model_validate(
                    {"id": id_, "ts": ts, "venue": VENUE, "market": market, "price": mid, "source": SOURCE})
            except ValidationError as exc:
                reason = "; ".join(e["msg"] for e in exc.errors())
                update.dead.append(dead(id_, ts, f"Hyperliquid mid of {coin} {mid!r} refused: {reason}", raw))
                continue
            update.prices.append(self.with_top(coin, price))
        return update

    def with_top(self, coin: str, price: VenuePrice) -> VenuePrice:
        """Return a mid with its coin's book top, if the current connection has one that brackets the mid (one that
        does not is from a book older than the mid, or crossed)."""
        top = self.tops.get(coin)
        if top is None or not top[0].price <= price.price <= top[1].price:
            return price
        return price.model_copy(update={"bid": top[0].price, "ask": top[1].price})

    def book(self, data: Any, raw: str | bytes, received_ms: int) -> Update:
        """Return an `l2Book` message of one of our coins as a book snapshot, unless it is no newer than the last
        book of its coin or holds the same levels (then it is counted as dropped)."""
        coin = data.get("coin") if isinstance(data, dict) else None
        if not isinstance(coin, str):
            return malformed(raw, received_ms, self.stamper, "Hyperliquid l2Book message without a `coin`", "books")
        market = self.coins.get(coin)
        if market is None:
            return Update()  # a coin we did not subscribe to
        try:
            book = book_snapshot(coin, market, data)
        except ValueError as exc:
            return malformed(raw, received_ms, self.stamper, f"Hyperliquid l2Book of {coin} refused: {exc}", "books")
        last = self.books.get(coin)
        if last is not None and book.seq <= last.seq:
            return Update(dropped=1)
        self.books[coin] = book
        if book.bids and book.asks:
            self.tops[coin] = (book.bids[0], book.asks[0])
        else:
            self.tops.pop(coin, None)
        if last is not None and (book.bids, book.asks) == (last.bids, last.asks):
            return Update(dropped=1)
        return Update(books=[book])


class HyperliquidAdapter:
    """Hyperliquid's `allMids` and `l2Book` feeds as a venue adapter."""

    venue = VENUE

    def __init__(self, settings: Settings, clock: Callable[[], int] = wall_ms) -> None:
        self.url = settings.hyperliquid_ws_url
        self.feed = Feed(dict(settings.hyperliquid_markets))
        self.ping_s, self.silence_s = settings.hyperliquid_ping_s, settings.hyperliquid_silence_s
        self.clock = clock

    async def updates(self) -> AsyncIterator[Update]:
        """Connect, subscribe to `allMids` and our coins' `l2Book`s and yield an update per message that carries
        mids or a book (and per unreadable one), pinging as documented; raise TimeoutError when nothing is heard
        for `silence_s`."""
        # the documented application-level ping is the heartbeat: no protocol-level pings besides
        async with websockets.connect(self.url, max_size=MESSAGE_BYTES, ping_interval=None) as ws:
            self.feed.connected()
            for subscription in self.feed.subscriptions():
                await ws.send(orjson.dumps(subscription).decode())
            pinging = asyncio.create_task(self.ping(ws), name="hyperliquid-ping")
            try:
                while True:
                    async with asyncio.timeout(self.silence_s):  # not wait_for: it can lose a cancellation on 3.11
                        raw = await ws.recv()
                    # The trust boundary: a mid's event time is when it was received here, in UTC ms (allMids
                    # carries no time of its own); a book's is its own `time`. Everything downstream runs on `ts`.
                    update = self.feed.read(raw, self.clock())
                    if update is not None:
                        yield update
            finally:
                pinging.cancel()
                await asyncio.gather(pinging, return_exceptions=True)

    async def ping(self, ws: Any) -> None:
        """Send Hyperliquid's ping every `ping_s` until the connection closes."""
        try:
            while True:
                await asyncio.sleep(self.ping_s)
                await ws.send(orjson.dumps(PING).decode())
        except websockets.ConnectionClosed:
            return

"""Hyperliquid's public `allMids` websocket feed: every coin's mid, each block, as documented at
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket (Subscriptions; Timeouts and
heartbeats):

- subscribe with `{"method": "subscribe", "subscription": {"type": "allMids"}}` (no `dex`: the first perp dex);
  the server acknowledges with `{"channel": "subscriptionResponse", "data": <the subscription sent>}`;
- then it sends `{"channel": "allMids", "data": {"mids": {"BTC": "97012.5", ...}}}`: `mids` maps a coin to its
  mid as a decimal string (spot pairs such as `@107` and coins we do not list are ignored); SDKs also model a
  `dex` beside `mids`: a message naming a dex other than the first ("" or absent) is skipped;
- the server closes a connection that sent it nothing for 60 s, so `{"method": "ping"}` goes out every
  `hyperliquid_ping_s`, answered by `{"channel": "pong"}`. Nothing heard for `hyperliquid_silence_s` (neither
  mids nor a pong) counts as a dropped connection.

On connecting the server also sends the plain text "Websocket connection established." (the official Python
SDK skips it too). A message that is not JSON, JSON that is not an object with a `channel`, an `allMids` message
without a `mids` object, or a mid of one of our coins that is not a positive decimal string within
Decimal(38, 18) goes to `dlq` with the reason (the message's other coins are still used). A mid is read
exactly: a Decimal from its string, never a float.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import websockets
from pydantic import ValidationError

from quantdesk.messages import DeadLetter, VenuePrice
from quantdesk.settings import Settings
from streams.sources.venues.adapter import Update

VENUE = "hyperliquid"
SOURCE = "allMids"
SUBSCRIBE = {"method": "subscribe", "subscription": {"type": "allMids"}}
PING = {"method": "ping"}
GREETING = "Websocket connection established."


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


def dead(id_: str, ts: int, reason: str, raw: str | bytes) -> DeadLetter:
    """Return the dead letter of a message, or of one mid in it, that could not be used."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return DeadLetter(id=f"{id_}:dead", ts=ts, topic="venues.prices", reason=reason, payload=text, stage="decode")


def malformed(raw: str | bytes, received_ms: int, stamper: Stamper, reason: str) -> Update:
    """Return the dead letter of a whole message."""
    ts, seq = stamper.stamp(received_ms)
    return Update(dead=[dead(f"{VENUE}:{ts}" + (f":{seq}" if seq else ""), ts, reason, raw)])


def read(raw: str | bytes, received_ms: int, stamper: Stamper, coins: dict[str, str]) -> Update | None:
    """Return what one message of the feed, received at `received_ms`, means: the mids of our coins (`coins`: coin
    -> market) and dead letters, or None for a message that carries no prices (greeting, acknowledgement, pong),
    which takes no stamp.

    Raise ConnectionError on an `error` message: the subscription is not running, so the connection is made again.
    """
    if raw in (GREETING, GREETING.encode()):
        return None
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return malformed(raw, received_ms, stamper, f"Hyperliquid message is not JSON: {exc}")
    channel = message.get("channel") if isinstance(message, dict) else None
    if not isinstance(channel, str):
        return malformed(raw, received_ms, stamper, "Hyperliquid message is not an object with a `channel`")
    if channel == "error":
        raise ConnectionError(f"Hyperliquid refused: {message.get('data')!r}")
    if channel != "allMids":
        return None  # subscriptionResponse, pong, or a channel we did not ask for
    data = message.get("data")
    mids = data.get("mids") if isinstance(data, dict) else None
    if not isinstance(mids, dict):
        return malformed(raw, received_ms, stamper, "Hyperliquid allMids message without a `mids` object")
    if data.get("dex", ""):
        return Update()  # another perp dex's mids: not the first dex's, which we subscribed to
    ts, seq = stamper.stamp(received_ms)
    update = Update()
    for coin, market in coins.items():
        if coin not in mids:
            continue
        id_, mid = price_id(coin, ts, seq), mids[coin]
        if not isinstance(mid, str):  # a JSON number would already be a float: refused, never rounded
            update.dead.append(dead(id_, ts, f"Hyperliquid mid of {coin} is not a decimal string: {mid!r}", raw))
            continue
        try:
            update.prices.append(VenuePrice.model_validate(
                {"id": id_, "ts": ts, "venue": VENUE, "market": market, "price": mid, "source": SOURCE}))
        except ValidationError as exc:
            reason = "; ".join(e["msg"] for e in exc.errors())
            update.dead.append(dead(id_, ts, f"Hyperliquid mid of {coin} {mid!r} refused: {reason}", raw))
    return update


class HyperliquidAdapter:
    """Hyperliquid's `allMids` feed as a venue adapter."""

    venue = VENUE

    def __init__(self, settings: Settings, clock: Callable[[], int] = wall_ms) -> None:
        self.url = settings.hyperliquid_ws_url
        self.coins = dict(settings.hyperliquid_markets)
        self.ping_s, self.silence_s = settings.hyperliquid_ping_s, settings.hyperliquid_silence_s
        self.clock, self.stamper = clock, Stamper()

    async def updates(self) -> AsyncIterator[Update]:
        """Connect, subscribe to `allMids` and yield an update per `allMids` message (and per unreadable one),
        pinging as documented; raise TimeoutError when nothing is heard for `silence_s`."""
        # the documented application-level ping is the heartbeat: no protocol-level pings besides
        async with websockets.connect(self.url, max_size=None, ping_interval=None) as ws:
            await ws.send(orjson.dumps(SUBSCRIBE).decode())
            pinging = asyncio.create_task(self.ping(ws), name="hyperliquid-ping")
            try:
                while True:
                    raw = await asyncio.wait_for(ws.recv(), self.silence_s)
                    # The trust boundary: a mid's event time is when it was received here, in UTC ms (the
                    # feed carries no time of its own); everything downstream runs on this `ts`.
                    update = read(raw, self.clock(), self.stamper, self.coins)
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

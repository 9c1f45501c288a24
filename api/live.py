"""Live caches fed by the topics: markets, tape, current candles, funding, signals, accounts, open orders, venues'
books (`api.books`); and what each topic pushes on (`TOPICS`, one row per topic).

Market figures and candle prices come only from `markets.state`, which the market worker derives from the ticks
its oracle guard judged (raw `oracle.ticks` are not read here). A market's states are one author's, on one
partition (keyed by market), in the order it judged them, so event time moves forward: a state older than the one
held is history sent again (a feed replaying what a restored broker was given back, past the ids remembered here) or
a late tick's, and no news. Unless the one held is stamped ahead of the clock: one event stamped far ahead cannot
freeze a market's figures.
"""

import asyncio
import logging
import time
from bisect import insort
from collections import OrderedDict, defaultdict, deque
from decimal import Decimal, InvalidOperation
from typing import Any, Awaitable, Callable, NamedTuple, Protocol

import orjson
from pydantic import ValidationError

from api.bars import RESOLUTIONS, Bar, bucket
from api.orders import OpenOrders
from api.books import BOOK_WARM_UP_MESSAGES, LiveBooks
from quantdesk.kafka.reader import Reader
from quantdesk.markets import Market, reparametrised
from quantdesk.messages import MARGIN_FIELDS, AdminCommand, Fill, Signal, VenuePrice
from quantdesk.settings import Settings
from quantdesk.wire import decode

log = logging.getLogger(__name__)
Handler = Callable[[str, Any], Awaitable[None]]  # a feed topic, and an event's news as `LiveState.apply` gave it
WARM_UP_MESSAGES = 200
WARM_UP = {  # topics read back further than WARM_UP_MESSAGES
    "books": BOOK_WARM_UP_MESSAGES,  # why: `api.books`
    "admin.commands": 10**9,  # all of them (a few a day): a market paused long ago is paused still
}
RECENT_TRADES = 100
RECENT_SIGNALS = 50
REMEMBERED_IDS = 100_000
AHEAD_MS = 5_000  # a market state stamped this far past the clock holds back no state after it


class RecentIds:
    """The ids of the newest events seen, so a replayed input event is not counted twice."""

    def __init__(self, size: int = REMEMBERED_IDS) -> None:
        self.size = size
        self.ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """Remember an id; return whether it was new."""
        if event_id in self.ids:
            return False
        self.ids[event_id] = None
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return True


def public_trade(fill: Fill) -> dict[str, Any]:
    """Return a taker fill as the public tape shows it: no wallet, no fee."""
    return {"id": fill.id, "ts": fill.ts, "market": fill.market, "side": fill.side, "size": str(fill.size),
            "price": str(fill.price)}


def ticker(state: dict[str, Any]) -> dict[str, Any]:
    """Return a market state as the ticker shows it."""
    keys = ("market", "ts", "oracle_price", "conf", "mark_price", "oracle_twap_5m", "status", "reason")
    return {k: state.get(k) for k in keys}


def account_signal(event: dict[str, Any]) -> bool:
    """Tell whether a signal is about an account: it names a wallet or a sub-account (then it is that wallet's
    alone, whatever market it also names)."""
    return bool(event.get("wallet")) or event.get("subaccount") is not None


def market_signal(event: dict[str, Any]) -> bool:
    """Tell whether a signal is about a market, for everyone: no wallet, no sub-account, its subject the market."""
    return not account_signal(event) and bool(event.get("market")) and event.get("subject") == event["market"]


def long_sizes(snapshot: dict[str, Any]) -> list[tuple[str, Decimal]]:
    """Return a snapshot's long positions as (market, size); raise TypeError (or what Decimal raises) on a
    malformed position."""
    sizes = [(position["market"], Decimal(str(position["size"]))) for position in snapshot["positions"]]
    if not all(isinstance(market, str) and size.is_finite() for market, size in sizes):
        raise TypeError("a position's market or size is malformed")
    return [(market, size) for market, size in sizes if size > 0]


def newer(held: dict[str, Any] | None, event: dict[str, Any], field: str = "ts") -> bool:
    """Return whether `event` is at least as new as what is held."""
    return held is None or held[field] <= event[field]


class LiveState:
    """The newest derived figures per market and per wallet, and the current candles."""

    def __init__(self, known_markets: tuple[str, ...] = ()) -> None:
        self.known = set(known_markets)
        self.markets: dict[str, dict[str, Any]] = {}
        self.trades: dict[str, deque[dict[str, Any]]] = {}
        self.bars: dict[tuple[str, str], Bar] = {}
        self.funding: dict[str, dict[str, Any]] = {}
        self.signals: dict[str, deque[dict[str, Any]]] = {}
        self.accounts: dict[str, dict[int, dict[str, Any]]] = {}
        self.longs: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.seen = RecentIds()
        self.venues: dict[str, dict[str, VenuePrice]] = {}  # market -> venue -> its newest price
        self.orders = OpenOrders()
        self.books = LiveBooks(known_markets)
        self.chain: tuple[int, int] | None = None  # the highest slot a fill came from, and that fill's event time
        self.commands: dict[str, AdminCommand] = {}  # market or wallet -> the newest admin command about it
        self.changes: dict[str, list[AdminCommand]] = {}  # market -> its parameter changes, as they take effect

    def apply(self, topic: str, event: dict[str, Any]) -> Any:
        """Record an event; return it as its push takes it if it is news (newer than what was held, never seen),
        else None: a fill as the model recording it validated, so that it is validated once."""
        try:
            return TOPICS[topic].record(self, event)
        except (KeyError, TypeError, ValidationError, InvalidOperation):
            return None

    def apply_market(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Hold the last state read of a listed market (one replayed, or older than the one held, is no news: the
        module's text) and fold the price of the tick it accepted, if any, into the current candles."""
        market, ts, price = event["market"], int(event["ts"]), event.get("tick_price")
        if market not in self.known or not self.seen.first_time(f"{market} {event['id']}"):  # ids per market, at least
            return None
        held = self.markets.get(market)
        if held is not None and ts < int(held["ts"]) <= time.time() * 1000 + AHEAD_MS:
            return None
        self.markets[market] = event
        if price is not None:
            for bar in self.bars_holding(market, ts, price_moves=True):
                bar.add_price(ts, Decimal(str(price)))
        return event

    def apply_fill(self, event: dict[str, Any]) -> Fill | None:
        """Record a fill of a listed market: the tape and the candles take its taker side."""
        fill = Fill.model_validate(event)
        if fill.market not in self.known or not self.seen.first_time(fill.id):
            return None
        if fill.slot and (self.chain is None or fill.slot > self.chain[0]):
            self.chain = (fill.slot, fill.ts)
        if fill.liquidity == "taker":
            self.trades.setdefault(fill.market, deque(maxlen=RECENT_TRADES)).append(public_trade(fill))
            for bar in self.bars_holding(fill.market, fill.ts):
                bar.add_fill(fill)
        return fill

    def bars_holding(self, market: str, ts: int, price_moves: bool = False) -> list[Bar]:
        """Return, per resolution, the current candle holding `ts` (a new one when `ts` is past it); none where
        `ts` falls in an older, closed candle, but for a price (`price_moves`) over one candle behind the held one:
        that one began at a jump in event time (a bad stamp), and the live candle follows the prices read since."""
        holding = []
        for resolution, seconds in RESOLUTIONS.items():
            start, held = bucket(ts, resolution), self.bars.get((market, resolution))
            jumped = price_moves and held is not None and held.time - start > seconds * 1000
            if held is None or held.time < start or jumped:
                held = self.bars[(market, resolution)] = Bar(start)
            if held.time == start:
                holding.append(held)
        return holding

    def apply_funding(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Hold the newest closed funding period of a market."""
        if not newer(self.funding.get(event["market"]), event, "period_end"):
            return None
        self.funding[event["market"]] = event
        return event

    def apply_signal(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Keep the newest market signals of each listed market; an account's signal (even one naming a market) is
        news for its wallet only and is never held where a market's subscribers would see it."""
        signal = Signal.model_validate(event)
        if not (account_signal(event) and signal.wallet or market_signal(event) and signal.market in self.known):
            return None
        if not self.seen.first_time(signal.id):
            return None
        if market_signal(event):
            self.signals.setdefault(event["market"], deque(maxlen=RECENT_SIGNALS)).append(event)
        return event

    def apply_account(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Hold the newest snapshot of each sub-account, per wallet, and count its longs into open interest.

        A snapshot is the risk engine's own output, made from input validated where it came in: only the
        fields read here are checked (validating it whole took this 11.4 µs a three-position snapshot, 4.6
        without), and a malformed one changes nothing."""
        wallet, subaccount, ts = event["wallet"], event["subaccount"], event["ts"]
        if not (isinstance(wallet, str) and type(subaccount) is int and type(ts) is int):
            return None
        longs = long_sizes(event)
        held = self.accounts.setdefault(wallet, {})
        before = held.get(subaccount)
        if not newer(before, event):
            return None
        for market, size in long_sizes(before) if before else ():
            self.longs[market] -= size
        held[subaccount] = event
        for market, size in longs:
            self.longs[market] += size
        return event

    def apply_admin(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Hold the newest admin command of each listed market and each wallet: the latest `ts` (at one `ts`, the
        greater id), so the same commands leave a market paused or an account frozen in any order they are read."""
        command = AdminCommand.model_validate(event)
        if command.market and command.market not in self.known:
            return None
        if command.action == "set_market_params":
            return event if self.schedule(command) else None
        last = self.commands.get(command.subject)
        if last is not None and (command.ts, command.id) <= (last.ts, last.id):
            return None
        self.commands[command.subject] = command
        return event

    def schedule(self, command: AdminCommand) -> bool:
        """Hold a change of a market's parameters in the order the risk engine puts them in force (effective time,
        then command time and id), once."""
        changes = self.changes.setdefault(command.subject, [])
        if any(c.id == command.id for c in changes):
            return False
        insort(changes, command, key=lambda c: (c.effective_at, c.ts, c.id))
        return True

    def params(self, market: Market, at: int) -> Market:
        """Return a market's parameters in force at event time `at`: its listing's, or the last change by then."""
        due = [c for c in self.changes.get(market.name, ()) if (c.effective_at or 0) <= at]
        return reparametrised(market, {f: getattr(due[-1], f) for f in MARGIN_FIELDS}) if due else market

    def next_change(self, market: str, at: int) -> AdminCommand | None:
        """Return a market's next change of parameters after event time `at`, or None."""
        return next((c for c in self.changes.get(market, ()) if (c.effective_at or 0) > at), None)

    def newest_ts(self, market: str) -> int:
        """Return the event time of a market's newest state (0 before any)."""
        return self.markets.get(market, {}).get("ts", 0)

    def paused(self, market: str) -> AdminCommand | None:
        """Return the command that paused a market, or None when it is not paused."""
        command = self.commands.get(market)
        return command if command is not None and command.action == "pause_market" else None

    def frozen(self, wallet: str) -> AdminCommand | None:
        """Return the command that froze a wallet's account, or None when it is not frozen."""
        command = self.commands.get(wallet)
        return command if command is not None and command.action == "freeze_account" else None

    def apply_venue_price(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Hold the newest price of each other venue of a listed market: the latest `ts` (at one `ts`, the greater
        id), so the same prices give the same answer in any order they are read."""
        price = VenuePrice.model_validate(event)
        if price.market not in self.known:
            return None
        held = self.venues.setdefault(price.market, {})
        last = held.get(price.venue)
        if last is not None and (price.ts, price.id) <= (last.ts, last.id):
            return None
        held[price.venue] = price
        return event

    def apply_order(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Hold an order's newest state while it rests; a state seen before (a restarted orders worker publishes
        them again) is no news."""
        return event if self.seen.first_time(event["id"]) and self.orders.apply(event) else None
    def apply_book(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Apply a venue's book update of a listed market (`api.books`)."""
        return event if self.books.apply(event) else None

    def open_interest(self, market: str) -> Decimal:
        """Return a market's open interest: its long sizes summed (the shorts' sum, once every state is in)."""
        return self.longs[market]


class Pusher(Protocol):
    """Where news goes on: the rooms of a market channel, the current candles, a wallet's account and orders
    rooms."""

    async def push_market(self, channel: str, market: str, data: Any) -> None:
        """Push one delta to a market channel's room."""

    async def push_bars(self, market: str, ts: int) -> None:
        """Push the current candles of a market that an event at `ts` just changed."""

    async def push_account(self, wallet: str, kind: str, data: Any) -> None:
        """Push one delta to a wallet's account rooms."""

    async def push_orders(self, wallet: str, data: Any) -> None:
        """Push an order's new state to a wallet's orders rooms."""
    async def push_book(self, market: str, venue: str) -> None:
        """Push a market's book that `venue`'s update just changed."""

    def watched(self, wallet: str) -> bool:
        """Tell whether a wallet has an account room."""


async def push_state(pusher: Pusher, event: dict[str, Any]) -> None:
    """Push a market state to its ticker and, when it carries an accepted tick's price, to its candles."""
    await pusher.push_market("ticker", event["market"], ticker(event))
    if event.get("tick_price") is not None:
        await pusher.push_bars(event["market"], event["ts"])


async def push_fill(pusher: Pusher, fill: Fill) -> None:
    """Push a taker fill to the tape and the candles, and every fill to its wallet."""
    if fill.liquidity == "taker":
        await pusher.push_market("trades", fill.market, public_trade(fill))
        await pusher.push_bars(fill.market, fill.ts)
    if pusher.watched(fill.wallet):  # dumped only for a wallet with a live account room
        await pusher.push_account(fill.wallet, "fill", fill.model_dump(mode="json"))


async def push_funding(pusher: Pusher, event: dict[str, Any]) -> None:
    """Push a closed funding period to its market's room."""
    await pusher.push_market("funding", event["market"], event)


async def push_signal(pusher: Pusher, event: dict[str, Any]) -> None:
    """Push a market signal to its market's room, an account signal to that wallet only (as an `alert`)."""
    if account_signal(event):
        await pusher.push_account(event["wallet"], "alert", event)
    elif market_signal(event):
        await pusher.push_market("signals", event["market"], event)


async def push_order(pusher: Pusher, event: dict[str, Any]) -> None:
    """Push an order's new state to its wallet."""
    await pusher.push_orders(event["wallet"], event)
async def push_book(pusher: Pusher, event: dict[str, Any]) -> None:
    """Push a changed book to its market's orderbook rooms (and its BBO room when that moved)."""
    await pusher.push_book(event["market"], event["venue"])


async def push_nothing(pusher: Pusher, event: dict[str, Any]) -> None:
    """Push nothing: a topic read only to be held (served by REST)."""


async def push_account_state(pusher: Pusher, event: dict[str, Any]) -> None:
    """Push a sub-account's snapshot to its wallet."""
    await pusher.push_account(event["wallet"], "state", event)


class Topic(NamedTuple):
    """How a feed topic's event is recorded in the live state, and how its news is pushed."""

    record: Callable[[LiveState, dict[str, Any]], Any]  # the news as `push` takes it, or None
    push: Callable[[Pusher, Any], Awaitable[None]]


TOPICS: dict[str, Topic] = {  # a new feed topic is one row here
    "markets.state": Topic(LiveState.apply_market, push_state),
    "trades.fills": Topic(LiveState.apply_fill, push_fill),
    "funding.rates": Topic(LiveState.apply_funding, push_funding),
    "mikey.signals": Topic(LiveState.apply_signal, push_signal),
    "accounts.state": Topic(LiveState.apply_account, push_account_state),
    "venues.prices": Topic(LiveState.apply_venue_price, push_nothing),
    "orders.state": Topic(LiveState.apply_order, push_order),
    "books": Topic(LiveState.apply_book, push_book),
    "admin.commands": Topic(LiveState.apply_admin, push_nothing),
}
FEED_TOPICS = tuple(TOPICS)


class LiveFeed:
    """Read the feed topics (derived ones and fills) without a consumer group: every replica sees all."""

    def __init__(self, settings: Settings, bootstrap: str, state: LiveState, on_event: Handler) -> None:
        self.settings, self.bootstrap, self.state, self.on_event = settings, bootstrap, state, on_event
        self.names = {settings.topic(t): t for t in FEED_TOPICS}
        self.task: asyncio.Task[None] | None = None
        self.reader: Reader | None = None

    async def start(self) -> None:
        """Assign every partition, step back a little to warm the cache, and start reading."""
        self.reader = reader = await Reader(self.bootstrap).start()
        ends = await reader.end_offsets(await reader.partitions(self.names))
        reader.assign({tp: max(0, end - WARM_UP.get(self.names[tp.topic], WARM_UP_MESSAGES))
                       for tp, end in ends.items()})
        self.task = asyncio.create_task(self.run(), name="live-feed")

    async def run(self) -> None:
        """Apply and hand on every event until stopped."""
        assert self.reader is not None
        while True:
            batches = await self.reader.fetch(timeout_ms=200, max_records=1000)
            for tp, messages in batches.items():
                for message in messages:
                    await self.handle(self.names[tp.topic], message.value)

    async def handle(self, topic: str, raw: bytes | None) -> None:
        """Apply one Kafka message's events; pass on the ones that are news, skip what is not JSON."""
        try:
            events = decode(raw or b"[]")
        except orjson.JSONDecodeError:
            return
        for event in events:
            if isinstance(event, dict) and (news := self.state.apply(topic, event)) is not None:
                await self.pass_on(topic, news, event.get("id"))

    async def pass_on(self, topic: str, news: Any, event_id: Any) -> None:
        """Hand an event's news on; a failure to push one event is logged and the feed goes on."""
        try:
            await self.on_event(topic, news)
        except Exception:
            log.exception("could not push %s event %s", topic, event_id)

    async def stop(self) -> None:
        """Stop reading."""
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.reader:
            await self.reader.stop()

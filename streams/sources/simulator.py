"""Simulated markets: seeded GBM-with-jumps oracle ticks, trading accounts, our own venue's book, and a second
venue's prices.

Our venue (`quantdesk`, streams/sources/makers.py): two market makers, funded by deposits like the traders, each
quote `LEVELS` levels a side of every market around the step's oracle tick (spreads, grids and sizes drawn from a
generator of their own), and requote each step where the tick moved their ladder or a fill took from it. Then a
few traders send market orders that walk the book, best price first; each resting order taken is a taker fill
and its maker's fill at that order's price (fees from quantdesk/markets.py), and an order never takes more than
the side shows but its last level. The makers' orders go out on `orders.events` (placed, cancelled) and their
fills name them, so the orders agent builds the venue's book (`streams.domain.resting`) the way it builds the
program's resting orders, and readers get it on `books` from there.

The second venue (`sim-venue`) quotes each market every step at our oracle plus a few basis points of noise;
now and then (about once every `DISLOCATION_EVERY` steps per market) it dislocates by 80 to 150 bps for a
handful of steps, so a mark-against-venue rule has something to find. It draws from a random generator of
its own, seeded from the simulator's seed, so the ticks, traders and fills of a seed are the same with it (and
with or without the order flow published, but for the fills naming their orders). With books on, it publishes a
few levels a side from its bid and ask on `books` too, a whole book every step, so the consolidated book has two
venues.
"""

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import base58

from quantdesk.kafka.publisher import Keyed, Publisher
from quantdesk.markets import MAKER_FEE_RATE, TAKER_FEE_RATE
from quantdesk.settings import Settings
from streams.domain.books import Level
from streams.sources.makers import VenueBook, draw_quoting

YEAR_MS = 365 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Dynamics:
    """How a simulated market moves: start price, annual volatility, jumps, price step."""

    start: float
    volatility: float
    tick_size: Decimal
    jump_probability: float = 2e-4
    jump_scale: float = 0.02


DYNAMICS: dict[str, Dynamics] = {
    "BTC-PERP": Dynamics(65_000.0, 0.60, Decimal("0.01")),
    "ETH-PERP": Dynamics(3_200.0, 0.75, Decimal("0.01")),
    "SOL-PERP": Dynamics(150.0, 1.00, Decimal("0.001")),
}
DEFAULT_DYNAMICS = Dynamics(100.0, 0.8, Decimal("0.001"))

VENUE = "sim-venue"
NOISE_BPS = 2.0  # the venue's mid against the oracle: gaussian, this many bps wide, clipped at `NOISE_CAP_BPS`
NOISE_CAP_BPS = 6.0
HALF_SPREAD_BPS = Decimal("0.5")  # its book's top: this far either side of its mid (a tick at least)
VENUE_LEVELS = 5  # levels a side of its book on `books`, a half spread apart, $2k to $20k each
DISLOCATION_EVERY = 300  # steps per market between dislocations, on average
DISLOCATION_BPS = (80.0, 150.0)  # how far a dislocation moves the venue's mid, either way
DISLOCATION_STEPS = (4, 12)  # and for how many steps (the upper bound excluded)
MAKER_SPREADS_BPS = ((0.5, 2.0), (1.5, 4.0))  # per maker: where its best quotes stand from the oracle, in bps
FILL_DIGITS = 3  # a step's fills numbered at one width, so their ids sort as they happened (as they apply)


def wallet_address(rng: random.Random) -> str:
    """Return a Solana-style base58 address drawn from `rng`."""
    return base58.b58encode(bytes(rng.getrandbits(8) for _ in range(32))).decode()


@dataclass
class Trader:
    """A simulated account: its wallet, deposit and the net position it tracks per market."""

    wallet: str
    deposit: Decimal
    positions: dict[str, Decimal] = field(default_factory=dict)


class SecondVenue:
    """Where another venue's mid stands against our oracle, in bps, market by market: noise, and now and then a
    dislocation held for a few steps."""

    def __init__(self, rng: random.Random, markets: tuple[str, ...]) -> None:
        self.rng = rng
        self.dislocated: dict[str, tuple[float, int]] = {m: (0.0, 0) for m in markets}  # offset, steps left

    def offset_bps(self, market: str) -> float:
        """Return the venue's offset from the oracle this step, in bps (drawn in the same order every run)."""
        noise = max(-NOISE_CAP_BPS, min(NOISE_CAP_BPS, self.rng.gauss(0, NOISE_BPS)))
        offset, left = self.dislocated.get(market, (0.0, 0))
        starts = self.rng.random() < 1 / DISLOCATION_EVERY
        if left == 0 and starts:
            offset = self.rng.choice((-1, 1)) * self.rng.uniform(*DISLOCATION_BPS)
            left = self.rng.randrange(*DISLOCATION_STEPS)
        self.dislocated[market] = (offset, left - 1) if left else (0.0, 0)
        return noise + (offset if left else 0.0)


class Simulator:
    """Generate the input events of simulated markets, step by step, from one seed."""

    def __init__(self, settings: Settings, start_ms: int, seed: int | None = None) -> None:
        self.seed = settings.simulator_seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.venue_prices = settings.simulator_venue_prices
        self.markets = settings.market_names
        self.step_ms = settings.simulator_tick_ms
        self.now = start_ms
        self.step_no = 0
        self.prices = {m: DYNAMICS.get(m, DEFAULT_DYNAMICS).start for m in self.markets}
        maker = Trader(wallet_address(self.rng), Decimal(10_000_000))
        self.traders = [Trader(wallet_address(self.rng), Decimal(self.rng.randrange(10, 100) * 1000))
                        for _ in range(settings.simulator_accounts)]
        quoting = random.Random(f"{self.seed}:makers")  # its own, so ticks and traders are a seed's as before
        self.makers = [maker, Trader(wallet_address(quoting), Decimal(10_000_000))]
        self.pending_deposits = [maker, *self.traders, *self.makers[1:]]
        self.books = {m: VenueBook(m, [draw_quoting(quoting, DYNAMICS.get(m, DEFAULT_DYNAMICS).start,
                                                    DYNAMICS.get(m, DEFAULT_DYNAMICS).tick_size, spread_bps)
                                       for spread_bps in MAKER_SPREADS_BPS], start_ms)
                      for m in self.markets}
        self.publish_books = settings.simulator_books
        self.venue = SecondVenue(random.Random(f"{self.seed}:{VENUE}"), self.markets)

    def next_id(self, kind: str, n: int | str) -> str:
        """Return a deterministic event id."""
        return f"sim:{kind}:{self.step_no}:{n}"

    def move(self, market: str) -> float:
        """Advance one market's price by one step of GBM with jumps."""
        d = DYNAMICS.get(market, DEFAULT_DYNAMICS)
        dt = self.step_ms / YEAR_MS
        shock = d.volatility * math.sqrt(dt) * self.rng.gauss(0, 1) - d.volatility**2 * dt / 2
        if self.rng.random() < d.jump_probability:
            shock += self.rng.gauss(0, d.jump_scale)
        self.prices[market] *= math.exp(shock)
        return self.prices[market]

    def quantise(self, market: str, value: float) -> Decimal:
        """Round a price to its market's tick size."""
        tick = DYNAMICS.get(market, DEFAULT_DYNAMICS).tick_size
        return max(tick, Decimal(repr(value)).quantize(tick))

    def tick(self, market: str) -> dict[str, Any]:
        """Return the next oracle tick of a market, Pyth-like."""
        price = self.move(market)
        conf = price * (0.0002 + 0.0003 * abs(self.rng.gauss(0, 1)))
        return {"id": self.next_id(f"tick:{market}", 0), "ts": self.now, "market": market,
                "price": str(self.quantise(market, price)), "conf": str(self.quantise(market, conf)),
                "publish_time": self.now - self.rng.randrange(0, 800), "status": "trading",
                "source": "simulator", "slot": self.step_no}

    def deposit(self, trader: Trader, n: int) -> dict[str, Any]:
        """Return a deposit event for a trader's starting collateral."""
        return {"id": self.next_id("deposit", n), "ts": self.now, "wallet": trader.wallet, "subaccount": 0,
                "kind": "deposit", "amount": str(trader.deposit), "signature": "", "slot": self.step_no}

    def trade_size(self, trader: Trader, market: str, price: Decimal) -> Decimal:
        """Return a signed size that keeps the trader's notional within twice its deposit."""
        held = trader.positions.get(market, Decimal(0))
        side = -1 if held * price > trader.deposit else 1 if held * price < -trader.deposit else self.rng.choice((-1, 1))
        notional = trader.deposit * Decimal(self.rng.randrange(1, 30)) / 100
        return side * (notional / price).quantize(Decimal("0.0001"))

    def fill(self, trader: Trader, market: str, size: Decimal, price: Decimal, n: int, role: str) -> dict[str, Any]:
        """Return one account's side of a trade and track its position."""
        trader.positions[market] = trader.positions.get(market, Decimal(0)) + size
        rate = TAKER_FEE_RATE if role == "taker" else MAKER_FEE_RATE
        fee = (abs(size) * price * rate).quantize(Decimal("0.000001"))
        return {"id": self.next_id(f"fill:{role}", f"{n:0{FILL_DIGITS}d}"), "ts": self.now, "market": market,
                "wallet": trader.wallet, "subaccount": 0, "side": "buy" if size > 0 else "sell", "size": str(abs(size)),
                "price": str(price), "fee": str(fee), "liquidity": role, "signature": "", "slot": self.step_no}

    def trades(self, oracle: dict[str, Decimal]) -> list[Keyed]:
        """Return this step's fills: a few traders send market orders that walk the venue's book, each order it
        takes from a taker fill and the maker's fill at that order's price."""
        out: list[Keyed] = []
        for _ in range(self.rng.choice((0, 0, 1, 1, 2))):
            trader, market = self.rng.choice(self.traders), self.rng.choice(self.markets)
            size = self.trade_size(trader, market, oracle[market])
            book = self.books[market]
            size = max(-book.visible("bid"), min(book.visible("ask"), size))  # never more than the book shows
            if size == 0:
                continue
            for take in book.take(size, self.now):
                taken = take.size if size > 0 else -take.size
                for who, signed, role in ((trader, taken, "taker"), (self.makers[take.maker], -taken, "maker")):
                    fill = self.fill(who, market, signed, take.price, len(out) // 2, role)
                    if role == "maker" and self.publish_books:
                        fill["order"] = take.order
                    out.append(("trades.fills", f"{who.wallet}:0", fill))
        return out

    def order_events(self, market: str) -> list[Keyed]:
        """Return the makers' placements and cancellations in a market since the last call, as `orders.events`."""
        out: list[Keyed] = []
        for n, (kind, maker, order) in enumerate(self.books[market].pop_changes()):
            wallet = self.makers[maker].wallet
            event = {"id": self.next_id(f"order:{market}", n), "ts": self.now, "market": market, "wallet": wallet,
                     "subaccount": 0, "kind": kind, "order": order.id, "slot": self.step_no}
            if kind == "placed":
                event |= {"side": "buy" if order.side == "bid" else "sell", "size": str(order.size),
                          "price": str(order.price), "order_type": "limit"}
            out.append(("orders.events", f"{wallet}:0", event))
        return out
    def venue_price(self, market: str, oracle: Decimal) -> dict[str, Any]:
        """Return the second venue's price of a market this step: its mid and the top of its book."""
        mid = self.quantise(market, float(oracle) * (1 + self.venue.offset_bps(market) / 10_000))
        tick = DYNAMICS.get(market, DEFAULT_DYNAMICS).tick_size
        half = max(tick, (mid * HALF_SPREAD_BPS / 10_000).quantize(tick))
        return {"id": self.next_id(f"venue:{market}", 0), "ts": self.now, "venue": VENUE, "market": market,
                "price": str(mid), "bid": str(max(tick, mid - half)), "ask": str(mid + half), "source": "simulator"}

    def venue_book(self, price: dict[str, Any]) -> dict[str, Any]:
        """Return the second venue's book of a market this step, whole (its levels move with its mid every step):
        `VENUE_LEVELS` a side out from its bid and ask, a half spread apart, numbered by the step."""
        market, bid, ask = price["market"], Decimal(price["bid"]), Decimal(price["ask"])
        gap = max(DYNAMICS.get(market, DEFAULT_DYNAMICS).tick_size, (ask - bid) / 2)
        # the step's own generator: the venue's prices draw as without it, and after skipped steps as without a skip
        sizes = random.Random(f"{self.seed}:{VENUE}:{market}:{self.step_no}")

        def level(at: Decimal) -> dict[str, Any]:
            size = Decimal(repr(sizes.uniform(2_000, 20_000) / float(at))).quantize(Decimal("0.0001"))
            return book_level(Level(at, max(size, Decimal("0.0001")), 1))
        return {"id": self.next_id(f"book:{VENUE}:{market}", 0), "ts": self.now, "venue": VENUE, "market": market,
                "kind": "snapshot", "seq": self.step_no,
                "bids": [level(bid - n * gap) for n in range(VENUE_LEVELS) if bid - n * gap > 0],
                "asks": [level(ask + n * gap) for n in range(VENUE_LEVELS)]}

    def skip(self, steps: int) -> None:
        """Go through `steps` steps without publishing them, as a simulator started again does: the same traders,
        books, order ids and event ids after them."""
        for _ in range(steps):
            self.step()

    def step(self) -> list[Keyed]:
        """Return the events of the next step (deposits first, then ticks, then the makers' orders, then fills,
        then the second venue's prices and book). The makers requote around the new ticks before any trader
        takes."""
        self.step_no += 1
        self.now += self.step_ms
        events: list[Keyed] = [("accounts.changes", f"{t.wallet}:0", self.deposit(t, n))
                               for n, t in enumerate(self.pending_deposits)]
        self.pending_deposits = []
        ticks = [self.tick(m) for m in self.markets]
        events += [("oracle.ticks", t["market"], t) for t in ticks]
        oracle = {t["market"]: Decimal(t["price"]) for t in ticks}
        for market, book in self.books.items():
            book.requote(oracle[market], self.now)
            changes = self.order_events(market)
            if self.publish_books:
                events += changes
        events += self.trades(oracle)
        if self.venue_prices:
            prices = [self.venue_price(m, oracle[m]) for m in self.markets]
            events += [("venues.prices", p["market"], p) for p in prices]
            if self.publish_books:
                events += [("books", p["market"], self.venue_book(p)) for p in prices]
        return events


def book_level(level: Level) -> dict[str, Any]:
    """Return a level as `books` carries it."""
    return {"price": str(level.price), "size": str(level.size), "orders": level.orders}


async def run_live(settings: Settings, bootstrap: str, steps: int | None = None, after_step: int = 0) -> None:
    """Publish simulated events in real time, one step per cadence, until cancelled; a simulator started again
    goes on `after_step` (the last it published): the same traders, and ids never used before."""
    sim = Simulator(settings, int(time.time() * 1000))
    await asyncio.to_thread(sim.skip, after_step)  # a long run's steps take a while: the loop goes on meanwhile
    sim.now = max(sim.now, int(time.time() * 1000))
    async with Publisher(settings, bootstrap) as publisher:
        done = 0
        while steps is None or done < steps:
            await publisher.send(sim.step())
            done += 1
            await asyncio.sleep(max(0.0, sim.now / 1000 - time.time()))

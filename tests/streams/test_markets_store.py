"""The markets agent's tables: markets rebuilt from them at any checkpoint go on exactly like ones never stopped."""

import random
from decimal import Decimal as D
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.messages import Fill, MarketState, OracleTick, Signal, VenuePrice
from streams.domain.alerts import Thresholds
from streams.domain.markets import Markets
from streams.markets_store import MarketsStore
from streams.risk.checkpoint import Restored
from streams.risk.reorder import ReorderBuffer
from tests.streams.cuts import cut_run, in_releases

T0 = 1_767_225_600_000
MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
LOUD = Thresholds(volatility_min_history_ms=60_000, cooldown_ms=30_000, whale_notional=D(50_000))
GAPS = (100, 400, 400, 1_000, 9_000, 61_000, 3_600_000)  # ms between two events: ticks, a silence, an hour


def events(seed: int, count: int) -> list[OracleTick | Fill | VenuePrice]:
    """Return `count` seeded events of three markets: ticks walking their prices (some halted, some jumps that spike
    the volatility), fills (whales among them), other venues' prices, at gaps from 100 ms to an hour."""
    rng, prices, ts = random.Random(seed), {"BTC-PERP": 50_000.0, "ETH-PERP": 3_000.0, "SOL-PERP": 100.0}, T0
    out: list[OracleTick | Fill | VenuePrice] = []
    for n in range(count):
        ts += rng.choice(GAPS)
        market = rng.choice(MARKETS)
        prices[market] *= 1 + rng.choice((0.0005, -0.0005, 0.001, -0.001, 0.03, -0.03, 0.0))
        price = D(f"{prices[market]:.4f}")
        kind = rng.random()
        if kind < 0.75:
            status = "halted" if rng.random() < 0.03 else "trading"
            out.append(OracleTick(id=f"t{n}", ts=ts, market=market, price=price, conf=price / 1000, publish_time=ts,
                                  status=status))
        elif kind < 0.9:
            size = D(rng.choice(("0.5", "2", "40")))
            out.append(Fill(id=f"f{n}", ts=ts, market=market, wallet="w", side=rng.choice(("buy", "sell")), size=size,
                            price=price * D("1.002"), liquidity="taker"))
        else:
            out.append(VenuePrice(id=f"v{n}", ts=ts, venue=rng.choice(("hl", "dydx")), market=market,
                                  price=price * D(rng.choice(("1", "1.01", "0.99")))))
    return out


class Run:
    """Markets and their reorder buffer as the agent drives them, saving into a store whose checkpoints fold into a
    log as the broker would hold it (JSON)."""

    def __init__(self, log: Restored | None = None) -> None:
        self.markets, self.buffer = Markets(MARKETS, LOUD), ReorderBuffer(0, 60_000)
        self.log = log or Restored()
        self.store = MarketsStore(orjson.loads(orjson.dumps(self.log.tables)))
        self.store.load(self.markets, self.buffer)
        self.touched: set[str] = set()

    def release(self, chunk: list[Any]) -> list[MarketState | Signal]:
        """Apply a chunk of events as one release; return the states and signals it causes."""
        self.buffer.push(chunk)
        out: list[MarketState | Signal] = []
        applied = list(self.buffer.drain())
        for event in applied:
            states = self.markets.apply(event)
            self.touched.update({event.market, *(s.market for s in states)})
            out += [*states, *self.markets.take_signals()]
        if applied:
            self.buffer.settle(applied, {}, {})
        return out

    def checkpoint(self) -> int:
        """Save what changed since the last checkpoint, as the agent does, and fold it into the log; return its
        size in bytes."""
        self.store.save(self.markets, self.buffer, sorted(self.touched))
        self.touched = set()
        changes = orjson.dumps({"tables": {name: t.take_changes() for name, t in self.store.tables.items()},
                                "offsets": {}})
        self.log.fold(orjson.loads(changes))
        return len(changes)

    def clocks(self) -> tuple[Any, ...]:
        """Return what the fold and the buffer hold besides each market's rows."""
        buffer = self.buffer
        return (self.markets.to_row(), buffer.to_row(), sorted(buffer.seen), [r.n for r in buffer.applied])


def dumped(outputs: list[MarketState | Signal]) -> list[bytes]:
    return [o.model_dump_json().encode() for o in outputs]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.integers(1, 40), min_size=1, max_size=8), st.integers(1, 6))
def test_markets_rebuilt_at_any_checkpoint_go_on_exactly_like_ones_never_stopped(
        seed: int, sizes: list[int], every: int) -> None:
    chunks, whole = in_releases(events(seed, 600), sizes), Run()
    outs, cuts = cut_run(whole, chunks, every, 3, whole.clocks)
    assert any(o.kind == "volatility_spike" for out in outs for o in out if isinstance(o, Signal))
    for cut, (tables, clocks) in cuts.items():
        again = Run(Restored(tables))
        assert again.clocks() == clocks, f"cut at {cut}"
        later = [again.release(chunk) for chunk in chunks[cut:]]
        assert [dumped(out) for out in later] == [dumped(out) for out in outs[cut:]], f"cut at {cut}"
        for market in MARKETS:
            volatility = again.markets.watches[market].volatility
            assert volatility.__dict__ == whole.markets.watches[market].volatility.__dict__
            twap, kept = again.markets.trackers[market].twap, whole.markets.trackers[market].twap
            assert (twap.times, twap.values) == (kept.times, kept.values)


def test_a_checkpoint_rewrites_the_newest_slices_and_drops_what_the_series_pruned() -> None:
    run = Run()
    stream = [OracleTick(id=f"t{n}", ts=T0 + 400 * n, market="BTC-PERP", price=D(100 + n % 7), conf=D("0.1"),
                         publish_time=T0 + 400 * n) for n in range(3 * 3600 * 5 // 2)]  # 3 hours, 2.5 a second
    sizes = []
    for start in range(0, len(stream), 50):  # a checkpoint every 20 s of ticks
        run.release(stream[start:start + 50])
        sizes.append(run.checkpoint())
    rows = run.log.tables["markets"]
    twap = sorted(int(k.rsplit("@", 1)[1]) for k in rows if k.startswith("BTC-PERP~twap@"))
    recent = [k for k in rows if k.startswith("BTC-PERP~recent@")]
    minutes = sorted(int(k.rsplit("@", 1)[1]) for k in rows if k.startswith("BTC-PERP~minutes@"))
    assert twap == list(range(twap[0], twap[-1] + 1)) and len(twap) <= 300_000 // 10_000 + 2  # 5 minutes' slices
    assert len(recent) <= 60_000 // 10_000 + 2  # a minute's
    assert minutes == [minutes[0], minutes[0] + 1, minutes[0] + 2]  # 3 hours of minutes, an hour a row
    # the applied ids of the last minute only (the lateness window), not the 3 hours'
    assert sum(len(r["ids"]) for r in run.log.tables["applied"].values()) <= 60_000 // 400 + 50
    # each checkpoint holds what changed, a few KB, not the whole state (a day's minutes, 5 minutes of samples)
    assert max(sizes[10:]) < 16_000 and len(orjson.dumps(run.log.tables)) > 3 * max(sizes[10:]), sizes[::20]

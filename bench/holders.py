"""The risk engine at scale: a tick's cost and a funding close's against the number of holders.

Every account holds a position in each of the three default markets. The engine is built directly
(`built_engine`: accounts, board slots and books written as a replay of `seed_events` leaves them), since
folding a million accounts' fills through `RiskEngine.apply` would take longer than the measurement;
`tests/bench/test_holders.py` checks that both give the same engine. Then the engine applies, timed:
- a 1 % move of one market's oracle (alternately up and back), which re-marks its holders and restates
  exactly those it flags (most: the holders' notional in the market is 0.2–3× their collateral), after an untimed
  pair of them (the first converts every holder's columns, once in a worker's life);
- a tick that closes a funded hour at an unchanged price, which settles and publishes every holder;
- a 1 % move arriving as such a close begins: how long after its arrival its outputs are out (the engine applies
  one event at a time, so it waits for the close).
Each beside the bare numpy pass over the ticked market's rows (same run).
"""

import gc
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator

import numpy as np
import orjson

from quantdesk.kafka.publisher import partitions_of
from quantdesk.kafka.records import keyed_batches, partition_batches
from quantdesk.kafka.topics import COMPACTED_TOPICS
from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AccountChange, Fill, OracleTick, account_key
from quantdesk.process import CollectorPaused, tune_collector
from streams.app import PRODUCER_BATCH_BYTES
from streams.domain import to_money
from streams.domain.account_state import AccountState
from streams.domain.accounts import Account
from streams.domain.alerts import Thresholds
from streams.domain.funding import HOUR_MS
from streams.domain.positions import Position
from streams.risk.board import MarketBook, RiskBoard
from streams.risk.checkpoint import CheckpointLog
from streams.risk.engine import RiskEngine
from streams.risk.outputs import by_topic
from streams.risk.reorder import ReorderBuffer
from streams.risk.store import EngineStore

T0 = 1_767_225_600_000  # on the hour
TICKED, DEPOSITED, FILLED = T0 + 1000, T0 + 2000, T0 + 3000
PRICES = {"BTC-PERP": Decimal("50000"), "ETH-PERP": Decimal("3000"), "SOL-PERP": Decimal("100")}
PREMIUM = Decimal("1.0005")  # fills a little over the oracle: the hour funds at a non-zero rate
TEMPLATES = 60  # distinct books; account i holds template i % TEMPLATES (even: long, odd: short)
MOVE = Decimal("0.01")
CRASH = Decimal("0.85")  # the ticked market's fall, as a share of its seed price, before the moves after a crash
MARKET = "BTC-PERP"  # the ticked market
TASK_PARTITION = (0,)  # a risk task's states all go to its own partition


@dataclass(frozen=True)
class Template:
    """One kind of holder: collateral and a signed size per market, filled at `fill_price`."""

    collateral: Decimal
    sizes: dict[str, Decimal]


def template(j: int) -> Template:
    """Return holder kind `j`: 1,000-3,183 USD, notional per market 0.2-3.1× collateral, long when j is even."""
    side, collateral = 1 if j % 2 == 0 else -1, Decimal(1000 + 37 * j)
    leverage = Decimal(2 + (j * 7) % 30) / 10
    return Template(collateral, {m: side * (leverage * collateral / p).quantize(Decimal("0.0001"))
                                 for m, p in PRICES.items()})


def fill_price(market: str) -> Decimal:
    """Return the price every seed fill of `market` takes."""
    return PRICES[market] * PREMIUM


def wallet(i: int) -> str:
    """Return holder `i`'s wallet."""
    return f"holder{i:07d}"


def oracle_tick(market: str, ts: int, price: Decimal) -> OracleTick:
    """Return a valid oracle tick."""
    return OracleTick(id=f"tick:{market}:{ts}", ts=ts, market=market, price=price, conf=price / 10_000,
                      publish_time=ts)


def seed_fill(i: int, market: str) -> Fill:
    """Return holder `i`'s opening fill in `market`."""
    size = template(i % TEMPLATES).sizes[market]
    return Fill(id=f"fill:{wallet(i)}:{market}", ts=FILLED, market=market, wallet=wallet(i),
                side="buy" if size > 0 else "sell", size=abs(size), price=fill_price(market))


def seed_events(holders: int) -> Iterator[Any]:
    """Yield the replay the engine stands after: a tick per market, then each holder's deposit and fills."""
    for market, price in PRICES.items():
        yield oracle_tick(market, TICKED, price)
    for i in range(holders):
        yield AccountChange(id=f"deposit:{wallet(i)}", ts=DEPOSITED, wallet=wallet(i), kind="deposit",
                            amount=template(i % TEMPLATES).collateral)
        yield from (seed_fill(i, market) for market in PRICES)


def new_engine(integers: bool = True) -> RiskEngine:
    """Return an engine over the default markets with MIKEY's rules on, restating quiet holders in integers (as the
    risk worker runs it) or, if not `integers`, every holder in Decimal (the reference)."""
    return RiskEngine(DEFAULT_MARKETS, Thresholds(), integers=integers)


def replayed_engine(holders: int) -> RiskEngine:
    """Return an engine that applied `seed_events` one by one (the reference for `built_engine`)."""
    engine = new_engine()
    for event in seed_events(holders):
        engine.apply(event)
    return engine


def built_engine(holders: int, integers: bool = True) -> RiskEngine:
    """Return the engine `replayed_engine` gives, written directly: the ticks and two fills per market applied,
    then every account, board slot and book row laid down in columns."""
    engine = new_engine(integers)
    for market, price in PRICES.items():
        engine.apply(oracle_tick(market, TICKED, price))
    for market in PRICES:  # the seed fills of a market share one time and price: after the second, the market stays
        for i in range(min(holders, 2)):
            engine.markets[market].on_fill(seed_fill(i, market))
    kinds = [held(j) for j in range(TEMPLATES)]
    kind_of = np.arange(holders) % TEMPLATES
    engine.accounts = {key: replace_wallet(kinds[j], w) for key, w, j in
                       ((account_key(wallet(i), 0), wallet(i), i % TEMPLATES) for i in range(holders))}
    lay_board(engine, kinds, kind_of, holders)
    for market in PRICES:
        lay_book(engine, market, kinds, kind_of, holders)
    engine.applied = len(PRICES) + 4 * holders
    return engine


def held(j: int) -> Account:
    """Return an account of kind `j` as its deposit and fills leave it."""
    fills = {m: seed_fill(j, m) for m in sorted(PRICES)}  # sizes and prices as the fill messages carry them
    positions = {m: Position(m, f.signed_size, f.price) for m, f in fills.items()}
    return Account("", 0, to_money(template(j).collateral), positions, {m: Decimal(0) for m in positions},
                   AccountState.ACTIVE)


def replace_wallet(account: Account, name: str) -> Account:
    """Return `account` under wallet `name` (positions shared: accounts are immutable)."""
    return Account(name, 0, account.collateral, account.positions, account.funding_index, account.state)


def lay_board(engine: RiskEngine, kinds: list[Account], kind_of: np.ndarray, holders: int) -> None:
    """Give every holder its slot and the figures its last fill restated."""
    scratch = RiskBoard(TEMPLATES, lines=engine.board.lines)
    scratch.lay_out(engine.board.markets)
    for j, kind in enumerate(kinds):
        scratch.restate(j, kind.margin(engine._quotes(kind)), 0)
    board = RiskBoard(max(holders, 1), lines=engine.board.lines)
    board.lay_out(engine.board.markets)
    board.keys = [account_key(wallet(i), 0) for i in range(holders)]
    board.index = {key: i for i, key in enumerate(board.keys)}
    board.cash[:holders], board.band[:holders] = scratch.cash[kind_of], scratch.band[kind_of]
    board.liquidatable[:holders], board.shown[:, :holders] = scratch.liquidatable[kind_of], scratch.shown[:, kind_of]
    for name, dense in board.markets.items():
        dense[:, :holders] = scratch.markets[name][:, kind_of]
    board.restated[:holders] = len(PRICES) + 4 * (np.arange(holders) + 1)  # each holder's last fill
    engine.board = board


def lay_book(engine: RiskEngine, market: str, kinds: list[Account], kind_of: np.ndarray, holders: int) -> None:
    """Put every holder's position in `market` on its book, a row per slot, in slot order."""
    risk = engine.markets[market]
    book = MarketBook(max(holders, 1))
    size = np.array([float(k.positions[market].size) for k in kinds])[kind_of]
    book.account[:holders], book.size[:holders] = np.arange(holders), size
    book.entry[:holders] = float(kinds[0].positions[market].entry)
    book.mmr[:holders], book.imr[:holders] = float(risk.params.mmr), float(risk.params.imr)
    book.count, book.row = holders, dict(zip(range(holders), range(holders)))
    book.set_rates(float(risk.params.mmr), float(risk.params.imr))
    risk.book = book


def timed(engine: RiskEngine, tick: OracleTick) -> tuple[float, float, int, int]:
    """Return the wall and CPU seconds `engine.apply(tick)` took as the risk worker applies it (the collector
    paused over it), with the young collection that follows counted in while what it caused is still held; and
    how many states and payments it published (what it caused is let go: a million holders' snapshots are
    gigabytes)."""
    started, cpu = time.perf_counter(), time.process_time()
    with CollectorPaused():
        out = engine.apply(tick)
    gc.collect(0)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall, cpu, len(out.states), len(out.funding_payments)


def bare_seconds(engine: RiskEngine, repeats: int) -> float:
    """Return the median seconds of the bare numpy mark of the ticked market's rows."""
    book, times = engine.markets[MARKET].book, []
    size, entry, rates = book.size[:book.count], book.entry[:book.count], book.rates[:, :book.count]
    for i in range(repeats + 1):
        started = time.perf_counter()
        _ = size * (50_500.0 + i - entry), rates * 50_500.0
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def costs(engine: RiskEngine, ticks: list[OracleTick], warm: int) -> dict[str, Any]:
    """Apply `ticks` in turn, the first `warm` untimed (as a running worker stands: every holder's columns converted
    once); return the median wall and CPU ms of one of the others, and the most states and payments one published."""
    for tick in ticks[:warm]:
        timed(engine, tick)
    runs = [timed(engine, tick) for tick in ticks[warm:]]
    return {"ms": 1e3 * statistics.median(r[0] for r in runs), "cpu_ms": 1e3 * statistics.median(r[1] for r in runs),
            "published": max(r[2] for r in runs), "payments": max(r[3] for r in runs)}


def moves(repeats: int) -> list[OracleTick]:
    """Return `repeats` 1 % moves of the ticked market (up, back, up, …), a second apart within the seed's hour."""
    base = PRICES[MARKET]
    return [oracle_tick(MARKET, FILLED + 1000 * (r + 1), base * (1 + MOVE) if r % 2 == 0 else base)
            for r in range(repeats)]


def closes(repeats: int, price: Decimal) -> list[OracleTick]:
    """Return `repeats` funding closes of the ticked market: each a tick one hour on, at an unchanged `price`."""
    return [oracle_tick(MARKET, T0 + (r + 1) * HOUR_MS + 1000, price) for r in range(repeats)]


def after_crash(ts: int, repeats: int) -> list[OracleTick]:
    """Return a fall of the ticked market to 0.85 of the seed's price a second after `ts` (every holder it takes under
    a health line warned), then `repeats` 1 % moves there (up, back, …), a second apart."""
    low = PRICES[MARKET] * CRASH
    return [oracle_tick(MARKET, ts + 1000, low), *(oracle_tick(MARKET, ts + 1000 * (r + 2), low * (1 + MOVE)
                                                               if r % 2 == 0 else low) for r in range(repeats))]


def during_close(engine: RiskEngine, after: int) -> tuple[float, int]:
    """Return the wall seconds from the start of a funding close (the hour after `after` closes) to the outputs of a
    1 % move that arrived as it began, applied one after the other as the risk worker applies them; and how many
    states the move published."""
    close = closes(after + 1, PRICES[MARKET])[-1]
    move = oracle_tick(MARKET, close.ts + 1, PRICES[MARKET] * (1 + MOVE))
    started = time.perf_counter()
    for tick in (close, move):
        with CollectorPaused():
            out = engine.apply(tick)
        gc.collect(0)
    return time.perf_counter() - started, len(out.states)


def worker_costs(engine: RiskEngine, ticks: list[OracleTick]) -> list[tuple[float, float, float]]:
    """Return what a risk task spends on its own after each of `ticks`: the CPU ms of laying out what it caused as the
    messages it sends (`by_topic`: each topic's record batches of its partition, a compacted topic's one record per
    key), and the CPU ms and MB of the checkpoint it writes after it alone (`QUANTDESK_RISK_CHECKPOINT_S=0`; after a
    first one, untimed, as a running task has written): its tables' rows (`EngineStore.save`) and their records as
    the JSON the log holds. Each key's partition is looked up first, as a running task has looked it up."""
    store, log, buffer = EngineStore.journaled(), CheckpointLog("unused", "checkpoints", 0), ReorderBuffer(0)
    store.save(engine, buffer)
    list(log.records(store.tables, {}))
    partitions_of(list(engine.accounts), TASK_PARTITION)  # each key's partition, known as a running worker knows it
    costs = []
    for tick in ticks:
        with CollectorPaused():
            out = engine.apply(tick)
            cpu = time.process_time()
            for topic, events in by_topic(out):
                batches = keyed_batches if topic in COMPACTED_TOPICS else partition_batches
                batches(events, TASK_PARTITION, PRODUCER_BATCH_BYTES, tick.ts)
            laid_out = time.process_time()
            store.save(engine, buffer)
            written = sum(len(orjson.dumps(record)) for record in log.records(store.tables, {}))
            costs.append((1e3 * (laid_out - cpu), 1e3 * (time.process_time() - laid_out), written / 1e6))
        del out
        gc.collect(0)
    return costs


def holder_costs(sizes: tuple[int, ...], repeats: int, integers: bool = True) -> dict[str, Any]:
    """Return a 1 % move's and a funding close's engine time at each number of holders, beside bare numpy (`integers`
    False: every holder restated in Decimal, the engine's reference)."""
    per_size = []
    for n in sizes:
        tries = repeats if n < 100_000 else 1
        engine = built_engine(n, integers)
        tune_collector()  # as the risk worker runs once up, its state recovered
        move = costs(engine, moves(2 * tries + 2), 2)  # ends at the seed's price, where the closes hold it
        engine.lay_lane()  # as a load of the engine lays them
        close = costs(engine, closes(tries, PRICES[MARKET]), 0)  # the first two pay: the fills' premium decays
        waited, moved = during_close(engine, tries)
        bare = 1e3 * bare_seconds(engine, max(tries, 5))
        back = oracle_tick(MARKET, T0 + (tries + 1) * HOUR_MS + 2000, PRICES[MARKET])  # after the close's move
        [(publish_cpu_ms, checkpoint_cpu_ms, checkpoint_mb)] = worker_costs(engine, [back])
        crash = costs(engine, after_crash(back.ts, 2 * tries + 2), 3)
        warned = sum(1 for gate in engine.gates.values() if gate.past)
        del engine
        [close_worker] = worker_costs(built_engine(n, integers), closes(1, PRICES[MARKET]))  # a close that pays
        per_size.append({"holders": n, "tick_ms": move["ms"], "tick_cpu_ms": move["cpu_ms"],
                         "tick_published": move["published"], "close_ms": close["ms"], "close_cpu_ms": close["cpu_ms"],
                         "close_published": close["published"], "close_payments": close["payments"],
                         "tick_during_close_ms": 1e3 * waited, "tick_during_close_published": moved,
                         "tick_after_crash_ms": crash["ms"], "tick_after_crash_cpu_ms": crash["cpu_ms"],
                         "tick_after_crash_published": crash["published"], "warned": warned,
                         "tick_publish_cpu_ms": publish_cpu_ms, "tick_checkpoint_cpu_ms": checkpoint_cpu_ms,
                         "tick_checkpoint_mb": checkpoint_mb, "close_publish_cpu_ms": close_worker[0],
                         "close_checkpoint_cpu_ms": close_worker[1], "close_checkpoint_mb": close_worker[2],
                         "baseline_ms": bare,
                         "tick_ratio": move["ms"] / bare, "close_ratio": close["ms"] / bare})
    return {"per_size": per_size, "markets": len(PRICES), "repeats": repeats,
            "targets": {"holders": 100_000, "tick_ms": 10.0, "close_ms": 100.0, "tick_during_close_ms": 50.0},
            "what": "RiskEngine.apply of an OracleTick (median wall ms; cpu_ms: this process's CPU time, steadier on a "
                    "shared machine): a 1 % move of BTC-PERP (re-mark, then the exact restatement "
                    "and publication of every holder it flags), and a tick closing a funded hour at an unchanged "
                    "price (every holder settled and published); each holder in three markets; tick_during_close_ms: "
                    "from the start of such a close to the outputs of a 1 % move that arrived as it began; "
                    "tick_after_crash_*: a 1 % move after BTC-PERP fell 15 %, with `warned` holders under a health "
                    "line (or near a liquidation price) whose signal went out; "
                    "tick_publish_cpu_ms: the CPU ms of laying what a 1 % move (back to the seed's price) caused out "
                    "as the messages of every derived topic; tick_checkpoint_*: the CPU ms and MB of a risk task's "
                    "checkpoint written after it, alone since the last; close_publish_cpu_ms and "
                    "close_checkpoint_*: the same after a paying close (of an engine built again: the first close "
                    "pays); each close timed after every holder's columns were laid in the integer lane, as a "
                    "load of the engine lays them",
            "baseline": "numpy size*(price-entry) and |size|*price*rates over the ticked market's rows"}

"""Quiet holders restated in integers publish the bytes, and leave the board, that the Decimal engine does.

Each test runs the same inputs through two engines, one restating quiet holders through the integer lane
(`RiskEngine(integers=True)`, as the worker runs it) and the reference restating every holder in Decimal, and holds
every output message, every account row and the whole board equal, byte for byte and bit for bit."""

import subprocess
import sys
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import orjson

from bench.holders import FILLED, MARKET, PRICES, built_engine, closes, moves, new_engine, oracle_tick
from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AccountChange, AdminCommand, Fill
from quantdesk.wire import Encoded
from streams.domain.account_state import AccountState
from streams.domain.accounts import Account
from streams.domain.account_signals import HEALTH, NEAR, Holder, account_signals
from streams.domain.alerts import AlertGate, Thresholds
from streams.domain.fixed_margin import NO_PRICE
from streams.domain.margin import Margin, PositionRisk
from streams.domain.funding import HOUR_MS
from streams.domain.positions import Position
from streams.risk.engine import RiskEngine
from streams.risk.funding_bytes import WrittenAudit, WrittenLedgerEntry, WrittenPayment
from streams.risk.liquidator import liquidation_fills
from streams.risk.outputs import OUTPUT_LISTS, Outputs
from streams.risk.reorder import ReorderBuffer
from streams.risk.restatement import ARENA_BYTES, Gates, Holdings, IntegerLane, floats, scaled
from streams.risk.store import EngineStore
from tests.streams.risk.events import change, fill, tick
from tests.streams.risk.test_shards import inputs
from tests.streams.risk.test_store import MARKETS, T0

BOARD = ("cash", "band", "liquidatable", "shown", "restated")


def published(out: Outputs) -> list[tuple[str, bytes]]:
    """Return every message an event caused, as the bytes the worker sends (a written one's own)."""
    return [(name, Encoded.of(item).json) for name in OUTPUT_LISTS for item in getattr(out, name)]


def assert_same_engines(lane: RiskEngine, reference: RiskEngine) -> None:
    """Assert two engines hold the same accounts, rows and board (its slots in use)."""
    assert lane.accounts == reference.accounts
    assert [lane.account_row(k) for k in sorted(lane.accounts)] == [reference.account_row(k)
                                                                   for k in sorted(reference.accounts)]
    assert lane.board.keys == reference.board.keys
    used = len(lane.board.keys)  # (a loaded board has room for more)
    for name in BOARD:
        assert np.array_equal(getattr(lane.board, name)[..., :used], getattr(reference.board, name)[..., :used],
                              equal_nan=True), name
    assert list(lane.board.markets) == list(reference.board.markets)
    for market, dense in lane.board.markets.items():
        assert np.array_equal(dense[:, :used], reference.board.markets[market][:, :used]), market


def replay(engines: tuple[RiskEngine, RiskEngine], events: list, fills: bool = True) -> tuple[int, int]:
    """Apply events to both engines, each plan's fills right after it (if `fills`: the liquidator's float is in),
    the first taking the integer lane for any batch however small; assert every event's messages are the same
    bytes; return how many snapshots the lane wrote from integers and how many it made in Decimal."""
    assert engines[0].lane is not None and engines[1].lane is None
    engines[0].lane.smallest = 1
    written = modelled = 0
    queue = list(events)
    while queue:
        event = queue.pop(0)
        lane, reference = (engine.apply(event) for engine in engines)
        assert published(lane) == published(reference), event.id
        one_by_one = len(list(lane.states.singles()))  # in Decimal (their bytes written too), not in a run
        written, modelled = written + len(lane.states) - one_by_one, modelled + one_by_one
        if fills:
            queue[:0] = [Fill.model_validate(f) for plan in lane.liquidations for _, _, f in liquidation_fills(plan, 1)]
    assert_same_engines(*engines)
    return written, modelled


def test_a_simulated_run_with_crashes_liquidations_and_admins_publishes_the_same_bytes_both_ways() -> None:
    written, modelled = replay((RiskEngine(MARKETS), RiskEngine(MARKETS, integers=False)), inputs(900))
    assert written > 50 and modelled > 1000  # both lanes: the quiet holders (few: fills restate most), the rest


def test_a_batch_smaller_than_the_lanes_fixed_cost_goes_the_decimal_way() -> None:
    engine = built_engine(IntegerLane.smallest - 1)
    assert engine.apply(moves(1)[0]).states
    one_by_one = engine.apply(moves(2)[1]).states
    assert len(list(one_by_one.singles())) == len(one_by_one) > 0
    engine = built_engine(2 * IntegerLane.smallest)
    assert not any(engine.apply(moves(1)[0]).states.singles())


def test_a_big_book_through_moves_funding_closes_and_a_change_of_parameters_publishes_the_same_bytes() -> None:
    engines = (built_engine(400), built_engine(400, integers=False))
    change = AdminCommand(id="admin:mmr", ts=T0 + 7_200_000, admin="boss", action="set_market_params",
                          market="BTC-PERP", mmr=D("0.2"), imr=D("0.25"), max_funding_per_hour=D("0.01"),
                          effective_at=T0 + 7_200_500)
    events = [*moves(4), *closes(1, PRICES["BTC-PERP"]), change, oracle_tick("BTC-PERP", T0 + 7_201_000,
                                                                            PRICES["BTC-PERP"] * D("0.7"))]
    written, modelled = replay(engines, events)
    assert written > 1500 and modelled >= 300  # the margin hike and the crash take many holders the Decimal way


PLACES = st.one_of(st.integers(0, 9), st.integers(0, 13))  # mostly on the integers' grid, at times off it


def amount(low: int, high: int) -> st.SearchStrategy[D]:
    """Return decimals in [low, high] of 0 to 13 places: on the integers' grid or off it."""
    return st.builds(lambda n, p: D(n).scaleb(-p), st.integers(low * 10**6, high * 10**6), PLACES).map(
        lambda d: d if d >= D("1e-13") else D("0.001"))


@st.composite
def books(draw: st.DrawFn) -> list:
    """Draw deposits and fills of a few accounts in the three markets, moves of their oracles, maybe a funding close."""
    markets = [m.name for m in DEFAULT_MARKETS]
    base = {m: D(draw(st.sampled_from(("100", "3000", "50000", "0.5")))) for m in markets}
    events: list = [oracle_tick(m, T0 + 1000, base[m]) for m in markets]
    for a in range(draw(st.integers(1, 8))):
        wallet, ts = f"w{a}", T0 + 2000 + 10 * a
        events.append(AccountChange(id=f"d:{wallet}", ts=ts, wallet=wallet, kind="deposit",
                                    amount=draw(amount(10, 100_000))))
        for m in draw(st.lists(st.sampled_from(markets), min_size=1, max_size=3, unique=True)):
            price = base[m] * (1 + D(draw(st.integers(-300, 300))) / 10_000)
            size = (draw(amount(1, 200_000)) / base[m]).quantize(D(1).scaleb(-draw(PLACES)))
            events.append(Fill(id=f"f:{wallet}:{m}", ts=ts + 1, market=m, wallet=wallet,
                               side=draw(st.sampled_from(("buy", "sell"))), size=size or D("0.1"),
                               price=price.quantize(D(1).scaleb(-draw(PLACES))) or base[m]))
    for t in range(draw(st.integers(1, 8))):
        m = draw(st.sampled_from(markets))
        move = D(draw(st.integers(-1500, 1500))) / 10_000
        events.append(oracle_tick(m, T0 + 10_000 + 1000 * t, (base[m] * (1 + move)).quantize(D("1e-6"))))
    if draw(st.booleans()):  # and a funding close: every holder of the market settled, then restated
        m = draw(st.sampled_from(markets))
        events.append(oracle_tick(m, T0 + HOUR_MS + 1000, base[m]))
    return events


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.sampled_from((Thresholds(), None, Thresholds(health_lines=()))))
def test_generated_books_publish_the_same_bytes_both_ways(events: list, thresholds: Thresholds | None) -> None:
    replay((RiskEngine(DEFAULT_MARKETS, thresholds), RiskEngine(DEFAULT_MARKETS, thresholds, integers=False)), events,
           fills=False)


LANE_MARKETS = sorted(m.name for m in DEFAULT_MARKETS)
GAPS = st.one_of(st.integers(-100_000, 100_000), st.integers(60_000, 900_000),  # from the oracle, in 1e-6 of it:
                 st.sampled_from((0, 1, -1, 49_999, 50_000, 50_001, 59_999, 60_000, 60_001)))  # often at a line


@st.composite
def gated_holders(draw: st.DrawFn) -> tuple[AlertGate, int, int, list[tuple[int, int, int] | None]]:
    """Draw a gate (conditions past, cool-downs), an event time, a health in 1e-4 and, per market, a position
    (its sign, its oracle and its liquidation price in 1e-12, NO_PRICE for none) or None."""
    t = Thresholds()
    conditions = [f"{HEALTH}{line}" for line in t.health_lines] + [f"{NEAR}{m}" for m in LANE_MARKETS]
    past = set(draw(st.lists(st.sampled_from(conditions), unique=True)))
    last = draw(st.dictionaries(st.sampled_from(Gates.KINDS), st.tuples(st.integers(0, 600_000), st.integers(0, 2))))
    ts = draw(st.integers(0, 700_000))
    lines = [line * 10_000 for line in (*t.health_lines, *(line + t.health_margin for line in t.health_lines))]
    health = draw(st.one_of(st.integers(0, 1_000_000), st.integers(520_000, 1_000_000), st.sampled_from(lines).flatmap(
        lambda units: st.integers(int(units) - 1, int(units) + 1))))
    positions = []
    for _ in LANE_MARKETS:
        if not draw(st.booleans()):
            positions.append(None)
            continue
        sign, oracle = draw(st.sampled_from((1, -1))), draw(st.integers(10**12, 10**17))
        gap = draw(st.none() | GAPS)
        price = NO_PRICE if gap is None else oracle - sign * oracle * gap // 1_000_000
        positions.append((sign, oracle, price if price >= 0 else NO_PRICE))
    return AlertGate(past, last), ts, health, positions


@settings(max_examples=2_000, deadline=None)
@given(gated_holders())
def test_a_holder_the_lanes_gates_find_quiet_is_one_whose_rules_say_nothing_and_leave_its_gate(
        drawn: tuple[AlertGate, int, int, list[tuple[int, int, int] | None]]) -> None:
    # the lane restates in integers only whom MIKEY's account rules would neither signal for nor change the gate of:
    # a line crossed or regained, a liquidation price come near or gone far, each unless the cool-down holds it back
    gate, ts, health, positions = drawn
    assume(any(positions))  # (one without positions is not the lane's)
    gates = Gates(Thresholds(), LANE_MARKETS)
    gates.mark(3, gate)
    sign, oracle, price = (np.array([[p[i] if p else d for p in positions]], np.int64) for i, d in
                           enumerate((0, 1, NO_PRICE)))
    quiet = gates.quiet(np.array([3]), ts, np.array([health], np.int64), sign, price, oracle[0])[0]
    risks = tuple(PositionRisk(m, D(p[0]), D(0), D(p[1]).scaleb(-12), D(0), D(0), D(0), D(0), D(0), D(0))
                  for m, p in zip(LANE_MARKETS, positions) if p)
    margin = Margin(*[D(0)] * 8, None, D(health).scaleb(-4), {
        m: None if p[2] == NO_PRICE else D(p[2]).scaleb(-12) for m, p in zip(LANE_MARKETS, positions) if p}, risks)
    after = AlertGate(set(gate.past), dict(gate.last))
    said = account_signals(after, Thresholds(), Holder("w", 0), margin, "x", ts)
    if quiet:
        assert said == [] and after.to_row() == gate.to_row()


def test_the_lanes_gates_find_quiet_a_holder_under_a_line_it_is_past_and_one_the_cool_down_holds_back() -> None:
    gates = Gates(Thresholds(), LANE_MARKETS)
    gates.mark(0, AlertGate({"health:50", "liquidation:BTC-PERP"}, {"health_crossed": (1000, 0)}))
    gates.mark(1, AlertGate(set(), {"health_crossed": (1000, 1), "liquidation_near": (1000, 1)}))
    oracle = np.full(3, 100 * 10**12, np.int64)
    price = np.array([[97 * 10**12, NO_PRICE, NO_PRICE], [NO_PRICE, 97 * 10**12, NO_PRICE]], np.int64)
    size = np.ones((2, 3), np.int64)
    # at health 30 both; at 15 the one whose warning the cool-down holds back; at 9 (critical) neither; past the
    # cool-down the one under 50 it is past; at 53 (50 regained by its margin) the one not past it
    for ts, health, quiet in ((2000, 300_000, [True, True]), (2000, 150_000, [False, True]),
                              (2000, 90_000, [False, False]), (400_000, 300_000, [True, False]),
                              (2000, 530_000, [False, True])):
        assert gates.quiet(np.array([0, 1]), ts, np.full(2, health, np.int64), size, price, oracle).tolist() == quiet


def test_a_slots_texts_are_gathered_as_laid_last_however_often_the_arena_is_laid_out_again() -> None:
    # 3,000 slots laid, then re-laid at other sizes over and over, all or some: the arena fills, grows and is laid
    # out again, the blobs replaced dropped
    markets = sorted(m.name for m in DEFAULT_MARKETS)
    held, expected = Holdings(markets), {}
    for round_ in range(10):
        slots = list(range(3_000)) if round_ % 2 == 0 else list(range(round_, 3_000, 7))
        accounts = [Account(f"w{slot}", 0, D("100.000000000"), {
            m: Position(m, D(slot % 97 + round_ + 1), D("10.5")) for m in markets[:1 + (slot + round_) % 3]},
            {m: D(0) for m in markets[:1 + (slot + round_) % 3]}, AccountState.ACTIVE) for slot in slots]
        held.update(slots, accounts)
        for slot, account in zip(slots, accounts):
            expected[slot] = b'w%d:0:state""w%d"' % (slot, slot) + b"".join(
                b'"%d""10.5"' % (slot % 97 + round_ + 1) if m in account.positions else b"" for m in markets)
        every = np.arange(3_000)
        assert held.texts(every).tobytes() == b"".join(expected[slot] for slot in every.tolist())
        assert held.texts(every[::-5], b"head").tobytes() == b"head" + b"".join(expected[s] for s in every[::-5])
        assert len(held.arena) <= 4 * sum(map(len, expected.values())) + ARENA_BYTES  # what is dead is dropped


@pytest.mark.parametrize(("value", "places", "units"), [("0.004", 9, 4_000_000), ("-5E+2", 9, -500 * 10**9),
                                                         ("1.0E-12", 12, 1), ("0E-30", 9, 0)])
def test_figures_on_the_grid_become_units(value: str, places: int, units: int) -> None:
    assert scaled(D(value), places, 10**18) == units


def test_figures_off_the_grid_or_beyond_the_range_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 9 places"):
        scaled(D("1.1E-9"), 9, 10**18)
    assert scaled(D("1E+9"), 9, 10**18) == 10**18
    with pytest.raises(ValueError, match="beyond"):
        scaled(D("1000000000.000000001"), 9, 10**18)


def test_units_become_the_floats_of_their_decimals_beyond_the_exact_range_too() -> None:
    units = np.array([2**53 + 1, -(2**60) - 7, 123_456_789, 0, 9_007_199_254_740_993_123], dtype=np.int64)
    assert floats(units, 9).tolist() == [float(D(int(u)).scaleb(-9)) for u in units]


def test_a_funding_close_writes_its_payments_ledger_and_audit_entries_as_the_reference_models_them() -> None:
    wallets = ['quote"d', "back\\slash", "é\u2028\x01€", "plain"]  # longs and shorts
    events = [*(change(T0, "deposit", "1000", w) for w in wallets), tick(T0 + 1000, "100")]
    events += [fill(T0 + 2000, ("buy", "sell")[i % 2], "10", "110", wallet=w) for i, w in enumerate(wallets)]
    engines = (RiskEngine(DEFAULT_MARKETS), RiskEngine(DEFAULT_MARKETS, integers=False))
    replay(engines, events, fills=False)
    lane, reference = (engine.apply(tick(T0 + HOUR_MS + 1000, "100")) for engine in engines)
    assert published(lane) == published(reference)
    assert [type(m) for m in [*lane.funding_payments, *lane.ledger]] == [WrittenPayment] * 4 + [WrittenLedgerEntry] * 4
    assert [a.subject for a in lane.audit if isinstance(a, WrittenAudit)] == [f"{w}:0" for w in wallets]


def test_a_fill_writes_its_ledger_entries_as_the_reference_models_them() -> None:
    """A fill that realises P&L and pays a fee books two entries, written straight to bytes in the integer engine:
    byte for byte the reference's models, each with the balance it leaves at hand."""
    wallets = ['quote"d', "é\u2028\x01€"]
    events = [*(change(T0, "deposit", "1000", w) for w in wallets), tick(T0 + 1000, "100")]
    events += [fill(T0 + 2000, "buy", "10", "100", wallet=w) for w in wallets]
    events += [tick(T0 + HOUR_MS + 1000, "101")]
    engines = (RiskEngine(DEFAULT_MARKETS), RiskEngine(DEFAULT_MARKETS, integers=False))
    replay(engines, events, fills=False)
    lane, reference = (engine.apply(fill(T0 + HOUR_MS + 2000, "sell", "4", "103", "0.25", wallet=wallets[0]))
                       for engine in engines)
    assert published(lane) == published(reference)
    assert [type(e) for e in lane.ledger] == [WrittenLedgerEntry] * 2
    assert [(e.kind, e.amount, e.balance_after) for e in lane.ledger] == [
        (e.kind, e.amount, e.balance_after) for e in reference.ledger] == [
        ("realised_pnl", D("12.000000000"), D("1012.000000000")), ("fee", D("-0.250000000"), D("1011.750000000"))]


def test_a_short_far_over_collateralised_has_no_liquidation_price_both_ways_and_takes_no_engine_down() -> None:
    events = [oracle_tick("SOL-PERP", T0 + 1000, D(100)),
              AccountChange(id="d:whale", ts=T0 + 2000, wallet="whale", kind="deposit", amount=D("9E+19")),
              Fill(id="f:whale", ts=T0 + 3000, market="SOL-PERP", wallet="whale", side="sell", size=D("1E-9"),
                   price=D(100)),
              oracle_tick("SOL-PERP", T0 + 4000, D(101))]
    engines = (RiskEngine(DEFAULT_MARKETS), RiskEngine(DEFAULT_MARKETS, integers=False))
    replay(engines, events[:2], fills=False)  # the lane takes batches of one from here on
    lane, reference = (engine.apply(events[2]) for engine in engines)  # ~8.6e28 USD: `to_price` used to raise
    assert published(lane) == published(reference)
    assert [p.liquidation_price for s in lane.states for p in s.positions] == [None]
    replay(engines, events[3:], fills=False)


def test_a_holder_beyond_the_integers_range_or_off_their_grid_goes_the_decimal_way_alone() -> None:
    # a whale of 30,000 BTC (1.5e9 USD of notional: past the pass's 1e9 a figure) and two fills at a price under
    # half of 1e-12 (their average entry 0E-12): each sent every holder of a batch the Decimal way, ~10× the cost
    engines = (built_engine(40), built_engine(40, integers=False))
    whale = [change(FILLED + 10, "deposit", "500000000", "whale"),
             fill(FILLED + 11, "buy", "30000", str(PRICES[MARKET]), market=MARKET, wallet="whale"),
             change(FILLED + 12, "deposit", "1000", "dust"),
             fill(FILLED + 13, "buy", "1", "1E-13", market=MARKET, wallet="dust"),
             fill(FILLED + 14, "buy", "1", "1E-13", market=MARKET, wallet="dust")]
    replay(engines, whale, fills=False)
    assert engines[1].accounts["dust:0"].positions[MARKET].entry == 0
    for event, decimal in ((moves(1)[0], ["whale"]), (closes(1, PRICES[MARKET])[0], ["dust", "whale"])):
        lane, reference = (engine.apply(event) for engine in engines)  # the move leaves the dust's equity as it was
        assert published(lane) == published(reference)
        assert sorted(s.wallet for s in lane.states.singles()) == decimal
        assert len(lane.states) > 25
    assert_same_engines(*engines)


def test_a_holder_whose_gate_is_past_a_line_goes_the_integer_way_unless_its_rules_would_move_the_gate() -> None:
    # a gate keeps the stamps of the signals it let through for good, and its conditions past a line while the
    # figures stay past it: holders under a line went the Decimal way on every tick (~50 µs a holder against under
    # 1), which after a crash is much of a book; only a restatement that crosses a line the gate is not past, or
    # regains one it is past, can make a rule signal or move the gate. Halfway the engine is stored and loaded.
    engines = (built_engine(40), built_engine(40, integers=False))
    kinds: set[str] = set()
    for i, factor in enumerate(("0.85", "0.86", "0.80", "0.83", "0.79", "0.795", "1", "1.01")):
        if factor == "0.83":  # the loaded lane reads the gates as they were stored
            store = EngineStore.journaled()
            store.save(engines[0], ReorderBuffer(0))
            loaded = new_engine()
            EngineStore.journaled(orjson.loads(orjson.dumps({n: t.rows for n, t in store.tables.items()}))).load(
                loaded, ReorderBuffer(0))
            engines = (loaded, engines[1])
        gates = {key: gate.to_row() for key, gate in engines[0].gates.items()}
        past = {key for key, gate in engines[0].gates.items() if gate.past}
        lane, reference = (e.apply(oracle_tick(MARKET, FILLED + 1000 * (i + 1), PRICES[MARKET] * D(factor)))
                           for e in engines)
        assert published(lane) == published(reference)
        moved = {key for key, gate in engines[0].gates.items() if gate.to_row() != gates.get(key)}
        assert {f"{s.wallet}:0" for s in lane.states.singles()} == moved  # the Decimal way: exactly these
        assert {f"{s.wallet}:0" for s in lane.signals} <= moved and len(lane.states) >= IntegerLane.smallest
        if factor in ("0.86", "0.795", "1.01"):  # under a line (and near a liquidation price) still, or over all
            assert not moved and (past or factor == "1.01")
        if factor == "0.795":  # a liquidation price newly near, in a market its gate is not past: the cool-down holds
            warned = {key: gate.past for key, gate in engines[0].gates.items()}
            oracle = {name: m.quote().oracle for name, m in engines[1].markets.items()}
            assert any(p.liquidation_price and f"liquidation:{p.market}" not in warned.get(f"{s.wallet}:0", ())
                       and abs(oracle[p.market] - p.liquidation_price) < D("0.05") * oracle[p.market]
                       for s in reference.states for p in s.positions)
        kinds |= {s.kind for s in lane.signals}
    assert kinds == {"health_crossed", "health_recovered", "liquidation_near"}
    assert not any(gate.past for gate in engines[0].gates.values())
    assert_same_engines(*engines)


def test_a_market_not_priced_yet_sends_no_batch_the_decimal_way() -> None:
    wallets = [f"w{i}" for i in range(IntegerLane.smallest)]
    events = [tick(T0, "100"), *(change(T0 + 1, "deposit", "1000", w) for w in wallets),
              *(fill(T0 + 2, "buy", "1", "100", wallet=w) for w in wallets)]  # no ETH or BTC price yet
    engines = (RiskEngine(DEFAULT_MARKETS), RiskEngine(DEFAULT_MARKETS, integers=False))
    replay(engines, events, fills=False)
    lane, reference = (engine.apply(tick(T0 + 1000, "90")) for engine in engines)
    assert published(lane) == published(reference)
    assert len(lane.states) == len(wallets) and not any(lane.states.singles())


COMPILES_NOTHING = """
import sys
from numba.core.registry import CPUDispatcher
from bench.holders import MARKET, PRICES, built_engine, closes, moves

def signatures():
    return {(m, n): len(d.signatures) for m, module in list(sys.modules.items()) if m.split('.')[0] in
            ('quantdesk', 'streams') for n, d in vars(module).items() if isinstance(d, CPUDispatcher)}

engine = built_engine(50)  # its lane warms every compiled pass
warmed = signatures()
for event in (*moves(2), *closes(2, PRICES[MARKET])):
    engine.apply(event)
print(sorted(k for k, count in signatures().items() if count != warmed.get(k, 0)))
"""


def test_a_risk_engine_compiles_every_pass_it_uses_before_its_first_event() -> None:
    # a pass compiled on its first use takes a second or more: a worker's first funding close stalled every tick so
    done = subprocess.run([sys.executable, "-c", COMPILES_NOTHING], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout

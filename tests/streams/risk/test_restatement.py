"""Quiet holders restated in integers publish the bytes, and leave the board, that the Decimal engine does.

Each test runs the same inputs through two engines, one restating quiet holders through the integer lane
(`RiskEngine(integers=True)`, as the worker runs it) and the reference restating every holder in Decimal, and holds
every output message, every account row and the whole board equal, byte for byte and bit for bit."""

import subprocess
import sys
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.holders import FILLED, MARKET, PRICES, built_engine, closes, moves, oracle_tick
from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AccountChange, AdminCommand, Fill
from quantdesk.wire import Encoded
from streams.domain.account_state import AccountState
from streams.domain.accounts import Account
from streams.domain.alerts import Thresholds
from streams.domain.funding import HOUR_MS
from streams.domain.positions import Position
from streams.risk.engine import RiskEngine
from streams.risk.funding_bytes import WrittenAudit, WrittenLedgerEntry, WrittenPayment
from streams.risk.liquidator import liquidation_fills
from streams.risk.outputs import OUTPUT_LISTS, Outputs
from streams.risk.restatement import ARENA_BYTES, Holdings, IntegerLane, floats, scaled
from tests.streams.risk.events import change, fill, tick
from tests.streams.risk.test_shards import inputs
from tests.streams.risk.test_store import MARKETS, T0

BOARD = ("cash", "band", "liquidatable", "shown", "restated")


def published(out: Outputs) -> list[tuple[str, bytes]]:
    """Return every message an event caused, as the bytes the worker sends (a written one's own)."""
    return [(name, Encoded.of(item).json) for name in OUTPUT_LISTS for item in getattr(out, name)]


def assert_same_engines(lane: RiskEngine, reference: RiskEngine) -> None:
    """Assert two engines hold the same accounts, rows and board."""
    assert lane.accounts == reference.accounts
    assert [lane.account_row(k) for k in sorted(lane.accounts)] == [reference.account_row(k)
                                                                   for k in sorted(reference.accounts)]
    for name in BOARD:
        assert np.array_equal(getattr(lane.board, name), getattr(reference.board, name), equal_nan=True), name
    assert list(lane.board.markets) == list(reference.board.markets)
    for market, dense in lane.board.markets.items():
        assert np.array_equal(dense, reference.board.markets[market]), market


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


def test_a_holder_whose_gate_is_past_a_line_goes_the_decimal_way_and_once_regained_the_integer_way_again() -> None:
    # a gate keeps the stamps of the signals it let through for good: a holder that crossed a health line and
    # regained it went the Decimal way on every tick after (~50 µs a holder against under 1), which after a volatile
    # hour is much of a book; only a gate past a line can make a restatement signal
    engines = (built_engine(40), built_engine(40, integers=False))
    crossed: list[str] = []
    for i, (factor, signalled) in enumerate((("0.85", "health_crossed"), ("0.86", None), ("1", "health_recovered"),
                                            ("1.01", None))):
        lane, reference = (e.apply(oracle_tick(MARKET, FILLED + 1000 * (i + 1), PRICES[MARKET] * D(factor)))
                           for e in engines)
        assert published(lane) == published(reference)
        assert sorted({s.kind for s in lane.signals}) == ([signalled] if signalled else [])
        crossed = crossed or sorted(s.wallet for s in lane.signals)
        gates = {k.split(":")[0]: gate for k, gate in engines[0].gates.items()}
        past = [w for w, gate in gates.items() if gate.past]
        assert sorted(gates) == crossed and len(crossed) >= 2
        assert sorted(s.wallet for s in lane.states.singles()) == (crossed if factor != "1.01" else [])
        assert past == ([] if factor in ("1", "1.01") else crossed) and len(lane.states) > 25
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

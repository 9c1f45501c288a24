"""The risk engine without a broker: worked examples for snapshots, re-margining, funding and liquidation."""

from decimal import Decimal as D

import numpy as np
import pytest

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AccountChange, Fill, OracleTick
from streams.risk.venue import LIQUIDATOR, liquidation_fills, liquidator_float
from streams.domain.margin import Margin
from streams.risk.board import MarketBook
from streams.risk.engine import Outputs, ReorderBuffer, RiskEngine, Slots

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on the hour
SOL, BTC = "SOL-PERP", "BTC-PERP"
ALICE = "alice:0"


def tick(ts: int, price: str, market: str = SOL, conf: str = "0.01") -> OracleTick:
    return OracleTick(id=f"tick:{market}:{ts}", ts=ts, market=market, price=D(price), conf=D(conf), publish_time=ts)


def fill(ts: int, side: str, size: str, price: str, fee: str = "0", market: str = SOL, wallet: str = "alice",
         liquidity: str = "taker") -> Fill:
    return Fill(id=f"fill:{wallet}:{market}:{ts}", ts=ts, market=market, wallet=wallet, side=side, size=D(size),
                price=D(price), fee=D(fee), liquidity=liquidity)


def change(ts: int, kind: str, amount: str, wallet: str = "alice") -> AccountChange:
    return AccountChange(id=f"{kind}:{wallet}:{ts}", ts=ts, wallet=wallet, kind=kind, amount=D(amount))


def run(engine: RiskEngine, *events) -> Outputs:
    """Apply events in order; return everything they cause."""
    out = Outputs()
    for event in events:
        out.extend(engine.apply(event))
    return out


def long_80_sol() -> RiskEngine:
    """Return 1000 deposited, SOL at 100, long 80 SOL at 100 paying a 4 fee; the venue's float in."""
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, AccountChange.model_validate(liquidator_float(T0)[2]), change(T0, "deposit", "1000"),
        tick(T0 + 1000, "100"), fill(T0 + 2000, "buy", "80", "100", "4"))
    return engine


def figures(out: Outputs, key: str = ALICE) -> dict:
    """Return the last snapshot of an account as plain data."""
    states = [s for s in out.states if f"{s.wallet}:{s.subaccount}" == key]
    return states[-1].model_dump(mode="json")


def test_a_fill_publishes_the_exact_figures() -> None:
    # collateral 1000 − 4 = 996; notional 8000; MM 5% = 400; IM 10% = 800; free 996 − 800 = 196
    # leverage 8000 / 996 = 8.0321; health 100 × (1 − 400/996) = 59.8393 (floored)
    # liquidation price (0 − 996 + 80 × 100) / (80 − 80 × 5%) = 7004 / 76 = 92.157894736842
    engine = RiskEngine(DEFAULT_MARKETS)
    funded = run(engine, change(T0, "deposit", "1000"), tick(T0 + 1000, "100"))
    assert figures(funded)["state"] == "funded"
    state = figures(run(engine, fill(T0 + 2000, "buy", "80", "100", "4")))
    assert {k: state[k] for k in ("id", "state", "collateral", "equity", "maintenance_margin", "initial_margin",
                                  "free_collateral", "leverage", "health")} == {
        "id": f"fill:alice:{SOL}:{T0 + 2000}:{ALICE}:state", "state": "active", "collateral": "996.000000000",
        "equity": "996.000000000", "maintenance_margin": "400.000000000", "initial_margin": "800.000000000",
        "free_collateral": "196.000000000", "leverage": "8.0321", "health": "59.8393"}
    assert state["positions"] == [{"market": SOL, "size": "80", "entry_price": "100", "upnl": "0E-9",
                                   "liquidation_price": "92.157894736842", "notional": "8000.000000000"}]


def test_a_tick_publishes_holders_that_cross_a_line_or_move_materially() -> None:
    # at 95: equity 996 − 400 = 596, MM 380, health 36.2416: under 50, published
    # at 94.95: equity 592 (−0.67 %), health 35.8446 (−0.40): no line, nothing material: nothing
    # 30 s later at the same price: nothing moved, no snapshot however much time passed
    # at 94.9: equity 588, 1.34 % under the 596 last shown: republished
    engine = long_80_sol()
    crossed = run(engine, tick(T0 + 3000, "95"))
    assert (figures(crossed)["equity"], figures(crossed)["health"]) == ("596.000000000", "36.2416")
    assert run(engine, tick(T0 + 4000, "94.95")).states == []
    assert run(engine, tick(T0 + 34_000, "94.95")).states == []
    assert figures(run(engine, tick(T0 + 35_000, "94.9")))["equity"] == "588.000000000"


@pytest.mark.parametrize("shown_health, shown_equity, material", [
    (74.0, 1024.0, True), (76.0, 1024.0, True), (74.01, 1024.0, False),
    (75.0, 1013.76, True), (75.0, 1035.0, True), (75.0, 1014.0, False), (75.0, 1034.0, False), (75.0, 1024.0, False)])
def test_a_move_is_material_at_a_health_point_or_one_percent_of_equity_either_way(
        shown_health: float, shown_equity: float, material: bool) -> None:
    # equity 1024, MM 256 (1 SOL at 1 with MMR 256, marked at 1): health 100 × (1 − 256/1024) = 75, exactly
    slots, book = Slots(), MarketBook()
    book.add_position(0, 1.0, 1.0, 256.0, 256.0)
    slots.board.set_cash(0, 1024.0)
    slots.shown[:, 0] = shown_health, shown_equity
    assert slots.remark(SOL, book, 1.0) == ({0} if material else set())


def test_health_under_20_is_at_risk_and_audited() -> None:
    # at 93: equity 996 − 560 = 436, MM 372, health 100 × (1 − 372/436) = 14.6788
    engine = long_80_sol()
    out = run(engine, tick(T0 + 3000, "93"))
    assert (figures(out)["state"], figures(out)["health"]) == ("at_risk", "14.6788")
    assert [(a.action, a.data["from"], a.data["to"]) for a in out.audit] == [("state_transition", "active", "at_risk")]


def test_an_account_below_maintenance_gets_a_partial_liquidation_plan() -> None:
    # at 92: equity 996 − 640 = 356 < MM 368
    # q = (368 × 1.02 − 356) / (92 × (5% × 1.02 − 1%)) = 19.36 / 3.772 = 5.1325556733… → 5.132555674
    # fee 1% × 5.132555674 × 92 = 4.72195122008 → 4.721951220, half each 2.360975610
    engine = long_80_sol()
    out = run(engine, tick(T0 + 3000, "92"))
    [plan] = out.liquidations
    assert plan.id == f"tick:{SOL}:{T0 + 3000}:{ALICE}:plan"
    assert [c.model_dump(mode="json") for c in plan.closes] == [{
        "market": SOL, "side": "sell", "size": "5.132555674", "price": "92", "fee": "4.721951220",
        "liquidator_fee": "2.360975610", "insurance_fee": "2.360975610"}]
    assert figures(out)["state"] == "liquidating"
    assert [a.data["to"] for a in out.audit] == ["liquidatable", "liquidating"]


def test_the_plans_fills_end_the_liquidation_and_pay_the_insurance_fund() -> None:
    # realised 5.132555674 × (92 − 100) = −41.060445392; collateral 996 − 41.060445392 − 4.72195122 = 950.217603388
    # left 74.867444326 long: equity 950.217603388 − 598.939554608 = 351.27804878; MM 344.3902439
    # equity ≥ MM × 1.02 = 351.278048778; health 100 × (1 − MM/equity) = 1.9607: at_risk, not liquidatable
    engine = long_80_sol()
    plan = run(engine, tick(T0 + 3000, "92")).liquidations[0]
    out = run(engine, *(Fill.model_validate(f) for _, _, f in liquidation_fills(plan)))
    state = figures(out)
    assert (state["collateral"], state["equity"], state["maintenance_margin"], state["health"], state["state"]) == (
        "950.217603388", "351.278048780", "344.390243900", "1.9607", "at_risk")
    assert D(state["equity"]) >= D(state["maintenance_margin"]) * D("1.02")
    assert figures(out, f"{LIQUIDATOR}:0")["collateral"] == "10000002.360975610"
    assert (engine.insurance_fund, engine.in_flight) == (D("2.360975610"), {})
    assert [a.action for a in out.audit if a.subject == ALICE][:1] == ["liquidation_completed"]
    recovered = figures(run(engine, tick(T0 + 4000, "100")))
    # back at 100: equity 950.217603388, MM 74.867444326 × 100 × 5% = 374.33722163, health 60.6051
    assert (recovered["state"], recovered["health"]) == ("active", "60.6051")


def test_no_plan_while_a_held_market_is_stale_then_one_when_it_ticks_again() -> None:
    # long 80 SOL and 0.001 BTC at 60000, no fees: at SOL 92 equity 1000 − 640 = 360 < MM 368 + 1.8 = 369.8
    # BTC's last valid tick is 61 s older than the newest: stale, so no plan until BTC ticks
    # q = (369.8 × 1.02 − 360) / 3.772 = 17.196 / 3.772 = 4.5588547189… → 4.558854719; fee 4.194146341
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, change(T0, "deposit", "1000"), tick(T0 + 1000, "100"), tick(T0 + 1000, "60000", BTC),
        fill(T0 + 2000, "buy", "80", "100"), fill(T0 + 2000, "buy", "0.001", "60000", market=BTC))
    paused = run(engine, tick(T0 + 62_001, "92"))
    assert (paused.liquidations, figures(paused)["state"]) == ([], "liquidatable")
    resumed = run(engine, tick(T0 + 62_002, "60000", BTC))
    assert [(c.market, c.size, c.fee) for c in resumed.liquidations[0].closes] == [
        (SOL, D("4.558854719"), D("4.194146341"))]
    assert figures(resumed)["state"] == "liquidating"


def test_a_rejected_tick_moves_no_margin() -> None:
    engine = long_80_sol()
    assert run(engine, tick(T0 + 3000, "50", conf="5")) == Outputs()  # conf 10% of price


def test_a_withdrawal_over_free_collateral_is_audited_and_dead_lettered() -> None:
    # free collateral 996 − IM 800 = 196
    engine = long_80_sol()
    out = run(engine, change(T0 + 3000, "withdraw", "196.5"))
    assert out.states == [] and [a.action for a in out.audit] == ["withdraw_refused"]
    [letter] = out.dead_letters
    assert (letter.topic, letter.reason) == (
        "accounts.changes", "alice:0: withdrawal of 196.5 USD exceeds the 196.000000000 USD available")
    assert figures(run(engine, change(T0 + 4000, "withdraw", "196")))["collateral"] == "800.000000000"


def test_a_closed_hour_publishes_the_rate_and_settles_longs_and_shorts() -> None:
    # a trade at 101 against oracle 100 at H−1h: mark 101 for 30 min, then 100 (fill over 60 s old,
    # premium 1% decayed by 2^−6 puts oracle × (1 + p) at 100.015625, the median is 100)
    # mark TWAP 100.5, oracle TWAP 100: rate 0.5 / 100 / 24 = 0.000208333333; index 0.0208333333
    # long 10 pays 10 × 0.0208333333 = 0.208333333, short 10 receives as much
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, change(T0, "deposit", "1000"), change(T0, "deposit", "1000", "bob"), tick(T0, "100"),
        fill(T0, "buy", "10", "101"), fill(T0, "sell", "10", "101", wallet="bob", liquidity="maker"),
        tick(T0 + 1_800_000, "100"))
    out = run(engine, tick(T0 + 3_600_000, "100"))
    [rate] = out.funding_rates
    assert (rate.id, rate.oracle_twap, rate.mark_twap, rate.rate, rate.cumulative_index) == (
        f"funding:{SOL}:{T0 + 3_600_000}", D(100), D("100.5"), D("0.000208333333"), D("0.0208333333"))
    assert [(p.wallet, p.size, p.payment) for p in out.funding_payments] == [
        ("alice", D(10), D("0.208333333")), ("bob", D(-10), D("-0.208333333"))]
    assert figures(out)["collateral"] == "999.791666667"
    assert figures(out, "bob:0")["collateral"] == "1000.208333333"


def test_a_bankrupt_account_is_closed_out_and_its_deficit_covered_then_socialised() -> None:
    # long 10 SOL at 100 on 100; SOL at 89: equity 100 − 110 = −10: close everything without fee
    # the fund's 4 covers part of the 10 deficit, 6 is socialised; the account ends bankrupt at 0
    engine = RiskEngine(DEFAULT_MARKETS)
    engine.insurance_fund = D("4.000000000")
    run(engine, AccountChange.model_validate(liquidator_float(T0)[2]), change(T0, "deposit", "100"),
        tick(T0 + 1000, "100"), fill(T0 + 2000, "buy", "10", "100"))
    plan = run(engine, tick(T0 + 3000, "89")).liquidations[0]
    assert [(c.side, c.size, c.price, c.fee) for c in plan.closes] == [("sell", D(10), D(89), D(0))]
    assert (plan.insurance_draw, plan.socialised_loss) == (D(4), D(6))
    out = run(engine, *(Fill.model_validate(f) for _, _, f in liquidation_fills(plan)))
    [done] = [a for a in out.audit if a.action == "liquidation_completed"]
    assert (done.data["deficit"], done.data["insurance_draw"], done.data["socialised_loss"]) == (
        "10.000000000", "4.000000000", "6.000000000")
    assert (figures(out)["state"], figures(out)["collateral"], engine.insurance_fund) == ("bankrupt", "0E-9", 0)


def test_the_board_keeps_exact_figures_after_a_fill_in_another_market() -> None:
    # closing BTC must take its margin off the board, or the next SOL tick misjudges the account
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, change(T0, "deposit", "1000"), tick(T0 + 1000, "100"), tick(T0 + 1000, "60000", BTC),
        fill(T0 + 2000, "buy", "80", "100"), fill(T0 + 2000, "buy", "0.01", "60000", market=BTC),
        tick(T0 + 3000, "60000", BTC), fill(T0 + 4000, "sell", "0.01", "59000", market=BTC), tick(T0 + 5000, "95"))
    sol = engine.markets[SOL].book
    engine.slots.board.apply(SOL, sol.reprice(95.0))
    exact: Margin = engine.accounts[ALICE].margin({SOL: engine.markets[SOL].quote()})
    alice = engine.slots.board.figures(np.array([engine.slots.index[ALICE]]))
    assert (alice.equity[0], alice.maintenance_margin[0]) == (float(exact.equity), float(exact.maintenance_margin))


def test_slots_grow_keeping_every_column() -> None:
    slots = Slots(capacity=2)
    for key in ("a", "b"):
        slots.slot(key)
    slots.board.set_cash(1, 5.0)
    slots.board.markets[SOL] = np.ones((3, 2))
    slots.shown[:, 1] = 42.0, 1000.0
    assert slots.slot("c") == 2
    assert slots.board.cash.tolist() == [0.0, 5.0, 0.0, 0.0]
    assert slots.board.markets[SOL].tolist() == [[1.0, 1.0, 0.0, 0.0]] * 3
    assert slots.shown[:, 1].tolist() == [42.0, 1000.0] and np.isnan(slots.shown[:, 2]).all()


def test_the_buffer_orders_by_time_then_changes_ticks_fills_and_waits_out_the_grace() -> None:
    buffer = ReorderBuffer(grace_ms=1000)
    late_fill, early_tick = fill(T0 + 500, "buy", "1", "100"), tick(T0 + 100, "100")
    buffer.push([late_fill, early_tick, change(T0 + 500, "deposit", "1")])
    assert list(buffer.due()) == []
    buffer.push([tick(T0 + 500, "100"), tick(T0 + 1500, "101")])
    assert [e.id for e in buffer.due()] == [
        early_tick.id, f"deposit:alice:{T0 + 500}", f"tick:{SOL}:{T0 + 500}", late_fill.id]
    assert [e.id for e in buffer.drain()] == [f"tick:{SOL}:{T0 + 1500}"]


def test_the_buffer_releases_nothing_at_or_above_the_ceiling() -> None:
    buffer = ReorderBuffer(grace_ms=0)
    buffer.push([tick(T0, "100"), tick(T0 + 1, "100")], ceiling=T0)
    assert [e.ts for e in buffer.due()] == [T0]


def test_a_drain_skips_the_grace_but_not_the_ceiling() -> None:
    buffer = ReorderBuffer(grace_ms=1000)
    buffer.push([tick(T0, "100"), tick(T0 + 1, "100"), tick(T0 + 2, "100")])
    assert [e.ts for e in buffer.drain(ceiling=T0 + 1)] == [T0, T0 + 1]
    assert [e.ts for e in buffer.drain()] == [T0 + 2]


def test_the_buffer_drops_an_id_it_has_seen() -> None:
    buffer = ReorderBuffer(grace_ms=0)
    buffer.push([tick(T0, "100")])
    assert len(list(buffer.due())) == 1
    buffer.push([tick(T0, "100")])
    assert list(buffer.due()) == [] and len(buffer) == 0


def test_expected_fills_hold_the_release_until_they_arrive_then_take_their_place() -> None:
    buffer = ReorderBuffer(grace_ms=0)
    buffer.push([tick(T0, "100"), tick(T0 + 2, "100")])
    released = buffer.due()
    assert next(released).ts == T0
    buffer.expect(["venue-fill"])
    assert list(released) == [] and list(buffer.drain()) == []
    buffer.push([Fill(id="venue-fill", ts=T0 + 1, market=SOL, wallet="w", side="buy", size=D(1), price=D(100))])
    assert [e.id for e in buffer.due()] == ["venue-fill", f"tick:{SOL}:{T0 + 2}"]

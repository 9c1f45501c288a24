"""The risk engine without a broker: worked examples for snapshots, re-margining and funding."""

from decimal import Decimal as D

import numpy as np

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AdminCommand
from streams.domain.margin import Margin
from streams.risk.engine import RiskEngine
from streams.risk.outputs import Outputs
from tests.streams.risk import reference_board
from tests.streams.risk.events import ALICE, BTC, SOL, T0, change, figures, fill, long_80_sol, run, tick


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


def test_health_under_20_is_at_risk_and_audited() -> None:
    # at 93: equity 996 − 560 = 436, MM 372, health 100 × (1 − 372/436) = 14.6788
    engine = long_80_sol()
    out = run(engine, tick(T0 + 3000, "93"))
    assert (figures(out)["state"], figures(out)["health"]) == ("at_risk", "14.6788")
    [moved, *raised] = out.audit  # the transition where it is taken, then each signal it raised
    assert (moved.action, moved.data["from"], moved.data["to"]) == ("state_transition", "active", "at_risk")
    assert [(a.action, a.data["signal"]) for a in raised] == [("signal_raised", s.id) for s in out.signals]
    assert moved.causes == [f"tick:SOL-PERP:{T0 + 3000}"] and raised[0].causes == out.signals[0].causes
    assert {a.params for a in out.audit} == {engine.params} and len(moved.digest) == 64
    again = run(long_80_sol(), tick(T0 + 3000, "93")).audit  # the same inputs, the same decisions, to the byte
    assert [a.model_dump() for a in again] == [a.model_dump() for a in out.audit]


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


def test_the_board_keeps_exact_figures_after_a_fill_in_another_market() -> None:
    # closing BTC must take its margin off the board, or the next SOL tick misjudges the account
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, change(T0, "deposit", "1000"), tick(T0 + 1000, "100"), tick(T0 + 1000, "60000", BTC),
        fill(T0 + 2000, "buy", "80", "100"), fill(T0 + 2000, "buy", "0.01", "60000", market=BTC),
        tick(T0 + 3000, "60000", BTC), fill(T0 + 4000, "sell", "0.01", "59000", market=BTC), tick(T0 + 5000, "95"))
    sol = engine.markets[SOL].book
    reference_board.mark(engine.board, SOL, sol.reprice(95.0))
    exact: Margin = engine.accounts[ALICE].margin({SOL: engine.markets[SOL].quote()})
    alice = reference_board.figures(engine.board, np.array([engine.board.index[ALICE]]))
    assert (alice.equity[0], alice.maintenance_margin[0]) == (float(exact.equity), float(exact.maintenance_margin))


def reparametrise(ts: int, effective_at: int, imr: str, mmr: str, cap: str = "0.00125") -> AdminCommand:
    """Return an admin's change of SOL's parameters, taken at `ts`, in force from `effective_at`."""
    return AdminCommand(id=f"admin:set:{ts}", ts=ts, admin="boss", action="set_market_params", market=SOL,
                        reason="volatility", imr=D(imr), mmr=D(mmr), max_funding_per_hour=D(cap),
                        effective_at=effective_at)


def test_a_parameter_change_takes_effect_at_its_time_and_never_before() -> None:
    # from T0 + 10 s: MM 8% of 8000 = 640, IM 20% = 1600; health 100 × (1 − 640/996) = 35.7429 (floored)
    # liquidation price (0 − 996 + 8000) / (80 − 80 × 8%) = 7004 / 73.6 = 95.163043478261 (95.1630434782608…)
    engine = long_80_sol()
    before = engine.params
    scheduled = run(engine, reparametrise(T0 + 3000, T0 + 10_000, "0.2", "0.08"))
    assert [a.action for a in scheduled.audit] == ["market_params_scheduled"] and not scheduled.states
    assert run(engine, tick(T0 + 9999, "100")).states == [] and engine.markets[SOL].params.mmr == D("0.05")
    out = run(engine, tick(T0 + 10_000, "100"))
    [state] = out.states
    assert (state.id, state.ts) == (f"admin:set:{T0 + 3000}:{ALICE}:state", T0 + 10_000)
    assert (state.maintenance_margin, state.initial_margin, state.health) == (D(640), D(1600), D("35.7429"))
    assert state.positions[0].liquidation_price == D("95.163043478261")
    [changed] = [a for a in out.audit if a.action == "market_params_changed"]
    assert (changed.ts, changed.data["from"]["mmr"], changed.data["to"]["mmr"]) == (T0 + 10_000, "0.05", "0.08")
    assert changed.data["previous_version"] == before != engine.params == changed.params
    assert engine.markets[SOL].book.rates[:, 0].tolist() == [80 * 0.08, 80 * 0.2]  # the board re-marks under them


def test_a_change_that_leaves_a_holder_under_maintenance_plans_its_liquidation_then() -> None:
    # MM 13% of 8000 = 1040 > equity 996: liquidatable the moment the change is in force, not before
    engine = long_80_sol()
    assert not run(engine, reparametrise(T0 + 3000, T0 + 10_000, "0.2", "0.13"), tick(T0 + 5000, "100")).liquidations
    out = run(engine, change(T0 + 20_000, "deposit", "1", "bob"))
    [plan] = out.liquidations
    assert plan.ts == T0 + 10_000 and figures(out)["state"] == "liquidating"
    [planned] = [a for a in out.audit if a.action == "liquidation_planned"]
    assert planned.causes == [f"admin:set:{T0 + 3000}"]


def test_a_change_in_force_at_once_restates_holders_with_its_own_command() -> None:
    engine = long_80_sol()
    out = run(engine, reparametrise(T0 + 3000, T0 + 3000, "0.2", "0.08"))
    assert [a.action for a in out.audit][:2] == ["market_params_scheduled", "market_params_changed"]
    assert figures(out)["maintenance_margin"] == "640.000000000"


def test_the_hour_in_progress_closes_under_the_funding_cap_in_force_at_its_close() -> None:
    # the hour of test_a_closed_hour... would pay 0.000208333333; capped at 0.0001 from its middle on
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, change(T0, "deposit", "1000"), change(T0, "deposit", "1000", "bob"), tick(T0, "100"),
        fill(T0, "buy", "10", "101"), fill(T0, "sell", "10", "101", wallet="bob", liquidity="maker"),
        reparametrise(T0 + 1000, T0 + 1_800_000, "0.1", "0.05", cap="0.0001"), tick(T0 + 1_800_000, "100"))
    [rate] = run(engine, tick(T0 + 3_600_000, "100")).funding_rates
    assert (rate.rate, rate.cumulative_index) == (D("0.0001"), D("0.01"))


def test_a_frozen_wallet_deposits_but_withdraws_nothing_until_unfrozen() -> None:
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, change(T0, "deposit", "1000"))

    def admin(ts: int, action: str) -> AdminCommand:
        return AdminCommand(id=f"admin:{action}", ts=ts, admin="boss", action=action, wallet="alice", reason="KYC")
    frozen = run(engine, admin(T0 + 1000, "freeze_account"), change(T0 + 2000, "deposit", "10"),
                 change(T0 + 3000, "withdraw", "5"))
    assert [a.action for a in frozen.audit] == ["withdrawals_frozen", "withdraw_refused"]
    assert [d.reason for d in frozen.dead_letters] == ["alice:0: withdrawals are frozen by an admin: KYC"]
    assert figures(frozen)["collateral"] == "1010.000000000"
    thawed = run(engine, admin(T0 + 4000, "unfreeze_account"), change(T0 + 5000, "withdraw", "5"))
    assert figures(thawed)["collateral"] == "1005.000000000" and not thawed.dead_letters

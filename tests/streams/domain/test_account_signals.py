"""Account rules on exact margin figures: health lines both ways, liquidation price near, plan and completion."""

from decimal import Decimal as D

from hypothesis import given, settings
from quantdesk.messages import LiquidationPlan, PlannedClose
from streams.domain.account_signals import (Holder, account_signals, health_signals, liquidation_completed,
                                            liquidation_planned, near_signals)
from streams.domain.accounts import Account
from streams.domain.alerts import AlertGate, Thresholds
from streams.domain.margin import Exposure, Margin, Quote, assess
from streams.domain.positions import Position
from tests.streams.domain.domain_strategies import accounts, quotes

T = Thresholds()
WALLET = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
HOLDER = Holder(WALLET, 0)
SOL = "SOL-PERP"


def at(price: str, size: str = "80") -> Margin:
    """Return 996 of collateral, long 80 SOL from 100 (MMR 5 %), at `price`: liquidation price 7004/76 = 92.1578…"""
    return assess(D(996), [Exposure(Position(SOL, D(size), D(100)), Quote(D(price), D("0.05"), D("0.10")))])


def walk(prices: list[str], gate: AlertGate | None = None, step: int = 1000) -> list:
    gate = gate if gate is not None else AlertGate()
    return [s for n, p in enumerate(prices) for s in account_signals(gate, T, HOLDER, at(p), f"tick:{n}", n * step)]


def test_health_under_20_names_the_nearest_liquidation_price() -> None:
    [under50, near, under20] = walk(["100", "95", "93"])
    assert (under50.kind, under50.severity, under50.data["line"]) == ("health_crossed", "info", "50")
    assert under20.message == "Health 14.6 on 7xKX…:0, under 20: SOL-PERP liquidation price 92.16 is 0.9 % away"
    assert (under20.id, under20.ts, under20.severity, under20.subject) == (
        f"tick:2:health_crossed:{WALLET}:0:20", 2000, "warning", f"{WALLET}:0")
    assert (under20.wallet, under20.subaccount, under20.market, under20.causes) == (WALLET, 0, SOL, ["tick:2"])
    assert under20.data["health"] == "14.6788" and under20.data["liquidation_price"] == "92.157894736842"
    assert (near.kind, near.severity, near.ts) == ("liquidation_near", "warning", 1000)  # 3.0 % away at 95


def test_a_fall_through_several_lines_at_once_is_one_signal_at_the_lowest() -> None:
    [crossed, _near] = walk(["100", "92.5"])
    assert (crossed.data["line"], crossed.severity) == ("10", "critical")


def test_health_just_above_20_stays_quiet_about_20() -> None:
    assert at("93.39").health > 20
    assert [(s.kind, s.data.get("line")) for s in walk(["100", "93.39"])] == [
        ("health_crossed", "50"), ("liquidation_near", None)]


def test_health_recovered_once_back_above_the_line_by_the_margin() -> None:
    gate = AlertGate()
    walk(["100", "93"], gate)
    # 20.8 is back over 20 but not by the margin 2: quiet
    assert at("93.45").health < 22 and walk(["93.45"], gate) == []
    [back] = walk(["100"], gate)
    assert (back.kind, back.severity, back.message) == ("health_recovered", "info", "Health 59.8 on 7xKX…:0, back above 50")
    assert gate.past == set()


def test_health_wobbling_around_20_is_one_signal() -> None:
    prices = ["100"] + ["93.3", "93.5"] * 100  # health 19.4 / 21.4: around 20, never back by 2
    assert [(s.kind, s.data.get("line")) for s in walk(prices) if s.kind.startswith("health")] == [
        ("health_crossed", "20")]


def test_liquidation_near_fires_under_5_percent_and_not_at_5_1() -> None:
    assert not [s for s in walk(["100", "97.1"]) if s.kind == "liquidation_near"]  # 5.09 % away
    [near] = [s for s in walk(["100", "96.9"]) if s.kind == "liquidation_near"]  # 4.89 % away
    assert near.message == "SOL-PERP liquidation price 92.16 on 7xKX…:0 is 4.9 % away (health 48.1)"
    assert (near.id, near.market, near.data["distance"]) == (f"tick:1:liquidation_near:{WALLET}:0:{SOL}", SOL,
                                                             "0.048938")


def test_liquidation_near_fires_again_only_after_6_percent() -> None:
    gate = AlertGate()
    near = [s.ts for s in walk(["96.9", "97.5", "96.9", "98.1", "96.9"], gate, step=400_000)
            if s.kind == "liquidation_near"]
    assert near == [0, 1_600_000]  # 97.5 is 5.5 % away: not regained; 98.1 is 6.06 %: regained


def test_a_flat_account_clears_its_conditions_silently() -> None:
    gate = AlertGate()
    walk(["100", "93"], gate)
    flat = assess(D(500), [])
    assert account_signals(gate, T, HOLDER, flat, "fill:9", 9000) == [] and gate.past == set()


def test_a_plan_and_its_completion_are_critical_and_warning() -> None:
    plan = LiquidationPlan(id="tick:1:x:0:plan", ts=5, wallet=WALLET, closes=[PlannedClose(
        market=SOL, side="sell", size=D("5.132555674"), price=D(92), fee=D("4.72"), liquidator_fee=D("2.36"),
        insurance_fee=D("2.36"))], equity=D(356), maintenance_margin=D(368))
    made = liquidation_planned(HOLDER, plan, "tick:1", 5)
    assert (made.kind, made.severity, made.market, made.id) == ("liquidation_planned", "critical", SOL,
                                                               f"tick:1:liquidation_planned:{WALLET}:0")
    assert made.message == ("Liquidation planned on 7xKX…:0: equity 356.00 is under maintenance margin 368.00, "
                            "selling 5.132555674 SOL-PERP at 92.00")
    done = liquidation_completed(HOLDER, {"plan": plan.id, "deficit": "12.5", "insurance_draw": "10",
                                          "socialised_loss": "2.5", "insurance_fund": "0"}, SOL, "fill:1", 6)
    assert (done.kind, done.severity, done.causes) == ("liquidation_completed", "warning", ["fill:1"])
    assert done.message == ("Liquidation of 7xKX…:0 completed on SOL-PERP: deficit 12.50, 10.00 drawn from the "
                            "insurance fund, 2.50 socialised")


@settings(max_examples=300, deadline=None)
@given(accounts(), quotes())
def test_a_clear_gate_signals_what_every_rule_signals(account: Account, quoted: dict[str, Quote]) -> None:
    """An account whose gate is past no line skips the rules only when none would fire (`account_signals`'s
    screen): for any figures, it signals and leaves its gate as the health and near rules run in full do."""
    margin = account.margin(quoted)
    screened, full = AlertGate(), AlertGate()
    got = account_signals(screened, T, HOLDER, margin, "fill:1", 1000)
    if margin.positions:
        expected = [*health_signals(full, T, HOLDER, margin, "fill:1", 1000),
                    *near_signals(full, T, HOLDER, margin, "fill:1", 1000)]
    else:
        expected = []
    assert got == expected and screened == full


def test_a_liquidation_price_near_at_health_over_every_line_still_signals() -> None:
    """Long 1 BTC from 100,000 (MMR 3 %) on 6,100: health 50.8, over every line, but the liquidation price
    93,900 / 0.97 = 96,804.12 is 3.2 % away: the near rule fires though no health line is crossed."""
    margin = assess(D(6100), [Exposure(Position("BTC-PERP", D(1), D(100000)), Quote(D(100000), D("0.03"), D("0.05")))])
    [near] = account_signals(AlertGate(), T, HOLDER, margin, "fill:1", 1000)
    assert (near.kind, near.severity, near.data["distance"]) == ("liquidation_near", "warning", "0.031959")

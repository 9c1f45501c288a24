"""MIKEY's rules where the risk engine runs them: on published snapshots, where the liquidator acts, at fills;
their gates stored with the engine's rows, so a rebuilt engine signals exactly what one never stopped does."""

from dataclasses import replace
from decimal import Decimal

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import Fill
from streams.domain.alerts import Thresholds
from streams.risk.engine import RiskEngine
from streams.risk.liquidator import liquidation_fills
from streams.risk.outputs import Outputs
from tests.streams.risk.events import ALICE, SOL, T0, change, fill, long_80_sol, owners_of, run, tick
from tests.streams.risk.test_store import Worker, inputs, releases


def kinds(out: Outputs) -> list[tuple[str, str]]:
    return [(s.kind, s.subject) for s in out.signals]


def test_a_crash_raises_health_lines_a_near_liquidation_a_plan_and_its_completion() -> None:
    engine = long_80_sol()
    out = run(engine, tick(T0 + 3000, "95"), tick(T0 + 4000, "93"), tick(T0 + 5000, "92"))
    assert [(s.kind, s.data.get("line"), s.ts - T0) for s in out.signals] == [
        ("health_crossed", "50", 3000), ("liquidation_near", None, 3000), ("health_crossed", "20", 4000),
        ("health_crossed", "10", 5000), ("liquidation_planned", None, 5000)]
    plan = out.liquidations[0]
    assert out.signals[-1].id == f"tick:{SOL}:{T0 + 5000}:liquidation_planned:{ALICE}"
    assert out.signals[-1].data["plan"] == plan.id
    done = run(engine, *(Fill.model_validate(f) for _, _, f in liquidation_fills(plan, 1)))
    assert [s.kind for s in done.signals] == ["liquidation_completed"]
    assert done.signals[0].message == "Liquidation of alice:0 completed on SOL-PERP"
    back = run(engine, tick(T0 + 6000, "100"))
    assert [(s.kind, s.data.get("line")) for s in back.signals] == [("health_recovered", "50")]


def test_an_engine_without_thresholds_raises_nothing() -> None:
    engine = RiskEngine(DEFAULT_MARKETS, None)
    out = run(engine, change(T0, "deposit", "1000"), tick(T0 + 1000, "100"), fill(T0 + 2000, "buy", "80", "100", "4"),
              tick(T0 + 3000, "92"))
    assert out.liquidations and out.signals == []


def test_holders_leaning_one_way_raise_a_skew_once() -> None:
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, tick(T0, "100"))
    out = Outputs()
    for n, wallet in enumerate(["a", "b", "c", "d", "e", "f"]):
        out.extend(run(engine, change(T0 + n, "deposit", "1000", wallet),
                       fill(T0 + 100 + n, "buy" if wallet != "a" else "sell", "1", "100", wallet=wallet)))
    # a short, then four longs: 4 of 5 holders (80 %) at the fifth; the sixth changes nothing
    assert [(s.kind, s.data["longs"], s.data["shorts"]) for s in out.signals] == [("open_interest_skew", 4, 1)]
    held = owners_of(engine).open_interest.markets[SOL]
    assert (held.longs, held.shorts) == (5, 1)


def test_a_rebuilt_engine_raises_the_same_signals_as_the_one_never_stopped() -> None:
    chunks = releases(inputs(900))
    whole = Worker()
    outs, saved = [], {}
    for n, chunk in enumerate(chunks):
        outs.append(whole.release(chunk))
        if outs[-1].signals:
            saved[n + 1] = (whole.stored(), whole.unapplied())
    every = [s for out in outs for s in out.signals]
    assert {"health_crossed", "liquidation_planned", "liquidation_completed"} <= {s.kind for s in every}
    assert len(saved) >= 3
    for cut, (tables, unapplied) in saved.items():
        again = Worker(tables, unapplied)
        after = [s.model_dump_json() for chunk in chunks[cut:] for s in again.release(chunk).signals]
        assert after == [s.model_dump_json() for out in outs[cut:] for s in out.signals], f"cut at {cut}"


def test_a_configured_health_line_is_watched_on_the_board_and_fires_at_the_tick_that_crosses_it() -> None:
    # a small move (health 99.01 → 98.99, equity +0.4 %) republishes nobody unless the board watches line 99
    engine = RiskEngine(DEFAULT_MARKETS, replace(Thresholds(), health_lines=(Decimal(99),)))
    run(engine, tick(T0, "99"), change(T0, "deposit", "10000"), fill(T0 + 1000, "buy", "20", "99"))
    out = run(engine, tick(T0 + 2000, "101"))
    assert [(s.kind, s.data.get("line"), s.ts) for s in out.signals] == [("health_crossed", "99", T0 + 2000)]

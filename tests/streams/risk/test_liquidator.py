"""Liquidation through the engine: plans proposed, held while an oracle is stale, carried out by the venue's
fills, the insurance fund paid and drawn; held while an admin pauses the market."""

from decimal import Decimal as D

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import ID_CHARS, AccountChange, AdminCommand, Fill, OracleTick
from streams.risk.engine import RiskEngine
from streams.risk.insurance import INSURANCE_FUND, InsuranceFund
from streams.risk.liquidator import LIQUIDATOR, liquidation_fills, liquidator_float
from tests.streams.risk.events import ALICE, BTC, SOL, T0, change, figures, fill, owners_of, long_80_sol, run, tick


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
    assert [a.data["to"] for a in out.audit if a.action == "state_transition"] == ["liquidatable", "liquidating"]
    [planned] = [a for a in out.audit if a.action == "liquidation_planned"]  # the plan, a decision on the trail
    assert (planned.subject, planned.data, planned.causes) == (ALICE, {"plan": plan.id, "closes": 1},
                                                               [f"tick:{SOL}:{T0 + 3000}"])


def test_the_plans_fills_end_the_liquidation_and_pay_the_insurance_fund() -> None:
    # realised 5.132555674 × (92 − 100) = −41.060445392; collateral 996 − 41.060445392 − 4.72195122 = 950.217603388
    # left 74.867444326 long: equity 950.217603388 − 598.939554608 = 351.27804878; MM 344.3902439
    # equity ≥ MM × 1.02 = 351.278048778; health 100 × (1 − MM/equity) = 1.9607: at_risk, not liquidatable
    engine = long_80_sol()
    plan = run(engine, tick(T0 + 3000, "92")).liquidations[0]
    out = run(engine, *(Fill.model_validate(f) for _, _, f in liquidation_fills(plan, 1)))
    state = figures(out)
    assert (state["collateral"], state["equity"], state["maintenance_margin"], state["health"], state["state"]) == (
        "950.217603388", "351.278048780", "344.390243900", "1.9607", "at_risk")
    assert D(state["equity"]) >= D(state["maintenance_margin"]) * D("1.02")
    assert figures(out, f"{LIQUIDATOR}:0")["collateral"] == "10000002.360975610"
    assert (owners_of(engine).fund.balance, engine.liquidator.in_flight) == (D("2.360975610"), {})
    assert [a.action for a in out.audit if a.subject == ALICE].count("liquidation_completed") == 1
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


def test_a_bankrupt_account_is_closed_out_and_its_deficit_covered_then_socialised() -> None:
    # long 10 SOL at 100 on 100; SOL at 89: equity 100 − 110 = −10: close everything without fee
    # the fund's 4 covers part of the 10 deficit, 6 is socialised; the account ends bankrupt at 0
    engine = RiskEngine(DEFAULT_MARKETS)
    owners_of(engine).fund.balance = D("4.000000000")
    run(engine, AccountChange.model_validate(liquidator_float(T0)[2]), change(T0, "deposit", "100"),
        tick(T0 + 1000, "100"), fill(T0 + 2000, "buy", "10", "100"))
    plan = run(engine, tick(T0 + 3000, "89")).liquidations[0]
    assert [(c.side, c.size, c.price, c.fee) for c in plan.closes] == [("sell", D(10), D(89), D(0))]
    assert plan.deficit == D(10)  # the plan expects it; the fund decides the split at completion
    out = run(engine, *(Fill.model_validate(f) for _, _, f in liquidation_fills(plan, 1)))
    [done] = [a for a in out.audit if a.action == "liquidation_completed"]
    assert (done.data["deficit"], done.data["insurance_draw"], done.data["socialised_loss"]) == (
        "10.000000000", "4.000000000", "6.000000000")
    assert (figures(out)["state"], figures(out)["collateral"], owners_of(engine).fund.balance) == ("bankrupt", "0E-9", 0)
    fund = [(a.action, a.data["amount"], a.data["insurance_fund"]) for a in out.audit if a.subject == INSURANCE_FUND]
    assert fund == [("insurance_credited", "0E-9", "4.000000000"), ("insurance_drawn", "-4.000000000", "0E-9")]
    assert D(done.data["deficit"]) == plan.deficit  # filled at the plan's prices: the deficit it expected


def test_the_engine_plans_and_books_the_same_whatever_the_fund_holds() -> None:
    # at 89 alice's liquidation pays into the fund and bob's close-out (equity −120) draws on it: how much the fund
    # holds changes what the fund puts out, never what the engine does (plans, snapshots, ledger, audit, signals,
    # the outcomes it hands the fund)
    def engine_outputs(balance: str) -> tuple[list[bytes], list[str]]:
        engine, fund = long_80_sol(), InsuranceFund()
        fund.balance = D(balance)
        events = [change(T0, "deposit", "100", "bob"), fill(T0 + 2000, "buy", "20", "100", wallet="bob"),
                  tick(T0 + 3000, "89")]
        said, draws = [], []
        while events:
            caused = engine.apply(events.pop(0))
            said += [m.model_dump_json().encode() for name in vars(caused) for m in getattr(caused, name)]
            events += [Fill.model_validate(f) for plan in caused.liquidations for _, _, f in liquidation_fills(plan, 1)]
            draws += [a.data["insurance_draw"] for a in fund.after(caused).audit if a.action == "liquidation_completed"]
        return said, draws

    (poor, poor_draws), (rich, rich_draws) = engine_outputs("0"), engine_outputs("1000000")
    assert poor == rich and len(poor) > 20
    # alice's partial liquidation leaves no deficit; bob's 120: the empty fund covers what alice's fee paid into it
    assert (poor_draws, rich_draws) == (["0E-9", "30.136585366"], ["0E-9", "120.000000000"])


def test_a_paused_market_holds_its_liquidations_until_resumed_then_plans_at_its_next_tick() -> None:
    engine = long_80_sol()
    paused = run(engine, AdminCommand(id="admin:pause", ts=T0 + 2500, admin="boss", action="pause_market",
                                      market=SOL, reason="oracle under review"))
    assert [(a.action, a.subject, a.causes) for a in paused.audit] == [("liquidations_paused", SOL, ["admin:pause"])]
    held = run(engine, tick(T0 + 3000, "92"))  # liquidatable, as in the test above, but paused: no plan
    assert held.liquidations == [] and figures(held)["state"] == "liquidatable"
    assert run(engine, AdminCommand(id="admin:resume", ts=T0 + 3500, admin="boss", action="resume_market",
                                    market=SOL)).audit[0].action == "liquidations_resumed"
    [plan] = run(engine, tick(T0 + 4000, "92")).liquidations  # the first tick after: the plan it waited for
    assert plan.id == f"tick:{SOL}:{T0 + 4000}:{ALICE}:plan"
    frozen = run(engine, AdminCommand(id="admin:freeze", ts=T0 + 4500, admin="boss", action="freeze_account",
                                      wallet="alice", reason="KYC"))
    assert [(a.action, a.subject) for a in frozen.audit] == [("withdrawals_frozen", "alice")]
    assert not frozen.states and not frozen.liquidations  # its tickets are the gateway's to refuse


def test_a_plan_made_after_an_event_of_a_long_id_is_carried_out_through_the_input_boundary() -> None:
    # the tick's id is as long as the input allows, so the plan's is longer: its fills' ids, `<plan>:<n>:<side>`,
    # would pass the bound the fills go back through; refused there, they left the plan in flight for ever
    engine = long_80_sol()
    cause = OracleTick(id="t" * ID_CHARS, ts=T0 + 3000, market=SOL, price=D(92), conf=D("0.01"),
                       publish_time=T0 + 3000)
    plan = run(engine, cause).liquidations[0]
    fills = [Fill.model_validate(f) for _, _, f in liquidation_fills(plan, 1)]
    assert len({f.id for f in fills}) == 2 and all(f.model_extra["liquidation"] == plan.id for f in fills)
    run(engine, *fills)
    assert engine.liquidator.in_flight == {}


def test_the_liquidator_taking_a_loss_past_its_float_is_never_planned_against_itself() -> None:
    # alice's long of 1e19 SOL at 1e19 is liquidated at 100; the liquidator, on the other side at 1e19, is then
    # liquidatable itself: a plan would be filled by the liquidator, against itself, and plan again for ever
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, tick(T0, "100"), change(T0 + 1, "deposit", "1000"))
    queue, plans = [fill(T0 + 2, "buy", "1e19", "1e19")], []
    while queue and len(plans) < 10:
        out = engine.apply(queue.pop(0))
        plans += out.liquidations
        queue += [Fill.model_validate(f) for plan in out.liquidations for _, _, f in liquidation_fills(plan, 1)]
    assert [p.wallet for p in plans] == ["alice"] and not queue
    assert figures(out, f"{LIQUIDATOR}:0")["state"] == "liquidatable"


def test_a_plan_no_fill_could_carry_is_refused_and_audited_once_then_made_once_one_can() -> None:
    # two buys of 9e19 SOL, each within the input's bound, hold 1.8e20: a close of it could go through no fill (the
    # input refuses a size of 1e20), so a plan of it would stay in flight for ever
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, AccountChange.model_validate(liquidator_float(T0)[2]), tick(T0, "1"),
        change(T0 + 1, "deposit", "9e19"), fill(T0 + 2, "buy", "9e19", "1"), fill(T0 + 3, "buy", "9e19", "1"))
    crash = run(engine, tick(T0 + 1000, "0.5"))
    assert not crash.liquidations and figures(crash)["state"] == "liquidatable"
    refused, = [a for a in crash.audit if a.action == "liquidation_refused"]
    assert refused.subject == ALICE and "size 180000000000000000000" in refused.data["reason"]
    again = run(engine, tick(T0 + 2000, "0.49", conf="0.0001"))  # tried again at the tick: refused, not audited again
    assert not again.liquidations and not [a for a in again.audit if a.action == "liquidation_refused"]
    assert figures(again)["state"] == "liquidatable"
    sold = run(engine, fill(T0 + 3000, "sell", "9e19", "0.49"))  # alice sells half herself: the rest fits a fill
    plan, = sold.liquidations
    fills = [Fill.model_validate(f) for _, _, f in liquidation_fills(plan, 1)]  # the boundary takes each
    run(engine, *fills)
    assert engine.liquidator.in_flight == {} and engine.liquidator.unfilled == set()
    assert ALICE not in engine.accounts or not engine.accounts[ALICE].positions

"""The insurance fund's one owner: liquidation outcomes in event order move it, and nothing else does."""

from decimal import Decimal as D

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from quantdesk.messages import Fill, InsuranceCredit, LiquidationCompletion, LiquidationOutcome
from streams.risk.insurance import INSURANCE_FUND, InsuranceFund
from streams.risk.outputs import Outputs
from tests.streams.domain.domain_strategies import decimals
from tests.streams.risk.events import SOL, T0

WALLETS = ("alice", "bob")
OUTCOME: TypeAdapter[LiquidationOutcome] = TypeAdapter(LiquidationOutcome)  # as a reader of their topic decodes them


def closing_fill(n: int, ts: int, wallet: str) -> Fill:
    """Return the liquidated account's side of plan `n`'s one close."""
    return Fill.model_validate({"id": f"plan:{n}:0:sell", "ts": ts, "market": SOL, "wallet": wallet, "side": "sell",
                                "size": "1", "price": "90", "fee": "0", "liquidation": f"plan:{n}"})


def credit(n: int, ts: int, amount: D, wallet: str = "alice") -> InsuranceCredit:
    fill = closing_fill(n, ts, wallet)
    return InsuranceCredit(id=f"{fill.id}:insurance_credit", ts=ts, plan=f"plan:{n}", fill=fill, amount=amount,
                           params="v1")


def completion(n: int, ts: int, deficit: D, wallet: str = "alice", line: int = 1) -> LiquidationCompletion:
    fill = closing_fill(n, ts, wallet)
    return LiquidationCompletion(id=f"{fill.id}:liquidation_completion", ts=ts, plan=f"plan:{n}", fill=fill,
                                 deficit=deficit, balance=-deficit, line=line, params="v1")


# a close's insurance fee (a rebate can make it negative) or a completion's deficit, each a step of event time
steps = st.lists(st.tuples(st.sampled_from(("credit", "completion")), st.sampled_from(WALLETS),
                           st.one_of(decimals("0", "50", 9), decimals("-1", "0", 9)), st.integers(0, 3)),
                 min_size=1, max_size=40)


def outcomes(drawn: list[tuple]) -> list[LiquidationOutcome]:
    """Return the drawn steps as outcomes in event order (a later step at the same or a later time)."""
    out: list[LiquidationOutcome] = []
    ts = T0
    for n, (kind, wallet, amount, later) in enumerate(drawn):
        ts += later * 1000
        out.append(credit(n, ts, amount, wallet) if kind == "credit" else completion(n, ts, abs(amount), wallet))
    return out


def dumped(out: Outputs) -> list[bytes]:
    """Return every output message as JSON, in order."""
    return [item.model_dump_json().encode() for name in vars(out) for item in getattr(out, name)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_a_draw_covers_what_the_fund_holds_and_socialises_the_rest(drawn: list[tuple]) -> None:
    fund, credited, covered = InsuranceFund(), D(0), D(0)
    for outcome in outcomes(drawn):
        before = fund.balance
        out = fund.apply(outcome)
        if isinstance(outcome, InsuranceCredit):
            credited += outcome.amount
            assert [(a.action, a.subject, a.data["insurance_fund"]) for a in out.audit] == [
                ("insurance_credited", INSURANCE_FUND, str(fund.balance))]
            assert fund.balance == before + outcome.amount and not out.ledger and not out.signals
            continue
        [done] = [a for a in out.audit if a.action == "liquidation_completed"]
        draw, loss = D(done.data["insurance_draw"]), D(done.data["socialised_loss"])
        assert draw + loss == outcome.deficit and draw >= 0 and loss >= 0
        assert draw == min(outcome.deficit, max(before, D(0)))  # all it holds, never more than the deficit
        assert fund.balance == before - draw and (fund.balance >= 0 or draw == 0)  # a draw never takes it below 0
        covered += draw
        # the cover is booked after the fill's own entries (numbered on from them), from the balance they left to 0
        lines = [(kind, amount) for kind, amount in (("insurance_draw", draw), ("socialised_loss", loss)) if amount]
        assert [(e.kind, e.amount) for e in out.ledger] == lines
        assert [e.id for e in out.ledger] == [f"{outcome.fill.id}:{outcome.fill.account}:{n}:{kind}"
                                              for n, (kind, _) in enumerate(lines, outcome.line)]
        assert [e.balance_after for e in out.ledger][-1:] == ([outcome.balance + outcome.deficit] if lines else [])
        assert [s.data for s in out.signals] == [{k: done.data[k] for k in ("plan", "deficit", "insurance_draw",
                                                                           "socialised_loss")}]
        assert [a.action for a in out.audit] == ["liquidation_completed", *(["insurance_drawn"] if draw else []),
                                                 "signal_raised"]
        assert {a.params for a in out.audit} == {"v1"}
    assert fund.balance == credited - covered
    assert fund.socialised == sum((o.deficit for o in outcomes(drawn) if isinstance(o, LiquidationCompletion)),
                                  D(0)) - covered


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.data())
def test_a_fund_rebuilt_from_its_row_at_any_point_goes_on_with_the_same_outputs(drawn: list[tuple],
                                                                                  data: st.DataObject) -> None:
    records = outcomes(drawn)
    cut = data.draw(st.integers(0, len(records)))
    whole = InsuranceFund()
    whole.apply_all(records[:cut])
    again = InsuranceFund()
    again.load_row(orjson.loads(orjson.dumps(whole.to_row())))
    assert dumped(again.apply_all(records[cut:])) == dumped(whole.apply_all(records[cut:]))
    assert again.to_row() == whole.to_row()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_outcomes_carried_as_json_give_the_same_outputs(drawn: list[tuple]) -> None:
    # ready to travel on a topic: an outcome read back from its JSON moves the fund exactly as the original
    records = outcomes(drawn)
    travelled = [OUTCOME.validate_json(r.model_dump_json()) for r in records]
    assert [type(r) for r in travelled] == [type(r) for r in records]
    assert dumped(InsuranceFund().apply_all(travelled)) == dumped(InsuranceFund().apply_all(records))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.data())
def test_outcomes_applied_in_batches_or_one_by_one_give_the_same_outputs(drawn: list[tuple],
                                                                       data: st.DataObject) -> None:
    records = outcomes(drawn)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=5)))
    batched, fund = Outputs(), InsuranceFund()
    for start, end in zip([0, *cuts], [*cuts, len(records)]):
        batched.extend(fund.apply_all(records[start:end]))
    one_by_one, fund = Outputs(), InsuranceFund()
    for record in records:
        one_by_one.extend(fund.apply(record))
    assert dumped(batched) == dumped(one_by_one)


def test_a_credit_covers_a_completion_after_it_in_event_time_never_one_before() -> None:
    later, earlier = InsuranceFund(), InsuranceFund()
    after = later.apply_all([completion(0, T0, D("10.000000000")), credit(1, T0 + 1000, D("4.000000000"))])
    before = earlier.apply_all([credit(1, T0 - 1000, D("4.000000000")), completion(0, T0, D("10.000000000"))])
    outcome = {"plan": "plan:0", "deficit": "10.000000000"}
    assert [a.data for a in after.audit if a.action == "liquidation_completed"] == [
        {**outcome, "insurance_draw": "0E-9", "socialised_loss": "10.000000000", "insurance_fund": "0E-9"}]
    assert [a.data for a in before.audit if a.action == "liquidation_completed"] == [
        {**outcome, "insurance_draw": "4.000000000", "socialised_loss": "6.000000000", "insurance_fund": "0E-9"}]
    assert (later.balance, later.socialised, earlier.balance, earlier.socialised) == (D(4), D(10), D(0), D(6))


def test_a_fund_without_signals_still_audits_and_books_the_cover() -> None:
    quiet = InsuranceFund(signals=False).apply_all([credit(0, T0, D("4")), completion(1, T0 + 1, D("10"))])
    assert not quiet.signals and [e.kind for e in quiet.ledger] == ["insurance_draw", "socialised_loss"]
    assert [a.action for a in quiet.audit] == ["insurance_credited", "liquidation_completed", "insurance_drawn"]


def test_the_fund_moves_exactly_at_any_digits() -> None:
    # in the default context's 28 digits a fee of 1e-9 onto a fund of 1e19 was lost, and a draw's socialised rest
    fund = InsuranceFund()
    fund.apply_all([credit(0, T0, D("1e19")), credit(1, T0 + 1, D("0.000000001"))])
    assert fund.balance == D("10000000000000000000.000000001")
    fund.apply(completion(2, T0 + 2, D("10000000000000000000.000000003")))
    assert fund.balance == 0 and fund.socialised == D("0.000000002")

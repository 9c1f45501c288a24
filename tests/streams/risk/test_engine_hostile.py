"""Any input the boundary accepts takes no risk engine down: extreme amounts, prices and sizes within the input's
bounds, fees of either sign, odd names, admins' commands, in the order the reorder buffer applies them, with the
owners (open interest, insurance fund) fed what each event leaves them. A raise inside `apply` kills the risk worker
on that event at every start, so each is a bug; the integer lane and the Decimal reference publish the same bytes
throughout."""

from decimal import Decimal as D
from decimal import localcontext
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AccountChange, AdminCommand, Fill, LiquidationPlan, OracleTick
from streams.domain.alerts import Thresholds
from streams.risk.engine import RiskEngine
from streams.risk.liquidator import liquidation_fills
from streams.risk.owners import Owners
from streams.risk.reorder import order_key
from tests.streams.risk.test_restatement import published

T0 = 1_767_225_600_000
MARKETS = [m.name for m in DEFAULT_MARKETS]
WALLETS = ("alice", "bob", 'q"uote\\', "é€😀\u2028")
MAGNITUDES = st.sampled_from(("1e-18", "1e-9", "0.5", "1", "100", "65000.123456789", "1e9", "1e15", "9e19",
                              "99999999999999999999.999999999999999999"))


@st.composite
def amounts(draw: st.DrawFn, positive: bool = True) -> str:
    """Draw an amount anywhere in the input's range (below 1e20, up to 18 places), often at an edge."""
    with localcontext(prec=60):  # 38 digits: more than the default context holds
        value = D(draw(MAGNITUDES)) * (1 + D(draw(st.integers(0, 999))) / 1000)
        value = min(value, D("99999999999999999999.999999999999999999")).quantize(D("1e-18")).normalize()
        return str(value if positive or draw(st.booleans()) else -value)


@st.composite
def events(draw: st.DrawFn) -> list[Any]:
    """Draw up to 30 inputs the boundary accepts over two hours and a little more, in apply order."""
    out: list[Any] = []
    for n in range(draw(st.integers(1, 30))):
        ts = T0 + draw(st.integers(0, 2 * 3_600_000 + 5000))
        kind = draw(st.sampled_from(("tick", "fill", "change", "admin")))
        fields: dict[str, Any] = {"id": f"e{n}", "ts": ts}
        if kind == "tick":
            fields |= {"market": draw(st.sampled_from(MARKETS)), "price": draw(amounts()), "conf": draw(amounts()),
                       "publish_time": ts - draw(st.integers(0, 10_000))}
        elif kind == "fill":
            fields |= {"market": draw(st.sampled_from(MARKETS)), "wallet": draw(st.sampled_from(WALLETS)),
                       "subaccount": draw(st.sampled_from((0, 1, 2**32 - 1))),
                       "side": draw(st.sampled_from(("buy", "sell"))),
                       "size": draw(amounts()), "price": draw(amounts()), "fee": draw(amounts(positive=False)),
                       **({"liquidation": True} if draw(st.integers(0, 9)) == 0 else {})}
        elif kind == "change":
            fields |= {"wallet": draw(st.sampled_from(WALLETS)), "kind": draw(st.sampled_from(("deposit", "withdraw"))),
                       "amount": draw(amounts())}
        else:
            action = draw(st.sampled_from(("pause_market", "resume_market", "set_market_params", "freeze_account",
                                           "unfreeze_account")))
            fields |= {"admin": "ops", "action": action, "reason": "drill"}
            if action.endswith("_account"):
                fields["wallet"] = draw(st.sampled_from(WALLETS))
            else:
                fields["market"] = draw(st.sampled_from(MARKETS))
            if action == "set_market_params":
                mmr = draw(st.sampled_from(("1e-18", "0.0001", "0.05", "0.5", "0.999999999999999999")))
                fields |= {"mmr": mmr, "imr": str(min(D(mmr) * draw(st.sampled_from((2, 3, 10))), D(1))),
                           "max_funding_per_hour": draw(st.sampled_from(("1e-18", "0.001", "1", "1e19"))),
                           "effective_at": ts + draw(st.integers(0, 5000))}
        model = {"tick": OracleTick, "fill": Fill, "change": AccountChange, "admin": AdminCommand}[kind]
        try:
            out.append(model.model_validate(fields))
        except ValidationError:  # the boundary refuses it: a dead letter, never applied
            pass
    return sorted(out, key=order_key)


SOL = "SOL-PERP"
# a liquidation's fill before any price quoted its market: its position had none to be margined at
UNPRICED = [Fill(id="f", ts=T0, market=SOL, wallet="alice", side="buy", size=D(1), price=D(100), liquidation=True)]
# a fill of 1e19 at 1e19 against an oracle of 100: its P&L of ~1e38 USD has 47 digits at 1e-9 (the rounding context
# held 40), and so has the price its liquidation plan names
HUGE = [OracleTick(id="t", ts=T0, market=SOL, price=D(100), conf=D(0), publish_time=T0),
        AccountChange(id="d", ts=T0 + 1, wallet="alice", kind="deposit", amount=D(1000)),
        Fill(id="f", ts=T0 + 2, market=SOL, wallet="alice", side="buy", size=D("1e19"), price=D("1e19"))]

# two buys of 9e19 hold 1.8e20, past what one fill may carry: a plan of it stayed in flight for ever
GROWN = [OracleTick(id="t0", ts=T0, market=SOL, price=D(1), conf=D(0), publish_time=T0),
         AccountChange(id="d", ts=T0 + 1, wallet="alice", kind="deposit", amount=D("9e19")),
         *(Fill(id=f"f{n}", ts=T0 + 2 + n, market=SOL, wallet="alice", side="buy", size=D("9e19"), price=D(1))
           for n in range(2)),
         OracleTick(id="t1", ts=T0 + 1000, market=SOL, price=D("0.5"), conf=D(0), publish_time=T0 + 1000)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(), st.sampled_from((Thresholds(), None)))
@example(UNPRICED, None)
@example(HUGE, None)
@example(HUGE, Thresholds())
@example(GROWN, None)
def test_no_input_the_boundary_accepts_raises_inside_the_engine(inputs: list[Any],
                                                                thresholds: Thresholds | None) -> None:
    engines = RiskEngine(DEFAULT_MARKETS, thresholds), RiskEngine(DEFAULT_MARKETS, thresholds, integers=False)
    engines[0].lane.smallest = 1  # type: ignore[union-attr]
    owners = [Owners(MARKETS, thresholds) for _ in engines]  # the open interest and the insurance fund, fed too
    queue = list(inputs)
    while queue:
        event = queue.pop(0)
        lane, reference = (owner.after(engine.apply(event)) for owner, engine in zip(owners, engines))
        assert published(lane) == published(reference), event.id
        queue[:0] = [f for plan in lane.liquidations for f in accepted(plan)]


def accepted(plan: LiquidationPlan) -> list[Fill]:
    """Return the plan's fills from the simulated venue, each taken by the boundary (a plan no fill could carry is
    never made: it would stay in flight for ever)."""
    return [Fill.model_validate(raw) for _, _, raw in liquidation_fills(plan, 1)]

"""The ledger: every change of an account's collateral is an entry, and the entries add up to the collateral."""

from collections import defaultdict
from decimal import Decimal as D

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import LEDGER_KINDS, AccountChange, Fill, account_key
from streams.risk.engine import RiskEngine
from streams.risk.liquidator import LIQUIDATOR, liquidation_fills, liquidator_float
from streams.risk.outputs import Outputs
from tests.streams.domain.domain_strategies import decimals
from tests.streams.risk.events import ALICE, BTC, SOL, T0, change, fill, owners_of, long_80_sol, run, tick

HOUR = 3_600_000


def lines(out: Outputs, key: str = ALICE) -> list[tuple[str, str | None, str, str]]:
    """Return an account's entries as (kind, market, amount, balance after)."""
    return [(e.kind, e.market, str(e.amount), str(e.balance_after)) for e in out.ledger
            if account_key(e.wallet, e.subaccount) == key]


def test_a_deposit_a_fill_and_a_withdrawal_are_booked_with_their_causes() -> None:
    engine = RiskEngine(DEFAULT_MARKETS)
    out = run(engine, change(T0, "deposit", "1000"), tick(T0 + 1000, "100"), fill(T0 + 2000, "buy", "10", "100", "2"),
              fill(T0 + 3000, "sell", "4", "110", "1"), change(T0 + 4000, "withdraw", "50"))
    # realised 4 × (110 − 100) = 40; 1000 − 2 + 40 − 1 − 50 = 987
    assert lines(out) == [("deposit", None, "1000.000000000", "1000.000000000"),
                          ("fee", SOL, "-2.000000000", "998.000000000"),
                          ("realised_pnl", SOL, "40.000000000", "1038.000000000"),
                          ("fee", SOL, "-1.000000000", "1037.000000000"),
                          ("withdrawal", None, "-50.000000000", "987.000000000")]
    assert [e.id for e in out.ledger][1:4] == [f"fill:alice:{SOL}:{T0 + 2000}:{ALICE}:0:fee",
                                               f"fill:alice:{SOL}:{T0 + 3000}:{ALICE}:0:realised_pnl",
                                               f"fill:alice:{SOL}:{T0 + 3000}:{ALICE}:1:fee"]
    assert all(e.id.startswith(f"{e.cause}:{ALICE}:") for e in out.ledger)
    assert engine.accounts[ALICE].collateral == D("987")


def test_a_refused_withdrawal_books_nothing() -> None:
    engine = long_80_sol()
    out = run(engine, change(T0 + 3000, "withdraw", "990"))
    assert (out.ledger, out.dead_letters[0].topic) == ([], "accounts.changes")


def test_a_funded_hour_books_each_holders_payment_as_funding() -> None:
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, change(T0, "deposit", "1000"), change(T0, "deposit", "1000", "bob"), tick(T0 + 1000, "100"),
        fill(T0 + 2000, "buy", "10", "110"), fill(T0 + 2000, "sell", "10", "110", wallet="bob"))
    out = run(engine, tick(T0 + HOUR + 1000, "100"))
    [paid, received] = out.funding_payments
    assert [(e.kind, e.amount, e.cause) for e in out.ledger] == [
        ("funding", -paid.payment, f"tick:{SOL}:{T0 + HOUR + 1000}"),
        ("funding", -received.payment, f"tick:{SOL}:{T0 + HOUR + 1000}")]
    assert paid.payment > 0 and out.ledger[0].balance_after == engine.accounts[ALICE].collateral


def test_a_partial_liquidation_books_the_fee_on_both_sides() -> None:
    # the figures of test_the_plans_fills_end_the_liquidation_and_pay_the_insurance_fund: realised −41.060445392,
    # fee 4.721951220, half (2.360975610) to the liquidator
    engine = long_80_sol()
    plan = run(engine, tick(T0 + 3000, "92")).liquidations[0]
    out = run(engine, *(Fill.model_validate(f) for _, _, f in liquidation_fills(plan, 1)))
    assert lines(out) == [("realised_pnl", SOL, "-41.060445392", "954.939554608"),
                          ("liquidation_fee", SOL, "-4.721951220", "950.217603388")]
    assert lines(out, f"{LIQUIDATOR}:0") == [("liquidation_fee", SOL, "2.360975610", "10000002.360975610")]


def test_a_bankrupt_accounts_deficit_is_booked_as_insurance_draw_and_socialised_loss() -> None:
    engine = RiskEngine(DEFAULT_MARKETS)
    owners_of(engine).fund.balance = D("4.000000000")
    run(engine, change(T0, "deposit", "100"), tick(T0 + 1000, "100"), fill(T0 + 2000, "buy", "10", "100"))
    plan = run(engine, tick(T0 + 3000, "89")).liquidations[0]
    out = run(engine, *(Fill.model_validate(f) for _, _, f in liquidation_fills(plan, 1)))
    assert lines(out) == [("realised_pnl", SOL, "-110.000000000", "-10.000000000"),
                          ("insurance_draw", None, "4.000000000", "-6.000000000"),
                          ("socialised_loss", None, "6.000000000", "0E-9")]


WALLETS = ("alice", "bob", "carol")
amounts = decimals("1", "5000", 2)
steps = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(WALLETS), amounts),
    st.tuples(st.just("withdraw"), st.sampled_from(WALLETS), amounts),
    st.tuples(st.just("tick"), st.sampled_from((SOL, BTC)), decimals("-0.08", "0.08", 3), st.integers(1, 5400)),
    st.tuples(st.just("fill"), st.sampled_from(WALLETS), st.sampled_from((SOL, BTC)), st.sampled_from(("buy", "sell")),
              decimals("0.01", "1", 2), decimals("-0.02", "0.02", 3), decimals("-0.5", "3", 2)),
)


class Scenario:
    """An engine fed generated steps, the venue filling every plan it makes, each output checked."""

    def __init__(self) -> None:
        self.engine = RiskEngine(DEFAULT_MARKETS)
        self.prices = {SOL: D(100), BTC: D(60000)}
        self.ts, self.n = T0, 0
        self.booked: dict[str, D] = defaultdict(D)  # account -> sum of its entries so far
        self.ids: set[str] = set()
        self.kinds: set[str] = set()
        self.apply(AccountChange.model_validate(liquidator_float(T0)[2]))
        for market, price in self.prices.items():
            self.apply(tick(T0, str(price), market))

    def step(self, step: tuple) -> None:
        """Apply one generated step at a later event time."""
        self.ts, self.n = self.ts + 1000, self.n + 1
        kind, *args = step
        if kind in ("deposit", "withdraw"):
            wallet, amount = args
            self.apply(AccountChange(id=f"{kind}:{self.n}", ts=self.ts, wallet=wallet, kind=kind, amount=amount))
        elif kind == "tick":
            market, move, later = args
            self.ts += later * 1000
            self.prices[market] = (self.prices[market] * (1 + move)).quantize(D("0.01"))
            self.apply(tick(self.ts, str(self.prices[market]), market))
        else:
            wallet, market, side, size, off, fee = args
            scale = D(1) if market == SOL else D("0.01")
            price = (self.prices[market] * (1 + off)).quantize(D("0.01"))
            self.apply(Fill(id=f"fill:{self.n}", ts=self.ts, market=market, wallet=wallet, side=side,
                            size=size * 20 * scale, price=price, fee=fee))

    def apply(self, event) -> None:
        """Apply an event, check its entries, and carry out any plan it makes."""
        out = run(self.engine, event)
        self.check(out)
        for plan in out.liquidations:
            for _, _, venue_fill in liquidation_fills(plan, 1):
                self.apply(Fill.model_validate(venue_fill))

    def check(self, out: Outputs) -> None:
        """Every entry's balance is the running sum of its account's entries; that sum is the collateral."""
        for entry in out.ledger:
            key = account_key(entry.wallet, entry.subaccount)
            self.booked[key] += entry.amount
            assert entry.balance_after == self.booked[key], entry
            assert entry.id not in self.ids and entry.kind in LEDGER_KINDS
            self.ids.add(entry.id)
            self.kinds.add(entry.kind)
        for key, account in self.engine.accounts.items():
            assert self.booked[key] == account.collateral, key
        for state in out.states:
            assert state.collateral == self.booked[account_key(state.wallet, state.subaccount)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, min_size=1, max_size=60))
def test_the_entries_add_up_to_the_collateral_after_every_event(scenario: list[tuple]) -> None:
    run_ = Scenario()
    for step in scenario:
        run_.step(step)
    for kind in sorted(run_.kinds):
        event(f"books {kind}")


def test_a_run_through_every_kind_keeps_the_entries_adding_up() -> None:
    """Fees both ways, a funded hour, a partial liquidation, then a gap to 60 closing the account out at a deficit
    larger than the fund: every kind the engine books, each checked as the property above checks it."""
    run_ = Scenario()
    owners_of(run_.engine).fund.balance = D("1.000000000")
    for step in [("deposit", "alice", D(300)), ("deposit", "bob", D(5000)), ("withdraw", "bob", D(10)),
                 ("fill", "alice", SOL, "buy", D("1"), D("0.01"), D("1")),
                 ("fill", "bob", SOL, "sell", D("1"), D("0.01"), D("-0.5")),
                 ("tick", SOL, D("0.01"), 3600), ("tick", SOL, D("-0.03"), 60), ("tick", SOL, D("-0.03"), 60),
                 ("tick", SOL, D("-0.03"), 60), ("tick", SOL, D("-0.03"), 60)]:
        run_.step(step)
    run_.apply(tick(run_.ts + 60_000, "60"))
    assert run_.kinds == set(LEDGER_KINDS)
    assert (run_.engine.accounts[ALICE].collateral, run_.engine.accounts[ALICE].state.value) == (0, "bankrupt")

"""The order ticket by hand: fill estimate from the tape, fee, the account after, the verdict; properties."""

from decimal import Decimal as D

from hypothesis import assume, given
from hypothesis import strategies as st

from streams.domain import RATIO
from streams.domain.accounts import Account
from streams.domain.margin import Quote
from streams.domain.order_ticket import (FillEstimate, MarketNow, Order, Print, assess, estimate_fill, reduces,
                                         simulate)
from streams.domain.positions import Position
from tests.streams.domain.domain_strategies import accounts, decimals, prices, quotes

SOL = "SOL-PERP"
QUOTES = {SOL: Quote(D(100), D("0.05"), D("0.10"))}
# the tape at 3 s: taker buys 10 @ 104 (1.5 s) and 30 @ 100 (2 s), a sell 5 @ 99, and a buy over a minute old
TAPE = (Print(1500, "buy", D(10), D(104)), Print(2000, "buy", D(30), D(100)), Print(2500, "sell", D(5), D(99)),
        Print(-68_000, "buy", D(100), D(90)))
NOW = MarketNow(reference=D(100), tape=TAPE, now_ms=3000)


def long_30() -> Account:
    """Return deposit 1000, long 30 SOL at 100 paying a 1.5 fee: collateral 998.5."""
    return Account("wallet").deposit(D(1000)).apply_fill(SOL, D(30), D(100), D("1.5"), D(0))


def test_a_buy_walks_the_tape_and_stays_within_initial_margin() -> None:
    # fill: 30 @ 100 (newest) + 10 @ 104 + the rest 10 at the worst, 104 → 5080 / 50 = 101.6, 160 bps over the mark
    # fee 50 × 101.6 × 0.0005 = 2.54; position 80 @ (3000 + 5080) / 80 = 101
    # collateral 998.5 − 2.54 = 995.96; upnl 80 × (100 − 101) = −80; equity 915.96
    # notional 8000: MM 400, IM 800, free 115.96; leverage 8000 / 915.96 = 8.734005… → 8.7340
    # health 100 × 515.96 / 915.96 = 56.32997… → 56.3299; liquidation (8080 − 995.96) / 76 = 93.2110526315789…
    ticket = simulate(long_30(), Order(SOL, "buy", D(50)), QUOTES, NOW)
    assert (ticket.fill.price, ticket.fill.source, ticket.fill.slippage_bps) == (D("101.6"), "tape", D(160))
    assert ticket.fee == D("2.54") and ticket.position_after == Position(SOL, D(80), D(101))
    after = ticket.after
    assert (after.collateral, after.equity, after.maintenance_margin, after.initial_margin) == (
        D("995.96"), D("915.96"), D(400), D(800))
    assert (after.free_collateral, after.leverage, after.health) == (D("115.96"), D("8.7340"), D("56.3299"))
    assert after.liquidation_price == {SOL: D("93.211052631579")}
    # before, at the same quotes: equity 998.5, MM 150, IM 300, leverage 3000 / 998.5 = 3.0045, health 84.9774
    before = ticket.before
    assert (before.equity, before.free_collateral, before.leverage, before.health) == (
        D("998.5"), D("698.5"), D("3.0045"), D("84.9774"))
    assert ticket.increases_risk and ticket.allowed and "within initial margin" in ticket.reason


def test_a_routed_fill_is_assessed_at_its_average_price_and_fee_and_a_degraded_market_refuses_it() -> None:
    # a book's route: 50 at an average 101.6 paying 2.2 over two venues: the account as the tape's 101.6 would
    # leave it, but 2.54 − 2.2 = 0.34 more collateral (995.96 + 0.34 = 996.3, equity 916.3)
    fill = FillEstimate(D("101.6"), "book", D(100), D(160))
    ticket = assess(long_30(), Order(SOL, "buy", D(50)), QUOTES, fill, D("2.2"))
    assert (ticket.fill.source, ticket.fee, ticket.position_after) == ("book", D("2.2"), Position(SOL, D(80), D(101)))
    assert (ticket.after.collateral, ticket.after.equity, ticket.allowed) == (D("996.3"), D("916.3"), True)
    degraded = assess(long_30(), Order(SOL, "buy", D(50)), QUOTES, fill, D("2.2"), "oracle stale")
    assert not degraded.allowed and "degraded (oracle stale)" in degraded.reason


def test_a_buy_past_initial_margin_is_refused() -> None:
    # fill (3000 + 1040 + 60 × 104) / 100 = 102.8; fee 5.14; position 130 @ 13280 / 130
    # equity 998.5 − 5.14 − 280 = 713.36 under IM 13000 × 0.10 = 1300
    ticket = simulate(long_30(), Order(SOL, "buy", D(100)), QUOTES, NOW)
    assert (ticket.fill.price, ticket.fee, ticket.after.equity, ticket.after.initial_margin) == (
        D("102.8"), D("5.14"), D("713.36"), D(1300))
    assert ticket.after.free_collateral == 0 and ticket.increases_risk
    assert not ticket.allowed and ticket.reason.startswith("initial margin breached")


def test_a_limit_caps_the_fill_price() -> None:
    # the tape says 101.6; the limit 101 caps it: 100 bps; fee 50 × 101 × 0.0005 = 2.525
    ticket = simulate(long_30(), Order(SOL, "buy", D(50), limit=D(101)), QUOTES, NOW)
    assert (ticket.fill.price, ticket.fill.source, ticket.fill.slippage_bps, ticket.fee) == (
        D(101), "limit", D(100), D("2.525"))
    better = estimate_fill(Order(SOL, "buy", D(50), limit=D(105)), NOW)
    assert (better.price, better.source) == (D("101.6"), "tape")


def test_a_sell_below_the_mark_is_positive_slippage() -> None:
    # the one fresh sell print: 5 @ 99, 100 bps under the mark of 100, worse for a seller
    fill = estimate_fill(Order(SOL, "sell", D(5)), NOW)
    assert (fill.price, fill.source, fill.slippage_bps) == (D(99), "tape", D(100))


def test_without_a_fresh_print_the_mark_is_the_fill_price() -> None:
    quiet = MarketNow(reference=D("100.5"), tape=TAPE, now_ms=200_000)
    fill = estimate_fill(Order(SOL, "buy", D(1)), quiet)
    assert (fill.price, fill.source, fill.slippage_bps) == (D("100.5"), "mark", D(0))


def test_a_degraded_market_refuses_added_risk_and_allows_a_reduce() -> None:
    stale = MarketNow(reference=D(100), now_ms=3000, degraded="stale: no valid tick for over 60 s")
    # sell 10 at the mark: fee 0.5, position 20 @ 100, collateral 998, MM 100
    reduce = simulate(long_30(), Order(SOL, "sell", D(10)), QUOTES, stale)
    assert (reduce.fee, reduce.position_after, reduce.after.equity, reduce.after.maintenance_margin) == (
        D("0.5"), Position(SOL, D(20), D(100)), D(998), D(100))
    assert reduce.allowed and not reduce.increases_risk
    grow = simulate(long_30(), Order(SOL, "buy", D(1)), QUOTES, stale)
    assert not grow.allowed and "degraded" in grow.reason and "stale" in grow.reason


def test_a_reduce_is_allowed_even_under_initial_margin() -> None:
    # long 30 @ 100 with the oracle at 70: equity 998.5 − 900 = 98.5 under IM 210; a sell of 10 still goes
    crashed = {SOL: Quote(D(70), D("0.05"), D("0.10"))}
    ticket = simulate(long_30(), Order(SOL, "sell", D(10)), crashed, MarketNow(reference=D(70)))
    assert ticket.before.equity < ticket.before.initial_margin and ticket.allowed


def test_what_reduces_a_position() -> None:
    long = Position(SOL, D(30), D(100))
    assert reduces(long, D(-30)) and reduces(long, D(-1))
    assert not reduces(long, D(1)) and not reduces(long, D(-31)) and not reduces(None, D(-1))


@given(accounts(), quotes(), st.data())
def test_a_reduce_at_the_oracle_never_lowers_health(account: Account, quotes: dict, data: st.DataObject) -> None:
    # it frees maintenance margin (mmr ≥ 3% of the closed notional) and costs 0.05% in fee: health can only
    # rise, up to one 1e-4 step of rounding (equity ≥ 1 keeps the money roundings' effect under that step)
    assume(account.positions)
    market = data.draw(st.sampled_from(sorted(account.positions)))
    held = account.positions[market].size
    size = data.draw(decimals("0.001", str(abs(held)), 3))
    order = Order(market, "sell" if held > 0 else "buy", size)
    assume(account.margin(quotes).equity >= 1)
    ticket = simulate(account, order, quotes, MarketNow(reference=quotes[market].oracle))
    assert ticket.allowed and not ticket.increases_risk
    assert ticket.after.maintenance_margin <= ticket.before.maintenance_margin
    assert ticket.after.health >= ticket.before.health - RATIO


prints = st.builds(Print, st.integers(0, 60_000), st.sampled_from(["buy", "sell"]), decimals("0.001", "50", 3),
                   prices)


@given(st.lists(prints, max_size=8), st.sampled_from(["buy", "sell"]), decimals("0.001", "100", 3),
       st.none() | prices)
def test_the_estimate_lies_within_the_tape_and_never_past_the_limit(
        tape: list, side: str, size: D, limit: D | None) -> None:
    order = Order(SOL, side, size, limit)
    fill = estimate_fill(order, MarketNow(reference=D(100), tape=tuple(tape), now_ms=60_000))
    same_side = [p.price for p in tape if p.side == side]
    if limit is not None:
        assert not order.worse(fill.price, limit)
    if fill.source == "tape":
        assert min(same_side) <= fill.price <= max(same_side)
    assert fill.source != "mark" or (not same_side and fill.price == 100)

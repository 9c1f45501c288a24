"""Hypothesis strategies for the domain tests: exact decimals, quotes and accounts."""

from decimal import Decimal

from hypothesis import strategies as st

from streams.domain.accounts import Account
from streams.domain.margin import Quote

MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
RATES = {"BTC-PERP": ("0.03", "0.05"), "ETH-PERP": ("0.03", "0.05"), "SOL-PERP": ("0.05", "0.10")}


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    """Draw exact decimals in [low, high] with `places` decimals."""
    scale = 10**places
    lo, hi = int(Decimal(low) * scale), int(Decimal(high) * scale)
    return st.integers(lo, hi).map(lambda n: Decimal(n).scaleb(-places))


prices = decimals("1", "100000", 4)
sizes = st.one_of(decimals("0.001", "500", 3), decimals("-500", "-0.001", 3))
collaterals = decimals("0", "1000000", 6)
funding_indices = decimals("-50", "50", 12)


def quote(market: str, oracle: Decimal, funding_index: Decimal = Decimal(0)) -> Quote:
    """Return a quote with the market's default margin rates."""
    mmr, imr = RATES[market]
    return Quote(oracle, Decimal(mmr), Decimal(imr), funding_index)


@st.composite
def quotes(draw: st.DrawFn) -> dict[str, Quote]:
    """Draw a quote for every market."""
    return {m: quote(m, draw(prices), draw(funding_indices)) for m in MARKETS}


@st.composite
def accounts(draw: st.DrawFn) -> Account:
    """Draw a funded account holding up to three positions opened by fills."""
    account = Account("wallet", draw(st.integers(0, 3))).deposit(draw(collaterals))
    for market in draw(st.lists(st.sampled_from(MARKETS), unique=True, max_size=3)):
        account = account.apply_fill(market, draw(sizes), draw(prices), Decimal(0), draw(funding_indices))
    return account

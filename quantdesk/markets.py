"""The perpetual markets the platform knows, with their risk parameters."""

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from quantdesk.wire import digest

TAKER_FEE_RATE = Decimal("0.0005")  # the venue's fee schedule, a share of notional: a taker pays 5 bps
MAKER_FEE_RATE = Decimal("-0.0001")  # and a maker earns a 1 bp rebate
OUR_VENUE = "quantdesk"  # our venue's name on `books`: the simulated one, or on chain the program's resting orders


def params_version(markets: "tuple[Market, ...]") -> str:
    """Return the version of the risk parameters in force: the first 16 hex digits of the digest of every market's
    parameters and the fee schedule (the same parameters, the same version, on any machine)."""
    return digest({"markets": [m.model_dump(mode="json") for m in markets],
                   "fees": {"taker": str(TAKER_FEE_RATE), "maker": str(MAKER_FEE_RATE)}})[:16]


class Market(BaseModel):
    """A perpetual market: its oracle feed and risk parameters (fractions, not percent)."""

    model_config = ConfigDict(frozen=True)

    name: str
    feed_id: str
    imr: Decimal
    mmr: Decimal
    max_funding_per_hour: Decimal = Decimal("0.00125")


DEFAULT_MARKETS: tuple[Market, ...] = (
    Market(
        name="BTC-PERP",
        feed_id="e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",
        imr=Decimal("0.05"),
        mmr=Decimal("0.03"),
    ),
    Market(
        name="ETH-PERP",
        feed_id="ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace",
        imr=Decimal("0.05"),
        mmr=Decimal("0.03"),
    ),
    Market(
        name="SOL-PERP",
        feed_id="ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
        imr=Decimal("0.10"),
        mmr=Decimal("0.05"),
    ),
)


def reparametrised(market: Market, params: dict[str, Decimal]) -> Market:
    """Return `market` under new margin and funding parameters (an admin's change), the rest as it was."""
    return market.model_copy(update=params)

"""Message models shared by streams, API and replay: one class per topic.

Money and price fields are `Decimal` (exact); on the wire they may be JSON numbers or
strings, and the platform writes them as strings so no digit is lost. Times are UTC ms.
"""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Amount = Annotated[Decimal, Field(allow_inf_nan=False)]
Millis = Annotated[int, Field(ge=0)]


class Message(BaseModel):
    """Fields every message carries: a deterministic unique id, event time and version."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: Annotated[str, Field(min_length=1, pattern=r"^[^\n]+$")]
    ts: Millis
    v: int = 1


class OracleTick(Message):
    """One oracle price observation for a market (topic `oracle.ticks`)."""

    market: str
    price: Amount
    conf: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
    publish_time: Millis
    status: str = "trading"
    source: str = "pyth"
    slot: int = 0


class Fill(Message):
    """One account's side of a trade (topic `trades.fills`)."""

    market: str
    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    side: Literal["buy", "sell"]
    size: Positive
    price: Positive
    fee: Amount = Decimal(0)
    liquidity: Literal["taker", "maker"] = "taker"
    signature: str = ""
    slot: int = 0

    @property
    def account(self) -> str:
        """Return the account key `wallet:subaccount`."""
        return f"{self.wallet}:{self.subaccount}"

    @property
    def signed_size(self) -> Decimal:
        """Return the size with its sign: + for a buy, - for a sell."""
        return self.size if self.side == "buy" else -self.size


class AccountChange(Message):
    """A deposit to or withdrawal from an account (topic `accounts.changes`)."""

    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    kind: Literal["deposit", "withdraw"]
    amount: Positive
    signature: str = ""
    slot: int = 0

    @property
    def account(self) -> str:
        """Return the account key `wallet:subaccount`."""
        return f"{self.wallet}:{self.subaccount}"


class OrderEvent(Message):
    """An order placed, filled or cancelled on chain (topic `orders.events`)."""

    market: str
    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    kind: str
    side: Literal["buy", "sell"] | None = None
    size: Amount | None = None
    price: Amount | None = None
    order_type: str | None = None
    signature: str = ""
    slot: int = 0


class MarketState(Message):
    """A market's oracle, mark and TWAP figures after a tick or fill (topic `markets.state`)."""

    market: str
    oracle_price: Amount | None = None
    conf: Amount | None = None
    mark_price: Amount | None = None
    oracle_twap_5m: Amount | None = None
    premium: Amount = Decimal(0)
    last_fill_price: Amount | None = None
    status: Literal["healthy", "degraded"] = "healthy"
    reason: str = ""
    tick_price: Annotated[Amount | None, Field(
        description="the price of the oracle tick that caused this state, when the guard accepted it")] = None


class FundingRate(Message):
    """A closed funding period of one market (topic `funding.rates`)."""

    market: str
    period_start: Millis
    period_end: Millis
    oracle_twap: Amount
    mark_twap: Amount
    rate: Amount
    cumulative_index: Amount


class PositionFigures(BaseModel):
    """One open position of an account snapshot, marked at the oracle."""

    model_config = ConfigDict(frozen=True)

    market: str
    size: Amount
    entry_price: Amount
    upnl: Amount
    liquidation_price: Amount | None = None
    notional: Amount


class AccountSnapshot(Message):
    """An account's exact figures after an event: topic `accounts.state` (compacted, key `wallet:subaccount`: the
    newest per account) and `accounts.history` (every one, packed per partition, for the warehouse)."""

    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    state: str
    collateral: Amount
    equity: Amount
    maintenance_margin: Amount
    initial_margin: Amount
    free_collateral: Amount
    leverage: Amount | None = None
    health: Amount
    positions: list[PositionFigures] = []


class FundingPayment(Message):
    """What one position paid (positive) or received at a funding settle (topic `funding.payments`)."""

    market: str
    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    size: Amount
    payment: Amount
    cumulative_index: Amount


class PlannedClose(BaseModel):
    """One closing trade of a liquidation plan; `side` is the liquidated account's."""

    model_config = ConfigDict(frozen=True)

    market: str
    side: Literal["buy", "sell"]
    size: Positive
    price: Positive
    fee: Amount
    liquidator_fee: Amount
    insurance_fee: Amount


class LiquidationPlan(Message):
    """A proposed liquidation of one account (topic `risk.liquidations`); fills carry it out."""

    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    kind: Literal["plan"] = "plan"
    closes: list[PlannedClose]
    equity: Amount
    maintenance_margin: Amount
    insurance_draw: Amount = Decimal(0)
    socialised_loss: Amount = Decimal(0)


class AuditEntry(Message):
    """Something the risk engine did or refused, and to whom (topic `audit.log`)."""

    actor: str
    action: str
    subject: str
    data: dict[str, Any] = {}


class DeadLetter(Message):
    """A message that could not be used, with why and the original bytes (topic `dlq`)."""

    topic: str
    reason: str
    payload: str


INPUT_MODELS: dict[str, type[Message]] = {
    "oracle.ticks": OracleTick,
    "trades.fills": Fill,
    "accounts.changes": AccountChange,
    "orders.events": OrderEvent,
}

DERIVED_TOPICS: tuple[str, ...] = (
    "markets.state",
    "funding.rates",
    "accounts.state",
    "accounts.history",
    "funding.payments",
    "risk.liquidations",
    "mikey.signals",
    "audit.log",
    "dlq",
)


def model_for(topic: str) -> type[Message]:
    """Return the model of an input topic, or raise KeyError."""
    return INPUT_MODELS[topic]


def dump(message: BaseModel) -> dict[str, Any]:
    """Return a message as a JSON-ready dict (decimals as strings)."""
    return message.model_dump(mode="json")

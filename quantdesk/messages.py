"""Message models shared by streams, API and replay: one class per topic.

Money and price fields are `Decimal` (exact); on the wire they may be JSON numbers or
strings, and the platform writes them as strings so no digit is lost. Times are UTC ms.

The input models (the trust boundary) hold only what the warehouse stores exactly: a decimal within
Decimal(38, 18) (20 integer digits, 18 decimal places; more places are refused, never rounded), a slot
within UInt64, a sub-account within UInt32, an event time within [EARLIEST_MS, LATEST_MS), integers
only as JSON integers (no booleans, floats or texts), and non-empty names of bounded length.
"""

import hashlib
from decimal import Context, Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator

Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Amount = Annotated[Decimal, Field(allow_inf_nan=False)]
Millis = Annotated[int, Field(ge=0)]

EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: event times before it are refused at the boundary
LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z: and from it on
DECIMAL_BOUND = 10**20  # Decimal(38, 18) holds 20 integer digits
SCALE = 18  # and 18 decimal places
NAME_CHARS, ID_CHARS = 256, 512

# Strict: a JSON integer only, so `true` is not a 1 and 1.0 is not an event time.
Stamp = Annotated[int, Strict(), Field(ge=EARLIEST_MS, lt=LATEST_MS)]
Slot = Annotated[int, Strict(), Field(ge=0, lt=2**64)]
Subaccount = Annotated[int, Strict(), Field(ge=0, lt=2**32)]
Version = Annotated[int, Strict(), Field(ge=0, lt=2**31)]
WIDE = Context(prec=60)  # wider than Decimal(38, 18): canonical forms round nothing


def canonical(value: Decimal) -> Decimal:
    """Return a number in its one form: no trailing zeros, no positive exponent, no negative zero. "150.050",
    "150.05" and a warehouse's 150.050000000000000000 are one price, so they give one output, byte for byte."""
    return WIDE.add(WIDE.normalize(value), 0)


def account_key(wallet: str, subaccount: int) -> str:
    """Return the key naming one trader's (sub)account: `wallet:subaccount`."""
    return f"{wallet}:{subaccount}"


Exact = Annotated[Decimal, Field(gt=-DECIMAL_BOUND, lt=DECIMAL_BOUND, decimal_places=SCALE, allow_inf_nan=False),
                  AfterValidator(canonical)]
ExactPositive = Annotated[Decimal, Field(gt=0, lt=DECIMAL_BOUND, decimal_places=SCALE, allow_inf_nan=False),
                          AfterValidator(canonical)]
ExactNonNegative = Annotated[Decimal, Field(ge=0, lt=DECIMAL_BOUND, decimal_places=SCALE, allow_inf_nan=False),
                             AfterValidator(canonical)]
# no line break: a name becomes part of the ids the engine writes (`<cause>:<wallet>:<sub>:state`), and ids have none
Name = Annotated[str, Field(min_length=1, max_length=NAME_CHARS, pattern=r"^[^\n]+$")]
Text = Annotated[str, Field(max_length=NAME_CHARS)]


class Message(BaseModel):
    """Fields every message carries: a deterministic unique id, event time and version."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: Annotated[str, Field(min_length=1, pattern=r"^[^\n]+$")]
    ts: Millis
    v: int = 1


class Input(Message):
    """Fields every input message carries, bounded to what the warehouse stores."""

    id: Annotated[str, Field(min_length=1, max_length=ID_CHARS, pattern=r"^[^\n]+$")]
    ts: Stamp
    v: Version = 1


class OracleTick(Input):
    """One oracle price observation for a market (topic `oracle.ticks`)."""

    market: Name
    price: Exact
    conf: ExactNonNegative
    publish_time: Stamp
    status: Name = "trading"
    source: Name = "pyth"
    slot: Slot = 0


class Fill(Input):
    """One account's side of a trade (topic `trades.fills`)."""

    market: Name
    wallet: Name
    subaccount: Subaccount = 0
    side: Literal["buy", "sell"]
    size: ExactPositive
    price: ExactPositive
    fee: Exact = Decimal(0)
    liquidity: Literal["taker", "maker"] = "taker"
    signature: Text = ""
    slot: Slot = 0
    order: Name | None = None  # the order it fills, if any (the program's OrderFilled names one)

    @property
    def account(self) -> str:
        """Return the account key `wallet:subaccount`."""
        return account_key(self.wallet, self.subaccount)

    @property
    def signed_size(self) -> Decimal:
        """Return the size with its sign: + for a buy, - for a sell."""
        return self.size if self.side == "buy" else self.size.copy_negate()  # exact: `-` rounds to 28 digits


class AccountChange(Input):
    """A deposit to or withdrawal from an account (topic `accounts.changes`)."""

    wallet: Name
    subaccount: Subaccount = 0
    kind: Literal["deposit", "withdraw"]
    amount: ExactPositive
    signature: Text = ""
    slot: Slot = 0

    @property
    def account(self) -> str:
        """Return the account key `wallet:subaccount`."""
        return account_key(self.wallet, self.subaccount)


class OrderEvent(Input):
    """An order placed or cancelled, or a position opened or closed, on chain (topic `orders.events`); an order's
    fills arrive on `trades.fills`, naming it in `order`.

    A placed order names its `order`, `side` and `size` (`price` absent or 0: a market order); a cancellation names
    its `order`. The program logs no cancellation: `cancelled` comes from other sources (simulator, replay)."""

    market: Name
    wallet: Name
    subaccount: Subaccount = 0
    kind: Literal["placed", "cancelled", "position_opened", "position_closed"]
    side: Literal["buy", "sell"] | None = None
    size: ExactPositive | None = None
    price: ExactNonNegative | None = None
    order_type: Name | None = None
    signature: Text = ""
    slot: Slot = 0
    order: Name | None = None

    @model_validator(mode="after")
    def _names_what_its_kind_needs(self) -> "OrderEvent":
        """Refuse a placed order without its id, side and size, and a cancellation without its order's id."""
        needs = {"placed": ("order", "side", "size"), "cancelled": ("order",)}.get(self.kind, ())
        if missing := [name for name in needs if getattr(self, name) is None]:
            raise ValueError(f"an order event of kind {self.kind!r} needs {', '.join(missing)}")
        return self


BOOK_LEVELS = 1000  # levels per side a book message may carry


class BookLevel(BaseModel):
    """One price level of a venue's book: price, total size and how many orders rest there; size 0 in a delta
    removes the level."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    price: ExactPositive
    size: ExactNonNegative
    orders: Annotated[int, Strict(), Field(ge=0, lt=2**31)] = 1


class BookUpdate(Input):
    """A venue's book of one market, as levels (topic `books`, keyed by market): a whole `snapshot`, or a `delta` of
    changed levels. `seq` is the book's own number: a snapshot sets it, a delta carries the book's next one (the
    rules of `streams.domain.books`). Sources that know every order (the simulated venue, the program's resting
    orders) keep the L3 book themselves and publish its levels."""

    venue: Name
    market: Name
    kind: Literal["snapshot", "delta"]
    seq: Slot
    bids: Annotated[tuple[BookLevel, ...], Field(max_length=BOOK_LEVELS)] = ()
    asks: Annotated[tuple[BookLevel, ...], Field(max_length=BOOK_LEVELS)] = ()

    @model_validator(mode="after")
    def _snapshot_levels_rest(self) -> "BookUpdate":
        """Refuse an empty level in a snapshot (only a delta removes one)."""
        if self.kind == "snapshot" and any(level.size == 0 for level in (*self.bids, *self.asks)):
            raise ValueError("a snapshot's levels must hold size > 0")
        return self


class VenuePrice(Input):
    """Another venue's price for one of our markets (topic `venues.prices`): its mid, and its book's top if known."""

    venue: Name
    market: Name
    price: ExactPositive
    bid: ExactPositive | None = None
    ask: ExactPositive | None = None
    source: Name = "venue"


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


class MarketEpoch(Message):
    """A market as its one author, risk task 0, leaves it after an oracle tick, or after a fill before the market's
    first oracle price (topic `markets.epochs`, on its first partition): the other risk tasks take their markets from
    these and never recompute them. An epoch is applied where its event is (`ts`, `rank`, `source`: the event's apply
    order), before an account's own side of the same fill. It carries what a margin check and a liquidation read: the
    oracle, the last valid tick's time and why the oracle is degraded, the last fill price, the cumulative funding
    index, the tick itself (the source of what it causes) and the funded hours it closed, as `funding.rates` has them.

    One of kind `through` moves nothing: the author, which reads every input partition, has applied every event up to
    its `ts`, so a task may apply its own events up to there; `applied` is the apply order key of the last event the
    author applied."""

    kind: Literal["tick", "fill", "through"]
    market: str | None = None
    rank: int = 0  # the apply order of the event's kind (`streams.risk.reorder.PRIORITY`)
    source: str = ""  # the event's id
    tick: OracleTick | None = None
    oracle: Amount | None = None
    last_valid_ts: int | None = None
    reason: str = ""
    last_fill_price: Amount | None = None
    cumulative_index: Amount = Decimal(0)
    hours: list[FundingRate] = []
    applied: tuple[int, int, str] | None = None


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
    """A proposed liquidation of one account (topic `risk.liquidations`); fills carry it out. `deficit` is the
    negative equity a close-out expects to leave (0 for a partial liquidation): whoever owns the insurance fund
    decides, once the last fill is back, how much of it the fund covers."""

    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    kind: Literal["plan"] = "plan"
    closes: list[PlannedClose]
    equity: Amount
    maintenance_margin: Amount
    deficit: Amount = Decimal(0)


class InsuranceCredit(Message):
    """The insurance fund's half of the fee of one liquidation close, earned at its fill (`fill`, the liquidated
    account's side): a liquidation outcome for the fund's owner, keyed `insurance-fund`. `params` is the parameter
    version the risk engine applied the fill under."""

    kind: Literal["insurance_credit"] = "insurance_credit"
    plan: str
    fill: Fill
    amount: Amount
    params: str = ""


class LiquidationCompletion(Message):
    """A liquidation whose last fill (`fill`) is back: the deficit the account was written off by, for the fund's
    owner (keyed `insurance-fund`) to cover or socialise. The cover is booked on the account's ledger after the
    fill's own entries: `line` numbers its first entry, `balance` is the collateral the fill's entries left."""

    kind: Literal["liquidation_completion"] = "liquidation_completion"
    plan: str
    fill: Fill
    deficit: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
    balance: Amount
    line: Annotated[int, Field(ge=0)]
    params: str = ""


LiquidationOutcome = Annotated[InsuranceCredit | LiquidationCompletion, Field(discriminator="kind")]  # read by `kind`


Severity = Literal["info", "warning", "critical"]


class Signal(Message):
    """A MIKEY signal (topic `mikey.signals`, keyed by subject): what a trader should know now, and why.

    `subject` is a market, or `wallet:subaccount` for an account signal, which then names its `wallet` and
    `subaccount` and reaches that wallet only; `market` is the market it is about, if any. `ts` is the event
    time of its cause, `causes` the ids of the input events that raised it, `message` one sentence with the
    numbers in it, `data` the figures behind them (decimals as strings).
    """

    kind: str
    severity: Severity
    subject: str
    message: str
    market: str | None = None
    wallet: str | None = None
    subaccount: int | None = None
    data: dict[str, Any] = {}
    causes: list[str] = []

    @model_validator(mode="after")
    def _addressed_to_one_audience(self) -> "Signal":
        """Refuse a signal whose audience is unclear: an account's names its wallet and sub-account as its subject,
        a market's names its market and no wallet (an account's alert must never reach a market's room)."""
        if self.wallet is not None or self.subaccount is not None:
            if self.wallet is None or self.subaccount is None or self.subject != account_key(self.wallet, self.subaccount):
                raise ValueError("an account signal names its wallet and sub-account, and they are its subject")
        elif self.market is None or self.subject != self.market:
            raise ValueError("a market signal names its market, and it is its subject")
        return self


HeldSide = Literal["long", "short", "flat"]


class HolderSide(Message):
    """The side one account held in a market before and after a fill the risk engine applied to it (`fill`): an
    open-interest record for the owner of the market's holder counts, keyed by market. `params` is the parameter
    version the engine applied the fill under."""

    kind: Literal["holder_side"] = "holder_side"
    market: str
    fill: Fill
    before: HeldSide
    after: HeldSide
    params: str = ""


class RiskOutcomes(BaseModel):
    """One release of one risk task, for the owners of what spans the accounts (topic `risk.outcomes`, one
    partition per task): the records it left (holder sides, liquidation outcomes), its release number and the apply
    order key of the last event it applied (`through`: no later release of the task leaves a record before it but
    a late event's)."""

    task: int
    release: int
    through: tuple[int, int, str]
    sides: list[HolderSide] = []
    outcomes: list[LiquidationOutcome] = []


class AuditEntry(Message):
    """A decision the platform took (topic `audit.log`): who took it (`actor`), what, about whom (`subject`: an
    account `wallet:subaccount`, a wallet or a market), the ids of the events that caused it, the version of the
    parameters in force, and `digest`, the SHA-256 of the inputs that produced it (`quantdesk.wire.digest`), so a
    replay shows the same decision from the same inputs. The warehouse adds when it was processed."""

    actor: str
    action: str
    subject: str
    data: dict[str, Any] = {}
    causes: list[str] = []
    params: str = ""
    digest: str = ""


LedgerKind = Literal["deposit", "withdrawal", "fee", "realised_pnl", "funding", "liquidation_fee", "insurance_draw",
                     "socialised_loss"]
LEDGER_KINDS: tuple[str, ...] = get_args(LedgerKind)


class LedgerEntry(Message):
    """One change of an account's collateral, with the balance it leaves (topic `accounts.ledger`, keyed by
    `wallet:subaccount`). `id` is `<cause>:<account>:<n>:<kind>`, n its place among the cause's entries; `cause` the
    input event that made it; `market` the market a fee, realised P&L or funding payment came from (none for a
    deposit, withdrawal or deficit cover)."""

    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    kind: LedgerKind
    market: str | None = None
    amount: Amount
    balance_after: Amount
    cause: str


OrderStatus = Literal["open", "partially_filled", "filled", "cancelled"]


class OrderState(Message):
    """An order's state after an event of its lifecycle (topic `orders.state`, keyed by `wallet:subaccount`).

    `id` is `<order>:<version>`, `version` how many of its events counted so far (the placement is 1), `ts` the
    event time of the last of them (`cause`), `placed_ts` the placement's. `filled_size` sums its fills exactly,
    `average_price` is their size-weighted price to 18 places, half to even (none before a fill)."""

    order: str
    wallet: str
    subaccount: Annotated[int, Field(ge=0)] = 0
    market: str
    side: Literal["buy", "sell"]
    size: Amount
    price: Amount | None = None
    order_type: str | None = None
    status: OrderStatus
    filled_size: Amount
    average_price: Amount | None = None
    version: Annotated[int, Field(ge=1)]
    placed_ts: Millis
    cause: str


LETTER_CHARS, REASON_CHARS = 64 << 10, 1 << 10  # what a dead letter keeps of the bytes it refuses, and of why


def cut(most: int) -> AfterValidator:
    """Return a validator that keeps at most `most` characters of a text, ending a longer one with how long it was
    and its digest (a dead letter of any input stays a small message: Kafka takes 1 MB by default)."""
    def kept(text: str) -> str:
        if len(text) <= most:
            return text
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        tail = f"… [cut: {len(text)} characters in all, sha256 {digest}]"
        return text[:most - len(tail)] + tail
    return AfterValidator(kept)


class DeadLetter(Message):
    """A message that could not be used, with why and the original bytes (topic `dlq`), both cut to a bound."""

    topic: str
    reason: Annotated[str, cut(REASON_CHARS)]
    payload: Annotated[str, cut(LETTER_CHARS)]


AdminAction = Literal["pause_market", "resume_market", "set_market_params", "freeze_account", "unfreeze_account"]
MARGIN_FIELDS = ("imr", "mmr", "max_funding_per_hour")  # a market's parameters an admin may change


class AdminCommand(Input):
    """An admin's command (topic `admin.commands`, keyed by its subject): pause a market or freeze a wallet's
    account, with why, or undo either; or set a market's margin and funding parameters from `effective_at` on
    (never earlier than the command). The gateway stamps it with the time it took it, so a replay applies it at
    the event time the live run did."""

    admin: Name
    action: AdminAction
    market: Name | None = None
    wallet: Name | None = None
    reason: Text = ""
    imr: ExactPositive | None = None
    mmr: ExactPositive | None = None
    max_funding_per_hour: ExactPositive | None = None
    effective_at: Stamp | None = None

    @model_validator(mode="after")
    def _names_its_subject(self) -> "AdminCommand":
        """Refuse a market command without its market, an account command without its wallet, or one naming both."""
        wanted = "wallet" if self.action.endswith("_account") else "market"
        if getattr(self, wanted) is None or (self.market and self.wallet):
            raise ValueError(f"a {self.action} command names its {wanted} and nothing else")
        return self

    @model_validator(mode="after")
    def _sets_sane_params(self) -> "AdminCommand":
        """Refuse parameters on any other command; on a change, refuse missing ones, a maintenance rate not under the
        initial one, an initial rate over 1, and a time before the command's own (a change is never retroactive)."""
        given = [name for name in (*MARGIN_FIELDS, "effective_at") if getattr(self, name) is not None]
        if self.action != "set_market_params":
            if given:
                raise ValueError(f"a {self.action} command sets no parameters ({', '.join(given)} given)")
            return self
        if len(given) < len(MARGIN_FIELDS) + 1:
            raise ValueError("a set_market_params command gives imr, mmr, max_funding_per_hour and effective_at")
        assert self.imr is not None and self.mmr is not None and self.effective_at is not None
        if not self.mmr < self.imr <= 1:
            raise ValueError(f"mmr {self.mmr} must be under imr {self.imr}, and imr at most 1")
        if self.effective_at < self.ts:
            raise ValueError(f"effective_at {self.effective_at} is before the command ({self.ts}): changes are "
                             f"never retroactive")
        return self

    @property
    def subject(self) -> str:
        """Return what the command is about: its market or its wallet."""
        return self.market or self.wallet or ""


INPUT_MODELS: dict[str, type[Input]] = {
    "oracle.ticks": OracleTick,
    "trades.fills": Fill,
    "accounts.changes": AccountChange,
    "orders.events": OrderEvent,
    "venues.prices": VenuePrice,
    "books": BookUpdate,
    "admin.commands": AdminCommand,
}

DERIVED_TOPICS: tuple[str, ...] = (
    "markets.state",
    "funding.rates",
    "accounts.state",
    "accounts.history",
    "accounts.ledger",
    "funding.payments",
    "risk.liquidations",
    "orders.state",
    "mikey.signals",
    "audit.log",
    "dlq",
)


def dump(message: BaseModel) -> dict[str, Any]:
    """Return a message as a JSON-ready dict (decimals as strings)."""
    return message.model_dump(mode="json")

"""Turn a verified program transaction into the platform's input messages.

Ids are `<signature>:<ix index>:<event index>` for events (the event's order among the program's
`Program data:` lines in that top-level instruction) and `<signature>:<ix index>:ix` (or
`:ix<inner index>` for a CPI) for instructions. On-chain fixed-point integers (prices, sizes,
fees, P&L, funding) are scaled by the one `price_scale` given; lamports by the chain's constant.

Choices:
- OrderFilled is the trade: it becomes a `Fill` (taker side; the event names one account).
- PositionOpened/PositionClosed become `OrderEvent`s, not fills: the program takes the entry price
  from the caller and its P&L is its own claim, and a position change that is a trade already
  arrives as OrderFilled, so a fill here would count it twice. `side` is the trade's direction
  (closing a long sells); `position_side` says which position it was.
- OraclePriceUpdated becomes an `OracleTick` with source `quantdesk-program`.
- LiquidationExecuted and FundingRateUpdated become `risk` dicts: the program's claims, for audit
  and display; the platform computes its own funding and liquidations.
- deposit_native_sol instructions become `AccountChange` deposits valued at a SOL/USD price the
  caller supplies (the program's own USD figure is not used).
Anything that cannot be mapped becomes a `dlq` DeadLetter with the reason.
"""

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from solana.constants import LAMPORTS_PER_SOL
from solders.pubkey import Pubkey

from programs.borsh import BorshError, UnknownDiscriminator, decode_instruction
from programs.events import (
    Event,
    FundingRateUpdated,
    LiquidationExecuted,
    LoggedEvent,
    LogParseError,
    OraclePriceUpdated,
    OrderFilled,
    OrderPlaced,
    ParsedLogs,
    PositionClosed,
    PositionOpened,
    encode_event,
    parse_logs,
)
from programs.idl import default_idl
from programs.pda import DEFAULT_PROGRAM_ID
from programs.verify import ExecutedInstruction, VerifiedTransaction
from quantdesk.messages import AccountChange, DeadLetter, Fill, OracleTick, OrderEvent, dump

RISK = "risk"
TRADE_SIDE = {"Long": "buy", "Short": "sell"}
CLOSING_SIDE = {"Long": "sell", "Short": "buy"}


class MappingError(ValueError):
    """An event or instruction that has no valid platform message."""


@dataclass(frozen=True)
class Mapped:
    """A message for a topic: an input topic, `risk` or `dlq`."""

    topic: str
    value: dict[str, Any]


@dataclass(frozen=True)
class ChainContext:
    """What mapping needs besides the transaction."""

    markets: Mapping[str, str]
    """Market account address (base58) -> platform market name."""
    price_scale: int
    """Decimals of the program's fixed-point integers (settings `price_scale`)."""
    sol_usd: Decimal | None = None
    """SOL/USD price at the transaction's time, to value native SOL deposits."""
    program_id: Pubkey = DEFAULT_PROGRAM_ID


@dataclass(frozen=True)
class _Origin:
    """Where a message comes from: its id, event time and transaction."""

    id: str
    ts: int
    signature: str
    slot: int


def scaled(value: int, scale: int) -> Decimal:
    """Return an on-chain fixed-point integer as a Decimal with `scale` decimals."""
    return Decimal(value).scaleb(-scale)


def _market(ctx: ChainContext, market: Pubkey) -> str:
    """Return the platform market of a market account, or refuse an unknown one."""
    try:
        return ctx.markets[str(market)]
    except KeyError:
        raise MappingError(f"market account {market} is not configured") from None


def _fill(e: OrderFilled, o: _Origin, ctx: ChainContext) -> dict[str, Any]:
    """Map OrderFilled to the account's fill."""
    fill = Fill(
        id=o.id, ts=o.ts, market=_market(ctx, e.market), wallet=str(e.user), side=TRADE_SIDE[e.side],
        size=scaled(e.size, ctx.price_scale), price=scaled(e.price, ctx.price_scale),
        fee=scaled(e.fee, ctx.price_scale), signature=o.signature, slot=o.slot, order=str(e.order),
    )  # fmt: skip
    return dump(fill)


def _order_placed(e: OrderPlaced, o: _Origin, ctx: ChainContext) -> dict[str, Any]:
    """Map OrderPlaced to an order event."""
    order = OrderEvent(
        id=o.id, ts=o.ts, market=_market(ctx, e.market), wallet=str(e.user), kind="placed",
        side=TRADE_SIDE[e.side], size=scaled(e.size, ctx.price_scale), price=scaled(e.price, ctx.price_scale),
        order_type=e.order_type, signature=o.signature, slot=o.slot, order=str(e.order),
    )  # fmt: skip
    return dump(order)


def _position_opened(e: PositionOpened, o: _Origin, ctx: ChainContext) -> dict[str, Any]:
    """Map PositionOpened to an order event (see the module's choices)."""
    order = OrderEvent(
        id=o.id, ts=o.ts, market=_market(ctx, e.market), wallet=str(e.user), kind="position_opened",
        side=TRADE_SIDE[e.side], size=scaled(e.size, ctx.price_scale), price=scaled(e.entry_price, ctx.price_scale),
        signature=o.signature, slot=o.slot, position=str(e.position), position_side=e.side.lower(),
        leverage=e.leverage,
    )  # fmt: skip
    return dump(order)


def _position_closed(e: PositionClosed, o: _Origin, ctx: ChainContext) -> dict[str, Any]:
    """Map PositionClosed to an order event; the program's P&L rides along as its claim."""
    order = OrderEvent(
        id=o.id, ts=o.ts, market=_market(ctx, e.market), wallet=str(e.user), kind="position_closed",
        side=CLOSING_SIDE[e.side], size=scaled(e.size, ctx.price_scale), price=scaled(e.exit_price, ctx.price_scale),
        signature=o.signature, slot=o.slot, position=str(e.position), position_side=e.side.lower(),
        program_pnl=scaled(e.pnl, ctx.price_scale),
    )  # fmt: skip
    return dump(order)


def _oracle(e: OraclePriceUpdated, o: _Origin, ctx: ChainContext) -> dict[str, Any]:
    """Map OraclePriceUpdated to an oracle tick."""
    tick = OracleTick(
        id=o.id, ts=o.ts, market=_market(ctx, e.market), price=scaled(e.price, ctx.price_scale),
        conf=scaled(e.confidence, ctx.price_scale), publish_time=o.ts, source="quantdesk-program", slot=o.slot,
    )  # fmt: skip
    return dump(tick)


def _risk(o: _Origin, kind: str, market: str, **fields: Any) -> dict[str, Any]:
    """Return a risk dict with the common fields; decimals as strings like every message."""
    values = {k: str(v) if isinstance(v, Decimal) else v for k, v in fields.items()}
    common = {"id": o.id, "ts": o.ts, "v": 1, "kind": kind, "market": market, "source": "chain"}
    return {**common, **values, "signature": o.signature, "slot": o.slot}


def _liquidation(e: LiquidationExecuted, o: _Origin, ctx: ChainContext) -> dict[str, Any]:
    """Map LiquidationExecuted to a risk dict."""
    return _risk(
        o, "liquidation_executed", _market(ctx, e.market), wallet=str(e.user), position=str(e.position),
        size=scaled(e.liquidated_size, ctx.price_scale), price=scaled(e.liquidation_price, ctx.price_scale),
        penalty=scaled(e.penalty, ctx.price_scale),
    )  # fmt: skip


def _funding(e: FundingRateUpdated, o: _Origin, ctx: ChainContext) -> dict[str, Any]:
    """Map FundingRateUpdated to a risk dict."""
    return _risk(o, "funding_rate_updated", _market(ctx, e.market), rate=scaled(e.funding_rate, ctx.price_scale))


MAPPERS: Mapping[type, tuple[str, Callable[[Any, _Origin, ChainContext], dict[str, Any]]]] = {
    OrderFilled: ("trades.fills", _fill),
    OrderPlaced: ("orders.events", _order_placed),
    PositionOpened: ("orders.events", _position_opened),
    PositionClosed: ("orders.events", _position_closed),
    OraclePriceUpdated: ("oracle.ticks", _oracle),
    LiquidationExecuted: (RISK, _liquidation),
    FundingRateUpdated: (RISK, _funding),
}


def _dead(id_: str, ts: int, topic: str, reason: str, payload: bytes | str) -> Mapped:
    """Return a dead letter for something that could not be mapped."""
    text = payload if isinstance(payload, str) else base64.b64encode(payload).decode()
    return Mapped("dlq", dump(DeadLetter(id=id_, ts=max(ts, 0), topic=topic, reason=reason, payload=text)))


def map_event(logged: LoggedEvent, tx: VerifiedTransaction, ctx: ChainContext) -> Mapped:
    """Return the message for one logged event, or a dead letter saying why there is none."""
    event: Event = logged.event
    id_ = f"{tx.signature}:{logged.ix_index}:{logged.event_index}"
    origin = _Origin(id_, event.timestamp * 1000, tx.signature, tx.slot)
    topic, mapper = MAPPERS[type(event)]
    try:
        return Mapped(topic, mapper(event, origin, ctx))
    except (MappingError, ValidationError) as exc:
        return _dead(id_, origin.ts, topic, f"{type(event).__name__}: {exc}", encode_event(event))


def _deposit_id(tx: VerifiedTransaction, ix: ExecutedInstruction) -> str:
    """Return a deposit's id: top-level `:ix`, or `:ix<inner index>` inside a CPI."""
    inner = "" if ix.inner_index is None else str(ix.inner_index)
    return f"{tx.signature}:{ix.ix_index}:ix{inner}"


def map_deposit(ix: ExecutedInstruction, tx: VerifiedTransaction, ctx: ChainContext) -> Mapped | None:
    """Return the AccountChange of a deposit_native_sol instruction; None for other instructions."""
    id_, ts = _deposit_id(tx, ix), (tx.block_time or 0) * 1000
    try:
        decoded = decode_instruction(ix.data)
    except UnknownDiscriminator:
        return None
    except BorshError as exc:
        return _dead(id_, ts, "accounts.changes", f"undecodable instruction: {exc}", ix.data)
    if decoded.name != "deposit_native_sol":
        return None
    lamports = decoded.args["amount"]
    if ctx.sol_usd is None or tx.block_time is None:
        reason = f"deposit of {lamports} lamports needs a SOL/USD price and block time"
        return _dead(id_, ts, "accounts.changes", reason, ix.data)
    names = [a.name for a in default_idl().instructions["deposit_native_sol"].accounts]
    sol = Decimal(lamports) / LAMPORTS_PER_SOL
    try:
        change = AccountChange(
            id=id_, ts=ts, wallet=str(ix.accounts[names.index("user")]), kind="deposit", amount=sol * ctx.sol_usd,
            signature=tx.signature, slot=tx.slot, asset="SOL", asset_amount=sol, asset_price=ctx.sol_usd,
        )  # fmt: skip
    except ValidationError as exc:
        return _dead(id_, ts, "accounts.changes", f"deposit: {exc}", ix.data)
    return Mapped("accounts.changes", dump(change))


def _log_problem(parsed: ParsedLogs, tx: VerifiedTransaction) -> str | None:
    """Return why the logs cannot place events in the message's instructions, if they cannot."""
    top = [str(ix.program_id) for ix in tx.instructions if ix.inner_index is None]
    logged = list(parsed.top_level_programs)
    if logged != top[: len(logged)] or (not parsed.truncated and len(logged) != len(top)):
        return f"log invocations {logged} do not match the message's instructions {top}"
    return None


def _events(tx: VerifiedTransaction, ctx: ChainContext) -> list[Mapped]:
    """Return the messages of the program's logged events, or dead letters for its logs."""
    ts, logs = (tx.block_time or 0) * 1000, "\n".join(tx.log_messages)
    try:
        parsed = parse_logs(tx.log_messages, ctx.program_id)
    except LogParseError as exc:
        return [_dead(f"{tx.signature}:logs", ts, "programs", f"unparseable logs: {exc}", logs)]
    problem = _log_problem(parsed, tx)
    if problem is not None:
        return [_dead(f"{tx.signature}:logs", ts, "programs", problem, logs)]
    out = [map_event(logged, tx, ctx) for logged in parsed.events]
    for u in parsed.unreadable:
        out.append(_dead(f"{tx.signature}:{u.ix_index}:{u.event_index}", ts, "programs", u.reason, u.data))
    if parsed.truncated:
        out.append(_dead(f"{tx.signature}:truncated", ts, "programs", "logs truncated: later events are missing", ""))
    return out


def map_transaction(tx: VerifiedTransaction, ctx: ChainContext) -> list[Mapped]:
    """Return every message a verified transaction yields, dead letters included."""
    deposits = (map_deposit(ix, tx, ctx) for ix in tx.invoking(ctx.program_id))
    return _events(tx, ctx) + [d for d in deposits if d is not None]

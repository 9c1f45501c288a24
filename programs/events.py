"""The program's seven Anchor events and their extraction from transaction logs.

The events are not in the published IDL; they are defined here from the program's source, each
field annotated with its Borsh type. Anchor's `emit!` logs an event as `Program data: <base64>`
of its 8-byte discriminator (`sha256("event:" + Name)[:8]`) followed by its Borsh fields.
"""

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Annotated, get_type_hints

from solders.pubkey import Pubkey

from programs.borsh import BorshError, Codec, UnknownDiscriminator
from programs.idl import Field, default_idl, discriminator

U16 = Annotated[int, "u16"]
U64 = Annotated[int, "u64"]
I64 = Annotated[int, "i64"]
Key = Annotated[Pubkey, "pubkey"]
Side = Annotated[str, {"defined": {"name": "PositionSide"}}]
OrderType = Annotated[str, {"defined": {"name": "OrderType"}}]

ORDER_TYPE = {
    "kind": "enum",
    "variants": [
        {"name": n}
        for n in (
            "Market", "Limit", "StopLoss", "TakeProfit", "TrailingStop", "PostOnly",
            "IOC", "FOK", "Iceberg", "TWAP", "StopLimit", "Bracket",
        )
    ],
}  # fmt: skip


@dataclass(frozen=True)
class LiquidationExecuted:
    """A position was liquidated by the program."""

    user: Key
    position: Key
    market: Key
    liquidated_size: U64
    liquidation_price: U64
    penalty: U64
    timestamp: I64


@dataclass(frozen=True)
class FundingRateUpdated:
    """The program set a market's funding rate."""

    market: Key
    funding_rate: I64
    timestamp: I64


@dataclass(frozen=True)
class OraclePriceUpdated:
    """The program recorded an oracle price for a market."""

    market: Key
    price: U64
    confidence: U64
    timestamp: I64


@dataclass(frozen=True)
class OrderPlaced:
    """An order was placed."""

    user: Key
    order: Key
    market: Key
    side: Side
    size: U64
    price: U64
    order_type: OrderType
    timestamp: I64


@dataclass(frozen=True)
class OrderFilled:
    """An order was filled."""

    user: Key
    order: Key
    market: Key
    side: Side
    size: U64
    price: U64
    fee: U64
    timestamp: I64


@dataclass(frozen=True)
class PositionOpened:
    """A position was opened."""

    user: Key
    position: Key
    market: Key
    side: Side
    size: U64
    entry_price: U64
    leverage: U16
    timestamp: I64


@dataclass(frozen=True)
class PositionClosed:
    """A position was closed."""

    user: Key
    position: Key
    market: Key
    side: Side
    size: U64
    exit_price: U64
    pnl: I64
    timestamp: I64


Event = (
    LiquidationExecuted | FundingRateUpdated | OraclePriceUpdated
    | OrderPlaced | OrderFilled | PositionOpened | PositionClosed
)  # fmt: skip
EVENT_CLASSES: tuple[type[Event], ...] = (
    LiquidationExecuted, FundingRateUpdated, OraclePriceUpdated,
    OrderPlaced, OrderFilled, PositionOpened, PositionClosed,
)  # fmt: skip


def event_fields(cls: type[Event]) -> tuple[Field, ...]:
    """Return an event class's fields with their Borsh types, in order."""
    hints = get_type_hints(cls, include_extras=True)
    return tuple(Field(f.name, hints[f.name].__metadata__[0]) for f in fields(cls))


@lru_cache(maxsize=1)
def _codec() -> Codec:
    """Return a codec knowing the IDL's types and the events' own enums."""
    return Codec({**default_idl().types, "OrderType": ORDER_TYPE})


EVENTS_BY_DISCRIMINATOR: Mapping[bytes, type[Event]] = {
    discriminator("event", cls.__name__): cls for cls in EVENT_CLASSES
}


def encode_event(event: Event) -> bytes:
    """Return an event as Anchor logs it: discriminator, then Borsh fields."""
    cls = type(event)
    return discriminator("event", cls.__name__) + _codec().encode_fields(event_fields(cls), asdict(event))


def decode_event(data: bytes) -> Event:
    """Return the event in `data`; refuse unknown discriminators and trailing bytes."""
    cls = EVENTS_BY_DISCRIMINATOR.get(data[:8])
    if cls is None:
        raise UnknownDiscriminator("event", data[:8])
    values, end = _codec().decode_fields(event_fields(cls), data, 8)
    if end != len(data):
        raise BorshError(f"{len(data) - end} trailing bytes after {cls.__name__}")
    return cls(**values)


@dataclass(frozen=True)
class LoggedEvent:
    """An event of the program with where it was logged: top-level instruction and order in it."""

    event: Event
    ix_index: int
    event_index: int


@dataclass(frozen=True)
class UnreadableEvent:
    """A `Program data:` line of the program that is not one of its events, and why."""

    ix_index: int
    event_index: int
    data: str
    reason: str


@dataclass(frozen=True)
class ParsedLogs:
    """What a transaction's logs say about the program."""

    events: tuple[LoggedEvent, ...]
    unreadable: tuple[UnreadableEvent, ...]
    top_level_programs: tuple[str, ...]
    truncated: bool


class LogParseError(ValueError):
    """Log lines whose invoke/exit structure does not nest."""


INVOKE = re.compile(r"^Program (\w+) invoke \[(\d+)\]$")
EXIT = re.compile(r"^Program (\w+) (?:success$|failed: )")
DATA = "Program data: "
TRUNCATED = "Log truncated"


class _LogState:
    """The call stack and counters while walking one transaction's logs."""

    def __init__(self) -> None:
        """Start before the first instruction."""
        self.stack: list[str] = []
        self.top_level: list[str] = []
        self.next_event = 0

    def invoke(self, program: str, depth: int) -> None:
        """Enter `program` at invoke depth `depth`."""
        if depth != len(self.stack) + 1:
            raise LogParseError(f"invoke of {program} at depth {depth} inside {len(self.stack)} frames")
        if depth == 1:
            self.top_level.append(program)
            self.next_event = 0
        self.stack.append(program)

    def exit(self, program: str) -> None:
        """Leave `program`, which must be the innermost running one."""
        if not self.stack or self.stack[-1] != program:
            raise LogParseError(f"{program} exits but {self.stack[-1:] or 'nothing'} is running")
        self.stack.pop()

    def position(self) -> tuple[int, int]:
        """Return the current top-level instruction index and the next event index in it."""
        if not self.top_level:
            raise LogParseError("program data before any instruction")
        self.next_event += 1
        return len(self.top_level) - 1, self.next_event - 1


def _read(line: str, ix_index: int, event_index: int) -> LoggedEvent | UnreadableEvent:
    """Decode one `Program data:` payload, or say why it cannot be."""
    payload = line[len(DATA) :]
    try:
        return LoggedEvent(decode_event(base64.b64decode(payload, validate=True)), ix_index, event_index)
    except binascii.Error as exc:
        reason = f"not base64: {exc}"
    except (UnknownDiscriminator, BorshError) as exc:
        reason = str(exc)
    return UnreadableEvent(ix_index, event_index, payload, reason)


def parse_logs(log_messages: Iterable[str], program_id: Pubkey | str) -> ParsedLogs:
    """Return the events the program itself logged, each with its instruction and event index."""
    program = str(program_id)
    state = _LogState()
    read: list[LoggedEvent | UnreadableEvent] = []
    truncated = False
    for line in log_messages:
        if (invoke := INVOKE.match(line)) is not None:
            state.invoke(invoke[1], int(invoke[2]))
        elif (exit_ := EXIT.match(line)) is not None:
            state.exit(exit_[1])
        elif line == TRUNCATED:
            truncated = True
        elif line.startswith(DATA) and state.stack and state.stack[-1] == program:
            read.append(_read(line, *state.position()))
    return ParsedLogs(
        events=tuple(r for r in read if isinstance(r, LoggedEvent)),
        unreadable=tuple(r for r in read if isinstance(r, UnreadableEvent)),
        top_level_programs=tuple(state.top_level),
        truncated=truncated,
    )


def event_log_line(event: Event) -> str:
    """Return the log line Anchor writes for `event`."""
    return DATA + base64.b64encode(encode_event(event)).decode()

"""Account snapshots written as JSON straight from integer columns, in one compiled pass (numba).

The bytes are those pydantic writes for the `AccountSnapshot` the engine publishes (`streams.risk.outputs.snapshot`),
byte for byte: the same fields in the same order, each figure as `str(Decimal)` prints it. A computed figure is its
Decimal's (coefficient, exponent): money at 1e-9 prints "999.699950000"; `NONE` as a coefficient prints `null` (a
leverage without equity, a position without a liquidation price). A position's size and entry print as they came
("0.004"): the caller gives their text. Strings come JSON-escaped (with their quotes) from the caller, who escapes
each once (`escaped`): a snapshot id is its source's id, the account key and ":state" escaped apart and joined, since
JSON escapes character by character.

Range: a coefficient is an int64 other than `NONE` (|c| < 2^63), an exponent within ±999. The integer
figures have no −0: a zero prints "0E-9", as the canonical figures the engine publishes do.

A batch's snapshots stay in the buffer they were written to, each followed by a comma (`written`), and go out as a
run (`WrittenStates`): into Kafka's record batches from that buffer, with no object made per snapshot.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator

import numpy as np
import orjson

from quantdesk.compiled import compiled, copy_into, inlined
from quantdesk.messages import AccountSnapshot
from quantdesk.wire import EncodedRun, Written
from streams.domain import as_text
from streams.domain.accounts import Account
from streams.risk.json_text import DECIMAL_CHARS, INTEGER_CHARS, write_decimal, write_integer

NONE = np.iinfo(np.int64).min
ACCOUNT_FIGURES = ("collateral", "equity", "maintenance_margin", "initial_margin", "free_collateral", "leverage",
                   "health")
POSITION_TEXTS = ("market", "size", "entry_price")
POSITION_FIGURES = ("upnl", "liquidation_price", "notional")
_LITERALS = ('{"id":', ',"ts":', ',"v":1,"wallet":', ',"subaccount":', ',"state":',
             *(f',"{name}":"' for name in ACCOUNT_FIGURES), ',"positions":[', ']}',
             *(f'{"," if name != "market" else "{"}"{name}":' for name in POSITION_TEXTS),
             *(f',"{name}":"' for name in POSITION_FIGURES), '}', ',', 'null')
_TEXT = np.frombuffer("".join(_LITERALS).encode(), dtype=np.uint8).copy()
_AT = np.cumsum([0, *(len(piece) for piece in _LITERALS)]).astype(np.int64)
(_ID, _TS, _WALLET, _SUBACCOUNT, _STATE), _FIGURE, _POSITIONS, _END = range(5), 5, 12, 13
_POSITION_TEXT, _POSITION_FIGURE, _CLOSE, _COMMA, _NULL = 14, 17, 20, 21, 22
_FIXED_ACCOUNT = (len("".join(_LITERALS[:_POSITION_TEXT])) + 1 + INTEGER_CHARS * 2
                  + len(ACCOUNT_FIGURES) * (DECIMAL_CHARS + 2))
_FIXED_POSITION = len("".join(_LITERALS[_POSITION_TEXT:_NULL])) + len(POSITION_FIGURES) * (DECIMAL_CHARS + 2)


@dataclass(frozen=True)
class SnapshotColumns:
    """Snapshots as columns: per account its strings (the id's head and tail, wallet, state: indices into the
    strings), its time and sub-account, and its figures; per position its strings (market, size, entry) and its
    figures. A figure is a (coefficient, exponent) pair. Account a's positions are rows `first_position[a]` to
    `first_position[a + 1]`."""

    strings: bytes | np.ndarray  # JSON-escaped pieces, one after another (`joined`); an array read-only
    at: np.ndarray  # string i is strings[at[i]:at[i + 1]]
    texts: np.ndarray  # accounts × 4: id head, id tail, wallet, state
    numbers: np.ndarray  # accounts × 2: ts, sub-account
    figures: np.ndarray  # accounts × 7 × 2, in ACCOUNT_FIGURES' order
    first_position: np.ndarray  # accounts + 1
    position_texts: np.ndarray  # positions × 3, in POSITION_TEXTS' order
    position_figures: np.ndarray  # positions × 3 × 2, in POSITION_FIGURES' order


@dataclass(slots=True)
class WrittenSnapshot(Written):
    """An account snapshot written already (its event time and JSON), read as the `AccountSnapshot` it holds: the
    fields the worker reads of every snapshot at hand."""

    MODEL = AccountSnapshot
    wallet: str
    subaccount: int
    state: str


@dataclass(frozen=True, slots=True)
class WrittenStates(EncodedRun):
    """Account snapshots written one after another (`written`) after an event (its time: `ts`), each of an account
    whose state it does not move, read one by one as `WrittenSnapshot`s."""

    accounts: list[Account]  # per row of `data`, each as its snapshot shows it

    def __iter__(self) -> Iterator[WrittenSnapshot]:
        """Yield each row as a `WrittenSnapshot` (tests, a rebuild: off the engine's path)."""
        for r in range(len(self)):
            account = self.accounts[self.start + r]
            yield WrittenSnapshot(self.ts, self.row(r), account.wallet, account.subaccount, account.state.value)


Published = AccountSnapshot | WrittenSnapshot  # an account state as the engine publishes it


def snapshot_written(fields: dict[str, Any]) -> WrittenSnapshot:
    """Write the `AccountSnapshot` of these fields (plain data, Decimal figures: `outputs.snapshot`'s) as pydantic
    writes it, by orjson: the fields in the model's order, each figure as `str(Decimal)` prints it (None as null)."""
    return WrittenSnapshot(fields["ts"], orjson.dumps({
        "id": fields["id"], "ts": fields["ts"], "v": 1, "wallet": fields["wallet"], "subaccount": fields["subaccount"],
        "state": fields["state"], **{name: as_text(fields[name]) for name in ACCOUNT_FIGURES},
        "positions": [{"market": p["market"], "size": str(p["size"]), "entry_price": str(p["entry_price"]),
                       "upnl": str(p["upnl"]), "liquidation_price": as_text(p["liquidation_price"]),
                       "notional": str(p["notional"])} for p in fields["positions"]]}),
        fields["wallet"], fields["subaccount"], fields["state"])


def as_model(state: Published) -> AccountSnapshot:
    """Return a published state as its model."""
    return state.model() if isinstance(state, WrittenSnapshot) else state


def escaped(text: str) -> bytes:
    """Return `text` as a JSON string (quoted and escaped), as pydantic writes it."""
    return orjson.dumps(text)


def joined(strings: list[bytes]) -> tuple[bytes, np.ndarray]:
    """Return strings as one buffer and where each starts (and the last ends), as `SnapshotColumns` takes them."""
    at = np.zeros(len(strings) + 1, np.int64)
    np.cumsum([len(s) for s in strings], out=at[1:])
    return b"".join(strings), at


def written(columns: SnapshotColumns) -> tuple[np.ndarray, np.ndarray]:
    """Return every account's snapshot, as the JSON bytes pydantic writes for it, one after another and each
    followed by a comma, and where each starts (and the last ends): account a's are `data[ends[a]:ends[a + 1] - 1]`."""
    longest = int(np.diff(columns.at).max(initial=0))
    accounts, positions = len(columns.numbers), len(columns.position_texts)
    out = np.empty(accounts * (_FIXED_ACCOUNT + 4 * longest) + positions * (_FIXED_POSITION + 3 * longest), np.uint8)
    ends = np.zeros(accounts + 1, np.int64)
    _write(out, np.frombuffer(columns.strings, dtype=np.uint8), *(np.ascontiguousarray(c, dtype=np.int64) for c in (
        columns.at, columns.texts, columns.numbers, columns.figures, columns.first_position, columns.position_texts,
        columns.position_figures)), ends)
    return out[:ends[-1]], ends  # (what is left of `out` was never written: its pages never taken)


def snapshot_bytes(columns: SnapshotColumns) -> list[bytes]:
    """Return each account's snapshot as the JSON bytes pydantic writes for it."""
    data, ends = written(columns)
    data = data.tobytes()
    return [data[start:end - 1] for start, end in zip(ends.tolist(), ends[1:].tolist())]


def snapshot_columns(snapshots: list[AccountSnapshot]) -> SnapshotColumns:
    """Return snapshot models as the columns `snapshot_bytes` writes, each distinct string escaped once (for tests
    and tools: the engine's columns come from its integer figures)."""
    strings: dict[bytes, int] = {b"": 0}  # the tail of an id written whole

    def text(value: str) -> int:
        return strings.setdefault(escaped(value), len(strings))

    positions = [p for s in snapshots for p in s.positions]
    texts = np.array([[text(s.id), 0, text(s.wallet), text(s.state)] for s in snapshots], dtype=np.int64)
    position_texts = np.array([[text(p.market), text(str(p.size)), text(str(p.entry_price))] for p in positions],
                              dtype=np.int64).reshape(len(positions), len(POSITION_TEXTS))
    return SnapshotColumns(
        *joined(list(strings)), texts=texts,
        numbers=np.array([[s.ts, s.subaccount] for s in snapshots], dtype=np.int64),
        figures=np.array([[pair(getattr(s, f)) for f in ACCOUNT_FIGURES] for s in snapshots], dtype=np.int64),
        first_position=np.cumsum([0, *(len(s.positions) for s in snapshots)]), position_texts=position_texts,
        position_figures=np.array([[pair(getattr(p, f)) for f in POSITION_FIGURES] for p in positions],
                                  dtype=np.int64).reshape(len(positions), len(POSITION_FIGURES), 2))


def pair(figure: Decimal | None) -> tuple[int, int]:
    """Return a figure as its Decimal's (coefficient, exponent), NONE for None (a −0 becomes 0)."""
    if figure is None:
        return NONE, 0
    sign, digits, exponent = figure.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{figure} is not a finite number")
    return (-1 if sign else 1) * int("".join(map(str, digits))), exponent


@compiled
def _write(out, strings, at, texts, numbers, figures, first_position, position_texts, position_figures,
           ends):  # pragma: no cover (compiled)
    """Write every account's snapshot into `out`, each followed by a comma; `ends[a + 1]` is where account a's
    comma ends."""
    w = 0
    for a in range(numbers.shape[0]):
        w = _literal(out, w, _ID)
        w = copy_into(out, w, strings, at[texts[a, 0]], at[texts[a, 0] + 1])
        w = copy_into(out, w, strings, at[texts[a, 1]], at[texts[a, 1] + 1])
        w = _literal(out, w, _TS)
        w = write_integer(out, w, numbers[a, 0])
        w = _literal(out, w, _WALLET)
        w = copy_into(out, w, strings, at[texts[a, 2]], at[texts[a, 2] + 1])
        w = _literal(out, w, _SUBACCOUNT)
        w = write_integer(out, w, numbers[a, 1])
        w = _literal(out, w, _STATE)
        w = copy_into(out, w, strings, at[texts[a, 3]], at[texts[a, 3] + 1])
        for f in range(figures.shape[1]):
            w = _literal(out, w, _FIGURE + f)
            w = _figure(out, w, figures[a, f, 0], figures[a, f, 1])
        w = _literal(out, w, _POSITIONS)
        for p in range(first_position[a], first_position[a + 1]):
            if p > first_position[a]:
                w = _literal(out, w, _COMMA)
            for t in range(position_texts.shape[1]):
                w = _literal(out, w, _POSITION_TEXT + t)
                w = copy_into(out, w, strings, at[position_texts[p, t]], at[position_texts[p, t] + 1])
            for f in range(position_figures.shape[1]):
                w = _literal(out, w, _POSITION_FIGURE + f)
                w = _figure(out, w, position_figures[p, f, 0], position_figures[p, f, 1])
            w = _literal(out, w, _CLOSE)
        w = _literal(out, w, _END)
        w = _literal(out, w, _COMMA)
        ends[a + 1] = w


@inlined
def _literal(out, w, piece):  # pragma: no cover (compiled)
    """Write one of the fixed pieces of the layout."""
    return copy_into(out, w, _TEXT, _AT[piece], _AT[piece + 1])


@inlined
def _figure(out, w, coefficient, exponent):  # pragma: no cover (compiled)
    """Write a figure as a JSON string after its opening quote (which its name's literal ends with), or null in
    place of that quote."""
    if coefficient == NONE:
        return _literal(out, w - 1, _NULL)
    w = write_decimal(out, w, coefficient, exponent)
    out[w] = 34  # '"'
    return w + 1

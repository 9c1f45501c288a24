"""A funding close's messages written as JSON bytes: each holder's payment, its ledger entry and its audit entry.

The bytes are those pydantic writes for the `FundingPayment`, `LedgerEntry` and "funding_paid" `AuditEntry` the
Decimal engine builds (`streams.risk.outputs`), byte for byte: the same fields in the same order (`v` the default
1, no extra field), written by orjson, which escapes strings as pydantic does (`escaped`), each amount as the text
`str(Decimal)` gives it. The audit's digest is `quantdesk.wire.digest`'s: the canonical JSON of its input and data,
the input's part written once per event. A written message carries what the worker and the audit read of every
one of them; it reads any other field from its bytes (`Written`).

A close's holders on the integer grid have their messages written together from columns, in one compiled pass per
kind (`close_written`): runs (`WrittenPayments`, `WrittenLedger`, `WrittenAudits`) that go out whole, with no object
made per holder. Their audits' digests are hashed in a compiled pass too (OpenSSL's SHA-256), over inputs the same
pass wrote.
"""

import hashlib
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from typing import Any, Callable, Iterator, Self

import numpy as np
import orjson

from quantdesk.compiled import SHA256_SCRATCH, compiled, copy_into, sha256_hex_into
from quantdesk.messages import AuditEntry, FundingPayment, LedgerEntry, Message, account_key
from quantdesk.wire import EncodedRun, Written
from streams.domain.fixed_margin import MONEY_PLACES
from streams.risk.json_text import DECIMAL_CHARS, INTEGER_CHARS, write_decimal, write_integer
from streams.risk.snapshot_bytes import escaped

PIECE, STRING, INTEGER, MONEY, DIGEST = range(5)  # what a layout's step writes: a fixed piece, or a row's field
KEY, WALLET, SIZE = range(3)  # a holder's strings: its key (escaped, unquoted), wallet and size (JSON strings)
PAYMENT, AMOUNT, BALANCE = range(3)  # a holder's money figures (1e-9): paid, the ledger's amount, the balance after


@dataclass(slots=True)
class WrittenAudit(Written):
    """An audit entry written already, read as its `AuditEntry`: its subject and parameter version at hand."""

    MODEL = AuditEntry
    subject: str
    params: str


@dataclass(slots=True)
class WrittenPayment(Written):
    """A funding payment written already, read as its `FundingPayment`: what its audit entry reads at hand, and
    that entry once written (`funding_paid`: while the holder's figures are at hand, not in a second pass over a
    close's payments, by then out of the CPU's caches)."""

    MODEL = FundingPayment
    id: str
    wallet: str
    subaccount: int
    market: str
    payment: Decimal
    audit: WrittenAudit | None = None


@dataclass(slots=True)
class WrittenLedgerEntry(Written):
    """A ledger entry written already, read as its `LedgerEntry`: its account and the balance it leaves at hand."""

    MODEL = LedgerEntry
    wallet: str
    subaccount: int
    balance_after: Decimal


def funding_payment(*, id: str, ts: int, market: str, wallet: str, subaccount: int, size: Decimal, payment: Decimal,
                    cumulative_index: Decimal) -> WrittenPayment:
    """Write the `FundingPayment` of these fields."""
    return WrittenPayment(ts, orjson.dumps({
        "id": id, "ts": ts, "v": 1, "market": market, "wallet": wallet, "subaccount": subaccount, "size": str(size),
        "payment": str(payment), "cumulative_index": str(cumulative_index)}), id, wallet, subaccount, market, payment)


def ledger_entry(*, id: str, ts: int, wallet: str, subaccount: int, kind: str, market: str | None, amount: Decimal,
                 balance_after: Decimal, cause: str) -> WrittenLedgerEntry:
    """Write the `LedgerEntry` of these fields."""
    return WrittenLedgerEntry(ts, orjson.dumps({
        "id": id, "ts": ts, "v": 1, "wallet": wallet, "subaccount": subaccount, "kind": kind, "market": market,
        "amount": str(amount), "balance_after": str(balance_after), "cause": cause}), wallet, subaccount, balance_after)


def funding_paid(source: Message, dumped: dict[str, Any], params: str,
                 actor: str) -> Callable[[WrittenPayment], WrittenAudit]:
    """Return a writer of the "funding_paid" audit entry of a payment that event `source` (`dumped`: as `dump`
    gives it) made, taken by `actor` under parameter version `params`: `outputs.audit`'s entry, byte for byte."""
    canonical_input = b'"},"input":' + orjson.dumps(dumped, option=orjson.OPT_SORT_KEYS) + b"}"  # after "data"

    def write(payment: WrittenPayment) -> WrittenAudit:
        """Write the payment's audit entry."""
        subject, paid = account_key(payment.wallet, payment.subaccount), str(payment.payment)
        digest = hashlib.sha256(b'{"data":{"market":%b,"payment":"%b%b' % (escaped(payment.market), paid.encode(),
                                                                            canonical_input))
        return WrittenAudit(source.ts, orjson.dumps({
            "id": f"{source.id}:{subject}:funding_paid:{payment.id}", "ts": source.ts, "v": 1, "actor": actor,
            "action": "funding_paid", "subject": subject, "data": {"market": payment.market, "payment": paid},
            "causes": [source.id], "params": params, "digest": digest.hexdigest()}), subject, params)
    return write


@dataclass(frozen=True, slots=True)
class WrittenAudits(EncodedRun):
    """A close's "funding_paid" audit entries written one after another under one parameter version, read one by one
    as `WrittenAudit`s; keyed by their subjects."""

    params: str

    def __iter__(self) -> Iterator[WrittenAudit]:
        """Yield each row as a `WrittenAudit` (tests, a rebuild: off the engine's path)."""
        for r in range(len(self)):
            yield WrittenAudit(self.ts, self.row(r), self.keys[self.start + r], self.params)


@dataclass(frozen=True, slots=True)
class WrittenLedger(EncodedRun):
    """A close's "funding" ledger entries written one after another, read one by one as `WrittenLedgerEntry`s."""

    def __iter__(self) -> Iterator[WrittenLedgerEntry]:
        """Yield each row as a `WrittenLedgerEntry` (tests, a rebuild: off the engine's path)."""
        for r in range(len(self)):
            raw = self.row(r)
            entry = orjson.loads(raw)
            balance = Decimal(entry["balance_after"])
            yield WrittenLedgerEntry(self.ts, raw, entry["wallet"], entry["subaccount"], balance)


@dataclass(frozen=True, slots=True)
class WrittenPayments(EncodedRun):
    """A close's funding payments written one after another, each with its audit entry (the same row of `audits`),
    read one by one as `WrittenPayment`s."""

    audits: WrittenAudits

    def part(self, start: int, stop: int) -> Self:
        """Return rows [start, stop) of this run and of its audits."""
        return replace(self, start=self.start + start, stop=self.start + stop, audits=self.audits.part(start, stop))

    def __iter__(self) -> Iterator[WrittenPayment]:
        """Yield each row as a `WrittenPayment` with its audit entry (tests, a rebuild: off the engine's path)."""
        for r, entry in enumerate(self.audits):
            raw = self.row(r)
            paid = orjson.loads(raw)
            yield WrittenPayment(self.ts, raw, paid["id"], paid["wallet"], paid["subaccount"], paid["market"],
                                 Decimal(paid["payment"]), entry)


@dataclass(frozen=True)
class Layout:
    """A message as fixed pieces and the fields each row fills in between: `steps` are (what, which) pairs, a fixed
    piece (`PIECE`, its number) or a row's string (`STRING`, `KEY`…), integer, money figure (`MONEY`, `PAYMENT`…) or
    digest in hex (`DIGEST`)."""

    pieces: np.ndarray  # uint8
    at: np.ndarray  # piece i is pieces[at[i]:at[i + 1]]
    steps: np.ndarray  # steps × 2

    @classmethod
    def of(cls, *parts: bytes | tuple[int, int]) -> "Layout":
        """Return the layout of `parts`: bytes as they are, (what, which) pairs as the rows fill them."""
        pieces = [p for p in parts if isinstance(p, bytes)]
        steps, n = [], 0
        for part in parts:
            if isinstance(part, bytes):
                steps.append((PIECE, n))
                n += 1
            else:
                steps.append(part)
        at = np.zeros(len(pieces) + 1, np.int64)
        np.cumsum([len(p) for p in pieces], out=at[1:])
        return cls(np.frombuffer(b"".join(pieces), np.uint8), at, np.array(steps, np.int64).reshape(-1, 2))

    def most(self, strings: np.ndarray) -> int:
        """Return the most bytes rows of these strings' lengths (rows × strings) could need."""
        fixed, steps = int(self.at[-1]) + 1, self.steps[:, 0]
        fields = INTEGER_CHARS * (steps == INTEGER).sum() + DECIMAL_CHARS * (steps == MONEY).sum() + \
            64 * (steps == DIGEST).sum()
        lengths = strings[:, self.steps[steps == STRING, 1]].sum() if len(strings) else 0
        return int(len(strings) * (fixed + fields) + lengths)


@dataclass(frozen=True)
class CloseColumns:
    """A funding close's paying holders on the integer grid, as columns: per holder its strings (spans of
    `strings`, `KEY`, `WALLET`, `SIZE`), sub-account and money figures (`PAYMENT`, `AMOUNT`, `BALANCE`)."""

    keys: list[str]
    strings: bytes | np.ndarray  # an array read-only
    spans: np.ndarray  # holders × 3 × 2: start, end
    subaccount: np.ndarray  # holders
    figures: np.ndarray  # holders × 3


def close_written(columns: CloseColumns, source: Message, dumped: dict[str, Any], market: str, end: int,
                  index: Decimal, params: str, actor: str) -> WrittenPayments:
    """Return the payments, with their audit entries, of a close event `source` (`dumped`: as `dump` gives it) made
    for `market`'s hour ending at `end` at funding `index`, under parameter version `params` taken by `actor`: the
    bytes `funding_payment` and `funding_paid` write, holder by holder."""
    payment_id = escaped(f"funding:{market}:{end}:")[:-1]
    market_text, cause = escaped(market), escaped(source.id)
    digests = hex_digests(*filled(Layout.of(
        b'{"data":{"market":%b,"payment":"' % market_text, (MONEY, PAYMENT),
        b'"},"input":' + orjson.dumps(dumped, option=orjson.OPT_SORT_KEYS) + b"}"), columns))
    audits = filled(Layout.of(
        b'{"id":%b:' % cause[:-1], (STRING, KEY), b":funding_paid:%b" % payment_id[1:], (STRING, KEY),
        b'","ts":%d,"v":1,"actor":%b,"action":"funding_paid","subject":"' % (source.ts, escaped(actor)),
        (STRING, KEY), b'","data":{"market":%b,"payment":"' % market_text, (MONEY, PAYMENT),
        b'"},"causes":[%b],"params":%b,"digest":"' % (cause, escaped(params)), (DIGEST, 0), b'"}'), columns, digests)
    payments = filled(Layout.of(
        b'{"id":' + payment_id, (STRING, KEY), b'","ts":%d,"v":1,"market":%b,"wallet":' % (source.ts, market_text),
        (STRING, WALLET), b',"subaccount":', (INTEGER, 0), b',"size":', (STRING, SIZE), b',"payment":"',
        (MONEY, PAYMENT), b'","cumulative_index":%b}' % escaped(str(index))), columns)
    count = len(columns.keys)
    return WrittenPayments(*payments, columns.keys, 0, count, source.ts,
                           WrittenAudits(*audits, columns.keys, 0, count, source.ts, params))


def ledger_written(columns: CloseColumns, source: Message, market: str) -> WrittenLedger:
    """Return the "funding" ledger entries of a close event `source` in `market`: the bytes `ledger_entry` writes
    for `ledger_entries`' first entry of each holder."""
    cause = escaped(source.id)
    data, ends = filled(Layout.of(
        b'{"id":%b:' % cause[:-1], (STRING, KEY), b':0:funding","ts":%d,"v":1,"wallet":' % source.ts,
        (STRING, WALLET), b',"subaccount":', (INTEGER, 0), b',"kind":"funding","market":%b,"amount":"'
        % escaped(market), (MONEY, AMOUNT), b'","balance_after":"', (MONEY, BALANCE), b'","cause":%b}' % cause),
        columns)
    return WrittenLedger(data, ends, columns.keys, 0, len(columns.keys), source.ts)


def filled(layout: Layout, columns: CloseColumns, digests: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return each holder's message in `layout`, one after another and each followed by a comma, and where each
    starts (and the last ends)."""
    lengths = columns.spans[:, :, 1] - columns.spans[:, :, 0]
    out, ends = np.empty(layout.most(lengths), np.uint8), np.zeros(len(columns.keys) + 1, np.int64)
    _fill(out, layout.pieces, layout.at, layout.steps, np.frombuffer(columns.strings, np.uint8),
          np.ascontiguousarray(columns.spans),  # the layout `warm` compiled: another would compile again, on a close
          columns.subaccount, columns.figures, -MONEY_PLACES, np.empty(0, np.uint8) if digests is None else digests,
          ends)
    return out[:ends[-1]], ends


def hex_digests(data: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Return the SHA-256 of each row (`filled`'s, without its comma) in hex, 64 bytes a row one after another."""
    out = np.empty(64 * (len(ends) - 1), np.uint8)
    _digests(out, data, ends, np.empty(SHA256_SCRATCH, np.uint8))
    return out


@compiled
def _digests(out, data, ends, scratch) -> None:  # pragma: no cover (compiled)
    """Write each row's SHA-256 in hex into `out`, a row's 64 bytes after another's (a row ends before its comma)."""
    w = 0
    for r in range(ends.shape[0] - 1):
        w = sha256_hex_into(out, w, data, ends[r], ends[r + 1] - 1, scratch)


@cache
def warm() -> None:
    """Compile (or load) the close's writer, once a process, before any close."""
    source = Message(id="warm", ts=0)
    columns = CloseColumns(["k"], b'k"w""1"', np.array([[[0, 1], [1, 4], [4, 7]]]), np.zeros(1, np.int64),
                           np.ones((1, 3), np.int64))
    close_written(columns, source, {}, "m", 0, Decimal(0), "", "")
    ledger_written(columns, source, "m")


@compiled
def _fill(out, pieces, at, steps, strings, spans, integers, figures, exponent, digests,
          ends):  # pragma: no cover (compiled)
    """Write each row's message of `steps` into `out`, each followed by a comma; `ends[r + 1]` is where row r's
    comma ends."""
    w = 0
    for r in range(ends.shape[0] - 1):
        for s in range(steps.shape[0]):
            what, which = steps[s, 0], steps[s, 1]
            if what == PIECE:
                w = copy_into(out, w, pieces, at[which], at[which + 1])
            elif what == STRING:
                w = copy_into(out, w, strings, spans[r, which, 0], spans[r, which, 1])
            elif what == INTEGER:
                w = write_integer(out, w, integers[r])
            elif what == MONEY:
                w = write_decimal(out, w, figures[r, which], exponent)
            else:
                w = copy_into(out, w, digests, 64 * r, 64 * r + 64)
        out[w] = 44
        w += 1
        ends[r + 1] = w

"""Open interest by holders: each market's accounts net long and net short, and its skew signal, in one owner.

Accounts may be spread over several risk engines, each seeing only its own, so no engine can count a market's
holders. Each engine leaves a `HolderSide` record for every fill it applies (the side the account held before
and after); fed those records in event order, `OpenInterest` moves the counts and raises `open_interest_skew`
(`streams.domain.market_signals.skew_signals`) at every fill, audited under the parameter version the fill was
applied under, exactly as one engine holding every account did. Fed right after each event, its signals and
audit entries come after the engine's for the same fill: they are the market's, keyed apart from the account's.
"""

from dataclasses import dataclass, field
from typing import Any, Iterable

from quantdesk.messages import HeldSide, HolderSide
from streams.domain.alerts import AlertGate, Thresholds
from streams.domain.market_signals import skew_signals
from streams.risk.outputs import Outputs, decisions


@dataclass
class Holders:
    """One market's accounts net long and net short, and the gate of its skew signal."""

    longs: int = 0
    shorts: int = 0
    gate: AlertGate = field(default_factory=AlertGate)

    def move(self, side: HeldSide, step: int) -> None:
        """Move the count of `side` (none for flat) by `step`."""
        if side == "long":
            self.longs += step
        elif side == "short":
            self.shorts += step


class OpenInterest:
    """Every market's holders per side, moved only by `HolderSide` records, in the order the fills were applied."""

    def __init__(self, markets: Iterable[str], thresholds: Thresholds | None = Thresholds()) -> None:
        """Count holders of `markets`; raise the skew signal on `thresholds` (None: count only)."""
        self.thresholds = thresholds
        self.markets = {name: Holders() for name in markets}

    def apply(self, side: HolderSide) -> Outputs:
        """Move the fill's account from its side before to its side after; return the skew signals the fill
        raises and their audit entries."""
        holders = self.markets[side.market]
        holders.move(side.before, -1)
        holders.move(side.after, 1)
        out = Outputs()
        if self.thresholds:
            out.signals = skew_signals(holders.gate, self.thresholds, side.market, holders.longs, holders.shorts,
                                       side.fill.id, side.fill.ts)
            out.audit = decisions(out, side.fill, side.params)
        return out

    def take(self, caused: Outputs) -> Outputs:
        """Apply the side records of what one event caused, in order; return what they raise."""
        out = Outputs()
        for side in caused.sides:
            out.extend(self.apply(side))
        return out

    def to_row(self) -> dict[str, Any]:
        """Return the counts and gates as a stored row."""
        return {name: {"longs": h.longs, "shorts": h.shorts, "alerts": h.gate.to_row()}
                for name, h in self.markets.items()}

    def load_row(self, row: dict[str, Any]) -> None:
        """Take back a `to_row` row."""
        for name, held in row.items():
            self.markets[name] = Holders(held["longs"], held["shorts"], AlertGate.from_row(held["alerts"]))

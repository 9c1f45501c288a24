"""MIKEY's no-noise gate: hysteresis per condition, a cool-down per kind, on event time; and the signal's shape.

One `AlertGate` per subject (an account, or a market). A rule asks it two things:

- hysteresis: a condition (e.g. `health:20`, `venue:hyperliquid`) is *past* its line once it fired, and stays
  past, silent, until the value has regained the line by its margin (`health ≥ 22`); only then may it fire
  again. A value wobbling around the line fires once.
- cool-down: a kind fires at most once per `cooldown_ms` of event time per subject, unless the new signal is
  more severe than the last one let through (health under 10 after under 20 a minute ago is never held
  back). A crossing the cool-down holds back is *not* taken as signalled: the condition stays clear and the
  rule fires on the first evaluation after the cool-down if the value is still past the line, so the last
  word a trader got always matches the condition.

The gate holds only sets and integers, written as a stored row (`to_row`/`from_row`) with its subject's state.
"""

from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from quantdesk.messages import Severity, Signal
from quantdesk.settings import Settings
from streams.domain import ROUNDING


def setting_default(name: str) -> Any:
    """Return the default of settings field `signal_<name>`: the values live in one place."""
    return Settings.model_fields[f"signal_{name}"].default


RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Thresholds:
    """Every signal threshold, margin and the cool-down (settings `signal_*`; their defaults, DESIGN.md's values)."""

    health_lines: tuple[Decimal, ...] = setting_default("health_lines")
    health_margin: Decimal = setting_default("health_margin")
    liquidation_distance: Decimal = setting_default("liquidation_distance")
    liquidation_distance_margin: Decimal = setting_default("liquidation_distance_margin")
    funding_apr: Decimal = setting_default("funding_apr")
    funding_apr_margin: Decimal = setting_default("funding_apr_margin")
    volatility_ratio: Decimal = setting_default("volatility_ratio")
    volatility_margin: Decimal = setting_default("volatility_margin")
    volatility_min_history_ms: int = setting_default("volatility_min_history_ms")
    whale_notional: Decimal = setting_default("whale_notional")
    venue_divergence_bps: Decimal = setting_default("venue_divergence_bps")
    venue_divergence_margin_bps: Decimal = setting_default("venue_divergence_margin_bps")
    venue_max_age_ms: int = setting_default("venue_max_age_ms")
    oi_skew: Decimal = setting_default("oi_skew")
    oi_skew_margin: Decimal = setting_default("oi_skew_margin")
    oi_skew_min_holders: int = setting_default("oi_skew_min_holders")
    cooldown_ms: int = setting_default("cooldown_ms")

    @classmethod
    def of(cls, settings: Any) -> "Thresholds":
        """Return the thresholds a settings object names `signal_<field>`."""
        return cls(**{f.name: getattr(settings, f"signal_{f.name}") for f in fields(cls)})


@dataclass
class AlertGate:
    """One subject's hysteresis (conditions past their line) and cool-down (last signal per kind)."""

    past: set[str] = field(default_factory=set)
    last: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (ts, severity rank) let through
    _row: dict[str, Any] | None = field(default=None, compare=False, repr=False)  # `to_row`'s, until a change

    def crossed(self, condition: str, is_past: bool) -> bool:
        """Tell whether a clear condition is now past its line."""
        return is_past and condition not in self.past

    def regained(self, condition: str, is_back: bool) -> bool:
        """Tell whether a condition past its line has now regained it by its margin."""
        return is_back and condition in self.past

    def admit(self, kind: str, ts: int, severity: str, cooldown_ms: int) -> bool:
        """Let a signal of `kind` through unless one as severe was let through less than `cooldown_ms` before."""
        rank, last = RANK[severity], self.last.get(kind)
        if last is not None and ts - last[0] < cooldown_ms and rank <= last[1]:
            return False
        self.last[kind], self._row = (ts, rank), None
        return True

    def enter(self, *conditions: str) -> None:
        """Mark conditions as signalled past their line."""
        self.past.update(conditions)
        self._row = None

    def leave(self, *conditions: str) -> None:
        """Mark conditions as clear again."""
        self.past.difference_update(conditions)
        self._row = None

    def forget(self, prefix: str) -> None:
        """Clear, silently, every condition starting with `prefix` (what it watched is gone)."""
        self.past, self._row = {c for c in self.past if not c.startswith(prefix)}, None

    def to_row(self) -> dict[str, Any]:
        """Return the gate as a stored row (made once a change: a checkpoint asks each account's, and tells an
        account's row unchanged by it; never to be changed by the caller)."""
        if self._row is None:
            self._row = {"past": sorted(self.past), "last": {k: list(v) for k, v in sorted(self.last.items())}}
        return self._row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "AlertGate":
        """Return the gate a `to_row` row holds."""
        return cls(set(row["past"]), {k: (v[0], v[1]) for k, v in row["last"].items()})


def signal(cause_id: str, ts: int, kind: str, severity: Severity, subject: str, message: str,
           data: dict[str, Any], causes: list[str], level: str = "", market: str | None = None,
           wallet: str | None = None, subaccount: int | None = None) -> Signal:
    """Return a signal whose id is its cause's, its kind and subject (and level): the same in every run."""
    tail = f":{level}" if level else ""
    return Signal(id=f"{cause_id}:{kind}:{subject}{tail}", ts=ts, kind=kind, severity=severity, subject=subject,
                  message=message, market=market, wallet=wallet, subaccount=subaccount, data=data, causes=causes)


def rounded(value: Decimal, places: int) -> Decimal:
    """Round to `places` decimals, half to even, in the domain's fixed context (never the thread's)."""
    return ROUNDING.plus(value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN, ROUNDING))  # no "-0.0"


def price_text(price: Decimal) -> str:
    """Return a price as a trader reads it: cents from 1 up, six places under."""
    return f"{rounded(price, 2):,}" if abs(price) >= 1 else str(rounded(price, 6))


def percent_text(share: Decimal) -> str:
    """Return a share (0.031) as a percentage with one decimal ("3.1 %")."""
    return f"{rounded(share * 100, 1)} %"


def money_text(amount: Decimal) -> str:
    """Return a USD amount in whole dollars with separators ("$150,000")."""
    return f"${rounded(amount, 0):,}"


def short_key(wallet: str, subaccount: int) -> str:
    """Return an account as a sentence names it: the wallet's first four characters, then the sub-account."""
    return f"{wallet[:4]}…:{subaccount}" if len(wallet) > 6 else f"{wallet}:{subaccount}"

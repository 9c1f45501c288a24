"""MIKEY's account rules: health crossing its lines (and recovering), a liquidation price near, a liquidation
planned and completed. Pure: they read an account's exact margin figures and its gate, on event time.

- `health_crossed` when health falls under a line (50, 20, 10: info, warning, critical); one signal for the
  lowest line crossed at once. `health_recovered` (info) once it is back at a line plus the margin (22 for 20).
- `liquidation_near` (warning; critical once the oracle is past it) when a position's liquidation price is
  nearer than 5 % of its oracle price; clear again at 6 %.
- `liquidation_planned` (critical) and `liquidation_completed` (warning): actions on the trader's money, each
  at most once per plan, so never held back by the cool-down.

An account without positions has no health to watch: its conditions clear silently.
"""

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from quantdesk.messages import LiquidationPlan, Severity, Signal, account_key
from streams.domain import CONTEXT
from streams.domain.alerts import AlertGate, Thresholds, percent_text, price_text, rounded, short_key, signal
from streams.domain.margin import Margin, PositionRisk

HEALTH = "health:"
NEAR = "liquidation:"


class Holder:
    """An account as its signals name it: key, wallet and sub-account, and its short form for sentences."""

    def __init__(self, wallet: str, subaccount: int) -> None:
        self.wallet, self.subaccount = wallet, subaccount
        self.key, self.short = account_key(wallet, subaccount), short_key(wallet, subaccount)

    def signal(self, cause_id: str, ts: int, kind: str, severity: Severity, message: str, data: dict[str, Any],
               level: str = "", market: str | None = None) -> Signal:
        """Return a signal about this account, caused by input `cause_id`."""
        return signal(cause_id, ts, kind, severity, self.key, message, data, [cause_id], level, market,
                      self.wallet, self.subaccount)


def health_text(health: Decimal) -> str:
    """Return health with one decimal, rounded down: 19.99 reads 19.9, never 20.0 under 20."""
    return str(health.quantize(Decimal("0.1"), ROUND_FLOOR, CONTEXT))


def distance(risk: PositionRisk, liquidation: Decimal | None) -> Decimal | None:
    """Return how far the oracle may move against the position before its liquidation price, as a share of the
    oracle (negative: already past it), or None when it has none."""
    if liquidation is None:
        return None
    gap = risk.oracle - liquidation if risk.size > 0 else liquidation - risk.oracle
    return CONTEXT.divide(gap, risk.oracle)


def nearest(margin: Margin) -> tuple[PositionRisk, Decimal, Decimal] | None:
    """Return the position nearest its liquidation price, that price and the distance; None when none has one."""
    found = [(d, r.market, r, p) for r in margin.positions
             if (d := distance(r, p := margin.liquidation_price[r.market])) is not None]
    if not found:
        return None
    d, _, r, p = min(found)
    return r, p, d


def severity_of(line: Decimal, lines: list[Decimal]) -> Severity:
    """Return a health line's severity: the lowest line critical, the next warning, the others info."""
    rank = sorted(lines).index(line)
    return "critical" if rank == 0 else "warning" if rank == 1 else "info"


def account_signals(gate: AlertGate, t: Thresholds, holder: Holder, margin: Margin, cause_id: str,
                    ts: int) -> list[Signal]:
    """Return the health and liquidation-distance signals of an account's figures after input `cause_id`."""
    if not margin.positions:
        gate.forget(HEALTH)
        gate.forget(NEAR)
        return []
    if not gate.past and all(margin.health >= line for line in t.health_lines) and not any(
            (gap := distance(r, margin.liquidation_price[r.market])) is not None and gap < t.liquidation_distance
            for r in margin.positions):
        return []  # a gate past no line stays so: no line crossed, no liquidation price near (most accounts)
    return [*health_signals(gate, t, holder, margin, cause_id, ts),
            *near_signals(gate, t, holder, margin, cause_id, ts)]


def health_signals(gate: AlertGate, t: Thresholds, holder: Holder, margin: Margin, cause_id: str,
                   ts: int) -> list[Signal]:
    """Return a crossing under the lowest line newly crossed, or a recovery above the highest line regained."""
    health, lines, out = margin.health, sorted(t.health_lines, reverse=True), []
    crossed = [line for line in lines if gate.crossed(f"{HEALTH}{line}", health < line)]
    if crossed and gate.admit("health_crossed", ts, severity := severity_of(min(crossed), lines), t.cooldown_ms):
        gate.enter(*(f"{HEALTH}{line}" for line in crossed))
        out.append(crossed_signal(holder, margin, min(crossed), severity, cause_id, ts))
    regained = [line for line in lines if gate.regained(f"{HEALTH}{line}", health >= line + t.health_margin)]
    if regained and gate.admit("health_recovered", ts, "info", t.cooldown_ms):
        gate.leave(*(f"{HEALTH}{line}" for line in regained))
        line = max(regained)
        out.append(holder.signal(cause_id, ts, "health_recovered", "info",
                                 f"Health {health_text(health)} on {holder.short}, back above {line}",
                                 {**figures(margin), "line": str(line)}, str(line)))
    return out


def crossed_signal(holder: Holder, margin: Margin, line: Decimal, severity: Severity, cause_id: str,
                   ts: int) -> Signal:
    """Return the signal of health under `line`, naming the liquidation price nearest the oracle."""
    data, text = {**figures(margin), "line": str(line)}, f"Health {health_text(margin.health)} on {holder.short}, under {line}"
    market = None
    if found := nearest(margin):
        risk, price, gap = found
        market = risk.market
        data |= {"market": market, "liquidation_price": str(price), "oracle": str(risk.oracle),
                 "distance": str(rounded(gap, 6))}
        text += f": {market} liquidation price {price_text(price)} is {percent_text(gap)} away"
    return holder.signal(cause_id, ts, "health_crossed", severity, text, data, str(line), market)


def near_signals(gate: AlertGate, t: Thresholds, holder: Holder, margin: Margin, cause_id: str,
                 ts: int) -> list[Signal]:
    """Return a signal per position whose liquidation price came nearer than the threshold."""
    held, out = {r.market for r in margin.positions}, []
    gate.leave(*[c for c in gate.past if c.startswith(NEAR) and c[len(NEAR):] not in held])
    for risk in margin.positions:
        condition, price = f"{NEAR}{risk.market}", margin.liquidation_price[risk.market]
        gap = distance(risk, price)
        near = gap is not None and gap < t.liquidation_distance
        if gate.regained(condition, gap is None or gap >= t.liquidation_distance + t.liquidation_distance_margin):
            gate.leave(condition)
        if not gate.crossed(condition, near):
            continue
        assert gap is not None and price is not None
        severity: Severity = "critical" if gap <= 0 else "warning"
        if not gate.admit("liquidation_near", ts, severity, t.cooldown_ms):
            continue
        gate.enter(condition)
        where = (f"is {percent_text(gap)} away" if gap > 0
                 else f"is passed: oracle {price_text(risk.oracle)}")
        out.append(holder.signal(
            cause_id, ts, "liquidation_near", severity,
            f"{risk.market} liquidation price {price_text(price)} on {holder.short} {where} "
            f"(health {health_text(margin.health)})",
            {**figures(margin), "market": risk.market, "liquidation_price": str(price), "oracle": str(risk.oracle),
             "size": str(risk.size), "distance": str(rounded(gap, 6))}, risk.market, risk.market))
    return out


def figures(margin: Margin) -> dict[str, str]:
    """Return the account figures every account signal carries."""
    return {"health": str(margin.health), "equity": str(margin.equity),
            "maintenance_margin": str(margin.maintenance_margin)}


def liquidation_planned(holder: Holder, plan: LiquidationPlan, cause_id: str, ts: int) -> Signal:
    """Return the signal of a liquidation plan made for the account."""
    closes = ", ".join(f"{'selling' if c.side == 'sell' else 'buying'} {c.size} {c.market} at {price_text(c.price)}"
                       for c in plan.closes) or "nothing to close"
    markets = sorted({c.market for c in plan.closes})
    return holder.signal(
        cause_id, ts, "liquidation_planned", "critical",
        f"Liquidation planned on {holder.short}: equity {price_text(plan.equity)} is under maintenance margin "
        f"{price_text(plan.maintenance_margin)}, {closes}",
        {"plan": plan.id, "equity": str(plan.equity), "maintenance_margin": str(plan.maintenance_margin),
         "closes": [{"market": c.market, "side": c.side, "size": str(c.size), "price": str(c.price),
                     "fee": str(c.fee)} for c in plan.closes],
         "deficit": str(plan.deficit)},
        market=markets[0] if len(markets) == 1 else None)


def liquidation_completed(holder: Holder, outcome: dict[str, str], market: str, cause_id: str, ts: int) -> Signal:
    """Return the signal of a liquidation whose last fill came back: `outcome` holds its plan, deficit, insurance
    draw and socialised loss (as the audit log records them)."""
    deficit, draw = Decimal(outcome["deficit"]), Decimal(outcome["insurance_draw"])
    loss = Decimal(outcome["socialised_loss"])
    text = f"Liquidation of {holder.short} completed on {market}"
    if deficit > 0:
        text += (f": deficit {price_text(deficit)}, {price_text(draw)} drawn from the insurance fund, "
                 f"{price_text(loss)} socialised")
    return holder.signal(cause_id, ts, "liquidation_completed", "warning", text,
                         {k: outcome[k] for k in ("plan", "deficit", "insurance_draw", "socialised_loss")},
                         market=market)

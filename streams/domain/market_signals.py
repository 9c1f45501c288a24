"""MIKEY's market rules, pure, on event time. Subject: the market; no wallet is ever named.

Where the risk engine keeps the figures (funding hours) and the open interest counts holders
(`streams.risk.open_interest`):
- `funding_flip` (info): an hour's rate has the other sign than the last non-zero one.
  `funding_extreme` (warning): |APR| = |hourly rate| × 24 × 365 over 50 %, clear again at 45 %.
- `open_interest_skew` (info): long OI equals short OI in base units on a perp, so skew is the share of a
  market's holders (accounts) net long or net short: at least 75 % on one side with at least 5 holders,
  clear again under 70 %.

Where the market tracker runs (`MarketWatch`, one per market in the markets agent):
- `volatility_spike` (warning): 1-minute realised volatility over 3× its 24 h baseline (`volatility`), after
  the baseline covers `volatility_min_history_ms`; clear again at 2.5×.
- `whale_fill` (info; warning at 10×): a trade of $100k notional or more (its taker's side: one per trade).
- `oracle_degraded` (warning) and `oracle_recovered` (info): the tracker's verdict (rejected or stale).
- `venue_divergence` (warning): our mark against another venue's latest price (no older than
  `venue_max_age_ms`) over 50 bps, clear again at 40 bps.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from quantdesk.messages import Fill, MarketState, Severity, Signal, VenuePrice
from streams.domain import CONTEXT, as_decimal, as_text
from streams.domain.alerts import AlertGate, Thresholds, money_text, percent_text, price_text, rounded, signal
from streams.domain.funding import FundedHour
from streams.domain.volatility import RealisedVolatility, root

HOURS_PER_YEAR = 24 * 365
BPS = Decimal(10_000)


def market_signal(market: str, cause_id: str, ts: int, kind: str, severity: Severity, message: str,
                  data: dict[str, Any], causes: list[str], level: str = "") -> Signal:
    """Return a signal about a market."""
    return signal(cause_id, ts, kind, severity, market, message, {"market": market, **data}, causes, level, market)


def sign(value: Decimal) -> int:
    """Return -1, 0 or 1."""
    return (value > 0) - (value < 0)


def funding_signals(gate: AlertGate, t: Thresholds, hour: FundedHour, last_sign: int, cause_id: str,
                    ts: int) -> tuple[list[Signal], int]:
    """Return the signals of a funded hour closed by input `cause_id`, and the last non-zero rate sign after it."""
    rate, market, out = hour.rate, hour.market, []
    apr = CONTEXT.multiply(rate, HOURS_PER_YEAR)
    who = "longs pay shorts" if rate > 0 else "shorts pay longs" if rate < 0 else "nobody pays"
    figures = {"rate": str(rate), "apr": str(apr), "period_start": hour.start, "period_end": hour.end,
               "oracle_twap": str(hour.oracle_twap), "mark_twap": str(hour.mark_twap)}
    rate_text = f"{rounded(rate * 100, 4)} %/h, APR {percent_text(apr)}"
    now = sign(rate)
    if now and last_sign and now != last_sign and gate.admit("funding_flip", ts, "info", t.cooldown_ms):
        out.append(market_signal(market, cause_id, ts, "funding_flip", "info",
                                 f"{market} funding flipped {'positive' if now > 0 else 'negative'}: {who}, {rate_text}",
                                 figures, [cause_id]))
    if gate.regained("funding", abs(apr) <= t.funding_apr - t.funding_apr_margin):
        gate.leave("funding")
    if gate.crossed("funding", abs(apr) > t.funding_apr) and gate.admit("funding_extreme", ts, "warning",
                                                                         t.cooldown_ms):
        gate.enter("funding")
        out.append(market_signal(market, cause_id, ts, "funding_extreme", "warning",
                                 f"{market} funding APR {percent_text(apr)} is beyond ±{percent_text(t.funding_apr)}: "
                                 f"{who} {rounded(abs(rate) * 100, 4)} %/h", figures, [cause_id]))
    return out, now or last_sign


def skew_signals(gate: AlertGate, t: Thresholds, market: str, longs: int, shorts: int, cause_id: str,
                 ts: int) -> list[Signal]:
    """Return a skew signal when one side's share of the market's holders reaches the threshold."""
    holders, out = longs + shorts, []
    for side, count in (("long", longs), ("short", shorts)):
        share = CONTEXT.divide(Decimal(count), Decimal(holders)) if holders else Decimal(0)
        condition = f"skew:{side}"
        if gate.regained(condition, share < t.oi_skew - t.oi_skew_margin):
            gate.leave(condition)
        skewed = holders >= t.oi_skew_min_holders and share >= t.oi_skew
        if gate.crossed(condition, skewed) and gate.admit("open_interest_skew", ts, "info", t.cooldown_ms):
            gate.enter(condition)
            out.append(market_signal(
                market, cause_id, ts, "open_interest_skew", "info",
                f"{market} holders lean {side}: {count} of {holders} accounts ({percent_text(share)}) are net {side}",
                {"side": side, "longs": longs, "shorts": shorts, "share": str(rounded(share, 6))}, [cause_id], side))
    return out


@dataclass
class MarketWatch:
    """One market's signal state in the markets agent: gate, realised volatility, other venues' prices."""

    market: str
    gate: AlertGate = field(default_factory=AlertGate)
    volatility: RealisedVolatility = field(default_factory=RealisedVolatility)
    venues: dict[str, VenuePrice] = field(default_factory=dict)
    mark: Decimal | None = None
    mark_cause: str = ""  # the input that set the mark last
    degraded_since: int | None = None

    def to_row(self) -> dict[str, Any]:
        """Return the watch as a stored row (the volatility's returns are stored apart: `RealisedVolatility`)."""
        return {"gate": self.gate.to_row(), "volatility": self.volatility.to_row(),
                "venues": {name: price.model_dump(mode="json") for name, price in sorted(self.venues.items())},
                "mark": as_text(self.mark), "mark_cause": self.mark_cause, "degraded_since": self.degraded_since}

    def load_row(self, row: dict[str, Any], recent: list[list[Any]], minutes: list[list[Any]]) -> None:
        """Take back a `to_row` row and the volatility's returns and minutes stored apart."""
        self.gate = AlertGate.from_row(row["gate"])
        self.volatility.load_row(row["volatility"], recent, minutes)
        self.venues = {name: VenuePrice.model_validate(price) for name, price in row["venues"].items()}
        self.mark, self.mark_cause = as_decimal(row["mark"]), row["mark_cause"]
        self.degraded_since = row["degraded_since"]

    def on_state(self, t: Thresholds, state: MarketState, cause_id: str, verdict: bool = True) -> list[Signal]:
        """Return the signals of a market state caused by input `cause_id`: the oracle's verdict (`verdict`: the
        state follows a tick or a market gone stale, not a fill), volatility when a tick's price was accepted, and,
        the mark having moved, venue divergence."""
        out = self.oracle(t, state, cause_id) if verdict else []
        if state.tick_price is not None:
            self.volatility.add(state.ts, state.tick_price)
            out += self.volatility_spike(t, cause_id, state.ts)
        if state.mark_price is not None and state.mark_price != self.mark:
            self.mark, self.mark_cause = state.mark_price, cause_id
            out += [s for venue in sorted(self.venues) for s in self.divergence(t, venue, state.ts, cause_id)]
        return out

    def oracle(self, t: Thresholds, state: MarketState, cause_id: str) -> list[Signal]:
        """Return `oracle_degraded` when the market degrades, `oracle_recovered` when it is healthy again."""
        degraded = state.status == "degraded"
        if self.gate.crossed("oracle", degraded) and self.gate.admit("oracle_degraded", state.ts, "warning",
                                                                     t.cooldown_ms):
            self.gate.enter("oracle")
            self.degraded_since = state.ts
            return [market_signal(self.market, cause_id, state.ts, "oracle_degraded", "warning",
                                  f"{self.market} oracle degraded ({state.reason}): liquidations paused",
                                  {"reason": state.reason, "oracle": str(state.oracle_price)}, [cause_id])]
        if self.gate.regained("oracle", not degraded) and self.gate.admit("oracle_recovered", state.ts, "info",
                                                                          t.cooldown_ms):
            self.gate.leave("oracle")
            since, self.degraded_since = self.degraded_since, None
            after = f" after {(state.ts - since) // 1000} s" if since is not None else ""
            return [market_signal(self.market, cause_id, state.ts, "oracle_recovered", "info",
                                  f"{self.market} oracle healthy again at {price_text(state.oracle_price)}{after}",
                                  {"oracle": str(state.oracle_price), "degraded_ms": None if since is None
                                   else state.ts - since}, [cause_id])]
        return []

    def volatility_spike(self, t: Thresholds, cause_id: str, ts: int) -> list[Signal]:
        """Return a spike when the last minute's realised volatility passes its multiple of the baseline."""
        vol = self.volatility
        base = vol.baseline_variance()
        if base is None or not base or vol.history_ms() < t.volatility_min_history_ms:
            return []
        minute = vol.minute_variance()
        back = t.volatility_ratio - t.volatility_margin
        if self.gate.regained("volatility", minute <= back * back * base):
            self.gate.leave("volatility")
        spiking = minute > t.volatility_ratio * t.volatility_ratio * base
        if not (self.gate.crossed("volatility", spiking)
                and self.gate.admit("volatility_spike", ts, "warning", t.cooldown_ms)):
            return []
        self.gate.enter("volatility")
        now, usual = root(minute), root(base)
        multiple = root(CONTEXT.divide(minute, base))
        return [market_signal(self.market, cause_id, ts, "volatility_spike", "warning",
                              f"{self.market} 1-minute volatility {rounded(now * 100, 3)} % is "
                              f"{rounded(multiple, 1)}× its 24 h baseline {rounded(usual * 100, 3)} %",
                              {"volatility_1m": str(rounded(now, 12)), "baseline_1m": str(rounded(usual, 12)),
                               "ratio": str(rounded(multiple, 6))}, [cause_id])]

    def whale(self, t: Thresholds, fill: Fill) -> list[Signal]:
        """Return a whale signal for a trade (its taker's side) of the threshold's notional or more."""
        notional = CONTEXT.multiply(fill.size, fill.price)
        if fill.liquidity != "taker" or notional < t.whale_notional:
            return []
        severity: Severity = "warning" if notional >= 10 * t.whale_notional else "info"
        if not self.gate.admit("whale_fill", fill.ts, severity, t.cooldown_ms):
            return []
        return [market_signal(self.market, fill.id, fill.ts, "whale_fill", severity,
                              f"Whale {fill.side} on {self.market}: {fill.size} at {price_text(fill.price)}, "
                              f"{money_text(notional)} notional",
                              {"side": fill.side, "size": str(fill.size), "price": str(fill.price),
                               "notional": str(notional)}, [fill.id])]

    def on_venue(self, t: Thresholds, price: VenuePrice) -> list[Signal]:
        """Keep a venue's latest price; return a divergence signal against our mark."""
        latest = self.venues.get(price.venue)
        if latest is not None and (price.ts, price.id) < (latest.ts, latest.id):
            return []
        self.venues[price.venue] = price
        return self.divergence(t, price.venue, price.ts, price.id)

    def divergence(self, t: Thresholds, venue: str, ts: int, cause_id: str) -> list[Signal]:
        """Return a signal when our mark is further than the threshold from a venue's fresh price."""
        price, mark = self.venues[venue], self.mark
        if mark is None:
            return []
        condition = f"venue:{venue}"
        bps = CONTEXT.multiply(CONTEXT.divide(CONTEXT.subtract(mark, price.price), price.price), BPS)
        fresh = ts - price.ts <= t.venue_max_age_ms
        if self.gate.regained(condition, not fresh or abs(bps) <= t.venue_divergence_bps - t.venue_divergence_margin_bps):
            self.gate.leave(condition)
        if not (self.gate.crossed(condition, fresh and abs(bps) > t.venue_divergence_bps)
                and self.gate.admit("venue_divergence", ts, "warning", t.cooldown_ms)):
            return []
        self.gate.enter(condition)
        causes = sorted({price.id, self.mark_cause} - {""})
        where = "above" if bps > 0 else "below"
        return [market_signal(self.market, cause_id, ts, "venue_divergence", "warning",
                              f"{self.market} mark {price_text(mark)} is {rounded(abs(bps), 1)} bps {where} "
                              f"{venue}'s {price_text(price.price)}",
                              {"venue": venue, "mark": str(mark), "venue_price": str(price.price),
                               "bps": str(rounded(bps, 4)), "venue_ts": price.ts}, causes, venue)]

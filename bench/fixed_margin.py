"""The exact margin in integer units, every holder at once, beside the Decimal engine's per holder and bare numpy.

The holders are the holders bench's (`bench.holders`: sixty kinds of account, each in the three default
markets), laid out as int64 columns at `streams.domain.fixed_margin`'s units. Timed in the same run:
- `account_margins` over every holder (figures, sums, equity, free collateral, health, leverage, each
  position's liquidation price), and `funding_owed`
  of every holder of BTC-PERP at a close;
- `Account.margin` and `Account.settle_funding` (Decimal) over the first `DECIMAL_SAMPLE` holders, per holder;
- a bare numpy pass in floats over the same columns: each position's P&L, notional and margins, their sums,
  equity and health (no rounding, no funding).
The integer figures of the sampled holders are checked against their Decimal ones (`matches_decimal`).
"""

import statistics
import time
from decimal import Decimal
from typing import Any, Callable

import numpy as np

from bench.holders import MOVE, PRICES, TEMPLATES, held
from quantdesk.markets import DEFAULT_MARKETS
from streams.domain.accounts import Account
from streams.domain.fixed_margin import (
    BEYOND_PRICE, LIQUIDATION_LIMIT, MONEY_PLACES, PRICE_PLACES, RATE_PLACES, SIZE_PLACES, Margins, account_margins,
    funding_owed, health_figure, leverage_figure, money, price_figure, units)
from streams.domain.margin import Margin, Quote

MARKETS = sorted(PRICES)
INDEX_NOW = {"BTC-PERP": Decimal("12.345678901234"), "ETH-PERP": Decimal("-0.5"), "SOL-PERP": Decimal("0.0123")}
DECIMAL_SAMPLE = 2000
LIMIT = 10**19  # wider than any column's: `account_margins` itself refuses what is out of its range


def quotes() -> dict[str, Quote]:
    """Return each market's quote: BTC 1 % up, the others at the seed's price, a funding index moved on."""
    params = {m.name: m for m in DEFAULT_MARKETS}
    return {m: Quote(PRICES[m] * (1 + MOVE) if m == "BTC-PERP" else PRICES[m], params[m].mmr, params[m].imr,
                     INDEX_NOW[m]) for m in MARKETS}


def columns(kinds: list[Account], holders: int, quoted: dict[str, Quote]) -> tuple[np.ndarray, ...]:
    """Return `account_margins`' columns for `holders` holders, holder i of kind i % TEMPLATES."""
    of = np.arange(holders) % TEMPLATES

    def grid(figure: Callable[[Account, str], Decimal], places: int) -> np.ndarray:
        return np.array([[units(figure(k, m), places, LIMIT, "figure") for m in MARKETS] for k in kinds])[of]

    def row(figure: Callable[[Quote], Decimal], places: int) -> np.ndarray:
        return np.array([units(figure(quoted[m]), places, LIMIT, "figure") for m in MARKETS])

    collateral = np.array([units(k.collateral, MONEY_PLACES, LIMIT, "collateral") for k in kinds])[of]
    return (collateral, grid(lambda k, m: k.positions[m].size, SIZE_PLACES),
            grid(lambda k, m: k.positions[m].entry, PRICE_PLACES), grid(lambda k, m: k.funding_index[m], PRICE_PLACES),
            row(lambda q: q.oracle, PRICE_PLACES), row(lambda q: q.funding_index, PRICE_PLACES),
            row(lambda q: q.mmr, RATE_PLACES), row(lambda q: q.imr, RATE_PLACES))


def median_seconds(step: Callable[[], Any], repeats: int) -> float:
    """Return the median seconds of `step()` over `repeats` runs after one warm run."""
    step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_floats(book: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    """Return the anchor: the same columns as floats, marked, summed and turned into equity and health."""
    collateral, size, entry, _, oracle, _, mmr, imr = (np.asarray(c, dtype=np.float64) for c in book)

    def mark() -> Any:
        notional = np.abs(size) * oracle
        equity = collateral + (size * (oracle - entry)).sum(axis=1)
        mm, im = (notional * mmr).sum(axis=1), (notional * imr).sum(axis=1)
        return equity, im, np.clip(100 * (1 - mm / equity), 0, 100)
    return mark


def matches(got: Margins, margins: list[Margin]) -> bool:
    """Tell whether the integer figures of the first holders are their Decimal ones, value and string (a liquidation
    price beyond the pass's limit: BEYOND_PRICE exactly when the Decimal one is over it)."""
    for a, m in enumerate(margins):
        figures = [(money(got.equity[a]), m.equity), (money(got.free_collateral[a]), m.free_collateral),
                   (health_figure(got.health[a]), m.health)]
        figures += [(money(got.totals[a, c]), total) for c, total in enumerate(
            (m.unrealised_pnl, m.unsettled_funding, m.notional, m.maintenance_margin, m.initial_margin))]
        for k, r in enumerate(m.positions):
            figures += [(money(got.unrealised_pnl[a, k]), r.unrealised_pnl),
                        (money(got.unsettled_funding[a, k]), r.unsettled_funding),
                        (money(got.notional[a, k]), r.notional),
                        (money(got.maintenance_margin[a, k]), r.maintenance_margin),
                        (money(got.initial_margin[a, k]), r.initial_margin)]
        if any(mine != theirs or str(mine) != str(theirs.copy_abs() if theirs == 0 else theirs)  # no −0 in integers
               for mine, theirs in figures) or str(leverage_figure(got.leverage[a])) != str(m.leverage):
            return False
        for k, r in enumerate(m.positions):
            price, theirs = got.liquidation_price[a, k], m.liquidation_price[r.market]
            beyond = theirs is not None and theirs > price_figure(LIQUIDATION_LIMIT)
            if (price == BEYOND_PRICE) != beyond or not beyond and str(price_figure(price)) != str(theirs):
                return False
    return True


def fixed_margin_costs(holders: int, repeats: int) -> dict[str, Any]:
    """Return µs per holder of the integer pass, of the Decimal engine's per holder, and of bare numpy floats."""
    quoted, kinds = quotes(), [held(j) for j in range(TEMPLATES)]
    book = columns(kinds, holders, quoted)
    sample = [kinds[i % TEMPLATES] for i in range(min(holders, DECIMAL_SAMPLE))]
    btc = MARKETS.index("BTC-PERP")
    kernel = median_seconds(lambda: account_margins(*book), repeats)
    funding = median_seconds(lambda: funding_owed(book[1][:, btc], book[3][:, btc], int(book[5][btc])), repeats)
    decimal = median_seconds(lambda: [a.margin(quoted) for a in sample], repeats)
    settle = median_seconds(lambda: [a.settle_funding("BTC-PERP", INDEX_NOW["BTC-PERP"]) for a in sample], repeats)
    numpy = median_seconds(bare_floats(book), repeats)
    per = {"kernel_us_per_holder": 1e6 * kernel / holders, "kernel_funding_us_per_holder": 1e6 * funding / holders,
           "decimal_us_per_holder": 1e6 * decimal / len(sample),
           "decimal_settle_us_per_holder": 1e6 * settle / len(sample),
           "numpy_us_per_holder": 1e6 * numpy / holders}
    return {"holders": holders, "markets": len(MARKETS), "repeats": repeats, "decimal_sample": len(sample), **per,
            "kernel_vs_numpy": per["kernel_us_per_holder"] / per["numpy_us_per_holder"],
            "decimal_vs_kernel": per["decimal_us_per_holder"] / per["kernel_us_per_holder"],
            "settle_vs_kernel_funding": per["decimal_settle_us_per_holder"] / per["kernel_funding_us_per_holder"],
            "matches_decimal": matches(account_margins(*book), [a.margin(quoted) for a in sample]),
            "what": "streams.domain.fixed_margin over every holder, each in three markets: account_margins (each "
                    "position's P&L, funding, notional, MM, IM and liquidation price; sums, equity, free collateral, "
                    "health, leverage, exact) and "
                    "funding_owed of every BTC-PERP holder at a close; median of repeats",
            "baseline": "Decimal Account.margin and settle_funding per holder over the first decimal_sample holders; "
                        "numpy float64 P&L, notional, margins, sums, equity and health over the same columns"}

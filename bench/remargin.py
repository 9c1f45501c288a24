"""Re-margining cost per position at growing book sizes, beside the bare numpy arithmetic of a mark."""

import statistics
import time
from typing import Any, Callable

import numpy as np

MMR, IMR = 0.03, 0.05
MARKET = "BTC-PERP"


def median_seconds(step: Callable[[float], Any], repeats: int) -> float:
    """Return the median seconds of `step(price)` over `repeats` runs after one warm run."""
    step(100.0)
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        step(100.0 + i % 7)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_mark(size: np.ndarray, entry: np.ndarray) -> Callable[[float], Any]:
    """Return the floor: unrealised P&L and maintenance margin of every row, nothing else."""
    return lambda price: (size * (price - entry), np.abs(size) * price * MMR)


def one_tick(positions: int, size: np.ndarray, entry: np.ndarray, cash: np.ndarray) -> Callable[[float], Any]:
    """Return a tick of the platform's re-margining: the risk engine's re-mark of one market of `positions` accounts."""
    from streams.risk.board import MarketBook, RiskBoard

    book, board = MarketBook(positions), RiskBoard(positions)
    for i in range(positions):
        book.add_position(i, float(size[i]), float(entry[i]), MMR, IMR)
        board.set_cash(i, float(cash[i]))
    return lambda price: board.remark(MARKET, book, price)


def growth_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Return the slope of log(time) against log(size): 1.0 is linear growth."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def remargin_scaling(sizes: tuple[int, ...], repeats: int) -> dict[str, Any]:
    """Return µs per position of one re-margin tick at each size, the fitted exponent and the floor."""
    rng = np.random.default_rng(7)
    per_size, ticks = [], []
    for n in sizes:
        size, entry, cash = rng.normal(0, 2, n), rng.uniform(90, 110, n), rng.uniform(100, 10_000, n)
        tick = median_seconds(one_tick(n, size, entry, cash), repeats)
        floor = median_seconds(bare_mark(size, entry), repeats)
        ticks.append(tick)
        per_size.append({"positions": n, "ms_per_tick": tick * 1e3, "us_per_position": tick * 1e6 / n,
                         "baseline_us_per_position": floor * 1e6 / n})
    return {"per_size": per_size, "exponent": growth_exponent(list(sizes), ticks), "markets": 1, "repeats": repeats,
            "what": "RiskBoard.remark (the engine's compiled re-mark: marks, board sums, health, who to publish), "
                    "every position in the ticked market, one account each",
            "baseline": "numpy size*(price-entry) and |size|*price*mmr over the same rows"}

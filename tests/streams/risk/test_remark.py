"""A tick's compiled re-mark does what the numpy reference re-mark and the engine's rules do, to the bit."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.risk.board import EQUITY_STEP, HEALTH_STEP, LINE_EDGES, LINES, NEAR, MarketBook, RiskBoard, band_of
from tests.streams.risk.reference_board import mark

MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")


def health_of(equity: float, mm: float) -> float:
    """Return the health the re-mark computes, by the same float operations."""
    return min(max((mm / equity if equity > 0 else 1.0) * -100.0 + 100.0, 0.0), 100.0)


def one_holder(equity: float, shown_health: float, band: int) -> tuple[RiskBoard, MarketBook]:
    """Return a board whose one account holds 1 SOL-PERP at entry 1 (MM 1 at price 1) with `equity` in cash."""
    board, book = RiskBoard(), MarketBook()
    book.add_position(0, 1.0, 1.0, 1.0, 1.0)
    board.set_cash(0, equity)
    board.band[0], board.shown[:, 0] = band, (shown_health, equity)
    return board, book


@pytest.fixture(autouse=True, scope="module")
def loaded() -> None:
    """Compile (or load) the re-mark for a one-market board before hypothesis times an example: the board's markets
    are part of the pass's signature, and compiling it took 569 ms against the 200 ms deadline."""
    board, book = one_holder(2.0, 50.0, 0)
    board.remark("SOL-PERP", book, 1.0)


@given(st.one_of(st.floats(min_value=0.5, max_value=100.0),
                 st.builds(float.__add__, st.sampled_from(LINES), st.floats(min_value=-3 * NEAR, max_value=3 * NEAR))))
def test_a_health_takes_the_band_a_hair_above_it_and_is_near_within_a_hair_of_a_line(target: float) -> None:
    equity = 1.0 / (1.0 - target / 100.0) if target < 100.0 else 1e12
    health = health_of(equity, 1.0)
    above = len(LINES) - sum(line - NEAR <= health for line in LINES)
    board, book = one_holder(equity, health, above)
    near = bool(board.remark("SOL-PERP", book, 1.0))  # neither moved nor material: published only when near
    assert board.band[0] == above
    distance = min(abs(health - line) for line in LINES)
    if distance > 2 * NEAR:
        assert (above, near) == (band_of(health), False)
    if distance < NEAR / 2:
        assert near and above == band_of(health + NEAR)


def reference(board: RiskBoard, market: str, book: MarketBook, price: float) -> set[int]:
    """Re-mark with the numpy reference (`reference_board.mark`) and the engine's rules as numpy calls."""
    figures = mark(board, market, book.reprice(price))
    holders, health, equity, mm = figures.account, figures.health, figures.equity, figures.maintenance_margin
    edges = np.searchsorted(LINE_EDGES, health, side="right")
    band, near, liquidatable = len(LINES) - (edges + 1) // 2, edges % 2 == 1, equity < mm
    moved = (band != board.band[holders]) | (liquidatable != board.liquidatable[holders])
    board.band[holders], board.liquidatable[holders] = band, liquidatable
    near |= np.abs(equity - mm) <= NEAR * np.maximum(1.0, mm)
    shown_health, shown_equity = board.shown[:, holders]
    material = ((np.abs(health - shown_health) >= HEALTH_STEP)
                | (np.abs(equity - shown_equity) >= EQUITY_STEP * np.maximum(np.abs(shown_equity), 1.0)))
    return set(holders[moved | near | material].tolist())


position = st.tuples(st.floats(-50, 50).filter(lambda s: abs(s) > 1e-3), st.floats(50, 150))
holder = st.tuples(st.floats(-2_000, 20_000), st.lists(st.one_of(st.none(), position), min_size=3, max_size=3),
                   st.one_of(st.just(math.nan), st.floats(0, 100)), st.integers(0, 3), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(holder, min_size=1, max_size=40), st.lists(st.floats(50, 150), min_size=3, max_size=3))
def test_the_compiled_remark_publishes_marks_and_restates_exactly_as_numpy(holders: list, prices: list) -> None:
    fast, slow = RiskBoard(), RiskBoard()
    books = {m: (MarketBook(), MarketBook()) for m in MARKETS}
    for i, (cash, positions, shown, band, liquidatable) in enumerate(holders):
        for board in (fast, slow):
            board.set_cash(i, cash)
            board.band[i], board.liquidatable[i], board.shown[:, i] = band, liquidatable, (shown, cash)
        for m, held in zip(MARKETS, positions):
            for book in books[m]:
                if held:
                    book.add_position(i, held[0], held[1], 0.03, 0.05)
    for m, price in zip(MARKETS, prices):
        if books[m][0].count:
            assert fast.remark(m, books[m][0], price) == reference(slow, m, books[m][1], price)
            for name, dense in slow.markets.items():
                np.testing.assert_array_equal(fast.markets[name], dense)
            np.testing.assert_array_equal(fast.band, slow.band)
            np.testing.assert_array_equal(fast.liquidatable, slow.liquidatable)

"""Re-mark a ticked market's holders on the risk board in one compiled pass (numba, floats only).

The numba kernel behind `RiskBoard.remark` (`streams.risk.board`): for each holder it writes the
market's marks into the board, sums upnl and MM over the board's markets in board order, takes
equity and health, and tells whether the holder must be published exactly: it crossed health
50/20/10 or the liquidation line, is within `near` of one (float figures that close are checked
in `Decimal`), or moved materially since last shown. It runs the same float operations in the same
order as the numpy statement of the re-mark (`tests/streams/risk/reference_board.py`), so its
figures are the same to the bit: one compiled call instead of some forty numpy calls per tick.
"""

import numpy as np

from quantdesk.compiled import compiled


@compiled
def remark(price: float, rows: int, account: np.ndarray, size: np.ndarray, entry: np.ndarray, rates: np.ndarray,
           boards: tuple, market: int, cash: np.ndarray, band: np.ndarray, liquidatable: np.ndarray,
           shown: np.ndarray, edges: np.ndarray, near: float, health_step: float, equity_step: float,
           touched: np.ndarray) -> int:  # pragma: no cover (compiled)
    """Re-mark the book's first `rows` holders at `price`, restate their band and flag; write who to publish
    in `touched`, return how many. Arrays come whole (C-contiguous), so one compiled version serves every call."""
    dense, count = boards[market], 0
    for i in range(rows):
        a = account[i]
        dense[0, a] = size[i] * (price - entry[i])
        dense[1, a] = rates[0, i] * price
        dense[2, a] = rates[1, i] * price
        upnl, mm = 0.0, 0.0
        for board in boards:
            upnl += board[0, a]
            mm += board[1, a]
        equity = cash[a] + upnl
        health = (mm / equity if equity > 0 else 1.0) * -100.0 + 100.0
        health = min(max(health, 0.0), 100.0)
        at_or_below = 0
        for edge in edges:
            at_or_below += edge <= health
        new_band, is_near, liq = edges.shape[0] // 2 - ((at_or_below + 1) >> 1), (at_or_below & 1) == 1, equity < mm
        moved = new_band != band[a] or liq != liquidatable[a]
        band[a], liquidatable[a] = new_band, liq
        is_near = is_near or abs(equity - mm) <= near * max(1.0, mm)
        material = (abs(health - shown[0, a]) >= health_step
                    or abs(equity - shown[1, a]) >= equity_step * max(abs(shown[1, a]), 1.0))
        if moved or is_near or material:
            touched[count] = a
            count += 1
    return count

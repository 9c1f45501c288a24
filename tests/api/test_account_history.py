"""Equity and P&L history from the warehouse's aggregates: hand-worked hourly and daily buckets."""

from decimal import Decimal as D

from api import queries
from api.pagination import FAR_FUTURE_MS, Window
from quantdesk.warehouse import Warehouse
from streams.agents.sink import TableWriter

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
W = "wallet"


def snapshot(ts: int, equity: str, *upnl: str, wallet: str = W) -> dict:
    """Return a stored `accounts.history` event with positions of these unrealised P&Ls."""
    return {"id": f"s:{wallet}:{ts}", "ts": ts, "wallet": wallet, "subaccount": 0, "state": "active",
            "collateral": equity, "equity": equity, "maintenance_margin": "0", "initial_margin": "0",
            "free_collateral": equity, "leverage": "0", "health": "100",
            "positions": [{"market": "SOL-PERP", "size": "1", "entry_price": "100", "upnl": u,
                           "liquidation_price": None, "notional": "100"} for u in upnl]}


def entry(ts: int, kind: str, amount: str, wallet: str = W) -> dict:
    """Return a stored `accounts.ledger` event (its balance is not what the history reads)."""
    return {"id": f"e:{ts}:{kind}", "ts": ts, "wallet": wallet, "subaccount": 0, "kind": kind, "market": None,
            "amount": amount, "balance_after": "0", "cause": f"e:{ts}"}


SNAPSHOTS = [snapshot(T0 + 1000, "1000"), snapshot(T0 + 2000, "996", "0"), snapshot(T0 + HOUR // 2, "1036", "40"),
             snapshot(T0 + HOUR + 10_000, "1020", "7", "3"), snapshot(T0 + 25 * HOUR, "1100"),
             snapshot(T0 + 3000, "5", wallet="other")]
LEDGER = [entry(T0 + 1000, "deposit", "1000"), entry(T0 + 2000, "fee", "-4"),
          entry(T0 + HOUR + 10_000, "realised_pnl", "14"), entry(T0 + HOUR + 10_000, "fee", "-1"),
          entry(T0 + HOUR + 10_000, "funding", "-0.5"), entry(T0 + 25 * HOUR, "realised_pnl", "60"),
          entry(T0 + 25 * HOUR, "liquidation_fee", "-3"), entry(T0 + 25 * HOUR, "funding", "0.25"),
          entry(T0 + 3000, "realised_pnl", "99", wallet="other")]


def figures(rows: list[dict]) -> list[tuple]:
    """Return buckets as (hours from T0, equity, upnl, realised, cumulative realised, funding, fees)."""
    keys = ("equity", "unrealised_pnl", "realised_pnl", "cumulative_realised_pnl", "funding", "fees")
    return [((r["time"] - T0) // HOUR, *(r[k] for k in keys)) for r in rows]


async def test_history_buckets_take_the_last_figures_and_sum_the_flows(warehouse: Warehouse) -> None:
    snapshots, ledger = TableWriter(warehouse, "account_snapshots"), TableWriter(warehouse, "ledger")
    for _ in range(2):  # stored again, as after a restart: the sink stores each id once, the sums count it once
        await snapshots.store(SNAPSHOTS)
        await ledger.store(LEDGER)
    everything = Window(0, FAR_FUTURE_MS, 100)
    hours = await queries.account_history(warehouse, W, "1h", everything)
    assert figures(hours) == [
        (0, D(1036), D(40), D(0), D(0), D(0), D(-4)),
        (1, D(1020), D(10), D(14), D(14), D("-0.5"), D(-1)),
        (25, D(1100), D(0), D(60), D(74), D("0.25"), D(-3))]
    days = await queries.account_history(warehouse, W, "1d", everything)
    assert figures(days) == [(0, D(1020), D(10), D(14), D(14), D("-0.5"), D(-5)),
                             (24, D(1100), D(0), D(60), D(74), D("0.25"), D(-3))]
    later = await queries.account_history(warehouse, W, "1h", Window(T0 + HOUR, T0 + 25 * HOUR, 100))
    assert figures(later) == [(1, D(1020), D(10), D(14), D(14), D("-0.5"), D(-1))]  # cumulative counts hour 0
    newest = await queries.account_history(warehouse, W, "1h", Window(None, FAR_FUTURE_MS, 1))
    assert [r["time"] for r in newest] == [T0 + 25 * HOUR]
    paged = await queries.account_history(warehouse, W, "1h", Window(0, FAR_FUTURE_MS, 1, (T0, "0000000000")))
    assert [r["time"] for r in paged] == [T0 + HOUR]

"""A little market history stored as the sink stores it: ticks, trades and funding periods of BTC-PERP."""

from decimal import Decimal

from quantdesk.messages import Fill, FundingRate, OracleTick
from quantdesk.warehouse import Warehouse
from streams.agents.sink import TableWriter

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a day boundary


def fills(n: int) -> list[Fill]:
    """Return `n` trades of BTC-PERP (taker and maker side each), two of them in the same millisecond."""
    made = []
    for i in range(n):
        ts = T0 + 1000 * i if i != 3 else T0 + 2000
        for liquidity, side in (("taker", "buy" if i % 2 else "sell"), ("maker", "sell" if i % 2 else "buy")):
            made.append(Fill(id=f"trade-{i:02d}:{liquidity}", ts=ts, market="BTC-PERP", wallet=f"wallet-{liquidity}",
                             side=side, size=Decimal("0.5"), price=Decimal(97000 + i), liquidity=liquidity))
    return made


def seed_history(warehouse: Warehouse) -> None:
    """Store ten BTC ticks 30 s apart, seven trades and three funding periods, as the sink would."""
    ticks = [OracleTick(id=f"tick-{i}", ts=T0 + 30_000 * i, market="BTC-PERP", price=Decimal(97000 + i),
                        conf=Decimal(1), publish_time=T0 + 30_000 * i) for i in range(10)]
    rates = [FundingRate(id=f"funding:{h}", ts=T0 + 3_600_000 * h, market="BTC-PERP",
                         period_start=T0 + 3_600_000 * (h - 1), period_end=T0 + 3_600_000 * h,
                         oracle_twap=Decimal(97000), mark_twap=Decimal(97010), rate=Decimal("0.0000042"),
                         cumulative_index=Decimal("0.4") * h) for h in (1, 2, 3)]
    for table, events in (("oracle_ticks", ticks), ("fills", fills(7)), ("funding_rates", rates)):
        writer = TableWriter(warehouse, table)
        warehouse.insert_new(table, writer.columns, [writer.row(e.model_dump()) for e in events])

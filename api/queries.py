"""The gateway's read model: SQL over the warehouse, one function per question."""

from typing import Any

from api.bars import RESOLUTIONS
from quantdesk.warehouse import Warehouse

DAY_MS = 86_400_000


async def candles(wh: Warehouse, market: str, resolution: str, start_ms: int, end_ms: int, limit: int) -> list[dict[str, Any]]:
    """Return candles of a market in [start, end), oldest first, at most `limit`."""
    sql = f"""
        SELECT toUnixTimestamp(bucket) * 1000 AS time, argMinMerge(open) AS open, maxMerge(high) AS high,
               minMerge(low) AS low, argMaxMerge(close) AS close, sum(volume) AS volume,
               sum(base_volume) AS base_volume, sum(trades) AS trades, sum(ticks) AS ticks
        FROM {wh.database}.candles
        WHERE market = {{market:String}} AND resolution = {{res:UInt32}}
          AND bucket >= toDateTime(intDiv({{start:Int64}}, 1000), 'UTC')
          AND bucket < toDateTime(intDiv({{end:Int64}}, 1000), 'UTC')
        GROUP BY bucket HAVING ticks > 0 ORDER BY bucket LIMIT {{limit:UInt32}}"""
    params = {"market": market, "res": RESOLUTIONS[resolution], "start": start_ms, "end": end_ms, "limit": limit}
    return await wh.arows(sql, params)


async def day_summary(wh: Warehouse, now_ms: int) -> dict[str, dict[str, Any]]:
    """Return, per market, the first price and the taker volume of the 24 hours before `now_ms`."""
    sql = f"""
        SELECT market, argMinMerge(open) AS open_24h, sum(volume) AS volume_24h, sum(trades) AS trades_24h
        FROM {wh.database}.candles
        WHERE resolution = 60 AND bucket >= toDateTime(intDiv({{since:Int64}}, 1000), 'UTC')
        GROUP BY market"""
    rows = await wh.arows(sql, {"since": now_ms - DAY_MS})
    return {r["market"]: r for r in rows}

"""ClickHouse: rows/s of the sink's idempotent insert beside a plain insert, 1h candles over many ticks, and the
sink's exact dedupe lookup (over all history) beside a lookup within one batch's time span."""

import asyncio
import statistics
import time
from typing import Any, Awaitable, Callable

from api import queries
from quantdesk.kafka.publisher import Keyed
from quantdesk.warehouse import Warehouse
from quantdesk.wire import encode_batch
from streams.agents.sink import TableWriter, stored_events

TABLE = "oracle_ticks"
MARKET = "BTC-PERP"
MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
STEP_MS = 400
HOUR_MS = 3_600_000
FULL_CANDLE_TICKS = 10_000_000

SYNTHETIC_STATES = """
INSERT INTO {db}.market_state (id, ts, market, oracle_price, premium, status, reason, tick_price)
SELECT concat('synthetic:', toString(number), ':state'),
       fromUnixTimestamp64Milli(toInt64({start} + intDiv(number, 3) * 400)), [{markets}][number % 3 + 1],
       toDecimal128(100 + 10 * sin(number / 100000) + (number % 97) / 100, 18) AS price, toDecimal128(0, 18),
       'healthy', '', price
FROM numbers({n})"""  # the market worker's state after each accepted tick: what candles are made of

RAW_HOURLY = """
SELECT toUnixTimestamp(toStartOfHour(ts)) * 1000 AS time, argMin(tick_price, ts) AS open, max(tick_price) AS high,
       min(tick_price) AS low, argMax(tick_price, ts) AS close, count() AS ticks
FROM {db}.market_state
WHERE market = {{market:String}} AND tick_price IS NOT NULL
  AND ts >= fromUnixTimestamp64Milli({{start:Int64}}) AND ts < fromUnixTimestamp64Milli({{end:Int64}})
GROUP BY time ORDER BY time"""

WINDOW_IDS = """
SELECT id FROM {db}.market_state
WHERE ts BETWEEN fromUnixTimestamp64Milli({first}) AND fromUnixTimestamp64Milli({last}) LIMIT {most}"""
DEDUPE_BATCH = 5000


def tick_rows(writer: TableWriter, events: list[Keyed]) -> list[list[Any]]:
    """Return the ticks among `events` as the sink makes rows of them."""
    ticks = encode_batch(e for t, _, e in events if t == "oracle.ticks")
    return [writer.row(e) for e in stored_events("oracle.ticks", ticks)]


def timed_batches(insert: Callable[[list[list[Any]]], Any], rows: list[list[Any]], batch: int) -> float:
    """Return the seconds `insert` takes over `rows`, `batch` rows at a time."""
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        insert(rows[start:start + batch])
    return time.perf_counter() - started


def sink_rows(dsn: str, database: str, events: list[Keyed], count: int, batch: int) -> dict[str, Any]:
    """Return rows/s of `Warehouse.insert_new` beside a plain `client.insert` of the same rows."""
    sink, plain = Warehouse(dsn, f"{database}_sink"), Warehouse(dsn, f"{database}_plain")
    try:
        sink.migrate()
        plain.migrate()
        writer = TableWriter(sink, TABLE)
        rows = tick_rows(writer, events)[:count]
        new = timed_batches(lambda b: sink.insert_new(TABLE, writer.columns, b), rows, batch)
        bare = timed_batches(lambda b: plain.client.insert(f"{plain.database}.{TABLE}", b,
                                                           column_names=writer.columns), rows, batch)
    finally:
        sink.close()
        plain.close()
    return {"rows_per_s": len(rows) / new, "rows": len(rows), "batch": batch, "table": TABLE,
            "baseline": {"what": "client.insert of the same rows and batches (no dedupe lookup)",
                         "rows_per_s": len(rows) / bare}}


async def median_ms(query: Callable[[], Awaitable[list[dict[str, Any]]]], repeats: int) -> tuple[float, int]:
    """Return the median ms of `query` over `repeats` runs after one warm run, and its row count."""
    rows = await query()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await query()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times), len(rows)


async def candles_query(dsn: str, database: str, ticks: int, repeats: int, start_ms: int) -> dict[str, Any]:
    """Return ms of the API's 1h candles query over `ticks` synthetic ticks, beside a raw-tick GROUP BY."""
    start_ms -= start_ms % HOUR_MS
    wh = Warehouse(dsn, f"{database}_candles")
    try:
        await asyncio.to_thread(wh.migrate)
        sql = SYNTHETIC_STATES.format(db=wh.database, start=start_ms, n=ticks,
                                     markets=", ".join(f"'{m}'" for m in MARKETS))
        started = time.perf_counter()
        await asyncio.to_thread(wh.command, sql)
        load_s = time.perf_counter() - started
        end_ms = start_ms + (ticks // len(MARKETS) + 1) * STEP_MS
        api_ms, candles = await median_ms(
            lambda: queries.candles(wh, MARKET, "1h", start_ms, end_ms + HOUR_MS, 1500), repeats)
        params = {"market": MARKET, "start": start_ms, "end": end_ms + HOUR_MS}
        raw_ms, raw_candles = await median_ms(lambda: wh.arows(RAW_HOURLY.format(db=wh.database), params), repeats)
        dedupe = await dedupe_lookup(wh, ticks, repeats, start_ms)
    finally:
        wh.close()
    return {"ms": api_ms, "ticks": ticks, "full_size_ticks": FULL_CANDLE_TICKS, "reduced": ticks < FULL_CANDLE_TICKS,
            "candles": candles, "market": MARKET, "load_rows_per_s": ticks / load_s, "dedupe": dedupe,
            "baseline": {"what": "the same 1h OHLC by GROUP BY over the accepted ticks' states (no candles view)",
                         "ms": raw_ms, "candles": raw_candles}}


async def dedupe_lookup(wh: Warehouse, stored: int, repeats: int, start_ms: int) -> dict[str, Any]:
    """Return ms of the sink's exact lookup of a batch's ids among `stored` rows (half of the batch stored, the
    newest), beside fetching the ids stored in the batch's time span (the lookup it replaced, which missed an id
    stored at another time)."""
    half = DEDUPE_BATCH // 2
    ids = [f"synthetic:{n}:state" for n in range(stored - half, stored + half)]
    exact_ms, found = await median_ms(lambda: asyncio.to_thread(lambda: list(wh.existing_ids("market_state", ids))),
                                      repeats)
    first, last = start_ms + (stored - half) // 3 * STEP_MS, start_ms + (stored + half) // 3 * STEP_MS
    window = WINDOW_IDS.format(db=wh.database, first=first, last=last, most=2 * DEDUPE_BATCH + 1)
    window_ms, _ = await median_ms(lambda: wh.arows(window), repeats)
    return {"ms": exact_ms, "ids": DEDUPE_BATCH, "found": found, "stored_rows": stored,
            "baseline": {"what": "ids stored in the batch's time span (the window lookup, not exact)",
                         "ms": window_ms}}

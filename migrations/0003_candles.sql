-- Candles for 1m/5m/15m/1h/4h/1d: OHLC from valid oracle ticks, volume and trades from taker fills.
CREATE TABLE IF NOT EXISTS {db}.candles (
    market LowCardinality(String),
    resolution UInt32,
    bucket DateTime('UTC'),
    open AggregateFunction(argMin, Decimal(38, 18), DateTime64(3, 'UTC')),
    high AggregateFunction(max, Decimal(38, 18)),
    low AggregateFunction(min, Decimal(38, 18)),
    close AggregateFunction(argMax, Decimal(38, 18), DateTime64(3, 'UTC')),
    ticks SimpleAggregateFunction(sum, UInt64),
    volume SimpleAggregateFunction(sum, Decimal(38, 18)),
    base_volume SimpleAggregateFunction(sum, Decimal(38, 18)),
    trades SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (market, resolution, bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.candles_from_ticks TO {db}.candles AS
SELECT
    market,
    resolution,
    toDateTime(intDiv(toUnixTimestamp(ts), resolution) * resolution, 'UTC') AS bucket,
    argMinState(price, ts) AS open,
    maxState(price) AS high,
    minState(price) AS low,
    argMaxState(price, ts) AS close,
    toUInt64(count()) AS ticks,
    toDecimal128(0, 18) AS volume,
    toDecimal128(0, 18) AS base_volume,
    toUInt64(0) AS trades
FROM {db}.oracle_ticks
ARRAY JOIN [60, 300, 900, 3600, 14400, 86400] AS resolution
WHERE status = 'trading' AND price > 0
GROUP BY market, resolution, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.candles_from_fills TO {db}.candles AS
SELECT
    market,
    resolution,
    toDateTime(intDiv(toUnixTimestamp(ts), resolution) * resolution, 'UTC') AS bucket,
    argMinStateIf(price, ts, 0) AS open,
    maxStateIf(price, 0) AS high,
    minStateIf(price, 0) AS low,
    argMaxStateIf(price, ts, 0) AS close,
    toUInt64(0) AS ticks,
    toDecimal128(sum(multiplyDecimal(size, price, 18)), 18) AS volume,
    toDecimal128(sum(size), 18) AS base_volume,
    toUInt64(count()) AS trades
FROM {db}.fills
ARRAY JOIN [60, 300, 900, 3600, 14400, 86400] AS resolution
WHERE liquidity = 'taker'
GROUP BY market, resolution, bucket;

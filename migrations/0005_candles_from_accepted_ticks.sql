-- Candle prices only from ticks the oracle guard accepted. The market worker's state after each tick names that
-- tick's price in `tick_price` when the guard accepted it, so a refused tick (halted, wide confidence, old or
-- published ahead, far from the TWAP) makes no candle's open, high, low or close. Raw `oracle_ticks` fed them
-- before: the candles are rebuilt from the stored states (those stored before this column: a tick's state with
-- no reason is an accepted tick at its oracle price) and fills. Run it with the sink stopped, as `up` does.
DROP VIEW IF EXISTS {db}.candles_from_ticks;

ALTER TABLE {db}.market_state ADD COLUMN IF NOT EXISTS tick_price Nullable(Decimal(38, 18));

TRUNCATE TABLE IF EXISTS {db}.candles;

INSERT INTO {db}.candles
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
FROM (
    SELECT market, ts, assumeNotNull(ifNull(tick_price, oracle_price)) AS price
    FROM {db}.market_state
    WHERE tick_price IS NOT NULL
       OR (reason = '' AND oracle_price IS NOT NULL AND id IN (SELECT concat(id, ':state') FROM {db}.oracle_ticks))
)
ARRAY JOIN [60, 300, 900, 3600, 14400, 86400] AS resolution
GROUP BY market, resolution, bucket;

INSERT INTO {db}.candles
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

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.candles_from_states TO {db}.candles AS
SELECT
    market,
    resolution,
    toDateTime(intDiv(toUnixTimestamp(ts), resolution) * resolution, 'UTC') AS bucket,
    argMinState(assumeNotNull(tick_price), ts) AS open,
    maxState(assumeNotNull(tick_price)) AS high,
    minState(assumeNotNull(tick_price)) AS low,
    argMaxState(assumeNotNull(tick_price), ts) AS close,
    toUInt64(count()) AS ticks,
    toDecimal128(0, 18) AS volume,
    toDecimal128(0, 18) AS base_volume,
    toUInt64(0) AS trades
FROM {db}.market_state
ARRAY JOIN [60, 300, 900, 3600, 14400, 86400] AS resolution
WHERE tick_price IS NOT NULL
GROUP BY market, resolution, bucket;

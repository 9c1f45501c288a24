-- Input events, as they arrived (deduplicated on id by the sink).
CREATE TABLE IF NOT EXISTS {db}.oracle_ticks (
    id String,
    ts DateTime64(3, 'UTC'),
    market LowCardinality(String),
    price Decimal(38, 18),
    conf Decimal(38, 18),
    publish_time DateTime64(3, 'UTC'),
    status LowCardinality(String),
    source LowCardinality(String),
    slot UInt64,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (market, ts, id);

CREATE TABLE IF NOT EXISTS {db}.fills (
    id String,
    ts DateTime64(3, 'UTC'),
    market LowCardinality(String),
    wallet String,
    subaccount UInt32,
    side LowCardinality(String),
    size Decimal(38, 18),
    price Decimal(38, 18),
    fee Decimal(38, 18),
    liquidity LowCardinality(String),
    signature String,
    slot UInt64,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4,
    INDEX wallet_bloom wallet TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (market, ts, id);

CREATE TABLE IF NOT EXISTS {db}.account_changes (
    id String,
    ts DateTime64(3, 'UTC'),
    wallet String,
    subaccount UInt32,
    kind LowCardinality(String),
    amount Decimal(38, 18),
    signature String,
    slot UInt64,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (wallet, subaccount, ts, id);

CREATE TABLE IF NOT EXISTS {db}.dead_letters (
    id String,
    ts DateTime64(3, 'UTC'),
    topic LowCardinality(String),
    reason String,
    payload String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (ts, id);

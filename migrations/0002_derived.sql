-- Figures the worker derives: market state, funding, accounts, risk, signals, audit.
CREATE TABLE IF NOT EXISTS {db}.market_state (
    id String,
    ts DateTime64(3, 'UTC'),
    market LowCardinality(String),
    oracle_price Nullable(Decimal(38, 18)),
    conf Nullable(Decimal(38, 18)),
    mark_price Nullable(Decimal(38, 18)),
    oracle_twap_5m Nullable(Decimal(38, 18)),
    premium Decimal(38, 18),
    last_fill_price Nullable(Decimal(38, 18)),
    status LowCardinality(String),
    reason String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (market, ts, id);

CREATE TABLE IF NOT EXISTS {db}.funding_rates (
    id String,
    ts DateTime64(3, 'UTC'),
    market LowCardinality(String),
    period_start DateTime64(3, 'UTC'),
    period_end DateTime64(3, 'UTC'),
    oracle_twap Decimal(38, 18),
    mark_twap Decimal(38, 18),
    rate Decimal(38, 18),
    cumulative_index Decimal(38, 18)
) ENGINE = ReplacingMergeTree
ORDER BY (market, period_end, id);

CREATE TABLE IF NOT EXISTS {db}.funding_payments (
    id String,
    ts DateTime64(3, 'UTC'),
    market LowCardinality(String),
    wallet String,
    subaccount UInt32,
    size Decimal(38, 18),
    payment Decimal(38, 18),
    cumulative_index Decimal(38, 18),
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (wallet, subaccount, ts, id);

CREATE TABLE IF NOT EXISTS {db}.account_snapshots (
    id String,
    ts DateTime64(3, 'UTC'),
    wallet String,
    subaccount UInt32,
    state LowCardinality(String),
    collateral Decimal(38, 18),
    equity Decimal(38, 18),
    maintenance_margin Decimal(38, 18),
    initial_margin Decimal(38, 18),
    free_collateral Decimal(38, 18),
    leverage Decimal(38, 18),
    health Decimal(38, 18),
    positions String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (wallet, subaccount, ts, id);

CREATE TABLE IF NOT EXISTS {db}.liquidations (
    id String,
    ts DateTime64(3, 'UTC'),
    wallet String,
    subaccount UInt32,
    kind LowCardinality(String),
    body String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (wallet, subaccount, ts, id);

CREATE TABLE IF NOT EXISTS {db}.signals (
    id String,
    ts DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    severity LowCardinality(String),
    subject String,
    message String,
    data String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (ts, id);

CREATE TABLE IF NOT EXISTS {db}.audit_log (
    id String,
    ts DateTime64(3, 'UTC'),
    actor String,
    action LowCardinality(String),
    subject String,
    data String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (ts, id);

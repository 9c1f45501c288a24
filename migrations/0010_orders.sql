-- Orders: every order event as it arrived (placements, cancellations, the program's position events), every state
-- the orders worker derived from them and their fills (a row per version, id `<order>:<version>`), and the order
-- each fill fills.
CREATE TABLE IF NOT EXISTS {db}.order_events (
    id String,
    ts DateTime64(3, 'UTC'),
    market LowCardinality(String),
    wallet String,
    subaccount UInt32,
    kind LowCardinality(String),
    side LowCardinality(Nullable(String)),
    size Nullable(Decimal(38, 18)),
    price Nullable(Decimal(38, 18)),
    order_type LowCardinality(Nullable(String)),
    signature String,
    slot UInt64,
    `order` Nullable(String),
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (wallet, ts, id);
ALTER TABLE {db}.order_events MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.order_events ADD PROJECTION IF NOT EXISTS by_id (SELECT id ORDER BY id);

CREATE TABLE IF NOT EXISTS {db}.orders (
    id String,
    ts DateTime64(3, 'UTC'),
    `order` String,
    wallet String,
    subaccount UInt32,
    market LowCardinality(String),
    side LowCardinality(String),
    size Decimal(38, 18),
    price Nullable(Decimal(38, 18)),
    order_type LowCardinality(Nullable(String)),
    status LowCardinality(String),
    filled_size Decimal(38, 18),
    average_price Nullable(Decimal(38, 18)),
    version UInt32,
    placed_ts DateTime64(3, 'UTC'),
    cause String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4,
    INDEX order_bloom `order` TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (wallet, `order`, version);
ALTER TABLE {db}.orders MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.orders ADD PROJECTION IF NOT EXISTS by_id (SELECT id ORDER BY id);

ALTER TABLE {db}.fills ADD COLUMN IF NOT EXISTS `order` String DEFAULT '';
ALTER TABLE {db}.fills ADD INDEX IF NOT EXISTS order_bloom `order` TYPE bloom_filter GRANULARITY 4;

-- MIKEY: what each signal is about (a market, or an account's wallet and sub-account) and the inputs that raised
-- it; and other venues' prices, an input like any other (stored, so a restart restores them).
ALTER TABLE {db}.signals ADD COLUMN IF NOT EXISTS market String DEFAULT '' AFTER message;
ALTER TABLE {db}.signals ADD COLUMN IF NOT EXISTS wallet String DEFAULT '' AFTER market;
ALTER TABLE {db}.signals ADD COLUMN IF NOT EXISTS subaccount Nullable(UInt32) AFTER wallet;
ALTER TABLE {db}.signals ADD COLUMN IF NOT EXISTS causes String DEFAULT '[]';

CREATE TABLE IF NOT EXISTS {db}.venue_prices (
    id String,
    ts DateTime64(3, 'UTC'),
    venue LowCardinality(String),
    market LowCardinality(String),
    price Decimal(38, 18),
    bid Nullable(Decimal(38, 18)),
    ask Nullable(Decimal(38, 18)),
    source LowCardinality(String),
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (market, venue, ts, id);
ALTER TABLE {db}.venue_prices MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.venue_prices ADD PROJECTION IF NOT EXISTS by_id (SELECT id ORDER BY id);

-- Webhooks: the URLs a wallet registered for its account signals (a deletion is a newer version of the row; the
-- secret is derived, never stored), and every delivery attempt with its outcome (an operational record: `ts` is
-- the signal's event time, `attempted_at` the wall clock).
CREATE TABLE IF NOT EXISTS {db}.webhooks (
    id String,
    wallet String,
    url String,
    kinds Array(String),
    created_at DateTime64(3, 'UTC'),
    deleted Bool,
    version UInt8
) ENGINE = ReplacingMergeTree(version)
ORDER BY (wallet, id);

CREATE TABLE IF NOT EXISTS {db}.webhook_deliveries (
    id String,
    ts DateTime64(3, 'UTC'),
    attempted_at DateTime64(3, 'UTC'),
    webhook_id String,
    signal_id String,
    wallet String,
    attempt UInt16,
    status UInt16,
    error String,
    delivered Bool,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (signal_id, webhook_id, attempt);
ALTER TABLE {db}.webhook_deliveries MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.webhook_deliveries ADD PROJECTION IF NOT EXISTS by_id (SELECT id ORDER BY id);

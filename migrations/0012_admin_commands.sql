-- Admins' commands (pause or resume a market, freeze or unfreeze an account), an input like any other: stored, so a restart restores them and
-- the table is the audit of who did what, when and why.
CREATE TABLE IF NOT EXISTS {db}.admin_commands (
    id String,
    ts DateTime64(3, 'UTC'),
    admin String,
    action LowCardinality(String),
    market Nullable(String),
    wallet Nullable(String),
    reason String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (ts, id);
ALTER TABLE {db}.admin_commands MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.admin_commands ADD PROJECTION IF NOT EXISTS by_id (SELECT id ORDER BY id);

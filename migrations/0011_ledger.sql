-- The ledger: every change of an account's collateral (deposit, withdrawal, fee, realised P&L, funding, liquidation
-- fee, insurance draw, socialised loss), with the balance it leaves and the input event that caused it.
CREATE TABLE IF NOT EXISTS {db}.ledger (
    id String,
    ts DateTime64(3, 'UTC'),
    wallet String,
    subaccount UInt32,
    kind LowCardinality(String),
    market LowCardinality(Nullable(String)),
    amount Decimal(38, 18),
    balance_after Decimal(38, 18),
    cause String,
    INDEX id_bloom id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (wallet, subaccount, ts, id);
ALTER TABLE {db}.ledger MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.ledger ADD PROJECTION IF NOT EXISTS by_id (SELECT id ORDER BY id);

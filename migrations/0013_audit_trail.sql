-- The audit trail: each decision's causes, the parameter version in force, the digest of its inputs, and when the
-- platform processed it (the warehouse's clock at storing: processing time, unlike `ts`, is no event time, so it
-- stays out of the messages a replay must repeat byte for byte).
ALTER TABLE {db}.audit_log ADD COLUMN IF NOT EXISTS causes String DEFAULT '[]';
ALTER TABLE {db}.audit_log ADD COLUMN IF NOT EXISTS params String DEFAULT '';
ALTER TABLE {db}.audit_log ADD COLUMN IF NOT EXISTS digest String DEFAULT '';
ALTER TABLE {db}.audit_log ADD COLUMN IF NOT EXISTS processed_at DateTime64(3, 'UTC') MATERIALIZED now64(3);

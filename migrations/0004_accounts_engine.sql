-- The risk engine's rows: leverage is undefined when equity ≤ 0; a liquidation's fills name their plan.
ALTER TABLE {db}.account_snapshots MODIFY COLUMN leverage Nullable(Decimal(38, 18));

ALTER TABLE {db}.fills ADD COLUMN IF NOT EXISTS liquidation String DEFAULT '';

-- The plan a venue fill carries out: kept with the fill, so inputs restored from the warehouse are the ones read.
ALTER TABLE {db}.fills ADD COLUMN IF NOT EXISTS liquidation Nullable(String);

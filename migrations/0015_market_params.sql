-- An admin's change of a market's margin and funding parameters, and the event time it takes effect at: stored with
-- the other commands, so a restart or a replay puts each change in force at the same moment as the live run.
ALTER TABLE {db}.admin_commands ADD COLUMN IF NOT EXISTS imr Nullable(Decimal(38, 18));
ALTER TABLE {db}.admin_commands ADD COLUMN IF NOT EXISTS mmr Nullable(Decimal(38, 18));
ALTER TABLE {db}.admin_commands ADD COLUMN IF NOT EXISTS max_funding_per_hour Nullable(Decimal(38, 18));
ALTER TABLE {db}.admin_commands ADD COLUMN IF NOT EXISTS effective_at Nullable(DateTime64(3, 'UTC'));

-- Each account's history per hour and per day, kept as the sink stores snapshots and ledger entries: the last
-- equity and unrealised P&L of the bucket (argMax on event time, then id), and the bucket's flows from the ledger
-- (realised P&L, funding, fees: signed as they move collateral). Read with -Merge, never from the raw rows. A
-- position's `upnl` that is not a number counts 0 rather than refuse the snapshot's row.
CREATE TABLE IF NOT EXISTS {db}.account_history (
    wallet String,
    subaccount UInt32,
    resolution UInt32,
    bucket DateTime('UTC'),
    equity AggregateFunction(argMax, Decimal(38, 18), Tuple(DateTime64(3, 'UTC'), String)),
    unrealised_pnl AggregateFunction(argMax, Decimal(38, 18), Tuple(DateTime64(3, 'UTC'), String)),
    realised_pnl AggregateFunction(sum, Decimal(38, 18)),
    funding AggregateFunction(sum, Decimal(38, 18)),
    fees AggregateFunction(sum, Decimal(38, 18))
) ENGINE = AggregatingMergeTree
ORDER BY (wallet, subaccount, resolution, bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.account_history_from_snapshots TO {db}.account_history AS
SELECT
    wallet,
    subaccount,
    resolution,
    toDateTime(intDiv(toUnixTimestamp(ts), resolution) * resolution, 'UTC') AS bucket,
    argMaxState(equity, (ts, id)) AS equity,
    argMaxState(arraySum(arrayMap(p -> toDecimal128OrZero(trimBoth(JSONExtractRaw(p, 'upnl'), '"'), 18),
                                  JSONExtractArrayRaw(positions))), (ts, id)) AS unrealised_pnl,
    sumStateIf(toDecimal128(0, 18), 0) AS realised_pnl,
    sumStateIf(toDecimal128(0, 18), 0) AS funding,
    sumStateIf(toDecimal128(0, 18), 0) AS fees
FROM {db}.account_snapshots
ARRAY JOIN [3600, 86400] AS resolution
GROUP BY wallet, subaccount, resolution, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.account_history_from_ledger TO {db}.account_history AS
SELECT
    wallet,
    subaccount,
    resolution,
    toDateTime(intDiv(toUnixTimestamp(ts), resolution) * resolution, 'UTC') AS bucket,
    argMaxStateIf(amount, (ts, id), 0) AS equity,
    argMaxStateIf(amount, (ts, id), 0) AS unrealised_pnl,
    sumStateIf(amount, kind = 'realised_pnl') AS realised_pnl,
    sumStateIf(amount, kind = 'funding') AS funding,
    sumStateIf(amount, kind IN ('fee', 'liquidation_fee')) AS fees
FROM {db}.ledger
ARRAY JOIN [3600, 86400] AS resolution
GROUP BY wallet, subaccount, resolution, bucket;

INSERT INTO {db}.account_history
SELECT
    wallet,
    subaccount,
    resolution,
    toDateTime(intDiv(toUnixTimestamp(ts), resolution) * resolution, 'UTC') AS bucket,
    argMaxState(equity, (ts, id)) AS equity,
    argMaxState(arraySum(arrayMap(p -> toDecimal128OrZero(trimBoth(JSONExtractRaw(p, 'upnl'), '"'), 18),
                                  JSONExtractArrayRaw(positions))), (ts, id)) AS unrealised_pnl,
    sumStateIf(toDecimal128(0, 18), 0) AS realised_pnl,
    sumStateIf(toDecimal128(0, 18), 0) AS funding,
    sumStateIf(toDecimal128(0, 18), 0) AS fees
FROM {db}.account_snapshots
ARRAY JOIN [3600, 86400] AS resolution
GROUP BY wallet, subaccount, resolution, bucket;

INSERT INTO {db}.account_history
SELECT
    wallet,
    subaccount,
    resolution,
    toDateTime(intDiv(toUnixTimestamp(ts), resolution) * resolution, 'UTC') AS bucket,
    argMaxStateIf(amount, (ts, id), 0) AS equity,
    argMaxStateIf(amount, (ts, id), 0) AS unrealised_pnl,
    sumStateIf(amount, kind = 'realised_pnl') AS realised_pnl,
    sumStateIf(amount, kind = 'funding') AS funding,
    sumStateIf(amount, kind IN ('fee', 'liquidation_fee')) AS fees
FROM {db}.ledger
ARRAY JOIN [3600, 86400] AS resolution
GROUP BY wallet, subaccount, resolution, bucket;

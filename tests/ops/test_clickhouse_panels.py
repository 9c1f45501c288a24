"""Every ClickHouse panel's SQL, expanded as Grafana and the plugin expand it, runs on the migrated schema in chDB
over a simulated trading hour (liquidations and a funding hour included) and answers the columns the panel reads."""

import json
from datetime import datetime, timezone

import pytest

from api.embedded import running
from quantdesk.kafka.lag import applied_within
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.ops.built import clickhouse_targets
from tests.ops.macros import expand
from tests.reliability.scenario import START_MS, scenario, write_replay

START = datetime.fromtimestamp(START_MS / 1000, timezone.utc)
END = datetime.fromtimestamp(START_MS / 1000 + 2 * 3600, timezone.utc)
FILLED = {  # panels the simulated hour must fill (webhook deliveries need registered webhooks; no oracle degrades)
    "Oracle and mark, with the oracle's confidence band", "Funding rate (per hour) and APR",
    "Open interest (base units, every account's newest position)", "Volume (quote) and trades per interval",
    "Candles (oracle prices, taker volume)", "Health of funded accounts (newest snapshot)",
    "Liquidation plans and their fees", "Insurance fund after each completed liquidation", "Largest positions",
    "Funding payments (paid by holders, received by holders)", "Signals by kind", "Signals by severity",
    "Signals per kind and severity", "Newest signals"}


def newest_long(warehouse: Warehouse, market: str) -> float:
    """Return the long sizes of `market` summed over each account's newest snapshot (of one time, the highest id:
    the last of an order's fills), read in Python."""
    newest: dict[tuple[str, int], tuple[datetime, str, str]] = {}
    query = f"SELECT wallet, subaccount, ts, id, positions FROM {warehouse.database}.account_snapshots"
    for row in warehouse.rows(query):
        key = (row["wallet"], row["subaccount"])
        if key not in newest or (row["ts"], row["id"]) > newest[key][:2]:
            newest[key] = (row["ts"], row["id"], row["positions"])
    sizes = [float(p["size"]) for _, _, positions in newest.values() for p in json.loads(positions)
             if p["market"] == market]
    return sum(size for size in sizes if size > 0)


def answer(warehouse: Warehouse, sql: str) -> tuple[list[str], list[tuple]]:
    """Return a query's column names (described, as an empty answer names none) and its rows."""
    columns = [c["name"] for c in warehouse.rows(f"DESCRIBE ({sql})")]
    with warehouse.lock:
        result = warehouse.client.query(sql)
    assert not result.column_names or list(result.column_names) == columns
    return columns, list(result.result_rows)


@pytest.fixture
async def simulated(settings: Settings, warehouse: Warehouse, tmp_path) -> Warehouse:
    """Return the warehouse after an hour and a few minutes of simulated markets went through the whole platform."""
    replay = write_replay(tmp_path / "hour.jsonl", scenario(3660, 30, 12, order_flow=False))
    async with running(settings, simulator=False, replay_file=replay) as runtime:
        assert await applied_within(settings, runtime.bootstrap, 240), "the platform did not take the hour in"
    return warehouse


async def test_every_clickhouse_panel_answers_the_columns_it_reads(simulated: Warehouse) -> None:
    variables = {"database": simulated.database, "market": "SOL-PERP", "resolution": "60"}
    seen = set()
    for board, title, target in clickhouse_targets():
        sql = expand(target.sql, START, END, 60, variables)
        assert "$" not in sql, f"{board}/{title}: a macro or variable left unexpanded: {sql}"
        columns, rows = answer(simulated, sql)
        assert set(target.reads) <= set(columns), f"{board}/{title}: answers {columns}, reads {target.reads}"
        if target.shape == "timeseries":
            assert columns[0] == "time", f"{board}/{title}: a time series' first column is its time"
            assert [r[0] for r in rows] == sorted(r[0] for r in rows), f"{board}/{title}: not in time order"
        if title in FILLED:
            assert rows, f"{board}/{title}: no rows from a simulated hour"
            seen.add(title)
    assert seen == FILLED


async def test_panel_figures_agree_with_the_stored_rows(simulated: Warehouse) -> None:
    """Spot checks that catch a wrong column, unit or time: volume is the taker fills' notional, the funding APR
    is the hourly rate times 8760, open interest is the sum of each account's newest long, the band holds the
    oracle, and the first account planned for liquidation is at risk as the plan is made."""
    variables = {"database": simulated.database, "market": "SOL-PERP", "resolution": "60"}
    panels = {title: target for _, title, target in clickhouse_targets()}

    def run(title: str, end: datetime = END) -> list[dict]:
        columns, rows = answer(simulated, expand(panels[title].sql, START, end, 3600 * 4, variables))
        return [dict(zip(columns, row)) for row in rows]

    db = simulated.database
    taker = simulated.rows(f"SELECT toFloat64(sum(multiplyDecimal(size, price, 18))) AS notional FROM {db}.fills "
                           "WHERE market = 'SOL-PERP' AND liquidity = 'taker'")[0]["notional"]
    assert sum(r["volume"] for r in run("Volume (quote) and trades per interval")) == pytest.approx(taker)
    funding = run("Funding rate (per hour) and APR")
    assert all(r["apr"] == pytest.approx(r["rate"] * 8760) for r in funding)
    interest = run("Open interest (base units, every account's newest position)")[0]
    assert interest["long_open_interest"] == pytest.approx(newest_long(simulated, "SOL-PERP")) and interest[
        "long_open_interest"] > 0
    bands = run("Oracle and mark, with the oracle's confidence band")
    assert bands and all(r["band_low"] <= r["oracle"] <= r["band_high"] for r in bands)
    plan = simulated.rows(f"SELECT wallet, ts FROM {db}.liquidations WHERE kind = 'plan' ORDER BY ts, id LIMIT 1")[0]
    at_plan = datetime.fromtimestamp(plan["ts"].replace(tzinfo=timezone.utc).timestamp() + 1, timezone.utc)
    assert plan["wallet"] in {r["wallet"] for r in run("Accounts at risk", end=at_plan)}

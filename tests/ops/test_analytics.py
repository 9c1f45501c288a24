"""Analysts' reads: the docs' SQL over simulated data, `quantdesk sql` (read-only, CSV, Parquet), `quantdesk export`."""

import re
from decimal import Decimal
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from api.embedded import running
from ops import analytics
from ops.analytics import query_table, reader
from quantdesk.cli import commands
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from streams.sources.simulator import Simulator
from tests.conftest import send_raw
from tests.streams.agents.test_accounts_pipeline import crash
from tests.streams.test_rebuild import funded
from tests.waiting import eventually

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DOCS = Path(__file__).resolve().parents[2] / "docs" / "ANALYTICS.md"
FILL_COLUMNS = ["id", "ts", "market", "wallet", "subaccount", "side", "size", "price", "fee", "liquidity", "signature",
                "slot", "liquidation", "order"]
CRASH_AFTER = 20 * 60_000  # the crash's own SOL prices, long after the simulated ones (out of the 5-minute TWAP)
LONG, FUNDED = "5ZWj7a1f8tWkjBESHKgrLmXshuXxqeY9SYcfbshpAqPG", "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def documented() -> dict[str, str]:
    """Return the SQL blocks of docs/ANALYTICS.md by their section's title."""
    return dict(re.findall(r"^## \d+\. (.+?)\n.*?```sql\n(.*?)```", DOCS.read_text(), re.S | re.M))


def by_market(events: list[tuple[str, str, dict]], liquidity: str, figure) -> dict[str, Decimal]:
    """Return a figure of the published fills of one liquidity summed by market."""
    sums: dict[str, Decimal] = {}
    for topic, _, fill in events:
        if topic == "trades.fills" and fill["liquidity"] == liquidity:
            sums[fill["market"]] = sums.get(fill["market"], Decimal(0)) + figure(fill)
    return sums


def test_docs_hold_ten_questions_or_more() -> None:
    assert len(documented()) >= 10


async def test_every_documented_query_answers_over_simulated_data(settings: Settings) -> None:
    sim = Simulator(settings, START_MS, seed=11)
    # two minutes of simulated markets, a long the price takes under maintenance (liquidated by the simulated
    # venue, whose fills come on top of those published here), and a BTC long held over the hour's end: funding
    events = [e for _ in range(300) for e in sim.step()] + crash(LONG, "SOL-PERP", START_MS + CRASH_AFTER) + funded(
        FUNDED, START_MS)
    fills = [e for t, _, e in events if t == "trades.fills"]
    async with running(settings, simulator=False) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(events)
            await send_raw(publisher, "oracle.ticks", b"{this is not json", key="BTC-PERP")
        database = runtime.warehouse.database

        async def stored() -> bool:
            counts = await runtime.warehouse.arows(
                f"SELECT (SELECT count() FROM {database}.fills FINAL) AS fills, "
                f"(SELECT count() FROM {database}.dead_letters FINAL) AS letters, "
                f"(SELECT count() FROM {database}.account_snapshots FINAL) AS snapshots, "
                f"(SELECT count() FROM {database}.liquidations FINAL) AS plans, "
                f"(SELECT count() FROM {database}.funding_payments FINAL) AS payments, "
                f"(SELECT count() FROM {database}.funding_rates FINAL) AS rates")
            found = counts[0]
            # the rate comes from task 0, the payments from the holders' tasks: each in its own time
            return found["fills"] == len(fills) + 2 and found["letters"] >= 1 and found["snapshots"] > 0 and \
                found["plans"] >= 1 and found["payments"] >= 1 and found["rates"] >= 1  # + the venue's close

        client = reader(settings)

        async def answered() -> dict:
            """Return every query's answer once the inputs are stored and each query answers (the liquidated
            account's snapshots, say, may be stored after its plan: topics are stored each at its own pace)."""
            if not await stored():
                return {}
            tables = {title: query_table(client, sql, database) for title, sql in documented().items()}
            return tables if all(table.num_rows for table in tables.values()) else {}

        answers = await eventually(answered, timeout=60, interval=0.5, what="every fill, a dead letter, snapshots, a "
                                   "plan, funding payments and a rate stored, and every documented query answering")
        venue = await runtime.warehouse.arows(
            f"SELECT * FROM {database}.fills FINAL WHERE liquidation != '' ORDER BY id")
    events += [("trades.fills", "", {**f, "size": str(f["size"]), "price": str(f["price"]), "fee": str(f["fee"])})
               for f in venue]  # every fill the queries see: the published ones and the venue's
    fills += [f for _, _, f in events[-len(venue):]]
    volume = answers["Maker and taker volume by market"].to_pylist()
    taker = by_market(events, "taker", lambda f: Decimal(f["size"]) * Decimal(f["price"]))
    assert {r["market"]: r["quote_volume"] for r in volume if r["liquidity"] == "taker"} == taker
    maker = by_market(events, "maker", lambda f: Decimal(f["size"]))
    assert {r["market"]: r["base_volume"] for r in volume if r["liquidity"] == "maker"} == maker
    fees = {r["market"]: r["fees"] for r in answers["Fees by market"].to_pylist()}
    assert fees == {m: by_market(events, "taker", lambda f: Decimal(f["fee"])).get(m, Decimal(0))
                    + by_market(events, "maker", lambda f: Decimal(f["fee"])).get(m, Decimal(0)) for m in fees}
    assert sum(r["fills"] for r in answers["Slippage of taker fills by size bucket (vs the oracle price in force at "
                                           "the fill)"].to_pylist()) == sum(f["liquidity"] == "taker" for f in fills)
    liquidations = next(t for title, t in answers.items() if title.startswith("Liquidations")).to_pylist()
    [liquidated] = liquidations
    closes = [f for f in venue if f["wallet"] == LONG]
    assert (liquidated["market"], liquidated["wallet"]) == ("SOL-PERP", LONG) and liquidated["notional"] == sum(
        f["size"] * f["price"] for f in closes)
    assert liquidated["health_path"][0] > liquidated["health_path"][-1]  # health fell on the way to the close
    paid = next(t for title, t in answers.items() if title.startswith("Funding paid")).to_pylist()
    assert {r["market"] for r in paid} >= {"BTC-PERP"}
    letters = answers["Dead letters by topic and reason"].to_pylist()
    assert any(r["topic"] == "oracle.ticks" for r in letters)


def fill(n: int, ts: int) -> list:
    """Return a stored fill's cells: BTC taker buy of n at 100."""
    return [f"f{n}", ts, "BTC-PERP", "w1", 0, "buy", Decimal(n), Decimal("100.5"), Decimal("0.01"), "taker", "sig", n,
            "", f"o{n}"]


@pytest.fixture
def cli(warehouse: Warehouse, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """Return a runner whose `quantdesk` reads the test's warehouse, which holds fills f1..f5 a second apart."""
    monkeypatch.setenv("QUANTDESK_CLICKHOUSE_DSN", settings.resolved_clickhouse_dsn())
    monkeypatch.setenv("QUANTDESK_CLICKHOUSE_DATABASE", settings.clickhouse_database)
    warehouse.store("fills", FILL_COLUMNS, [fill(n, START_MS + n * 1000) for n in range(1, 6)])
    return CliRunner()


@pytest.mark.parametrize("write", ["INSERT INTO {db}.fills (id) VALUES ('x')", "DROP TABLE fills",
                                   "CREATE TABLE {db}.x (a UInt8) ENGINE = Memory", "ALTER TABLE fills DELETE WHERE 1"])
def test_sql_refuses_writes_with_clickhouse_message(cli: CliRunner, warehouse: Warehouse, write: str) -> None:
    result = cli.invoke(commands(), ["sql", write])
    assert result.exit_code == 1
    assert "readonly" in result.output and "Traceback" not in result.output
    assert warehouse.rows(f"SELECT count() AS n FROM {warehouse.database}.fills")[0]["n"] == 5


def test_sql_reports_a_bad_query(cli: CliRunner) -> None:
    result = cli.invoke(commands(), ["sql", "SELEC 1"])
    assert result.exit_code == 1 and "SYNTAX_ERROR" in result.output


def test_sql_refuses_more_rows_than_allowed(cli: CliRunner) -> None:
    result = cli.invoke(commands(), ["sql", "SELECT id FROM fills", "--max-rows", "4"])
    assert result.exit_code == 1 and "TOO_MANY_ROWS" in result.output
    assert cli.invoke(commands(), ["sql", "SELECT id FROM fills", "--max-rows", "5"]).exit_code == 0


def test_sql_prints_a_table_by_bare_name(cli: CliRunner) -> None:
    result = cli.invoke(commands(), ["sql", "SELECT sum(size) AS total FROM fills"])
    assert result.exit_code == 0 and "15" in result.output


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_sql_writes_what_it_selected(cli: CliRunner, warehouse: Warehouse, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"fills.{suffix}"
    result = cli.invoke(commands(), ["sql", "SELECT id, size, price FROM {db}.fills ORDER BY id", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out) if suffix == "parquet" else pacsv.read_csv(out)
    assert table.column("id").to_pylist() == [f"f{n}" for n in range(1, 6)]
    assert [Decimal(str(s)) for s in table.column("size").to_pylist()] == [Decimal(n) for n in range(1, 6)]
    assert {Decimal(str(p)) for p in table.column("price").to_pylist()} == {Decimal("100.5")}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("page", [1, 2, 100_000])
def test_export_writes_rows_in_start_to_end_only(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 fmt: str, page: int) -> None:
    monkeypatch.setattr(analytics, "PAGE_ROWS", page)  # pages of one and two rows: every row once, in order
    out = tmp_path / f"fills.{fmt}"
    start, end = "2026-01-01T00:00:02Z", str(START_MS + 5000)
    arguments = ["export", "fills", "--start", start, "--end", end, "--format", fmt, "--out", str(out)]
    result = cli.invoke(commands(), arguments)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out) if fmt == "parquet" else pacsv.read_csv(out)
    assert table.column("id").to_pylist() == ["f2", "f3", "f4"]  # ts 2, 3 and 4 s; 5 s is the excluded end
    assert "wrote 3 rows" in result.output


def test_export_names_the_tables_it_can_write(cli: CliRunner) -> None:
    result = cli.invoke(commands(), ["export", "fillz", "--start", "0", "--end", "1"])
    assert result.exit_code == 1
    assert "no table 'fillz'" in result.output and "fills" in result.output and "account_snapshots" in result.output

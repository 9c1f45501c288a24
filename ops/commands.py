"""`quantdesk dashboards build|push`, `quantdesk sql`, `quantdesk export` and `quantdesk tail`."""

from pathlib import Path
from typing import Annotated

import typer

from ops.provisioning import Sources
from quantdesk.cli import console

dashboards = typer.Typer(help="Grafana dashboards and Prometheus alert rules, built from code (ops/).",
                         no_args_is_help=True)


@dashboards.command()
def build(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="where the files go")] = Path("dashboards"),
) -> None:
    """Write the dashboards' JSON, the Prometheus alert rules and Grafana's provisioning files."""
    from ops.build import write

    for path in write(out):
        console.print(f"wrote {path}")


@dashboards.command()
def push(
    url: Annotated[str, typer.Option("--url", help="Grafana's address, e.g. http://localhost:3000")],
    token: Annotated[str, typer.Option("--token", envvar="QUANTDESK_GRAFANA_TOKEN",
                                       help="a service account token with the Admin role")],
    prometheus_url: Annotated[str, typer.Option(help="Prometheus as Grafana reaches it")] = Sources.prometheus_url,
    clickhouse_url: Annotated[str, typer.Option(help="ClickHouse's HTTP interface as Grafana reaches it")] =
    Sources.clickhouse_url,
    database: Annotated[str, typer.Option(help="the ClickHouse database")] = Sources.database,
) -> None:
    """Provision the data sources, the dashboards (folder QuantDesk) and the alert rules in a running Grafana."""
    from ops.push import push as push_all

    changed = push_all(url, token, Sources(prometheus_url, clickhouse_url, database))
    console.print("\n".join(changed) if changed else "Grafana is up to date: nothing changed")


def sql(
    query: Annotated[str, typer.Argument(help="a SELECT; `{db}` is the configured database, bare names work too")],
    out: Annotated[Path | None, typer.Option("--out", dir_okay=False, help="write FILE.csv or FILE.parquet")] = None,
    max_rows: Annotated[int, typer.Option("--max-rows", min=0, help="refuse a longer result (0: no limit)")] = 100_000,
) -> None:
    """Run a read-only query against the warehouse and print its rows, or write them to a file."""
    from clickhouse_connect.driver.exceptions import ClickHouseError
    from rich.table import Table

    from ops.analytics import query_table, reader, write_table
    from quantdesk.settings import get_settings

    settings = get_settings()
    try:
        rows = query_table(reader(settings), query, settings.clickhouse_database, max_rows)
        if out is not None:
            write_table(rows, out)
            console.print(f"wrote {rows.num_rows} rows to {out}")
            return
    except (ClickHouseError, ValueError) as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(1)
    table = Table(*rows.column_names)
    for row in rows.to_pylist():
        table.add_row(*(str(cell) for cell in row.values()))
    console.print(table)


def export(
    table: Annotated[str, typer.Argument(help="a warehouse table with a ts column, e.g. fills")],
    start: Annotated[str, typer.Option("--start", help="first event time, ISO or epoch ms (inclusive)")],
    end: Annotated[str, typer.Option("--end", help="last event time, ISO or epoch ms (exclusive)")],
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    out: Annotated[Path | None, typer.Option("--out", dir_okay=False, help="default TABLE.FORMAT")] = None,
) -> None:
    """Write a table's rows with ts in [start, end), 100,000 at a time, however many there are."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from ops.analytics import export as write_rows
    from ops.analytics import instant, reader
    from quantdesk.settings import get_settings

    settings = get_settings()
    target = out or Path(f"{table}.{fmt}")
    try:
        written = write_rows(reader(settings), settings.clickhouse_database, table, instant(start), instant(end), fmt,
                             target)
    except (ClickHouseError, ValueError) as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(1)
    console.print(f"wrote {written} rows to {target}")


def tail(
    topic: Annotated[str, typer.Argument(help="a topic's name without the prefix, e.g. accounts.state")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="go on printing events as they come")] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="stop after this many events")] = None,
    meta: Annotated[bool, typer.Option("--meta", help="wrap each event with its partition, offset and key")] = False,
) -> None:
    """Print a topic's events as JSON lines, from its start to its end (then on, with --follow)."""
    import sys

    from ops.tail import tail as tail_topic
    from ops.tail import unknown_topic
    from quantdesk.cli import bootstrap_or_exit, run
    from quantdesk.settings import get_settings

    if why := unknown_topic(topic):
        console.print(why, style="red", markup=False)
        raise typer.Exit(2)
    settings = get_settings()
    out = sys.stdout.buffer

    def write(line: bytes) -> None:
        out.write(line + b"\n")
        out.flush()
    try:
        run(tail_topic(settings, bootstrap_or_exit(settings), topic, write, follow=follow, limit=limit, meta=meta))
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C on --follow, or a reader such as `head` gone: done
        pass


def register(commands: typer.Typer) -> None:
    """Add `quantdesk dashboards`, `quantdesk sql`, `quantdesk export` and `quantdesk tail` to the CLI."""
    commands.add_typer(dashboards, name="dashboards")
    commands.command()(sql)
    commands.command()(export)
    commands.command()(tail)

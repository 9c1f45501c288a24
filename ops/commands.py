"""`quantdesk dashboards build` and `quantdesk dashboards push`."""

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


def register(commands: typer.Typer) -> None:
    """Add `quantdesk dashboards` to the CLI."""
    commands.add_typer(dashboards, name="dashboards")

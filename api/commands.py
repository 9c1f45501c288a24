"""The gateway's commands: the gateway alone, and the whole platform on this machine (`quantdesk up`)."""

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from quantdesk.cli import bootstrap_or_exit, console, run
from quantdesk.settings import Settings, get_settings

STOP_S = 20.0  # past draining, how long `quantdesk up` may take to stop every part before it exits anyway


def summary(runtime: object) -> Table:
    """Return the start-up summary table of a running platform."""
    from api.embedded import Runtime

    assert isinstance(runtime, Runtime)
    table = Table(title="QuantDesk is up", show_header=False)
    table.add_row("REST", f"{runtime.api_url}/api/v1/markets")
    table.add_row("OpenAPI", f"{runtime.api_url}/docs")
    table.add_row("Socket.IO", f"{runtime.api_url}/socket.io/")
    table.add_row("Metrics", "\n".join(runtime.metrics_urls))
    table.add_row("Kafka", runtime.bootstrap + (" (embedded Tansu)" if runtime.broker else ""))
    table.add_row("ClickHouse", f"{runtime.settings.resolved_clickhouse_dsn()} db={runtime.warehouse.database}")
    table.add_row("Markets", ", ".join(runtime.settings.market_names))
    if runtime.restored.stored:
        table.add_row("Restored", f"{runtime.restored.stored} stored inputs in {runtime.restored.seconds:.1f} s")
    table.add_row("Stop", "Ctrl-C")
    return table


async def _up(settings: Settings, simulator: bool, replay_file: Optional[Path], sources: tuple[str, ...]) -> None:
    """Run the platform until uvicorn is told to stop, or until the feed worker crashes (then exit with 1)."""
    from api.embedded import DRAIN_S, running
    from quantdesk.process import exit_unless_stopped_within, stop_signal, tune_collector

    async with running(settings, simulator=simulator, replay_file=replay_file, sources=sources) as runtime:
        tune_collector()
        console.print(summary(runtime))
        crashed = await runtime.served(stop_signal())
        if crashed:
            reason = "the embedded broker died" if runtime.broker_died() else f"{runtime.pipeline.app.crash_reason!r}"
            console.print(f"[red]a part of the platform failed ({reason}); stopping[/red]")
        exit_unless_stopped_within(STOP_S if crashed else DRAIN_S + STOP_S)  # whatever hangs on the way out
        if not crashed and not await runtime.drain():
            console.print("[yellow]the workers had not caught up; the next start rebuilds from the stored input[/yellow]")
    if crashed:
        raise SystemExit(1)


def up(
    simulator: Annotated[bool, typer.Option("--simulator/--no-simulator", help="feed simulated markets")] = True,
    replay_file: Annotated[Optional[Path], typer.Option("--replay", exists=True, dir_okay=False, help="publish this JSONL file at start")] = None,
    source: Annotated[Optional[list[str]], typer.Option(
        "--source", help="ingest this source (pyth, solana, hyperliquid); turns the simulator off")] = None,
    risk_shards: Annotated[Optional[int], typer.Option(
        "--risk-shards", min=1, help="risk worker processes, sharing the accounts (QUANTDESK_RISK_SHARDS)")] = None,
) -> None:
    """Run the whole platform on this machine (embedded broker and chDB by default)."""
    logging.basicConfig(level=logging.WARNING)
    sources = tuple(source or ())
    settings = get_settings()
    if risk_shards is not None:
        settings = settings.model_copy(update={"risk_shards": risk_shards})
    try:
        run(_up(settings, simulator and not sources, replay_file, sources))
    except KeyboardInterrupt:
        pass
    console.print("stopped cleanly")


def api() -> None:
    """Run the gateway alone against the configured broker and ClickHouse."""
    import uvicorn

    from api.main import create_api, gateway_config
    from quantdesk.process import tune_collector
    from quantdesk.warehouse import Warehouse

    settings = get_settings()
    warehouse = Warehouse.from_settings(settings, settings.clickhouse_timeout_s)
    gateway = create_api(settings, warehouse, bootstrap_or_exit(settings))
    tune_collector()
    uvicorn.Server(gateway_config(gateway, settings)).run()


def register(commands: typer.Typer) -> None:
    """Add `quantdesk up` and `quantdesk api` to the CLI."""
    commands.command()(up)
    commands.command()(api)

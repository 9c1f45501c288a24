"""The `quantdesk` command line."""

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated, Any, Coroutine, Optional, TypeVar, cast

import typer
import uvloop
from rich.console import Console
from rich.table import Table

from quantdesk.settings import Settings, get_settings

STOP_S = 20.0  # past draining, how long `quantdesk up` may take to stop every part before it exits anyway

app = typer.Typer(help="QuantDesk data platform.", no_args_is_help=True, add_completion=False)
console = Console()
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine on uvloop (its transports and task switches are C: pushes and Faust go faster)."""
    return uvloop.run(main)


def summary(runtime: object) -> Table:
    """Return the start-up summary table of a running platform."""
    from quantdesk.platform import Runtime

    assert isinstance(runtime, Runtime)
    table = Table(title="QuantDesk is up", show_header=False)
    table.add_row("REST", f"{runtime.api_url}/api/v1/markets")
    table.add_row("OpenAPI", f"{runtime.api_url}/docs")
    table.add_row("Socket.IO", f"{runtime.api_url}/socket.io/")
    table.add_row("Kafka", runtime.bootstrap + (" (embedded Tansu)" if runtime.broker else ""))
    table.add_row("ClickHouse", f"{runtime.settings.resolved_clickhouse_dsn()} db={runtime.warehouse.database}")
    table.add_row("Markets", ", ".join(runtime.settings.market_names))
    if runtime.restored.stored:
        table.add_row("Restored", f"{runtime.restored.stored} stored inputs in {runtime.restored.seconds:.1f} s")
    table.add_row("Stop", "Ctrl-C")
    return table


async def _up(settings: Settings, simulator: bool, replay_file: Optional[Path], sources: tuple[str, ...]) -> None:
    """Run the platform until uvicorn is told to stop, or until the feed worker crashes (then exit with 1)."""
    from quantdesk.platform import DRAIN_S, running
    from quantdesk.serving import exit_unless_stopped_within, tune_collector

    async with running(settings, simulator=simulator, replay_file=replay_file, sources=sources) as runtime:
        tune_collector()
        console.print(summary(runtime))
        loop, stop = asyncio.get_running_loop(), asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        crashed = await runtime.served(stop)
        if crashed:
            reason = "the embedded broker died" if runtime.broker_died() else f"{runtime.pipeline.app.crash_reason!r}"
            console.print(f"[red]a part of the platform failed ({reason}); stopping[/red]")
        exit_unless_stopped_within(STOP_S if crashed else DRAIN_S + STOP_S)  # whatever hangs on the way out
        if not crashed and not await runtime.drain():
            console.print("[yellow]the workers had not caught up; the next start rebuilds from the stored input[/yellow]")
    if crashed:
        raise SystemExit(1)


@app.command()
def up(
    simulator: Annotated[bool, typer.Option("--simulator/--no-simulator", help="feed simulated markets")] = True,
    replay_file: Annotated[Optional[Path], typer.Option("--replay", exists=True, dir_okay=False, help="publish this JSONL file at start")] = None,
    source: Annotated[Optional[list[str]], typer.Option(
        "--source", help="ingest this source (pyth, solana); turns the simulator off")] = None,
) -> None:
    """Run the whole platform on this machine (embedded broker and chDB by default)."""
    logging.basicConfig(level=logging.WARNING)
    sources = tuple(source or ())
    try:
        run(_up(get_settings(), simulator and not sources, replay_file, sources))
    except KeyboardInterrupt:
        pass
    console.print("stopped cleanly")


@app.command()
def ingest(
    source: Annotated[Optional[list[str]], typer.Option("--source", help="pyth, solana (default: both)")] = None,
) -> None:
    """Publish verified program transactions and Pyth prices; health and metrics on the ingest port."""
    from quantdesk.ingest.service import SOURCES, run_until_stopped

    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    run(run_until_stopped(settings, bootstrap_or_exit(settings), tuple(source or SOURCES)))


@app.command()
def migrate() -> None:
    """Apply the ClickHouse migrations not applied yet."""
    from quantdesk.warehouse import Warehouse

    applied = Warehouse.from_settings(get_settings()).migrate()
    console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


def bootstrap_or_exit(settings: Settings) -> str:
    """Return the configured broker, or stop with a clear message."""
    if not settings.kafka_bootstrap:
        console.print("[red]set QUANTDESK_KAFKA_BOOTSTRAP (the embedded broker lives inside `quantdesk up`)[/red]")
        raise typer.Exit(2)
    return settings.kafka_bootstrap


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL of {topic, value} lines")],
    speed: Annotated[Optional[float], typer.Option(min=0.001, help="replay at this multiple of event time")] = None,
    wait: Annotated[Optional[float], typer.Option(
        "--wait", min=0, help="then wait at most this many seconds until the workers applied and stored it")] = None,
) -> None:
    """Publish a replay file onto the input topics, in order (with --wait, return once it is applied)."""
    from quantdesk.lag import applied_within, unapplied
    from quantdesk.replay import ReplayError, replay as run_replay

    settings = get_settings()
    bootstrap = bootstrap_or_exit(settings)
    try:
        count = run(run_replay(settings, bootstrap, file, speed))
    except ReplayError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"published {count} events")
    if wait is not None:
        if not run(applied_within(settings, bootstrap, wait)):
            left = run(unapplied(settings, bootstrap))
            console.print(f"[red]not applied within {wait:g} s: {left['risk']} input messages not applied, "
                          f"{left['store']} messages not stored[/red]")
            raise typer.Exit(1)
        console.print("applied and stored")


@app.command()
def simulate(steps: Annotated[Optional[int], typer.Option(min=1, help="stop after this many steps")] = None) -> None:
    """Publish simulated markets and traders in real time to the configured broker."""
    from quantdesk.simulator import run_live

    settings = get_settings()
    run(run_live(settings, bootstrap_or_exit(settings), steps))


@app.command()
def worker(
    role: Annotated[str, typer.Option(
        help="all: every agent; risk: accounts (and the simulated venue); feed: market agent and ClickHouse sink")] = "all",
) -> None:
    """Run the Faust worker of one role against the configured broker (and ClickHouse, but for risk)."""
    from streams.app import ROLES, Role
    from streams.worker import serve_worker

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    settings = get_settings()
    run(serve_worker(settings, bootstrap_or_exit(settings), cast(Role, role)))


@app.command()
def api() -> None:
    """Run the gateway alone against the configured broker and ClickHouse."""
    import uvicorn

    from api.main import create_api
    from quantdesk.serving import gateway_config, tune_collector
    from quantdesk.warehouse import Warehouse

    settings = get_settings()
    gateway = create_api(settings, Warehouse.from_settings(settings), bootstrap_or_exit(settings))
    tune_collector()
    uvicorn.Server(gateway_config(gateway, settings)).run()


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="smaller sizes: finishes in under two minutes")] = False,
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="where bench.json and bench.md go")] = Path("bench-out"),
    smoke: Annotated[bool, typer.Option("--smoke", hidden=True, help="tiny sizes, for the report's shape test")] = False,
) -> None:
    """Measure throughput, latency and growth on an embedded stack, each beside a same-run baseline."""
    import sys

    from quantdesk.bench.run import run_bench
    from quantdesk.bench.sizing import SIZINGS

    logging.basicConfig(level=logging.WARNING)
    sizing = SIZINGS["smoke" if smoke else "quick" if quick else "full"]
    result = run(run_bench(sizing, out, " ".join(["quantdesk", *sys.argv[1:]])))
    console.print((out / "bench.md").read_text())
    console.print(f"wrote {out / 'bench.json'} in {result['seconds']:.0f} s")


def main() -> None:
    """Run the CLI."""
    app()

"""The streams service's commands: workers, ingest, replay and the simulator."""

import logging
from pathlib import Path
from typing import Annotated, Optional, cast

import typer

from quantdesk.cli import bootstrap_or_exit, console, run
from quantdesk.settings import get_settings


def ingest(
    source: Annotated[Optional[list[str]], typer.Option(
        "--source", help="pyth, solana, hyperliquid (default: pyth and solana)")] = None,
) -> None:
    """Publish verified program transactions, Pyth prices and (`--source hyperliquid`) Hyperliquid's mids and books;
    health and metrics on the ingest port."""
    from streams.sources.ingest.service import DEFAULT_SOURCES, run_until_stopped

    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    run(run_until_stopped(settings, bootstrap_or_exit(settings), tuple(source or DEFAULT_SOURCES)))


def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL of {topic, value} lines")],
    speed: Annotated[Optional[float], typer.Option(min=0.001, help="replay at this multiple of event time")] = None,
    wait: Annotated[Optional[float], typer.Option(
        "--wait", min=0, help="then wait at most this many seconds until the workers applied and stored it")] = None,
) -> None:
    """Publish a replay file onto the input topics, in order (with --wait, return once it is applied)."""
    from quantdesk.kafka.lag import applied_within, unapplied
    from streams.sources.replay import ReplayError, replay as run_replay

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


def simulate(steps: Annotated[Optional[int], typer.Option(min=1, help="stop after this many steps")] = None) -> None:
    """Publish simulated markets and traders in real time to the configured broker."""
    from streams.sources.simulator import run_live

    settings = get_settings()
    run(run_live(settings, bootstrap_or_exit(settings), steps))


def worker(
    role: Annotated[str, typer.Option(help="all: every agent; risk: accounts (and the simulated venue); "
                                           "feed: market agent, ClickHouse sink, webhooks")] = "all",
) -> None:
    """Run the Faust worker of one role against the configured broker (and ClickHouse, but for risk)."""
    from streams.worker import ROLES, Role, serve_worker

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    settings = get_settings()
    run(serve_worker(settings, bootstrap_or_exit(settings), cast(Role, role)))


def register(commands: typer.Typer) -> None:
    """Add the streams commands to the CLI: ingest, replay, simulate, worker."""
    commands.command()(ingest)
    commands.command()(replay)
    commands.command()(simulate)
    commands.command()(worker)

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
    file: Annotated[Optional[Path], typer.Argument(
        exists=True, dir_okay=False, help="JSONL of {topic, value} lines (not with --until)")] = None,
    speed: Annotated[Optional[float], typer.Option(min=0.001, help="replay at this multiple of event time")] = None,
    wait: Annotated[Optional[float], typer.Option(
        "--wait", min=0, help="then wait at most this many seconds until the workers applied and stored it")] = None,
    until: Annotated[Optional[str], typer.Option(
        help="instead: rebuild the accounts at this event time (UTC ms or ISO 8601) from the stored inputs")] = None,
    account: Annotated[Optional[str], typer.Option(help="with --until: only this wallet")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="with --until: print JSON, not tables")] = False,
) -> None:
    """Publish a replay file onto the input topics, in order (with --wait, return once it is applied); or, with
    --until, rebuild the accounts at a past moment from the inputs stored in the warehouse and print their figures
    and the decisions taken on the way, with their digests."""
    if until is not None:
        if file is not None:
            raise typer.BadParameter("a file is published, --until rebuilds from the warehouse: not both")
        rebuilt(until, account, as_json)
        return
    if file is None:
        raise typer.BadParameter("needs a replay file, or --until", param_hint="FILE")
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


def event_time(text: str) -> int:
    """Return UTC ms from UTC ms or an ISO 8601 time (UTC unless it says otherwise)."""
    from datetime import UTC, datetime

    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is neither UTC ms nor an ISO 8601 time", param_hint="--until") from exc
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def rebuilt(until: str, wallet: Optional[str], as_json: bool) -> None:
    """Print the accounts and decisions rebuilt at `until` from the warehouse, as tables or JSON."""
    import orjson
    from rich.table import Table

    from quantdesk.messages import dump
    from quantdesk.warehouse import Warehouse
    from streams.rebuild import rebuild

    settings = get_settings()
    warehouse = Warehouse.from_settings(settings)
    try:
        state = rebuild(settings, warehouse, event_time(until))
    finally:
        warehouse.close()
    state = state.of(wallet) if wallet else state
    if as_json:
        print(orjson.dumps({"until": state.until, "accounts": [dump(s) for s in state.accounts.values()],
                            "decisions": [dump(d) for d in state.decisions]}, option=orjson.OPT_INDENT_2).decode())
        return
    accounts = Table("account", "state", "collateral", "equity", "maintenance margin", "health",
                     title=f"accounts at {state.until}")
    for key, s in sorted(state.accounts.items()):
        accounts.add_row(key, s.state, str(s.collateral), str(s.equity), str(s.maintenance_margin), str(s.health))
    decisions = Table("ts", "action", "subject", "causes", "digest", title="decisions on the way")
    for d in state.decisions:
        decisions.add_row(str(d.ts), d.action, d.subject, ", ".join(d.causes), d.digest[:16])
    console.print(accounts, decisions)


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

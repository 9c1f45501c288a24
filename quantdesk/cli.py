"""The `quantdesk` command line: its root, and each service's commands found through entry points.

A package adds commands by naming a `register(app)` function under the `quantdesk.commands` entry point
group (pyproject.toml); the root never imports a service.
"""

from importlib.metadata import entry_points
from typing import Any, Coroutine, TypeVar

import typer
import uvloop
from aiokafka.errors import KafkaConnectionError
from rich.console import Console

from quantdesk.kafka.topics import TopicsUnfit
from quantdesk.settings import Settings, get_settings

app = typer.Typer(help="QuantDesk data platform.", no_args_is_help=True, add_completion=False)
console = Console()
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine on uvloop (its transports and task switches are C: pushes and Faust go faster); a
    broker it cannot reach, or whose topics would delete records the workers need, stops it with a message saying
    so, not a traceback."""
    try:
        return uvloop.run(main)
    except KafkaConnectionError as error:
        console.print(f"the broker cannot be reached: {error}", style="red", markup=False)
        raise typer.Exit(1) from None
    except TopicsUnfit as error:
        console.print(str(error), style="red", markup=False)
        raise typer.Exit(1) from None


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


def commands() -> typer.Typer:
    """Return the CLI with every installed service's commands (added once)."""
    if not app.registered_commands[1:]:
        for found in sorted(entry_points(group="quantdesk.commands"), key=lambda e: e.name):
            found.load()(app)
    return app


def main() -> None:
    """Run the CLI; a ClickHouse server it cannot reach stops it with a message saying so, not a traceback."""
    try:
        commands()()
    except Exception as error:
        from quantdesk.warehouse import Unreachable  # only now: most commands never open the warehouse

        if not isinstance(error, Unreachable):
            raise
        console.print(f"{error}: {error.__cause__}", style="red", markup=False)
        raise SystemExit(1) from None

"""The bench's command."""

import logging
from pathlib import Path
from typing import Annotated

import typer

from quantdesk.cli import console, run


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="smaller sizes: finishes in under two minutes")] = False,
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="where bench.json and bench.md go")] = Path("bench-out"),
    smoke: Annotated[bool, typer.Option("--smoke", hidden=True, help="tiny sizes, for the report's shape test")] = False,
    pipeline_only: Annotated[int | None, typer.Option(
        "--pipeline-only", metavar="EVENTS",
        help="only the pipeline figure, over EVENTS events, printed as JSON: what a profiler records "
             "(`py-spy record --subprocesses -- quantdesk bench --pipeline-only 60000`)")] = None,
) -> None:
    """Measure throughput, latency and growth on an embedded stack, each beside a same-run baseline."""
    import json
    import sys

    from bench.run import pipeline_alone, run_bench
    from bench.sizing import SIZINGS

    logging.basicConfig(level=logging.WARNING)
    sizing = SIZINGS["smoke" if smoke else "quick" if quick else "full"]
    if pipeline_only is not None:
        typer.echo(json.dumps(run(pipeline_alone(sizing, out, pipeline_only))))
        return
    result = run(run_bench(sizing, out, " ".join(["quantdesk", *sys.argv[1:]])))
    console.print((out / "bench.md").read_text())
    console.print(f"wrote {out / 'bench.json'} in {result['seconds']:.0f} s")


def register(commands: typer.Typer) -> None:
    """Add `quantdesk bench` to the CLI."""
    commands.command()(bench)

"""Kill test: the risk worker SIGKILLed at seeded moments of a 90k-event replay ends with every stored table
equal, row for row, to an uninterrupted run's."""

import asyncio
import os
import random
import signal
from pathlib import Path

from api.embedded import Runtime, running
from quantdesk.kafka.lag import progress_group, task_partitions
from quantdesk.settings import Settings
from tests.reliability.runs import TABLES, fresh, progress, tables
from tests.reliability.scenario import ACCOUNTS, CRASH_RUN, Day, same_rows
from tests.waiting import eventually

pytestmark = CRASH_RUN
KILLS = 6


async def kill_at(runtime: Runtime, fractions: list[float]) -> int:
    """SIGKILL the risk worker each time its committed input passes the next fraction; return the kills."""
    settings, kills = runtime.settings, 0
    parts = task_partitions(settings, 0)
    for fraction in fractions:
        async def reached() -> bool:
            done, total = await progress(runtime.bootstrap, progress_group(settings, "risk", 0), parts)
            return done >= fraction * total
        await eventually(reached, timeout=300, what=f"{fraction:.0%} of the input applied", interval=0.02)
        worker = runtime.risk.processes[0]
        process, restarts = worker.process, worker.restarts
        assert process is not None and process.returncode is None
        os.kill(process.pid, signal.SIGKILL)
        kills += 1
        await eventually(lambda: asyncio.sleep(0, worker.restarts > restarts), timeout=30,
                         what="the risk worker started again")
    return kills


async def run(settings: Settings, replay: Path, fractions: list[float]) -> tuple[dict[str, list[tuple]], int]:
    """Run the platform over the replay, killing the risk worker at `fractions`; return the tables and kills."""
    async with running(settings, simulator=False, replay_file=replay) as runtime:
        kills = await kill_at(runtime, fractions)
        return await tables(runtime), kills


async def test_a_risk_worker_killed_six_times_ends_with_every_output_of_an_uninterrupted_run(
        settings: Settings, uninterrupted_day: Day) -> None:
    reference = uninterrupted_day.tables
    rng = random.Random(20261203)
    fractions = sorted(rng.uniform(0.05, 0.9) for _ in range(KILLS))

    killed, kills = await run(fresh(settings), uninterrupted_day.replay, fractions)

    assert len(uninterrupted_day.events) >= 85_000 and kills == KILLS
    assert len(reference["liquidations"]) > 0 and len(reference["funding_rates"]) >= 6
    assert len({r[2] for r in reference["account_snapshots"]}) >= ACCOUNTS
    assert len(reference["ledger"]) > ACCOUNTS and len(reference["signals"]) > 0
    same_rows(reference, killed, TABLES)

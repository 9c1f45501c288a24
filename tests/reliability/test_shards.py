"""Risk shards: three risk workers sharing the accounts end with every stored output of one worker, row for row,
and so do two survivors of a third killed mid-replay, which take its tasks over from their checkpoints."""

import os
import signal
from pathlib import Path


from api.embedded import running
from quantdesk.kafka.lag import progress_group, task_partitions
from quantdesk.settings import Settings
from tests.reliability.scenario import CRASH_RUN, same_rows, scenario, write_replay
from tests.reliability.runs import TABLES, fresh, progress, tables
from tests.waiting import eventually

pytestmark = CRASH_RUN
STEPS, ACCOUNTS, LEVERAGED = 4000, 200, 30  # past 00:00: one funding hour closes


async def run(settings: Settings, replay: Path, shards: int, kill_at: float | None = None) -> dict[str, list[tuple]]:
    """Run the platform over the replay with `shards` risk workers; with `kill_at`, SIGKILL the second worker for
    good once every task has applied that share of the input; return the stored outputs."""
    settings = settings.model_copy(update={"risk_shards": shards})
    async with running(settings, simulator=False, replay_file=replay) as runtime:
        if kill_at is not None:
            async def reached() -> bool:
                done = [await progress(runtime.bootstrap, progress_group(settings, "risk", t),
                                       task_partitions(settings, t)) for t in range(settings.topic_partitions)]
                return all(applied >= kill_at * total for applied, total in done)
            await eventually(reached, timeout=300, what=f"{kill_at:.0%} of the input applied by every task",
                             interval=0.05)
            victim = runtime.risk.processes[1]
            assert victim.process is not None and victim.process.returncode is None
            victim.stopping = True  # not started again: the survivors must take its tasks
            os.kill(victim.process.pid, signal.SIGKILL)
        return await tables(runtime)


async def test_three_risk_shards_and_two_survivors_of_a_killed_one_store_what_one_worker_stores(
        settings: Settings, tmp_path: Path) -> None:
    events = scenario(STEPS, ACCOUNTS, LEVERAGED, order_flow=False)
    replay = write_replay(tmp_path / "hour.jsonl", events)

    one = await run(fresh(settings), replay, 1)
    three = await run(fresh(settings), replay, 3)
    survivors = await run(fresh(settings), replay, 3, kill_at=0.3)

    assert len(one["liquidations"]) > 0 and len(one["funding_rates"]) >= 3 and len(one["funding_payments"]) > 0
    assert len({r[2] for r in one["account_snapshots"]}) >= ACCOUNTS
    same_rows(one, three, TABLES)
    same_rows(one, survivors, TABLES)

"""Kill test: the risk worker SIGKILLed at seeded moments of a 51k-event replay ends with every stored
output equal, row for row, to an uninterrupted run's."""

import asyncio
import os
import random
import signal
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from quantdesk.broker import free_port
from quantdesk.kafka.lag import progress_group, task_partitions, unapplied
from quantdesk.kafka.reader import fetched_ends
from api.embedded import Runtime, running
from quantdesk.settings import Settings
from tests.reliability.scenario import CRASH_RUN, same_rows, scenario, write_replay
from tests.waiting import eventually

pytestmark = CRASH_RUN
STEPS, ACCOUNTS, LEVERAGED, KILLS = 11_000, 400, 40, 6
DERIVED = ("account_snapshots", "funding_rates", "funding_payments", "liquidations", "audit_log", "dead_letters",
           "market_state")


def fresh(settings: Settings) -> Settings:
    """Return settings with their own topics, groups, database and port, and a lateness window of 10 minutes:
    the day's applied ids are forgotten as it goes, across the kills."""
    name = f"t{uuid.uuid4().hex[:10]}"
    return settings.model_copy(update={"topic_prefix": f"{name}.", "app_id": name, "clickhouse_database": name,
                                       "api_port": free_port(), "kafka_session_timeout_s": 6.0,
                                       "max_lateness_ms": 600_000})


async def progress(bootstrap: str, group: str, parts: list[TopicPartition]) -> tuple[int, int]:
    """Return how many messages of `parts` the group has committed, and how many there are."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        listed = await consumer.end_offsets(parts)
        ends = {**listed, **await fetched_ends([bootstrap], {tp: end for tp, end in listed.items() if end})}
        committed = [min(await consumer.committed(tp) or 0, ends[tp]) for tp in parts]
        return sum(committed), sum(ends.values())
    finally:
        await consumer.stop()


async def settled(runtime: Runtime) -> bool:
    """Tell whether every worker has applied, and the sink stored, everything published."""
    return not any((await unapplied(runtime.settings, runtime.bootstrap)).values())


async def tables(runtime: Runtime) -> dict[str, list[tuple]]:
    """Return every derived table's rows, ordered by id, once no more arrive."""
    async def counted() -> tuple:
        return tuple([(await runtime.warehouse.arows(f"SELECT count() AS n FROM {runtime.warehouse.database}.{t}"))[0]["n"]
                      for t in DERIVED])
    last: tuple = ()

    async def still() -> bool:
        nonlocal last
        now = await counted()
        same, last = now == last and await settled(runtime), now
        return same
    try:
        await eventually(still, timeout=300, what="every output stored", interval=1.0)
    except AssertionError as exc:  # say what is missing: rows still coming, or a reader that applies nothing
        behind = await unapplied(runtime.settings, runtime.bootstrap)
        raise AssertionError(f"{exc}: rows {dict(zip(DERIVED, last))}, unapplied {behind}") from None
    db = runtime.warehouse.database
    return {t: [tuple(r.values()) for r in await runtime.warehouse.arows(f"SELECT * FROM {db}.{t} ORDER BY id")]
            for t in DERIVED}


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
        settings: Settings, tmp_path: Path) -> None:
    events = scenario(STEPS, ACCOUNTS, LEVERAGED)
    replay = write_replay(tmp_path / "day.jsonl", events)
    rng = random.Random(20261203)
    fractions = sorted(rng.uniform(0.05, 0.9) for _ in range(KILLS))

    reference, _ = await run(fresh(settings), replay, [])
    killed, kills = await run(fresh(settings), replay, fractions)

    assert len(events) >= 50_000 and kills == KILLS
    assert len(reference["liquidations"]) > 0 and len(reference["funding_rates"]) >= 6
    assert len({r[2] for r in reference["account_snapshots"]}) >= ACCOUNTS
    same_rows(reference, killed, DERIVED)

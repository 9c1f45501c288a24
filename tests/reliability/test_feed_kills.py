"""Feed-worker kills: with the workers as separate processes (as deployed), the feed worker (market agent and
ClickHouse sink) SIGKILLed at seeded moments and started again, the market agent from its checkpoints, ends with
every stored output equal to an uninterrupted run's."""

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka import TopicPartition

from quantdesk.kafka.lag import unapplied
from quantdesk.kafka.publisher import Publisher
from quantdesk.kafka.reader import Reader
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from tests.conftest import ROOT
from tests.reliability.runs import TABLES, stored
from tests.reliability.scenario import CRASH_RUN, same_rows, scenario
from tests.waiting import eventually

pytestmark = CRASH_RUN
STEPS, ACCOUNTS, LEVERAGED, KILLS = 5000, 200, 30, 5  # with the makers' order flow: 126,707 events


def worker(role: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `quantdesk worker --role ROLE`."""
    return subprocess.Popen([sys.executable, "-m", "quantdesk", "worker", "--role", role], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def run(settings: Settings, data: Path, events: list,
              kill_after: list[float]) -> tuple[dict[str, list[tuple]], int]:
    """Publish the events, run a risk and a feed worker, SIGKILL the feed `kill_after` seconds after each of its
    starts; return every table once a last feed has stored everything, and how many checkpoint records the market
    agent wrote."""
    name = f"t{uuid.uuid4().hex[:10]}"
    own = settings.model_copy(update={"topic_prefix": f"{name}.", "app_id": name})
    bootstrap = own.kafka_bootstrap or ""
    env = {**os.environ, "QUANTDESK_KAFKA_BOOTSTRAP": bootstrap, "QUANTDESK_TOPIC_PREFIX": own.topic_prefix,
           "QUANTDESK_APP_ID": own.app_id, "QUANTDESK_DATA_DIR": str(data), "QUANTDESK_CLICKHOUSE_DSN": "",
           "QUANTDESK_RISK_WORKER_PORT": str(own.risk_worker_port),  # each worker serves its endpoints on its own
           "QUANTDESK_FEED_WORKER_PORT": str(own.feed_worker_port),
           "QUANTDESK_FEED_CHECKPOINT_S": "0.5"}  # killed after checkpoints, some while it writes one
    subprocess.run([sys.executable, "-m", "quantdesk", "migrate"], cwd=ROOT, env=env, check=True, timeout=120,
                   capture_output=True)
    await ensure_topics(own, bootstrap)
    async with Publisher(own, bootstrap) as publisher:
        await publisher.send(events)
    risk = worker("risk", env)
    try:
        for delay in kill_after:
            feed = worker("feed", env)
            await asyncio.sleep(delay)  # a seeded moment of the run, not a synchronisation
            feed.send_signal(signal.SIGKILL)
            feed.wait(timeout=30)
        feed = worker("feed", env)
        try:
            async def settled() -> bool:
                return not any((await unapplied(own, bootstrap)).values())
            await eventually(settled, timeout=300, what="everything applied and stored", interval=0.5)
        finally:
            feed.terminate()
            feed.wait(timeout=30)
    finally:
        risk.terminate()
        risk.wait(timeout=30)
    async with Reader(bootstrap) as reader:
        checkpoints = TopicPartition(own.topic("markets.checkpoints"), 0)
        written = (await reader.end_offsets([checkpoints]))[checkpoints]
    return stored(data), written


async def test_a_feed_worker_killed_five_times_ends_with_every_output_of_an_uninterrupted_run(
        settings: Settings, tmp_path: Path) -> None:
    events = scenario(STEPS, ACCOUNTS, LEVERAGED, seed=5)
    rng = random.Random(8)
    delays = [rng.uniform(2.0, 6.0) for _ in range(KILLS)]

    reference, _ = await run(settings, tmp_path / "once", events, [])
    killed, checkpoints = await run(settings, tmp_path / "killed", events, delays)

    assert len(reference["liquidations"]) > 0 and len(reference["market_state"]) > STEPS
    assert len(reference["orders"]) > STEPS and len(reference["order_events"]) > STEPS
    assert checkpoints >= KILLS  # the starts went on from checkpoints, written every 0.5 s
    same_rows(reference, killed, TABLES)

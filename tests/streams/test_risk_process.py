"""The risk worker runs in a child process of its own: given the settings, started again when it dies, and
stopped within its deadline even when its broker went first."""

import asyncio
import signal
import time

import orjson
from pydantic import SecretStr

from quantdesk.broker import EmbeddedBroker
from api.embedded import running
from quantdesk.kafka.publisher import Keyed, Publisher
from quantdesk.metrics import ChildMetrics
from streams.risk_process import RiskProcess, child_settings
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from streams.worker import STOP_S
from tests.streams.agents.test_accounts_pipeline import START_MS, rows, topic_events
from tests.waiting import eventually


def deposit(n: int, amount: str) -> Keyed:
    """Return alice's n-th deposit, n seconds into the day."""
    ts = START_MS + n * 1000
    return "accounts.changes", "alice:0", {"id": f"deposit:{n}", "ts": ts, "wallet": "alice", "kind": "deposit",
                                           "amount": amount}


def test_the_child_reads_the_parents_settings_with_the_broker_resolved_and_no_secret(settings: Settings) -> None:
    parent = settings.model_copy(update={"kafka_bootstrap": None, "session_secret": SecretStr("s" * 40),
                                         "simulator_accounts": 7, "reorder_grace_ms": 123})
    sent = orjson.loads(child_settings(parent, "127.0.0.1:9092"))
    assert "session_secret" not in sent
    child = Settings(**sent)
    assert child.kafka_bootstrap == "127.0.0.1:9092"
    assert child.model_dump(exclude={"kafka_bootstrap", "session_secret"}) == parent.model_dump(
        exclude={"kafka_bootstrap", "session_secret"})


async def test_a_risk_worker_killed_is_started_again_and_goes_on_from_its_tables(
        settings: Settings) -> None:
    async with running(settings, simulator=False) as runtime, Publisher(settings, runtime.bootstrap) as publisher:
        await publisher.send([deposit(1, "100")])

        async def collateral() -> list[str]:
            found = await rows(runtime, "SELECT toString(collateral) AS c FROM {db}.account_snapshots "
                                        "WHERE wallet = 'alice' ORDER BY ts")
            return [r["c"] for r in found]
        assert await eventually(collateral, timeout=60, what="the first deposit applied") == ["100"]
        worker = runtime.risk.processes[0]
        first = worker.process
        assert first is not None
        first.send_signal(signal.SIGKILL)  # a crash: it may not have committed the deposit yet

        async def restarted() -> bool:
            return worker.restarts == 1 and worker.process is not first
        await eventually(restarted, what="the risk worker started again")
        await publisher.send([deposit(2, "50")])

        async def both() -> list[str] | None:
            found = await collateral()
            return found if len(found) >= 2 else None
        assert await eventually(both, timeout=60, what="the second deposit applied") == ["100", "150"]


async def test_a_risk_worker_whose_broker_died_first_still_stops_within_its_deadline(settings: Settings) -> None:
    broker = await asyncio.to_thread(EmbeddedBroker().start)
    try:
        own = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        await ensure_topics(own, broker.bootstrap)
        worker = RiskProcess(own, broker.bootstrap, ChildMetrics(own.data_dir / "metrics" / "risk"))
        await worker.start()
        async with Publisher(own, broker.bootstrap) as publisher:
            await publisher.send([deposit(1, "100")])

        async def applied() -> list[dict]:
            return await topic_events(own, broker.bootstrap, "accounts.state")
        await eventually(applied, timeout=60, what="the deposit applied by the worker")
    finally:
        await asyncio.to_thread(broker.stop)
    started = time.monotonic()
    await worker.stop()
    assert worker.process is not None and worker.process.returncode in (0, 1)  # it stopped or gave up: not killed
    assert time.monotonic() - started < STOP_S + 5

"""Derived events leave packed per partition (per key on a compacted topic); each role runs its own agents; the
app keeps a failed delivery."""

import asyncio

from aiokafka.errors import KafkaTimeoutError

from quantdesk.kafka.publisher import partition_of
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from quantdesk.wire import decode
from streams.pipeline import outgoing
from streams.worker import build_pipeline

PARTITIONS = (0, 1, 2)
ACCOUNTS = [f"W{n}:0" for n in range(30)]


def entries() -> list[tuple[str, dict]]:
    """Return two events per account, interleaved, numbered in order per account."""
    return [(key, {"id": f"{key}:{n}", "subject": key, "n": n}) for n in range(2) for key in ACCOUNTS]


def test_audit_entries_of_many_accounts_share_one_message_per_partition() -> None:
    sent = list(outgoing("audit.log", entries(), PARTITIONS))
    assert sorted(partition for partition, _, _ in sent) == [0, 1, 2]
    for partition, _, value in sent:
        batch = decode(value)
        assert {partition_of(e["subject"], PARTITIONS) for e in batch} == {partition}
        for key in {e["subject"] for e in batch}:
            assert [e["n"] for e in batch if e["subject"] == key] == [0, 1]


def test_account_states_stay_one_key_per_message_for_compaction() -> None:
    sent = list(outgoing("accounts.state", entries(), PARTITIONS))
    expected = [(partition_of(key, PARTITIONS), key) for key in ACCOUNTS]
    assert [(partition, key) for partition, key, _ in sent] == expected
    assert all({e["subject"] for e in decode(value)} == {key} for _, key, value in sent)


def test_the_risk_role_runs_the_accounts_loop_and_the_feed_the_markets_and_sink_loops(settings: Settings,
                                                                                    warehouse: Warehouse) -> None:
    risk = build_pipeline(settings, "127.0.0.1:9092", None, "risk")
    feed = build_pipeline(settings, "127.0.0.1:9092", warehouse, "feed")
    assert risk.loops == ["accounts"] and feed.loops == ["markets", "sink"]
    assert build_pipeline(settings, "127.0.0.1:9092", warehouse).loops == ["accounts", "markets", "sink"]
    assert risk.app.producer_only and feed.app.producer_only and not feed.app.agents  # no Faust acking on input


async def test_the_app_keeps_the_first_send_the_broker_did_not_take(settings: Settings) -> None:
    app = build_pipeline(settings, settings.kafka_bootstrap or "", None, "risk").app
    loop = asyncio.get_running_loop()
    taken, refused, cancelled, later = (loop.create_future() for _ in range(4))
    taken.set_result(None)
    refused.set_exception(KafkaTimeoutError("no answer"))
    cancelled.cancel()
    later.set_exception(KafkaTimeoutError("later"))

    app.delivered(taken)
    assert app.undelivered is None
    app.delivered(cancelled)
    app.delivered(refused)
    app.delivered(later)
    assert isinstance(app.undelivered, asyncio.CancelledError)

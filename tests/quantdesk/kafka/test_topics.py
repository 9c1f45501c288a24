"""Every platform topic is created with the settings' replicas, `min.insync.replicas` 2 from 3 replicas on,
`accounts.state` compacted, the checkpoints on one partition, and what the workers read from the start or from
stored offsets kept whole: one the broker holds with a time limit stops the start with how to mend it."""

import asyncio
from typing import Any

import pytest
import typer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from quantdesk.kafka.topics import ALL_TOPICS, TopicsUnfit, create_topics, ensure_topics, new_topic, platform_topics
from quantdesk.cli import run
from quantdesk.settings import Settings


async def described(bootstrap: str, names: list[str]) -> tuple[dict[str, list[int]], dict[str, dict[str, str]]]:
    """Return each topic's replica count per partition and the configs the broker holds for it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics: list[dict[str, Any]] = await admin.describe_topics(names)
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    replicas = {t["topic"]: [len(p["replicas"]) for p in t["partitions"]] for t in topics}
    return replicas, {r[3]: {e[0]: e[1] for e in r[4]} for answer in configs for r in answer.resources}


@pytest.mark.parametrize("replication", [1, 2, 3, 5])
def test_every_platform_topic_asks_for_the_settings_replicas(replication: int) -> None:
    settings = Settings(topic_replication=replication, topic_prefix="p.", topic_partitions=6)
    topics = {t.name: t for t in platform_topics(settings)}
    assert set(topics) == {f"p.{t}" for t in ALL_TOPICS}
    assert {t.replication_factor for t in topics.values()} == {replication}
    insync = {name: t.topic_configs.get("min.insync.replicas") for name, t in topics.items()}
    assert set(insync.values()) == ({"2"} if replication >= 3 else {None})
    compacted = {name for name, t in topics.items() if t.topic_configs.get("cleanup.policy") == "compact"}
    assert compacted == {"p.accounts.state"}
    assert {t.num_partitions for t in topics.values()} == {6}  # checkpoints too: one partition per risk task
    kept = {name for name, t in topics.items() if t.topic_configs.get("retention.ms") == "-1"}
    assert kept == {f"p.{t}" for t in ("oracle.ticks", "trades.fills", "accounts.changes", "venues.prices",
                                       "orders.events", "admin.commands", "risk.outcomes", "markets.epochs")}
    week = {name for name, t in topics.items() if t.topic_configs.get("retention.ms") == str(7 * 86_400_000)}
    # the checkpoint logs: a whole copy at least daily, never deleted in use
    assert week == {"p.risk.checkpoints", "p.risk.owners", "p.markets.checkpoints", "p.orders.checkpoints"}


def test_a_topic_outside_the_catalogue_gets_the_same_replicas_and_the_settings_partitions() -> None:
    topic = new_topic(Settings(topic_replication=3, topic_partitions=4), "risk")
    assert (topic.name, topic.num_partitions, topic.replication_factor) == ("risk", 4, 3)
    assert topic.topic_configs == {"min.insync.replicas": "2"}


@pytest.mark.parametrize("replication", [1, 3])
async def test_the_broker_holds_the_topics_as_asked(settings: Settings, replication: int) -> None:
    # Tansu, one broker, records the replication factor asked for (each replica is itself) and the configs
    settings = Settings(**{**dict(settings), "topic_replication": replication})
    names = await ensure_topics(settings, settings.kafka_bootstrap or "")
    replicas, configs = await described(settings.kafka_bootstrap or "", names)
    assert replicas == {n: [replication] * settings.topic_partitions for n in names}
    assert {n for n in names if configs[n].get("min.insync.replicas") == "2"} == (set(names) if replication >= 3
                                                                                  else set())
    assert {n for n in names if configs[n].get("cleanup.policy") == "compact"} == {settings.topic("accounts.state")}
    assert {n for n in names if configs[n].get("retention.ms") == "-1"} == {
        settings.topic(t) for t in ("oracle.ticks", "trades.fills", "accounts.changes", "venues.prices",
                                    "orders.events", "admin.commands", "risk.outcomes", "markets.epochs")}


async def test_an_input_topic_the_broker_deletes_records_of_after_a_week_stops_the_start_saying_how_to_mend_it(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    # as Kafka's default leaves a topic made by hand or before it was kept: the orders agent would lose, on its next
    # start, every order resting longer than that
    bootstrap = settings.kafka_bootstrap or ""
    week = new_topic(settings, "orders.events")
    week.topic_configs["retention.ms"] = "604800000"
    await create_topics(bootstrap, [week, new_topic(settings, "accounts.history")], "test")
    with pytest.raises(TopicsUnfit, match=f"the broker deletes the records of {week.name} after a time"):
        await ensure_topics(settings, bootstrap)
    _, configs = await described(bootstrap, [settings.topic("trades.fills")])
    assert configs[settings.topic("trades.fills")]["retention.ms"] == "-1"  # the others were made as they should be
    with pytest.raises(typer.Exit) as stopped:
        await asyncio.to_thread(run, ensure_topics(settings, bootstrap))
    assert stopped.value.exit_code == 1
    assert "--entity-name TOPIC --add-config retention.ms=-1" in capsys.readouterr().out.replace("\n", "")

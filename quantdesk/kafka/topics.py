"""Create the platform's topics on the broker, with their partitions and replicas."""

import contextlib
from typing import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from quantdesk.messages import DERIVED_TOPICS, INPUT_MODELS
from quantdesk.settings import Settings

RISK_INPUTS = ("oracle.ticks", "trades.fills", "accounts.changes", "admin.commands")  # what the risk engine folds
# risk task 0 reads every partition of them and authors the markets' epochs; the other tasks follow the epochs, and
# read only their own partition of fills and changes (they move no market of theirs)
FOLLOWER_INPUTS = ("markets.epochs", "trades.fills", "accounts.changes", "admin.commands")
OWN_PARTITION_INPUTS = frozenset({"accounts.changes", "trades.fills"})
MARKET_INPUTS = ("oracle.ticks", "trades.fills", "venues.prices")  # what the market worker folds
ORDER_INPUTS = ("orders.events", "trades.fills")  # what the orders worker folds
STORED_TABLES: dict[str, str] = {  # every topic the sink stores, and its table
    "oracle.ticks": "oracle_ticks",
    "trades.fills": "fills",
    "accounts.changes": "account_changes",
    "venues.prices": "venue_prices",
    "orders.events": "order_events",
    "admin.commands": "admin_commands",  # every admin command, as the audit of who did what and why
    "orders.state": "orders",  # every state of every order: a row per version
    "markets.state": "market_state",
    "funding.rates": "funding_rates",
    "funding.payments": "funding_payments",
    "accounts.history": "account_snapshots",  # every state; `accounts.state` holds one Kafka message per account
    "accounts.ledger": "ledger",
    "risk.liquidations": "liquidations",
    "mikey.signals": "signals",
    "audit.log": "audit_log",
    "dlq": "dead_letters",
}
# a risk task's state with its input offsets, in order: one partition per task, as many as the inputs have; the
# owners' on the first partition of theirs; the feed's markets and orders agents' on the first of their own
CHECKPOINT_TOPICS = ("risk.checkpoints", "risk.owners", "markets.checkpoints", "orders.checkpoints")
INTERNAL_TOPICS = ("risk.outcomes",)  # each risk task's records for the owners, on its own partition
EPOCHS = "markets.epochs"  # the markets as risk task 0 leaves them, on the first partition, for the other tasks
ALL_TOPICS: tuple[str, ...] = (*INPUT_MODELS, *DERIVED_TOPICS, *INTERNAL_TOPICS, EPOCHS, *CHECKPOINT_TOPICS)
COMPACTED_TOPICS = frozenset({"accounts.state"})  # the latest message per key is what counts: one key per message
# What a reader reads from an offset it stored however long ago (a risk task's checkpoint, a restored owner, the feed's
# agents' checkpoints): the broker keeps every record of them, where Kafka's default deletes them after 7 days, and
# with them what a worker long down has still to apply.
KEPT_TOPICS = frozenset({*RISK_INPUTS, *MARKET_INPUTS, *ORDER_INPUTS, *INTERNAL_TOPICS, EPOCHS})
KEEP_EVERY_RECORD = "-1"  # retention.ms: no time limit (retention.bytes is none by default)
# The checkpoint logs grow with every checkpoint, so they keep a week, whatever the broker's default: a restore reads
# from the last whole copy, which `streams.risk.checkpoint` writes at least once a day
CHECKPOINT_RETENTION_MS = str(7 * 24 * 3600 * 1000)
# With 3 replicas or more, a write the producer's acks=all got back is on at least 2 brokers, and the topic
# still takes writes with one broker down: a broker lost then loses no acknowledged write.
MIN_INSYNC_REPLICAS = 2


def topic_configs(logical: str, replication: int) -> dict[str, str]:
    """Return the broker configs a platform topic is created with."""
    configs = {"cleanup.policy": "compact"} if logical in COMPACTED_TOPICS else {}
    if logical in KEPT_TOPICS:
        configs["retention.ms"] = KEEP_EVERY_RECORD
    if logical in CHECKPOINT_TOPICS:
        configs["retention.ms"] = CHECKPOINT_RETENTION_MS
    if replication >= 3:
        configs["min.insync.replicas"] = str(MIN_INSYNC_REPLICAS)
    return configs


def new_topic(settings: Settings, logical: str) -> NewTopic:
    """Return how a topic is created under its broker name: the settings' partitions and replicas, `accounts.state`
    compacted, the kept topics keeping every record."""
    partitions = settings.topic_partitions
    return NewTopic(settings.topic(logical), partitions, settings.topic_replication,
                    topic_configs=topic_configs(logical, settings.topic_replication))


class TopicsUnfit(Exception):
    """Topics the broker holds with a retention that deletes records a reader will need."""


async def create_topics(bootstrap: str, topics: Iterable[NewTopic], client_id: str) -> None:
    """Create each of `topics` the broker does not hold yet (a topic another client creates meanwhile is fine);
    raise `TopicsUnfit` for those it holds already with a time limit their configs do not have (created before
    they kept every record, or by hand)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t.name not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        kept = [t.name for t in topics if t.topic_configs.get("retention.ms") == KEEP_EVERY_RECORD]
        if unfit := await limited(admin, [name for name in kept if name in existing]):
            raise TopicsUnfit(
                f"the broker deletes the records of {', '.join(unfit)} after a time (retention.ms), and the workers "
                "read them from their start or from offsets stored long ago: keep every record with `kafka-configs.sh "
                f"--bootstrap-server {bootstrap} --alter --entity-type topics --entity-name TOPIC --add-config "
                f"retention.ms={KEEP_EVERY_RECORD}` for each, then start again")
    finally:
        await admin.close()


async def limited(admin: AIOKafkaAdminClient, names: list[str]) -> list[str]:
    """Return which of the topics the broker deletes records of after a time (Kafka answers every config with its
    default; a broker that answers only those set, as Tansu does, holds no limit for a topic without one)."""
    if not names:
        return []
    answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    retention = {r[3]: dict((e[0], e[1]) for e in r[4]).get("retention.ms") for a in answers for r in a.resources}
    return sorted(name for name, ms in retention.items() if ms not in (None, KEEP_EVERY_RECORD))


def platform_topics(settings: Settings) -> list[NewTopic]:
    """Return every platform topic as it is created, under its broker name."""
    return [new_topic(settings, t) for t in ALL_TOPICS]


async def ensure_topics(settings: Settings, bootstrap: str) -> list[str]:
    """Create every platform topic that does not exist yet; return the broker names."""
    await create_topics(bootstrap, platform_topics(settings), f"{settings.app_id}-admin")
    return [settings.topic(t) for t in ALL_TOPICS]

"""Create the platform's topics on the broker, with their partitions and replicas."""

import contextlib
from typing import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
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
# owners' on the first partition of theirs
CHECKPOINT_TOPICS = ("risk.checkpoints", "risk.owners")
INTERNAL_TOPICS = ("risk.outcomes",)  # each risk task's records for the owners, on its own partition
EPOCHS = "markets.epochs"  # the markets as risk task 0 leaves them, on the first partition, for the other tasks
ALL_TOPICS: tuple[str, ...] = (*INPUT_MODELS, *DERIVED_TOPICS, *INTERNAL_TOPICS, EPOCHS, *CHECKPOINT_TOPICS)
COMPACTED_TOPICS = frozenset({"accounts.state"})  # the latest message per key is what counts: one key per message
# With 3 replicas or more, a write the producer's acks=all got back is on at least 2 brokers, and the topic
# still takes writes with one broker down: a broker lost then loses no acknowledged write.
MIN_INSYNC_REPLICAS = 2


def topic_configs(logical: str, replication: int) -> dict[str, str]:
    """Return the broker configs a platform topic is created with."""
    configs = {"cleanup.policy": "compact"} if logical in COMPACTED_TOPICS else {}
    if replication >= 3:
        configs["min.insync.replicas"] = str(MIN_INSYNC_REPLICAS)
    return configs


def new_topic(settings: Settings, logical: str) -> NewTopic:
    """Return how a topic is created under its broker name: the settings' partitions and replicas, `accounts.state`
    compacted."""
    partitions = settings.topic_partitions
    return NewTopic(settings.topic(logical), partitions, settings.topic_replication,
                    topic_configs=topic_configs(logical, settings.topic_replication))


async def create_topics(bootstrap: str, topics: Iterable[NewTopic], client_id: str) -> None:
    """Create each of `topics` the broker does not hold yet (a topic another client creates meanwhile is fine)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t.name not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()


def platform_topics(settings: Settings) -> list[NewTopic]:
    """Return every platform topic as it is created, under its broker name."""
    return [new_topic(settings, t) for t in ALL_TOPICS]


async def ensure_topics(settings: Settings, bootstrap: str) -> list[str]:
    """Create every platform topic that does not exist yet; return the broker names."""
    await create_topics(bootstrap, platform_topics(settings), f"{settings.app_id}-admin")
    return [settings.topic(t) for t in ALL_TOPICS]

"""Create the platform's topics on the broker, with their partitions."""

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from quantdesk.messages import DERIVED_TOPICS, INPUT_MODELS
from quantdesk.settings import Settings

RISK_INPUTS = ("oracle.ticks", "trades.fills", "accounts.changes")  # what the risk engine folds
MARKET_INPUTS = ("oracle.ticks", "trades.fills")  # what the market worker folds
STORED_TABLES: dict[str, str] = {  # every topic the sink stores, and its table
    "oracle.ticks": "oracle_ticks",
    "trades.fills": "fills",
    "accounts.changes": "account_changes",
    "markets.state": "market_state",
    "funding.rates": "funding_rates",
    "funding.payments": "funding_payments",
    "accounts.history": "account_snapshots",  # every state; `accounts.state` holds one Kafka message per account
    "risk.liquidations": "liquidations",
    "audit.log": "audit_log",
    "dlq": "dead_letters",
}
CHECKPOINT_TOPICS = ("risk.checkpoints",)  # a worker's state with its input offsets, in order: one partition
ALL_TOPICS: tuple[str, ...] = (*INPUT_MODELS, *DERIVED_TOPICS, *CHECKPOINT_TOPICS)
COMPACTED_TOPICS = frozenset({"accounts.state"})  # the latest message per key is what counts: one key per message
COMPACTED = {"cleanup.policy": "compact"}


def new_topic(name: str, logical: str, partitions: int) -> NewTopic:
    """Return how a platform topic is created: checkpoints on one partition, `accounts.state` compacted."""
    if logical in CHECKPOINT_TOPICS:
        return NewTopic(name, 1, 1)
    return NewTopic(name, partitions, 1, topic_configs=COMPACTED if logical in COMPACTED_TOPICS else None)


async def ensure_topics(settings: Settings, bootstrap: str) -> list[str]:
    """Create every platform topic that does not exist yet; return the broker names."""
    names = {settings.topic(t): t for t in ALL_TOPICS}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"{settings.app_id}-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [new_topic(n, t, settings.topic_partitions) for n, t in names.items() if n not in existing]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    return list(names)

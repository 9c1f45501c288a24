"""Create the platform's topics on the broker, with their partitions."""

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from quantdesk.messages import DERIVED_TOPICS, INPUT_MODELS
from quantdesk.settings import Settings

ALL_TOPICS: tuple[str, ...] = (*INPUT_MODELS, *DERIVED_TOPICS)
COMPACTED_TOPICS = frozenset({"accounts.state"})  # the latest message per key is what counts: one key per message
COMPACTED = {"cleanup.policy": "compact"}


async def ensure_topics(settings: Settings, bootstrap: str) -> list[str]:
    """Create every platform topic that does not exist yet (`accounts.state` compacted); return the broker names."""
    names = {settings.topic(t): t for t in ALL_TOPICS}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"{settings.app_id}-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(n, settings.topic_partitions, 1, topic_configs=COMPACTED if t in COMPACTED_TOPICS else None)
                  for n, t in names.items() if n not in existing]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    return list(names)

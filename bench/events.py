"""The bench's input: seeded simulator events (ticks, fills, account changes) in publish order; never the simulated
venue's book (`books`), whose costs are figures of their own (bench/books.py)."""

from collections import Counter

from quantdesk.kafka.publisher import Keyed, group_by_topic, partition_messages
from quantdesk.settings import Settings
from streams.sources.simulator import Simulator

SEED = 11
PARTITIONS: int = Settings.model_fields["topic_partitions"].default  # the bench's topics keep the default


def simulated(settings: Settings, count: int, start_ms: int, venue_prices: bool = False) -> tuple[list[Keyed], Simulator]:
    """Return at least `count` events of whole simulator steps, and the simulator to go on with; without
    `venue_prices`, the inputs the throughput figures were set on: ticks, fills, changes (never `books`)."""
    only = {"simulator_venue_prices": venue_prices, "simulator_books": False}
    sim = Simulator(settings.model_copy(update=only), start_ms, seed=SEED)
    events: list[Keyed] = []
    while len(events) < count:
        events += sim.step()
    return events, sim


def mix(events: list[Keyed]) -> dict[str, int]:
    """Return how many events each topic has."""
    return dict(sorted(Counter(topic for topic, _, _ in events).items()))


def kafka_messages(events: list[Keyed], window: int, partitions: int = PARTITIONS, per_message: int = 500) -> int:
    """Return how many Kafka messages the publisher makes of `events` sent `window` at a time."""
    numbers = tuple(range(partitions))
    return sum(sum(1 for _ in partition_messages(batch, numbers, per_message))
               for start in range(0, len(events), window)
               for batch in group_by_topic(events[start:start + window]).values())

"""Orders agent: every order's lifecycle from `orders.events` and the fills that name it, to `orders.state`.

Order events and fills are folded in event-time order (`streams.ordered`; at one time an order's events before its
fills), each order by `streams.domain.orders`: a state (a version) for each event that counts, a dead letter with
why for each that cannot (a fill or cancellation of an order not placed, another account's, one after the order
closed, a fill past its size, a second placement). The states that change what rests move our venue's book
(`streams.domain.resting`), whose updates go out on `books` like any venue's. The orders, the book and the ids
applied are checkpointed every few seconds (`streams.checkpointed`, `streams.orders_store`): a start reads on from
the last checkpoint, and publishes the states, book updates and refusals of what an earlier run had not applied yet
(`streams.ordered`), under the ids and seqs a run from the start would give them. Applied
ids, and the events of each order, are remembered for `QUANTDESK_MAX_LATENESS_MS` of event time (`streams.ordered`,
`Orders.forget_before`): of an order closed longer ago only who placed it and how it closed. An order event later
than that goes to `dlq` as late, and so does a fill, by the markets and risk workers, which send fills' dead
letters.
"""

from typing import Any, Container, Iterator

from quantdesk.kafka.topics import ORDER_INPUTS
from quantdesk.messages import INPUT_MODELS, BookUpdate, DeadLetter, Fill, OrderEvent, OrderState, account_key, dump
from streams.decode import as_bytes, dead_letter
from streams.domain.orders import Orders
from streams.domain.resting import RestingBooks
from streams.checkpointed import CheckpointedInput
from streams.orders_store import OrdersStore
from streams.ordered import Decoded
from streams.pipeline import Pipeline
from streams.risk.checkpoint import Journal
from streams.risk.reorder import Event

MODELS = {topic: INPUT_MODELS[topic] for topic in ORDER_INPUTS}
TOPIC_OF = {OrderEvent: "orders.events", Fill: "trades.fills"}
OUTPUTS = ("orders.state", "books", "dlq")


class OrdersAgent(CheckpointedInput):
    """The orders behind ordered input, checkpointed."""

    log_topic = "orders.checkpoints"

    def __init__(self, pipeline: Pipeline, shared: Decoded | None = None) -> None:
        """Fold the orders, taking messages the feed's other readers decoded from `shared`."""
        super().__init__(pipeline, MODELS, "orders", shared=shared)
        self.orders = Orders()
        self.books = RestingBooks()
        self.store = OrdersStore()
        self.known = set(pipeline.settings.market_names)
        pipeline.metrics.publishing(OUTPUTS)

    def check(self, event: Any) -> str | None:
        """Return why an order event names a market this platform does not list, or None (fills: the markets and
        risk workers judge them)."""
        if isinstance(event, OrderEvent) and event.market not in self.known:
            return f"unknown market {event.market!r}"
        return None

    def speaks_for(self, topic: str, tp: Any) -> bool:
        """Tell whether this reader counts a partition's events and sends their dead letters, late ones too: order
        events' (fills are the markets and risk workers' to count and refuse: the feed's markets agent reads them
        too)."""
        return topic == "orders.events"

    async def dead_letters(self, topic: str, dead: list[DeadLetter]) -> None:
        """Publish the dead letters of order events."""
        await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))

    def restore(self, tables: dict[str, dict[str, Any]]) -> None:
        """Rebuild the orders, our venue's book and the buffer from the tables the log held."""
        self.store = OrdersStore(tables)
        self.store.load(self.orders, self.books, self.buffer)

    def save(self) -> dict[str, Journal]:
        """Write the orders and books changed since the last checkpoint, the clocks and the records of applied ids."""
        self.store.save(self.orders, self.books, self.buffer)
        return self.store.tables

    async def release(self, events: Iterator[Event]) -> None:
        """Fold the events due into their orders; publish the states they cause, the book updates those make and
        the events refused, and show the progress once the broker holds them."""
        applied = list(events)
        if not applied:
            return
        states, books, refused = folded(self.orders, self.books, applied, self.again)
        # nothing older than the window can be released again (`ReorderBuffer.late`: this agent holds none timeless)
        self.orders.forget_before(self.buffer.released - self.buffer.max_lateness_ms)
        await self.pipeline.publish("orders.state", ((account_key(s.wallet, s.subaccount), s) for s in states))
        await self.pipeline.publish("books", ((u.market, u) for u in books))
        await self.pipeline.publish("dlq", ((d.topic, d) for d in refused))
        await self.pipeline.flush()
        self.settled(applied)
        await self.show_progress()
        await self.checkpoint()


def folded(orders: Orders, books: RestingBooks, events: list[Event],
           told: Container[str] = ()) -> tuple[list[OrderState], list[BookUpdate], list[DeadLetter]]:
    """Fold events into their orders and our venue's book; return the states they cause, the book updates those
    make, and the events refused with why (an order whose book level could not hold it stands, left out of the
    book), but for the events an earlier run `told` of."""
    states: list[OrderState] = []
    updates: list[BookUpdate] = []
    refused: list[DeadLetter] = []
    for event in events:
        outcome = orders.apply(event)  # type: ignore[arg-type]
        if outcome is None:
            continue
        why, update = outcome.refused, None
        if outcome.state is not None:
            why = books.refuses(outcome.state)
            update = books.take(outcome.state) if why is None else None
        if event.id in told:
            continue
        if outcome.state is not None:
            states.append(outcome.state)
        if update is not None:
            updates.append(update)
        if why is not None:
            topic = TOPIC_OF[type(event)]
            refused.append(dead_letter(topic, event.ts, f"orders: {why}", as_bytes(dump(event))))
    return states, updates, refused


def register(pipeline: Pipeline, shared: Decoded | None = None) -> OrdersAgent:
    """Register the orders worker as a task of the app, decoding with the feed's other readers through `shared`:
    its failure crashes the app."""
    worker = OrdersAgent(pipeline, shared)
    pipeline.loop(worker.run, "orders")
    return worker

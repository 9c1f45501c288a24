"""The feed's markets and orders agents in a real feed worker over Tansu: started again, each reads on from its
checkpoint, not from the input's start, and goes on exactly as one run would."""

from decimal import Decimal as D

import orjson

from quantdesk.kafka.publisher import Publisher
from quantdesk.messages import MarketState, OracleTick, VenuePrice
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from streams.domain.alerts import Thresholds
from streams.domain.markets import Markets
from streams.risk.checkpoint import CheckpointLog
from streams.risk.reorder import order_key
from tests.streams.agents.test_orders import fill, order_event, published_books, records
from tests.streams.test_endpoints import showing, value, worker
from tests.waiting import eventually

T0 = 1_767_225_600_000


def tick(n: int, price: str) -> OracleTick:
    ts = T0 + 400 * n
    return OracleTick(id=f"btc:{n}", ts=ts, market="BTC-PERP", price=D(price), conf=D("1"), publish_time=ts)


async def covering(settings: Settings, log: str, topic: str, messages: int) -> None:
    """Wait until the last checkpoint on `log` covers `messages` messages of `topic`."""
    prefix = f"{settings.topic(topic)}:"

    async def covered() -> dict[str, int] | None:
        offsets = (await CheckpointLog(settings.kafka_bootstrap or "", settings.topic(log), 0).restore()).offsets
        return offsets if sum(n for key, n in offsets.items() if key.startswith(prefix)) == messages else None
    await eventually(covered, what=f"a checkpoint on {log} covering {messages} messages of {topic}")


async def published_states(settings: Settings) -> list[MarketState]:
    """Return every market state on `markets.state`, partition by partition in offset order."""
    return [MarketState.model_validate(s) for r in await records(settings, "markets.state")
            for s in orjson.loads(r.value)]


async def test_a_feed_started_again_reads_on_from_its_checkpoint_and_goes_on_as_one_run(
        settings: Settings, warehouse: Warehouse) -> None:
    # before, every start read every tick since the venue began again: a month of three markets' Pyth ticks (19M)
    # took some 11 minutes of CPU before the feed published anything new
    settings = settings.model_copy(update={"feed_checkpoint_s": 0.0})  # a checkpoint at every release
    first = [tick(n, str(50_000 + 10 * (n % 5))) for n in range(30)]
    venue = VenuePrice(id="hl:1", ts=T0 + 5_000, venue="hyperliquid", market="BTC-PERP", price=D("50010"))
    later = [tick(31, "50500"), tick(32, "50600")]
    async with worker(settings, "feed", warehouse), Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        for start in range(0, 30, 10):
            await publisher.send([("oracle.ticks", "BTC-PERP", t) for t in first[start:start + 10]])
        await publisher.send([("venues.prices", "BTC-PERP", venue)])
        await covering(settings, "markets.checkpoints", "oracle.ticks", 3)
    async with worker(settings, "feed", warehouse) as again, \
            Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        await publisher.send([("oracle.ticks", "BTC-PERP", t) for t in later])
        page = await showing(again, "worker_events_out_total", 2, role="feed", topic="markets.state")
    assert value(page, "worker_events_in_total", role="feed", topic="oracle.ticks") == 2  # not the 30 before again
    one_run = Markets(settings.market_names, Thresholds.of(settings))
    expected = [s for e in sorted([*first, venue, *later], key=order_key) for s in one_run.apply(e)]
    assert await published_states(settings) == expected  # each once, the later ones from the state restored


async def test_an_orders_agent_started_again_reads_on_from_its_checkpoint_and_numbers_the_book_as_one_run(
        settings: Settings, warehouse: Warehouse) -> None:
    settings = settings.model_copy(update={"feed_checkpoint_s": 0.0})
    first = [order_event("place", T0), order_event("ask", T0 + 1, order="o2", side="sell", price="101", size="3"),
             fill("a", T0 + 2, "4", "99.5"), fill("b", T0 + 4, "6", "100.25")]
    async with worker(settings, "feed", warehouse), Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        for event in first:  # a message each
            await publisher.send([event])
        await covering(settings, "orders.checkpoints", "orders.events", 2)
    before = await published_books(settings)
    async with worker(settings, "feed", warehouse) as again, \
            Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        await publisher.send([order_event("pull", T0 + 5, "cancelled", order="o2")])
        page = await showing(again, "worker_events_out_total", 1, role="feed", topic="books")
    assert value(page, "worker_events_in_total", role="feed", topic="orders.events") == 1  # not the 2 before again
    books = await published_books(settings)
    assert books[:len(before)] == before and len(before) == 4  # the book restored goes on at seq 5
    assert (books[4]["seq"], books[4]["asks"]) == (5, [{"price": "101", "size": "0", "orders": 0}])
    states = [s for r in await records(settings, "orders.state") for s in orjson.loads(r.value)]
    assert [(s["order"], s["version"], s["status"]) for s in states] == [
        ("o1", 1, "open"), ("o2", 1, "open"), ("o1", 2, "partially_filled"), ("o1", 3, "filled"),
        ("o2", 2, "cancelled")]  # each once: o2's cancellation from its placement restored

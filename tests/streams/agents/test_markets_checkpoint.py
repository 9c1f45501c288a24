"""The markets agent in a real feed worker over Tansu: started again, it reads on from its checkpoint, not from the
input's start, and goes on exactly as one run would."""

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
from tests.streams.agents.test_orders import records
from tests.streams.test_endpoints import showing, value, worker
from tests.waiting import eventually

T0 = 1_767_225_600_000


def tick(n: int, price: str) -> OracleTick:
    ts = T0 + 400 * n
    return OracleTick(id=f"btc:{n}", ts=ts, market="BTC-PERP", price=D(price), conf=D("1"), publish_time=ts)


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
    ticks = f"{settings.topic('oracle.ticks')}:"

    async def covered() -> dict[str, int] | None:
        """Return the offsets of the last checkpoint once they are past the three messages of ticks."""
        log = CheckpointLog(settings.kafka_bootstrap or "", settings.topic("markets.checkpoints"), 0)
        offsets = (await log.restore()).offsets
        return offsets if sum(n for key, n in offsets.items() if key.startswith(ticks)) == 3 else None
    async with worker(settings, "feed", warehouse), Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        for start in range(0, 30, 10):
            await publisher.send([("oracle.ticks", "BTC-PERP", t) for t in first[start:start + 10]])
        await publisher.send([("venues.prices", "BTC-PERP", venue)])
        await eventually(covered, what="a checkpoint covering every tick")
    async with worker(settings, "feed", warehouse) as again, \
            Publisher(settings, settings.kafka_bootstrap or "") as publisher:
        await publisher.send([("oracle.ticks", "BTC-PERP", t) for t in later])
        page = await showing(again, "worker_events_out_total", 2, role="feed", topic="markets.state")
    assert value(page, "worker_events_in_total", role="feed", topic="oracle.ticks") == 2  # not the 30 before again
    one_run = Markets(settings.market_names, Thresholds.of(settings))
    expected = [s for e in sorted([*first, venue, *later], key=order_key) for s in one_run.apply(e)]
    assert await published_states(settings) == expected  # each once, the later ones from the state restored

"""/status and the status channel on a served gateway, fed through Kafka: a venue's book healthy when it arrives,
unhealthy once older than the threshold by the wall clock, each change pushed once."""

import httpx

from api.status import wall_ms
from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from tests.api.conftest import RELAXED, served
from tests.api.held import book
from tests.api.listening import Listener
from tests.waiting import eventually

SOURCE = "book:SOL-PERP:hyperliquid"


def changes(listener: Listener) -> list[list[tuple[str, bool]]]:
    """Return the status deltas a listener got, as (source, healthy) per delta."""
    return [[(c["source"], c["healthy"]) for c in d["data"]["changes"]] for d in listener.deltas("status")]


async def test_status_gives_ages_and_the_channel_pushes_each_change_of_health(settings: Settings,
                                                                             broker: EmbeddedBroker) -> None:
    fast = settings.model_copy(update={"status_max_age_ms": 2000, "status_check_ms": 50})
    async with served(fast, broker.bootstrap, RELAXED) as url, httpx.AsyncClient(base_url=url) as http:
        listener = await Listener().connect(url)
        try:
            ack = await listener.subscribe(channel="status")
            assert ack["ok"] and ack["room"] == "status"
            [snapshot] = listener.events["status"]
            assert snapshot["snapshot"] and {s["source"] for s in snapshot["data"]["sources"]} == {
                "oracle:BTC-PERP", "oracle:ETH-PERP", "oracle:SOL-PERP"}  # no state yet: none healthy
            async with Publisher(fast, broker.bootstrap) as publisher:
                await publisher.send([("books", "SOL-PERP", book("hyperliquid", "SOL-PERP", 1, wall_ms(),
                                                                 bids=(("99", "1"),), asks=(("101", "1"),)))])
            await eventually(lambda: _changed(listener, 1), what="the book's arrival pushed")
            body = (await http.get("/api/v1/status")).json()
            [held] = [s for s in body["sources"] if s["source"] == SOURCE]
            assert held["age_ms"] == body["as_of"] - held["ts"] and held["healthy"] == (held["age_ms"] <= 2000)
            assert (body["max_age_ms"], body["healthy"]) == (2000, False)  # the oracles have no state
            await eventually(lambda: _changed(listener, 2), what="the book going quiet pushed")
        finally:
            await listener.close()
    assert changes(listener) == [[(SOURCE, True)], [(SOURCE, False)]]
    assert listener.deltas("status")[-1]["data"]["changes"][0]["reason"].startswith("no update for ")
    assert [d["seq"] for d in listener.deltas("status")] == [1, 2]


async def _changed(listener: Listener, n: int) -> bool:
    return len(listener.deltas("status")) >= n

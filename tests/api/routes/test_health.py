"""Liveness and readiness: `/ready` fails with its reason while the broker cannot be reached or a reader is too far
behind."""

from api.main import create_api
from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.publisher import Publisher
from quantdesk.kafka.topics import ensure_topics
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import client


async def test_ready_fails_with_a_reason_while_the_broker_cannot_be_reached(settings: Settings,
                                                                           warehouse: Warehouse) -> None:
    app = create_api(settings, warehouse, "127.0.0.1:1")  # nothing listens on port 1
    async with client(app) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        answer = await http.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unready" and "the broker cannot be reached" in answer.json()["reason"]


async def test_ready_fails_naming_each_reader_over_the_lag_threshold_and_passes_under_it(
        settings: Settings, warehouse: Warehouse, broker: EmbeddedBroker) -> None:
    await ensure_topics(settings, broker.bootstrap)
    async with Publisher(settings, broker.bootstrap) as publisher:  # read by the market worker and the sink
        await publisher.send([("venues.prices", "BTC-PERP", {"id": "hl:1", "market": "BTC-PERP"})])
    strict = settings.model_copy(update={"ready_max_lag": 0})
    async with client(create_api(strict, warehouse, broker.bootstrap)) as http:
        unready = await http.get("/ready")
    assert unready.status_code == 503 and unready.json()["status"] == "unready"
    assert unready.json()["reason"] == ("the markets reader is behind by 1, over ready_max_lag 0; "
                                        "the store reader is behind by 1, over ready_max_lag 0")
    assert unready.json()["input"] == {"risk": 0, "owners": 0, "markets": 1, "orders": 0, "store": 1, "applied": False}
    tolerant = settings.model_copy(update={"ready_max_lag": 1})
    async with client(create_api(tolerant, warehouse, broker.bootstrap)) as http:
        ready = await http.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready",
                            "input": {"risk": 0, "owners": 0, "markets": 1, "orders": 0, "store": 1, "applied": False}}

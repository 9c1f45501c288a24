"""Liveness and readiness: `/ready` fails with its reason while the broker cannot be reached."""

from api.main import create_api
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

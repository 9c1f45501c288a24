"""schemathesis against /openapi.json: no 5xx and every response as documented (bounded in examples)."""

import asyncio
import itertools
from typing import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as bounded
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                                response_schema_conformance, status_code_conformance)

from api.auth import COOKIE, EXAMPLE_WALLET, SESSION_TTL_S, token_key
from api.main import create_api
from api.sessions import Session
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED
from tests.api.held import T0, hold_markets, snapshot
from tests.api.history import seed_history, seed_signals, seed_wallet

EXAMPLES = 25
WALLET, TOKEN = EXAMPLE_WALLET, "schemathesis-session-token"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture
def api_schema(settings: Settings) -> Iterator[object]:
    """Return the gateway's OpenAPI schema, bound to an in-process app over a warehouse with some history and
    signals, priced markets and an account that holds a position."""
    warehouse = Warehouse.from_settings(settings)
    warehouse.migrate()
    seed_history(warehouse)
    seed_wallet(warehouse, WALLET)
    seed_signals(warehouse, WALLET)
    app = create_api(settings, warehouse, None, rates=RELAXED)
    session = Session(wallet=WALLET, created_at=0, expires_at=SESSION_TTL_S * 1000)
    asyncio.run(app.other_asgi_app.state.sessions.put_session(token_key(settings, TOKEN), session, SESSION_TTL_S))
    live = app.other_asgi_app.state.live
    hold_markets(live, T0)
    live.apply("accounts.state", snapshot(WALLET, 0, T0, "1000", ("SOL-PERP", "30", "100")))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    warehouse.close()


def test_every_operation_answers_as_documented(api_schema: schemathesis.schemas.BaseSchema) -> None:
    operations = sorted((result.ok() for result in api_schema.get_all_operations()),
                        key=lambda op: op.path.endswith("/logout"))  # the signed-in runs end the session last
    assert len(operations) >= 10
    for operation, signed_in in itertools.product(operations, (False, True)):
        @given(case=operation.as_strategy())
        @bounded(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                 database=None)
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS, headers={"Cookie": f"{COOKIE}={TOKEN}"} if signed_in else {})
        answers_as_documented()

"""`/metrics`: the gateway's families with their known label values from the first scrape, and the registries of
other parts in the same process on the same page."""

from prometheus_client import CollectorRegistry, Counter

from api.channels import CHANNELS
from api.main import create_api
from api.metrics import FAMILIES, LIMITS, PARTS, SIGN_IN_OUTCOMES
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import client
from tests.api.scraped import scrape

CONTRACT = ("gateway_requests_total", "gateway_request_seconds", "gateway_socket_connections",
            "gateway_socket_connects_total", "gateway_socket_connection_seconds", "gateway_socket_subscriptions",
            "gateway_socket_emits_total", "gateway_socket_dropped_total", "gateway_socket_slow_clients_total",
            "gateway_rate_limited_total", "gateway_sign_ins_total", "gateway_unreachable_total")


async def test_the_first_scrape_shows_every_known_series_at_zero(settings: Settings, warehouse: Warehouse) -> None:
    assert tuple(FAMILIES) == CONTRACT
    async with client(create_api(settings, warehouse, None)) as http:
        page = await scrape(http)
    assert {page.value("gateway_rate_limited_total", limit=limit) for limit in LIMITS} == {0}
    assert set(LIMITS) == {"public", "trading", "auth", "subscribe", "connect"}
    assert {page.value("gateway_sign_ins_total", outcome=outcome) for outcome in SIGN_IN_OUTCOMES} == {0}
    assert {page.value("gateway_unreachable_total", part=part) for part in PARTS} == {0}
    assert {page.value("gateway_socket_subscriptions", channel=channel) for channel in CHANNELS} == {0}
    assert {page.value("gateway_socket_emits_total", channel=channel) for channel in CHANNELS} == {0}
    assert page.value("gateway_socket_dropped_total", reason="slow_client") == 0
    assert page.value("gateway_socket_connects_total", outcome="accepted") == 0
    assert page.value("gateway_socket_connections") == 0
    assert page.value("gateway_socket_connection_seconds_count") == 0


async def test_other_parts_registries_share_the_page(settings: Settings, warehouse: Warehouse) -> None:
    worker = CollectorRegistry()
    Counter("worker_events_in", "Events read.", ("role", "topic"), registry=worker).labels("feed", "trades.fills").inc(3)
    async with client(create_api(settings, warehouse, None, collectors=[worker])) as http:
        page = await scrape(http)
    assert page.value("worker_events_in_total", role="feed", topic="trades.fills") == 3
    assert page.value("gateway_socket_connections") == 0

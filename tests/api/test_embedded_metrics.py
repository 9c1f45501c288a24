"""Under `quantdesk up` the gateway's `/metrics` holds the feed worker's families (same process) and the risk child's
(its files), each family declared once."""

import socket
from collections import Counter

import pytest

from prometheus_client.parser import text_string_to_metric_families

from api.embedded import Runtime, running
from quantdesk.kafka.publisher import Publisher
from quantdesk.metrics import render
from quantdesk.settings import Settings
from tests.streams.agents.test_accounts_pipeline import START_MS, crash
from tests.waiting import eventually

WALLET = "5ZWj7a1f8tWkjBESHKgrLmXshuXxqeY9SYcfbshpAqPG"


def gateway_page(runtime: Runtime) -> str:
    """Return the page the gateway's `/metrics` serves from the registries `quantdesk up` hands it."""
    rest = runtime.server.config.app.other_asgi_app  # the FastAPI app behind Socket.IO
    return render(rest.state.collectors).decode()


def sample(page: str, name: str, **labels: str) -> float | None:
    """Return one sample's value on a page, None when it is not shown."""
    found = [s.value for family in text_string_to_metric_families(page) for s in family.samples
             if s.name == name and s.labels == labels]
    return found[0] if found else None


async def test_the_gateways_metrics_show_the_risk_childs_and_the_feed_workers_families_once(
        settings: Settings) -> None:
    async with running(settings, simulator=False) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(crash(WALLET, "SOL-PERP", START_MS))

        async def liquidated() -> str | None:
            # the fill is counted as it applies; the state gauge moves once its batch settles
            page = gateway_page(runtime)
            filled = sample(page, "worker_liquidations_filled_total", role="risk", market="SOL-PERP")
            return page if filled and sample(page, "worker_accounts", role="risk", state="liquidating") == 0 else None
        page = await eventually(liquidated, timeout=60, what="the child's liquidation on the gateway's page")
        with pytest.raises(OSError):  # the child serves no port of its own: its families are on this page
            socket.create_connection((settings.api_host, settings.risk_worker_port), timeout=5).close()
    assert sample(page, "worker_liquidations_planned_total", role="risk", market="SOL-PERP") == 1
    assert sample(page, "worker_events_in_total", role="risk", topic="oracle.ticks") == 5
    assert sample(page, "worker_events_in_total", role="feed", topic="oracle.ticks") == 5
    assert sample(page, "worker_accounts", role="risk", state="liquidating") == 0  # a gauge of the live child
    assert sample(page, "worker_sink_rows_total", role="feed", table="account_snapshots") is not None
    declared = Counter(line.split()[2] for line in page.splitlines() if line.startswith("# TYPE "))
    assert declared["worker_events_in_total"] == 1 and max(declared.values()) == 1
    # gone with its child: no gauge of a stopped risk worker stays (its counters do: they counted what happened)
    after = render([runtime.risk.metrics.registry]).decode()
    assert sample(after, "worker_accounts", role="risk", state="liquidating") is None
    assert sample(after, "worker_liquidations_planned_total", role="risk", market="SOL-PERP") == 1

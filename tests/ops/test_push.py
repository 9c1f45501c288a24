"""`quantdesk dashboards push` against a small Grafana on the loopback: the first push creates every data source,
the folder, every dashboard and alert rule; a second changes nothing; a change made in Grafana is put back."""

import asyncio
from typing import AsyncIterator

import pytest
from grafana_client.client import GrafanaUnauthorizedError

from ops.alerts import ALERTS
from ops.build import dashboard_json
from ops.dashboards import DASHBOARDS
from ops.provisioning import FOLDER_UID, Sources
from ops.push import push
from quantdesk.broker import free_port
from tests.local_server import listen
from tests.ops.grafana import FakeGrafana

TOKEN = "glsa_test_token"
SOURCES = Sources("http://prometheus:9090", "http://clickhouse:8123", "quantdesk")


@pytest.fixture
async def grafana() -> AsyncIterator[tuple[FakeGrafana, str]]:
    """Serve a fake Grafana on a free loopback port; return it and its URL."""
    fake, port = FakeGrafana(TOKEN), free_port()
    runner = await listen(fake.app(), port)
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def pushed(url: str, token: str = TOKEN) -> list[str]:
    """Push off the event loop (grafana-client is synchronous; the fake serves on this loop)."""
    return await asyncio.to_thread(push, url, token, SOURCES)


async def test_the_first_push_creates_everything_and_the_second_changes_nothing(grafana) -> None:
    fake, url = grafana
    first = await pushed(url)
    assert len(first) == 2 + 1 + len(DASHBOARDS) + len(ALERTS)
    assert set(fake.datasources) == {"prometheus", "clickhouse"}
    assert fake.datasources["clickhouse"]["jsonData"]["defaultDatabase"] == "quantdesk"
    assert set(fake.folders) == {FOLDER_UID}
    for name in DASHBOARDS:
        stored = fake.dashboards[dashboard_json(name)["uid"]]
        assert stored["meta"]["folderUid"] == FOLDER_UID
        assert {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")} == dashboard_json(name)
    assert set(fake.rules) == {a.uid for a in ALERTS}
    assert all(r["folderUID"] == FOLDER_UID and r["data"][0]["datasourceUid"] == "prometheus"
               for r in fake.rules.values())
    writes = list(fake.writes)
    assert len(writes) == len(first)

    assert await pushed(url) == []
    assert fake.writes == writes, "the second push wrote to Grafana"


async def test_a_change_made_in_grafana_is_put_back_and_nothing_else_is_written(grafana) -> None:
    fake, url = grafana
    await pushed(url)
    fake.dashboards["quantdesk-risk"]["dashboard"]["title"] = "edited by hand"
    fake.rules["quantdesk-worker-down"]["for"] = "30m"
    fake.datasources["prometheus"]["url"] = "http://elsewhere:9090"
    fake.folders[FOLDER_UID]["title"] = "Renamed"
    before = len(fake.writes)

    again = await pushed(url)

    assert again == ["datasource prometheus", f"folder {FOLDER_UID}", "dashboard quantdesk-risk",
                     "alert rule quantdesk-worker-down"]
    assert fake.writes[before:] == ["PUT /api/datasources/uid/prometheus", f"PUT /api/folders/{FOLDER_UID}",
                                    "POST /api/dashboards/db",
                                    "PUT /api/v1/provisioning/alert-rules/quantdesk-worker-down"]
    assert fake.dashboards["quantdesk-risk"]["dashboard"]["title"] == "QuantDesk risk"
    assert fake.dashboards["quantdesk-risk"]["dashboard"]["version"] == 2
    assert fake.rules["quantdesk-worker-down"]["for"] == "1m"
    assert fake.datasources["prometheus"]["url"] == "http://prometheus:9090"
    assert fake.folders[FOLDER_UID]["title"] == "QuantDesk"


async def test_a_wrong_token_is_refused_and_changes_nothing(grafana) -> None:
    fake, url = grafana
    with pytest.raises(GrafanaUnauthorizedError):
        await pushed(url, token="not-the-token")
    assert fake.writes == [] and not fake.datasources

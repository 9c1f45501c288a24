"""Grafana's side of the stack: the two data sources the dashboards name by uid, the folder they go in, and the
file provider that loads the built dashboards (docker/compose.yaml mounts `dashboards/` where it looks)."""

from dataclasses import dataclass
from urllib.parse import urlparse

FOLDER_UID, FOLDER_TITLE = "quantdesk", "QuantDesk"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards"  # where compose mounts dashboards/ in the Grafana container


@dataclass(frozen=True)
class Sources:
    """Where Grafana reaches Prometheus and ClickHouse (defaults: the compose network's names)."""

    prometheus_url: str = "http://prometheus:9090"
    clickhouse_url: str = "http://clickhouse:8123"
    database: str = "quantdesk"


def datasources(sources: Sources) -> list[dict]:
    """Return the data sources as Grafana's API and its provisioning files both take them."""
    clickhouse = urlparse(sources.clickhouse_url)
    return [
        {"uid": "prometheus", "name": "Prometheus", "type": "prometheus", "access": "proxy",
         "url": sources.prometheus_url, "isDefault": True, "jsonData": {"httpMethod": "POST"}},
        {"uid": "clickhouse", "name": "ClickHouse", "type": "grafana-clickhouse-datasource", "access": "proxy",
         "isDefault": False,
         "jsonData": {"host": clickhouse.hostname, "port": clickhouse.port or 8123,
                      "protocol": "http", "secure": clickhouse.scheme == "https",
                      "defaultDatabase": sources.database, "username": clickhouse.username or "default"}},
    ]


def datasources_file(sources: Sources) -> dict:
    """Return `provisioning/datasources/quantdesk.yml`."""
    return {"apiVersion": 1, "datasources": datasources(sources)}


def dashboards_file() -> dict:
    """Return `provisioning/dashboards/quantdesk.yml`: the built dashboards, read-only, in the QuantDesk folder."""
    return {"apiVersion": 1, "providers": [
        {"name": "quantdesk", "folder": FOLDER_TITLE, "folderUid": FOLDER_UID, "type": "file",
         "disableDeletion": True, "allowUiUpdates": False, "updateIntervalSeconds": 60,
         "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False}}]}

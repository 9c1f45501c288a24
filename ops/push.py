"""`quantdesk dashboards push`: the data sources, the folder, the dashboards and the alert rules into a running
Grafana over its HTTP API (grafana-client), each looked up by its fixed uid first and written only when it is
missing or differs, so a second push changes nothing."""

from typing import Any, Callable

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from ops.alerts import ALERTS, grafana_rule
from ops.build import dashboard_json
from ops.dashboards import DASHBOARDS
from ops.provisioning import FOLDER_TITLE, FOLDER_UID, Sources, datasources

SERVER_KEEPS = ("id", "version")  # what Grafana adds to a dashboard it stores


def found(get: Callable[[str], Any], uid: str) -> Any | None:
    """Return what Grafana holds under `uid`, or None when it answers 404."""
    try:
        return get(uid)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def differs(wanted: dict, held: dict) -> bool:
    """Tell whether any field we set holds another value in Grafana (fields Grafana adds are not ours)."""
    return any(held.get(key) != value for key, value in wanted.items())


def push_datasources(grafana: GrafanaApi, sources: Sources) -> list[str]:
    """Create or update the data sources; return what changed."""
    changed = []
    for source in datasources(sources):
        held = found(grafana.datasource.get_datasource_by_uid, source["uid"])
        if held is None:
            grafana.datasource.create_datasource(source)
        elif differs(source, held):
            grafana.datasource.update_datasource_by_uid(source["uid"], source)
        else:
            continue
        changed.append(f"datasource {source['uid']}")
    return changed


def push_folder(grafana: GrafanaApi) -> list[str]:
    """Create the dashboards' folder, or give it back its title; return what changed."""
    held = found(grafana.folder.get_folder, FOLDER_UID)
    if held is None:
        grafana.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
    elif held.get("title") != FOLDER_TITLE:
        grafana.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True)
    else:
        return []
    return [f"folder {FOLDER_UID}"]


def push_dashboards(grafana: GrafanaApi) -> list[str]:
    """Create or overwrite each dashboard in the folder; return what changed."""
    changed = []
    for name in DASHBOARDS:
        wanted = dashboard_json(name)
        held = found(grafana.dashboard.get_dashboard, wanted["uid"])
        if held is not None and held["meta"].get("folderUid") == FOLDER_UID and \
                {k: v for k, v in held["dashboard"].items() if k not in SERVER_KEEPS} == wanted:
            continue
        grafana.dashboard.update_dashboard({"dashboard": wanted, "folderUid": FOLDER_UID, "overwrite": True,
                                            "message": "quantdesk dashboards push"})
        changed.append(f"dashboard {wanted['uid']}")
    return changed


def push_alerts(grafana: GrafanaApi) -> list[str]:
    """Create or update each Grafana-managed alert rule in the folder; return what changed."""
    provisioning, changed = grafana.alertingprovisioning, []
    for alert in ALERTS:
        rule = grafana_rule(alert, FOLDER_UID)
        held = found(provisioning.get_alertrule, rule["uid"])
        if held is None:
            provisioning.create_alertrule(rule)
        elif differs(rule, held):
            provisioning.update_alertrule(rule["uid"], rule)
        else:
            continue
        changed.append(f"alert rule {rule['uid']}")
    return changed


def push(url: str, token: str, sources: Sources) -> list[str]:
    """Bring a Grafana up to date with the built data sources, folder, dashboards and alert rules; return what
    changed (nothing when it already was)."""
    grafana = GrafanaApi.from_url(url, credential=token)
    return [*push_datasources(grafana, sources), *push_folder(grafana), *push_dashboards(grafana),
            *push_alerts(grafana)]

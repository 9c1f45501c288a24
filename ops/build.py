"""Everything `quantdesk dashboards build` writes under `dashboards/`, as text: stable (keys sorted), so the
committed files can be compared with what the code builds."""

import json
from pathlib import Path

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from ops.alerts import prometheus_rules
from ops.dashboards import DASHBOARDS
from ops.provisioning import Sources, dashboards_file, datasources_file

HEADER = "# Built by `quantdesk dashboards build` (ops/): edit the code, not this file.\n"


def dashboard_json(name: str) -> dict:
    """Return a dashboard as the JSON Grafana stores."""
    return json.loads(json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder))


def as_json(document: dict) -> str:
    """Return a JSON document with sorted keys, ending in a newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def as_yaml(document: dict) -> str:
    """Return a YAML document with sorted keys and unfolded lines, after the header."""
    return HEADER + yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=1000)


def files() -> dict[str, str]:
    """Return every built file by its path under `dashboards/`."""
    built = {f"{name}.json": as_json(dashboard_json(name)) for name in DASHBOARDS}
    built["alerts.yml"] = as_yaml(prometheus_rules())
    built["provisioning/datasources/quantdesk.yml"] = as_yaml(datasources_file(Sources()))
    built["provisioning/dashboards/quantdesk.yml"] = as_yaml(dashboards_file())
    return dict(sorted(built.items()))


def write(directory: Path) -> list[Path]:
    """Write every built file under `directory`; return the paths written."""
    written = []
    for relative, text in files().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written

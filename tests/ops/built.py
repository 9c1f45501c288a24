"""The built dashboards' queries, and promtool run on files."""

import subprocess
from pathlib import Path

from grafana_foundation_sdk.models.prometheus import Dataquery as PrometheusTarget

from ops.clickhouse import ClickHouseTarget
from ops.dashboards import DASHBOARDS


def run_promtool(promtool: str, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run promtool and return its outcome (output kept for the assertion message)."""
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd)


def targets(kind: type) -> list[tuple[str, str, object]]:
    """Return (dashboard, panel title, target) for every target of `kind` on the built dashboards."""
    found = []
    for name, build in DASHBOARDS.items():
        for panel in build().build().panels or []:
            found += [(name, panel.title, t) for t in getattr(panel, "targets", None) or [] if isinstance(t, kind)]
    return found


def clickhouse_targets() -> list[tuple[str, str, ClickHouseTarget]]:
    """Return every ClickHouse target of the built dashboards."""
    return targets(ClickHouseTarget)  # type: ignore[return-value]


def prometheus_targets() -> list[tuple[str, str, PrometheusTarget]]:
    """Return every Prometheus target of the built dashboards."""
    return targets(PrometheusTarget)  # type: ignore[return-value]

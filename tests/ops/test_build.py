"""`quantdesk dashboards build`: the committed files are what the code builds, stable, and in Grafana's shape."""

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from ops.build import files
from ops.commands import register
from ops.dashboards import DASHBOARDS
from tests.conftest import ROOT


def test_the_committed_files_are_what_the_code_builds() -> None:
    committed = ROOT / "dashboards"
    for relative, text in files().items():
        assert (committed / relative).read_text() == text, \
            f"dashboards/{relative} differs: run `quantdesk dashboards build`"
    stray = sorted(str(p.relative_to(committed)) for p in committed.rglob("*.json"))
    assert stray == sorted(f for f in files() if f.endswith(".json")), "a dashboard the code no longer builds"


def test_two_builds_are_byte_for_byte_the_same_and_end_in_a_newline() -> None:
    first, second = files(), files()
    assert first == second
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in first.values())


def test_the_command_writes_every_file(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["dashboards", "build", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()} == set(files())


def test_every_panel_has_its_own_id_a_place_and_a_known_data_source() -> None:
    for name in DASHBOARDS:
        board = json.loads(files()[f"{name}.json"])
        panels = board["panels"]
        assert len({p["id"] for p in panels}) == len(panels), name
        for panel in (p for p in panels if p["type"] != "row"):
            assert panel["datasource"]["uid"] in ("prometheus", "clickhouse"), panel["title"]
            assert all(t["datasource"] == panel["datasource"] for t in panel["targets"]), panel["title"]
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
            place = panel["gridPos"]
            assert place["x"] + place["w"] <= 24 and place["h"] > 0, panel["title"]


def test_panels_never_overlap() -> None:
    for name in DASHBOARDS:
        cells: set[tuple[int, int]] = set()
        for panel in json.loads(files()[f"{name}.json"])["panels"]:
            p = panel["gridPos"]
            mine = {(x, y) for x in range(p["x"], p["x"] + p["w"]) for y in range(p["y"], p["y"] + p["h"])}
            assert not cells & mine, f"{name}: {panel['title']} overlaps another panel"
            cells |= mine


def test_grafana_provisions_the_built_dashboards_from_the_folder_compose_mounts() -> None:
    built = files()
    sources = yaml.safe_load(built["provisioning/datasources/quantdesk.yml"])["datasources"]
    assert {(s["uid"], s["type"]) for s in sources} == {("prometheus", "prometheus"),
                                                         ("clickhouse", "grafana-clickhouse-datasource")}
    provider = yaml.safe_load(built["provisioning/dashboards/quantdesk.yml"])["providers"][0]
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])  # source:target[:mode]
    assert mounts["../dashboards"] == provider["options"]["path"]
    assert mounts["../dashboards/provisioning"] == "/etc/grafana/provisioning"


def test_each_clickhouse_query_names_its_tables_in_the_database_variable() -> None:
    for name in DASHBOARDS:
        board = json.loads(files()[f"{name}.json"])
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if "rawSql" in target:
                    assert "${database}." in target["rawSql"], panel["title"]
                    assert "quantdesk." not in target["rawSql"], panel["title"]

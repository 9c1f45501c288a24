"""The alert rules and every Prometheus expression of a panel: promtool checks and unit-tests them, and they name
only the metric contract's families (and use every one of them on the Ops dashboard)."""

import re
from importlib import import_module
from pathlib import Path

import pytest
import yaml

from ops.alerts import ALERTS, grafana_rule, prometheus_rules
from streams.sources.ingest.metrics import FAMILIES as INGEST_FAMILIES
from tests.conftest import ROOT
from tests.ops.built import prometheus_targets, run_promtool

DASHBOARDS_DIR = ROOT / "dashboards"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}  # as Grafana sends them
CONTRACT = {  # /work/notes/metrics-contract.md: the gateway's and the workers' families
    "gateway_requests_total", "gateway_request_seconds", "gateway_socket_connections", "gateway_socket_connects_total",
    "gateway_socket_connection_seconds", "gateway_socket_subscriptions", "gateway_socket_emits_total",
    "gateway_socket_dropped_total", "gateway_socket_slow_clients_total", "gateway_rate_limited_total",
    "gateway_sign_ins_total", "gateway_unreachable_total",
    "worker_events_in_total", "worker_events_out_total", "worker_dead_letters_total", "worker_event_latency_seconds",
    "worker_consumer_lag", "worker_reorder_buffer_events", "worker_sink_rows_total", "worker_sink_batch_rows",
    "worker_sink_batch_seconds", "worker_sink_retries_total", "worker_remargin_seconds", "worker_accounts",
    "worker_liquidations_planned_total", "worker_liquidations_filled_total", "worker_insurance_fund_usd",
    "worker_signals_total", "worker_oracle_last_event_seconds",
} | set(INGEST_FAMILIES)
FAMILY_NAME = re.compile(r"\b(?:gateway|worker|ingest)_[a-z_]+")


def as_sent(expr: str) -> str:
    """Return a panel's expression with Grafana's variables replaced as Grafana does before querying."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def families(expr: str) -> set[str]:
    """Return the metric families an expression reads (a histogram's series named by their family)."""
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in FAMILY_NAME.findall(expr)}


def panel_expressions() -> list[str]:
    """Return every Prometheus expression of the built dashboards, as Grafana sends it."""
    return [as_sent(target.expr) for _, _, target in prometheus_targets()]


def test_the_rules_file_passes_promtool_check(promtool: str) -> None:
    checked = run_promtool(promtool, "check", "rules", DASHBOARDS_DIR / "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


def test_each_alert_fires_and_stays_quiet_in_the_unit_tests(promtool: str) -> None:
    tested = run_promtool(promtool, "test", "rules", "alerts.test.yml", cwd=DASHBOARDS_DIR)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load((DASHBOARDS_DIR / "alerts.test.yml").read_text())["tests"]
    checks = [c for case in cases for c in case["alert_rule_test"]]
    for alert in ALERTS:
        mine = [c for c in checks if c["alertname"] == alert.name]
        assert any(c["exp_alerts"] for c in mine), f"{alert.name} has no firing case"
        assert any(not c["exp_alerts"] for c in mine), f"{alert.name} has no quiet case"


def test_promtool_would_catch_an_alert_that_no_longer_fires(promtool: str, tmp_path: Path) -> None:
    """The unit tests fail against a rule whose threshold drifted (they test the rules, not only their syntax)."""
    rules = prometheus_rules()
    for rule in rules["groups"][0]["rules"]:
        rule["expr"] = rule["expr"].replace("> 0.05", "> 0.9")  # GatewayErrors would no longer fire at 50 %
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "alerts.test.yml").write_text((DASHBOARDS_DIR / "alerts.test.yml").read_text())
    tested = run_promtool(promtool, "test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert tested.returncode != 0 and "GatewayErrors" in tested.stdout + tested.stderr


def test_every_panel_expression_parses(promtool: str, tmp_path: Path) -> None:
    expressions = panel_expressions() + [grafana_rule(a, "f")["data"][0]["model"]["expr"] for a in ALERTS]
    rules = {"groups": [{"name": "panels", "rules": [
        {"record": f"quantdesk:panel_{n}", "expr": expr} for n, expr in enumerate(expressions)]}]}
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules, width=1000))
    checked = run_promtool(promtool, "check", "rules", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in checked.stdout


def test_a_broken_expression_would_be_caught(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": [
        {"record": "quantdesk:panel_0", "expr": "sum by (route (rate(gateway_requests_total[5m]))"}]}]}))
    assert run_promtool(promtool, "check", "rules", path).returncode != 0


def test_panels_and_rules_name_only_the_contract_and_the_ops_board_shows_all_of_it() -> None:
    used = set().union(*map(families, panel_expressions()), *(families(a.expr) for a in ALERTS))
    assert used <= CONTRACT, f"not in the metric contract: {sorted(used - CONTRACT)}"
    on_ops = set().union(*(families(as_sent(t.expr)) for board, _, t in prometheus_targets() if board == "ops"))
    assert on_ops == CONTRACT, f"missing from the Ops dashboard: {sorted(CONTRACT - on_ops)}"


@pytest.mark.parametrize("module", ["api.metrics", "streams.metrics"])
def test_the_contract_is_what_the_services_declare(module: str) -> None:
    declared = set(import_module(module).FAMILIES)  # a module that does not import fails the test, never skips it
    prefix = module.split(".")[0].replace("api", "gateway").replace("streams", "worker") + "_"
    assert declared == {name for name in CONTRACT if name.startswith(prefix)}


def test_grafana_rules_query_prometheus_with_the_rule_expression_and_fire_on_any_series() -> None:
    rules = [grafana_rule(alert, "quantdesk") for alert in ALERTS]
    assert len({r["uid"] for r in rules}) == len(ALERTS) and all(len(r["uid"]) <= 40 for r in rules)
    for alert, rule in zip(ALERTS, rules):
        query, condition = rule["data"]
        assert query["datasourceUid"] == "prometheus" and query["model"]["expr"] == f"({alert.expr}) * 0 + 1"
        assert condition["model"]["expression"] == "A" and rule["condition"] == condition["refId"]
        assert rule["for"] == alert.wait and rule["labels"]["severity"] == alert.severity


def test_the_down_rules_name_the_contracts_jobs() -> None:
    down = {a.name: a.expr for a in ALERTS if a.name.endswith("Down")}
    assert all(job in down["WorkerDown"] for job in ("quantdesk-risk", "quantdesk-feed", "quantdesk-ingest"))
    assert 'job="quantdesk-gateway"' in down["GatewayDown"]

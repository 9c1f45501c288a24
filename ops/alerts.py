"""The alert rules, written once: as a Prometheus rules file, and as Grafana-managed rules on the `prometheus` data
source (the same expression: a series it returns is a firing alert)."""

import re
from dataclasses import dataclass

from quantdesk.settings import Settings

GROUP = "quantdesk"
ORACLE_STALE_S = 60  # a market's newest oracle tick older than this (wall clock − event time)
LAG_MOST = Settings.model_fields["ready_max_lag"].default  # where /ready turns the worker away
ERROR_SHARE_MOST = 0.05  # of the gateway's answers that may be 5xx
DRAWDOWN_MOST = 0.2  # of the insurance fund's high of the last hour
WORKER_JOBS = ("quantdesk-risk", "quantdesk-feed", "quantdesk-ingest")  # the contract's scrape jobs
GATEWAY_JOB = "quantdesk-gateway"


@dataclass(frozen=True)
class Alert:
    """One alert: when it fires (a PromQL expression returning a series per firing subject) and what it says."""

    name: str
    expr: str
    wait: str  # how long the expression must hold before the alert fires (`for`, as Grafana writes it back)
    severity: str
    summary: str
    description: str

    @property
    def uid(self) -> str:
        """Return the Grafana rule's fixed uid (what makes a second push an update, not a copy)."""
        return "quantdesk-" + re.sub(r"(?<!^)(?=[A-Z])", "-", self.name).lower()


ALERTS = (
    Alert("OracleStale", f"time() - max by (market) (worker_oracle_last_event_seconds) > {ORACLE_STALE_S}", "2m",
          "critical", "{{ $labels.market }}: no oracle tick for {{ $value | humanizeDuration }}",
          f"The newest oracle tick of {{{{ $labels.market }}}} is older than {ORACLE_STALE_S} s: marks, margins and "
          "liquidations of the market stand still."),
    Alert("ConsumerLagHigh", f"sum by (role, reader) (worker_consumer_lag) > {LAG_MOST}", "5m", "warning",
          "{{ $labels.role }} {{ $labels.reader }}: {{ $value }} messages not read",
          f"A worker's reader has been more than {LAG_MOST} messages behind for 5 minutes; /ready refuses it."),
    Alert("DeadLetters", "(sum(rate(worker_dead_letters_total[5m])) or vector(0))"
          " + (sum(rate(ingest_dlq_total[5m])) or vector(0)) > 0", "1m", "warning",
          "Dead letters: {{ $value | humanize }} per second",
          "Workers or ingest put input they could not use on the dead-letter topic (see the dead_letters table)."),
    Alert("SinkFailing", "sum by (role, table) (rate(worker_sink_retries_total[5m])) > 0", "5m", "critical",
          "Sink retrying {{ $labels.table }} for 5 minutes",
          "The sink has retried stores of {{ $labels.table }} for 5 minutes: ClickHouse refuses or cannot be "
          "reached, and the sink's topics are not committed past what it stored."),
    Alert("GatewayErrors", 'sum(rate(gateway_requests_total{status=~"5.."}[5m]))'
          f" / sum(rate(gateway_requests_total[5m])) > {ERROR_SHARE_MOST}", "5m", "critical",
          "Gateway: {{ $value | humanizePercentage }} of answers are 5xx",
          f"More than {ERROR_SHARE_MOST:.0%} of the gateway's answers have been server errors for 5 minutes."),
    Alert("GatewayPartUnreachable", "sum by (part) (rate(gateway_unreachable_total[5m])) > 0", "2m", "warning",
          "Gateway cannot reach {{ $labels.part }}",
          "For 2 minutes the gateway has answered without a part it needs: sign-in and signed-in requests get 503 "
          "while Redis is away (rate limits are counted in each replica's memory meanwhile), decisions the gateway "
          "records (admins' commands, order tickets, sign-ins) while the broker is, reads of history while "
          "ClickHouse is."),
    Alert("WorkerDown", f'up{{job=~"{"|".join(WORKER_JOBS)}"}} == 0', "1m", "critical",
          "{{ $labels.job }} ({{ $labels.instance }}) is down", "Prometheus cannot scrape a worker or ingest."),
    Alert("GatewayDown", f'up{{job="{GATEWAY_JOB}"}} == 0', "1m", "critical",
          "The gateway ({{ $labels.instance }}) is down", "Prometheus cannot scrape the gateway."),
    Alert("InsuranceFundDrawdown", "max_over_time(worker_insurance_fund_usd[1h]) - worker_insurance_fund_usd"
          f" > {DRAWDOWN_MOST} * max_over_time(worker_insurance_fund_usd[1h])", "0s", "critical",
          "Insurance fund down {{ $value | humanize }} USD from its high of the hour",
          f"Liquidation deficits drew more than {DRAWDOWN_MOST:.0%} of the insurance fund within the hour."),
)


def prometheus_rules() -> dict:
    """Return the rules as a Prometheus rules file."""
    return {"groups": [{"name": GROUP, "rules": [
        {"alert": a.name, "expr": a.expr, "for": a.wait, "labels": {"severity": a.severity},
         "annotations": {"summary": a.summary, "description": a.description}} for a in ALERTS]}]}


def grafana_rule(alert: Alert, folder_uid: str) -> dict:
    """Return an alert as a Grafana-managed rule (alerting provisioning API): query A on the prometheus data
    source yields 1 for every series the Prometheus expression yields; condition B fires on it."""
    query = {"refId": "A", "datasourceUid": "prometheus", "relativeTimeRange": {"from": 3600, "to": 0},
             "model": {"refId": "A", "expr": f"({alert.expr}) * 0 + 1", "instant": True, "range": False,
                       "intervalMs": 1000, "maxDataPoints": 43200}}
    condition = {"refId": "B", "datasourceUid": "__expr__", "relativeTimeRange": {"from": 0, "to": 0},
                 "model": {"refId": "B", "type": "threshold", "expression": "A", "intervalMs": 1000,
                           "maxDataPoints": 43200, "conditions": [{"evaluator": {"type": "gt", "params": [0]}}]}}
    return {"uid": alert.uid, "title": alert.name, "ruleGroup": GROUP, "folderUID": folder_uid, "orgID": 1,
            "condition": "B", "data": [query, condition], "for": alert.wait, "noDataState": "OK",
            "execErrState": "Error", "isPaused": False, "labels": {"severity": alert.severity},
            "annotations": {"summary": alert.summary, "description": alert.description}}

"""MIKEY: the signals raised, by kind and severity, the newest ones, and how their webhooks were delivered."""

from grafana_foundation_sdk.builders import dashboard

from ops.clickhouse import ClickHouseQuery
from ops.panels import board, database_variable, figure, rows, series

BY_KIND = ClickHouseQuery("""
    SELECT $__timeInterval(ts) AS time, kind, count() AS signals
    FROM ${database}.signals WHERE $__timeFilter(ts) GROUP BY time, kind ORDER BY time""",
                          reads=("time", "kind", "signals"))  # long rows: the plugin pivots them per kind

BY_SEVERITY = ClickHouseQuery("""
    SELECT $__timeInterval(ts) AS time, severity, count() AS signals
    FROM ${database}.signals WHERE $__timeFilter(ts) GROUP BY time, severity ORDER BY time""",
                              reads=("time", "severity", "signals"))

TALLY = ClickHouseQuery("""
    SELECT kind, severity, count() AS signals, max(ts) AS last_raised
    FROM ${database}.signals WHERE $__timeFilter(ts) GROUP BY kind, severity ORDER BY signals DESC""",
                        reads=("kind", "severity", "signals", "last_raised"), shape="table")

NEWEST = ClickHouseQuery("""
    SELECT ts AS time, kind, severity, subject, message
    FROM ${database}.signals WHERE $__timeFilter(ts) ORDER BY ts DESC LIMIT 100""",
                         reads=("time", "kind", "severity", "subject", "message"), shape="table")

# attempts by the wall clock they were made at (`ts` is the signal's event time)
DELIVERIES = ClickHouseQuery("""
    SELECT $__timeInterval(attempted_at) AS time, countIf(delivered) AS delivered_attempts,
           countIf(NOT delivered) AS failed_attempts
    FROM ${database}.webhook_deliveries WHERE $__timeFilter(attempted_at) GROUP BY time ORDER BY time""",
                             reads=("time", "delivered_attempts", "failed_attempts"))

SUCCESS = ClickHouseQuery("""
    SELECT if(count() = 0, NULL, countIf(delivered) / count()) AS delivered_share
    FROM ${database}.webhook_deliveries WHERE $__timeFilter(attempted_at)""",
                          reads=("delivered_share",), shape="table")

FAILURES = ClickHouseQuery("""
    SELECT status, error, count() AS attempts, max(attempted_at) AS last_attempt
    FROM ${database}.webhook_deliveries WHERE NOT delivered AND $__timeFilter(attempted_at)
    GROUP BY status, error ORDER BY attempts DESC LIMIT 20""",
                           reads=("status", "error", "attempts", "last_attempt"), shape="table")


def mikey() -> dashboard.Dashboard:
    """Return the MIKEY dashboard."""
    panels = [series("Signals by kind", [BY_KIND], "none", stacked=True, bars=True),
              series("Signals by severity", [BY_SEVERITY], "none", stacked=True, bars=True),
              rows("Signals per kind and severity", [TALLY]),
              rows("Newest signals", [NEWEST]),
              series("Webhook attempts", [DELIVERIES], "none", stacked=True, bars=True),
              figure("Webhook attempts delivered", [SUCCESS], "percentunit", width=6, height=8),
              rows("Webhook failures", [FAILURES], width=6)]
    return board("QuantDesk MIKEY", "quantdesk-mikey", panels, [database_variable()],
                 "MIKEY's signals and their webhook deliveries (ClickHouse).")

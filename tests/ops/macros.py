"""The ClickHouse data source's macros expanded as the plugin expands them (grafana/clickhouse-datasource,
pkg/macros/macros.go, documented in its README "Macros"), and Grafana's template variables replaced, so a panel's
SQL runs as Grafana would send it."""

import re
from datetime import datetime

MACRO_CALL = re.compile(r"\$__(\w+)\(([^()]*)\)")


def datetime_sql(at: datetime) -> str:
    """Return the plugin's second-precision time literal."""
    return f"toDateTime({int(at.timestamp())})"


def expand(sql: str, start: datetime, end: datetime, interval_s: int, variables: dict[str, str]) -> str:
    """Return `sql` with `${name}` variables and the macros this project's panels use expanded for a time range."""
    for name, value in variables.items():
        sql = sql.replace(f"${{{name}}}", value)
    calls = {
        "timeFilter": lambda column: f"{column} >= {datetime_sql(start)} AND {column} <= {datetime_sql(end)}",
        "timeInterval": lambda column: f"toStartOfInterval(toDateTime({column}), INTERVAL {max(interval_s, 1)} second)",
    }
    sql = MACRO_CALL.sub(lambda m: calls[m.group(1)](m.group(2).strip()), sql)
    return sql.replace("$__fromTime", datetime_sql(start)).replace("$__toTime", datetime_sql(end))

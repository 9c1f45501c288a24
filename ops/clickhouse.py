"""A Grafana query on the ClickHouse data source (plugin `grafana-clickhouse-datasource`): raw SQL with the
plugin's macros. The foundation SDK has no builder for this plugin, so this is one in its shape."""

from typing import Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

CLICKHOUSE = DataSourceRef(type_val="grafana-clickhouse-datasource", uid="clickhouse")
FORMATS = {"timeseries": 0, "table": 1}  # the plugin's numeric `format` of a query's answer
QUERY_TYPES = {"timeseries": "timeSeries", "table": "table"}  # the plugin's QueryType values


class ClickHouseTarget(cogvariants.Dataquery):
    """One raw-SQL query of a panel; `reads` names the columns of its answer the panel uses (never serialised)."""

    def __init__(self, sql: str, reads: tuple[str, ...], shape: Literal["timeseries", "table"]) -> None:
        self.sql = sql
        self.reads = reads
        self.shape = shape
        self.ref_id = "A"

    def to_json(self) -> dict[str, object]:
        """Return the target as the plugin stores it in a dashboard."""
        return {"datasource": CLICKHOUSE.to_json(), "editorType": "sql", "format": FORMATS[self.shape],
                "queryType": QUERY_TYPES[self.shape], "rawSql": self.sql, "refId": self.ref_id}


class ClickHouseQuery(cogbuilder.Builder[ClickHouseTarget]):
    """Build a ClickHouse target: `sql` may use the plugin's macros and the dashboard's `${database}`."""

    def __init__(self, sql: str, reads: tuple[str, ...], shape: Literal["timeseries", "table"] = "timeseries") -> None:
        self._internal = ClickHouseTarget(" ".join(sql.split()), reads, shape)

    def ref_id(self, ref_id: str) -> "ClickHouseQuery":
        """Name the query within its panel."""
        self._internal.ref_id = ref_id
        return self

    def build(self) -> ClickHouseTarget:
        """Return the target."""
        return self._internal


def json_number(document: str, key: str) -> str:
    """Return SQL reading a decimal of a JSON object as a float, written as a string or as a number."""
    return f"toFloat64OrZero(trim(BOTH '\"' FROM JSONExtractRaw({document}, '{key}')))"


# every account's newest snapshot up to the end of the chosen range; of one account's snapshots at one event time
# (an order's fills against several resting orders) the one with the highest id: the last applied, as events of
# one time and topic apply in id order (a tick and a fill at one time apply tick first, which ids do not tell)
LATEST_SNAPSHOTS = """(SELECT wallet, subaccount, argMax(state, (ts, id)) AS state, argMax(health, (ts, id)) AS health,
    argMax(equity, (ts, id)) AS equity, argMax(maintenance_margin, (ts, id)) AS maintenance_margin,
    argMax(positions, (ts, id)) AS positions, max(ts) AS updated
  FROM ${database}.account_snapshots WHERE ts <= $__toTime GROUP BY wallet, subaccount)"""

"""Panels and dashboards in the house style, on the foundation SDK's builders: each helper takes a title, its
queries and a unit, and `board` numbers the panels and their queries and lays them out left to right."""

from typing import Sequence

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import candlestick
from grafana_foundation_sdk.builders.common import ReduceDataOptions, StackingConfig
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models.common import GraphDrawStyle, StackingMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableHide, VariableOption

from ops.clickhouse import CLICKHOUSE, ClickHouseQuery

PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
Query = prometheus.Dataquery | ClickHouseQuery
REF_IDS = "ABCDEFGHIJ"


def prom(expr: str, legend: str = "") -> prometheus.Dataquery:
    """Return a Prometheus range query with its legend template (`{{label}}`)."""
    return (prometheus.Dataquery().expr(" ".join(expr.split())).legend_format(legend or "__auto").range()
            .datasource(PROMETHEUS))


def named(queries: Sequence[Query]) -> list[Query]:
    """Give each query of a panel its own refId, A first."""
    return [q.ref_id(REF_IDS[n]) for n, q in enumerate(queries)]


def source(queries: Sequence[Query]) -> DataSourceRef:
    """Return the data source a panel's queries use (a panel holds queries of one source)."""
    return CLICKHOUSE if isinstance(queries[0], ClickHouseQuery) else PROMETHEUS


def series(title: str, queries: Sequence[Query], unit: str, width: int = 12, height: int = 8,
           stacked: bool = False, bars: bool = False) -> timeseries.Panel:
    """Return a time series panel."""
    panel = (timeseries.Panel().title(title).targets(named(queries)).datasource(source(queries)).unit(unit)
             .span(width).height(height))
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(40)
    if bars:
        panel = panel.draw_style(GraphDrawStyle.BARS).fill_opacity(80)
    return panel


def figure(title: str, queries: Sequence[Query], unit: str, width: int = 6, height: int = 5) -> stat.Panel:
    """Return a stat panel showing each series' last value."""
    return (stat.Panel().title(title).targets(named(queries)).datasource(source(queries)).unit(unit)
            .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False)).span(width).height(height))


def gauges(title: str, queries: Sequence[Query], unit: str, width: int = 12, height: int = 8) -> bargauge.Panel:
    """Return a bar gauge panel: one bar per series (or per row of a table answer)."""
    return (bargauge.Panel().title(title).targets(named(queries)).datasource(source(queries)).unit(unit)
            .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(True)).span(width).height(height))


def rows(title: str, queries: Sequence[Query], width: int = 12, height: int = 8) -> table.Panel:
    """Return a table panel."""
    return table.Panel().title(title).targets(named(queries)).datasource(source(queries)).span(width).height(height)


def candles(title: str, query: ClickHouseQuery, width: int = 24, height: int = 10) -> candlestick.Panel:
    """Return a candlestick panel reading `open`, `high`, `low`, `close` and `volume` columns."""
    return (candlestick.Panel().title(title).targets(named([query])).datasource(CLICKHOUSE)
            .fields(candlestick.CandlestickFieldMap().open("open").high("high").low("low").close("close")
                    .volume("volume"))
            .include_all_fields(False)
            .span(width).height(height))


def database_variable(default: str = "quantdesk") -> dashboard.TextBoxVariable:
    """Return the `database` variable every ClickHouse query names its tables in."""
    chosen = VariableOption(selected=True, text=default, value=default)
    return (dashboard.TextBoxVariable("database").label("ClickHouse database").default_value(default)
            .current(chosen).hide(VariableHide.HIDE_VARIABLE))


def choice_variable(name: str, label: str, values: Sequence[str]) -> dashboard.CustomVariable:
    """Return a variable choosing one of `values` (the first by default)."""
    return (dashboard.CustomVariable(name).label(label).values(",".join(values))
            .current(VariableOption(selected=True, text=values[0], value=values[0])))


def board(title: str, uid: str, panels: Sequence[Builder], variables: Sequence[Builder] = (),
          description: str = "") -> dashboard.Dashboard:
    """Return a dashboard of `panels` (a `dashboard.Row` starts a section), numbered in order, refreshing every
    30 s over the last 6 hours by default."""
    built = (dashboard.Dashboard(title).uid(uid).description(description).tags(["quantdesk"]).timezone("utc")
             .time("now-6h", "now").refresh("30s").editable().variables(list(variables)))
    for number, panel in enumerate(panels, start=1):
        place = built.with_row if isinstance(panel, dashboard.Row) else built.with_panel
        built = place(panel.id(number))  # type: ignore[attr-defined]
    return built

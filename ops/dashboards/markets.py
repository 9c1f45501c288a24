"""Markets: one market's oracle and mark with the oracle's confidence band, funding, open interest, volume,
candles and the periods its oracle was degraded, all from ClickHouse."""

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from ops.clickhouse import LATEST_SNAPSHOTS, ClickHouseQuery, json_number
from ops.panels import board, candles, choice_variable, database_variable, figure, rows, series
from quantdesk.markets import DEFAULT_MARKETS

RESOLUTIONS = ("60", "300", "900", "3600", "14400", "86400")  # the candle resolutions stored, in seconds
OF_MARKET = "market = '${market}'"

PRICES = ClickHouseQuery(f"""
    SELECT $__timeInterval(ts) AS time, avg(toFloat64(oracle_price)) AS oracle, avg(toFloat64(mark_price)) AS mark,
           avg(toFloat64(oracle_price - conf)) AS band_low, avg(toFloat64(oracle_price + conf)) AS band_high
    FROM ${{database}}.market_state WHERE {OF_MARKET} AND $__timeFilter(ts)
    GROUP BY time ORDER BY time""", reads=("time", "oracle", "mark", "band_low", "band_high"))

FUNDING = ClickHouseQuery(f"""
    SELECT period_end AS time, toFloat64(rate) AS rate, toFloat64(rate) * 24 * 365 AS apr
    FROM ${{database}}.funding_rates WHERE {OF_MARKET} AND $__timeFilter(period_end) ORDER BY time""",
                          reads=("time", "rate", "apr"))  # a rate is per funded hour

OPEN_INTEREST = ClickHouseQuery(f"""
    SELECT sumIf(size, size > 0) AS long_open_interest, -sumIf(size, size < 0) AS short_open_interest
    FROM (SELECT {json_number("position", "size")} AS size FROM {LATEST_SNAPSHOTS}
          ARRAY JOIN JSONExtractArrayRaw(positions) AS position
          WHERE JSONExtractString(position, 'market') = '${{market}}')""",
                                reads=("long_open_interest", "short_open_interest"), shape="table")

VOLUME = ClickHouseQuery(f"""
    SELECT $__timeInterval(bucket) AS time, toFloat64(sum(volume)) AS volume, sum(trades) AS trades
    FROM ${{database}}.candles WHERE {OF_MARKET} AND resolution = 60 AND $__timeFilter(bucket)
    GROUP BY time ORDER BY time""", reads=("time", "volume", "trades"))

CANDLES = ClickHouseQuery(f"""
    SELECT bucket AS time, toFloat64(argMinMerge(open)) AS open, toFloat64(maxMerge(high)) AS high,
           toFloat64(minMerge(low)) AS low, toFloat64(argMaxMerge(close)) AS close, toFloat64(sum(volume)) AS volume
    FROM ${{database}}.candles WHERE {OF_MARKET} AND resolution = ${{resolution}} AND $__timeFilter(bucket)
    GROUP BY bucket HAVING sum(ticks) > 0 ORDER BY time""", reads=("time", "open", "high", "low", "close", "volume"))

# runs of consecutive states with the same status, numbered in time order; the degraded ones listed
DEGRADED = ClickHouseQuery(f"""
    SELECT min(ts) AS started, max(ts) AS last_seen, any(reason) AS reason, count() AS states
    FROM (SELECT ts, status, reason, sum(changed) OVER (ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS period
          FROM (SELECT ts, id, status, reason,
                       status != lagInFrame(status, 1, '')
                           OVER (ORDER BY ts, id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS changed
                FROM ${{database}}.market_state WHERE {OF_MARKET} AND $__timeFilter(ts)))
    WHERE status = 'degraded' GROUP BY period ORDER BY started DESC""",
                           reads=("started", "last_seen", "reason", "states"), shape="table")


def band(below: str = "") -> list[DynamicConfigValue]:
    """Return the look of a confidence band edge: no line, filled down to the other edge."""
    looks = [DynamicConfigValue(id_val="custom.lineWidth", value=0), DynamicConfigValue(id_val="color", value={
        "mode": "fixed", "fixedColor": "#8AB8FF"})]
    return looks + ([DynamicConfigValue(id_val="custom.fillBelowTo", value=below)] if below else [])


def markets() -> dashboard.Dashboard:
    """Return the Markets dashboard."""
    names = [m.name for m in DEFAULT_MARKETS]
    prices = (series("Oracle and mark, with the oracle's confidence band", [PRICES], "currencyUSD", width=24,
                     height=10)
              .override_by_name("band_high", band(below="band_low"))
              .override_by_name("band_low", band()))
    funding = (series("Funding rate (per hour) and APR", [FUNDING], "percentunit")
               .override_by_name("apr", [DynamicConfigValue(id_val="custom.axisPlacement", value="right")]))
    panels = [prices, funding,
              figure("Open interest (base units, every account's newest position)", [OPEN_INTEREST], "none",
                     width=12, height=8),
              series("Volume (quote) and trades per interval", [VOLUME], "currencyUSD", bars=True, width=24)
              .override_by_name("trades", [DynamicConfigValue(id_val="unit", value="none"),
                                           DynamicConfigValue(id_val="custom.axisPlacement", value="right")]),
              candles("Candles (oracle prices, taker volume)", CANDLES),
              rows("Degraded oracle periods", [DEGRADED], width=24)]
    variables = [database_variable(), choice_variable("market", "Market", names),
                 choice_variable("resolution", "Candle seconds", RESOLUTIONS)]
    return board("QuantDesk markets", "quantdesk-markets", panels, variables,
                 "Prices, funding, open interest, volume and oracle health of one market (ClickHouse).")

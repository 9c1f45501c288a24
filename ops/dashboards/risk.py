"""Risk: how healthy the accounts are, which are at risk, liquidations and their fees, the insurance fund, the
largest positions and funding payments, all from ClickHouse."""

from grafana_foundation_sdk.builders import dashboard

from ops.clickhouse import LATEST_SNAPSHOTS, ClickHouseQuery, json_number
from ops.panels import board, database_variable, gauges, rows, series

# health is 0..100 (100 × (1 − MM/equity)); the bands are MIKEY's health lines 50/20/10
HEALTH = ClickHouseQuery(f"""
    SELECT multiIf(health >= 50, '50–100', health >= 20, '20–50', health >= 10, '10–20', health > 0, '0–10', '0')
           AS health_band, count() AS accounts
    FROM {LATEST_SNAPSHOTS} WHERE state NOT IN ('new', 'closed')
    GROUP BY health_band ORDER BY min(health) DESC""", reads=("health_band", "accounts"), shape="table")

AT_RISK = ClickHouseQuery(f"""
    SELECT wallet, subaccount, state, toFloat64(health) AS health, toFloat64(equity) AS equity,
           toFloat64(maintenance_margin) AS maintenance_margin, updated
    FROM {LATEST_SNAPSHOTS} WHERE state IN ('at_risk', 'liquidatable', 'liquidating', 'bankrupt')
    ORDER BY health, equity LIMIT 100""",
                          reads=("wallet", "subaccount", "state", "health", "equity", "maintenance_margin", "updated"),
                          shape="table")

CLOSES = "JSONExtractArrayRaw(body, 'closes')"
LIQUIDATIONS = ClickHouseQuery(f"""
    SELECT $__timeInterval(ts) AS time, count() AS plans,
           sum(arraySum(c -> {json_number("c", "liquidator_fee")}, {CLOSES})) AS liquidator_fees,
           sum(arraySum(c -> {json_number("c", "insurance_fee")}, {CLOSES})) AS insurance_fees
    FROM ${{database}}.liquidations WHERE kind = 'plan' AND $__timeFilter(ts) GROUP BY time ORDER BY time""",
                               reads=("time", "plans", "liquidator_fees", "insurance_fees"))

# the fund as each completed liquidation left it (insurance fees in, deficits drawn)
INSURANCE_FUND = ClickHouseQuery(f"""
    SELECT ts AS time, {json_number("data", "insurance_fund")} AS insurance_fund,
           {json_number("data", "insurance_draw")} AS drawn, {json_number("data", "socialised_loss")} AS socialised
    FROM ${{database}}.audit_log WHERE action = 'liquidation_completed' AND $__timeFilter(ts) ORDER BY time""",
                                 reads=("time", "insurance_fund", "drawn", "socialised"))

LARGEST = ClickHouseQuery(f"""
    SELECT wallet, subaccount, JSONExtractString(position, 'market') AS market,
           {json_number("position", "size")} AS size,
           {json_number("position", "notional")} AS notional, {json_number("position", "entry_price")} AS entry_price,
           {json_number("position", "upnl")} AS upnl,
           {json_number("position", "liquidation_price")} AS liquidation_price,
           toFloat64(health) AS health
    FROM {LATEST_SNAPSHOTS} ARRAY JOIN JSONExtractArrayRaw(positions) AS position
    ORDER BY abs(notional) DESC LIMIT 20""",
                          reads=("wallet", "subaccount", "market", "size", "notional", "entry_price", "upnl",
                                 "liquidation_price", "health"), shape="table")

FUNDING_PAYMENTS = ClickHouseQuery("""
    SELECT $__timeInterval(ts) AS time, toFloat64(sumIf(payment, payment > 0)) AS paid,
           toFloat64(-sumIf(payment, payment < 0)) AS received
    FROM ${database}.funding_payments WHERE $__timeFilter(ts) GROUP BY time ORDER BY time""",
                                   reads=("time", "paid", "received"))


def risk() -> dashboard.Dashboard:
    """Return the Risk dashboard."""
    panels = [gauges("Health of funded accounts (newest snapshot)", [HEALTH], "none"),
              rows("Accounts at risk", [AT_RISK]),
              series("Liquidation plans and their fees", [LIQUIDATIONS], "currencyUSD", bars=True),
              series("Insurance fund after each completed liquidation", [INSURANCE_FUND], "currencyUSD"),
              rows("Largest positions", [LARGEST], width=24),
              series("Funding payments (paid by holders, received by holders)", [FUNDING_PAYMENTS], "currencyUSD",
                     bars=True, width=24)]
    return board("QuantDesk risk", "quantdesk-risk", panels, [database_variable()],
                 "Account health, liquidations, the insurance fund, positions and funding (ClickHouse).")

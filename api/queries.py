"""The gateway's read model: SQL over the warehouse, one function per question."""

import time
from decimal import Decimal
from typing import Any, Callable

import orjson

from api.bars import RESOLUTIONS
from api.pagination import Window
from quantdesk.messages import OrderState, canonical, dump
from quantdesk.warehouse import Unreachable, Warehouse

DAY_MS = 86_400_000


async def candles(wh: Warehouse, market: str, resolution: str, start_ms: int, end_ms: int, limit: int, *,
                  after_ms: int = -1, newest: bool = False) -> list[dict[str, Any]]:
    """Return candles of a market beginning in [start, end) after `after_ms`, oldest first (or the newest)."""
    sql = f"""
        SELECT toUnixTimestamp(bucket) * 1000 AS time, argMinMerge(open) AS open, maxMerge(high) AS high,
               minMerge(low) AS low, argMaxMerge(close) AS close, sum(volume) AS volume,
               sum(base_volume) AS base_volume, sum(trades) AS trades, sum(ticks) AS ticks
        FROM {wh.database}.candles
        WHERE market = {{market:String}} AND resolution = {{res:UInt32}}
          AND toUnixTimestamp(bucket) * 1000 >= {{start:Int64}} AND toUnixTimestamp(bucket) * 1000 < {{end:Int64}}
          AND toUnixTimestamp(bucket) * 1000 > {{after:Int64}}
        GROUP BY bucket HAVING ticks > 0 ORDER BY bucket {"DESC" if newest else ""} LIMIT {{limit:UInt32}}"""
    params = {"market": market, "res": RESOLUTIONS[resolution], "start": start_ms, "end": end_ms, "after": after_ms,
              "limit": limit}
    rows = await wh.arows(sql, params)
    return rows[::-1] if newest else rows


async def day_summary(wh: Warehouse, now_ms: int) -> dict[str, dict[str, Any]]:
    """Return, per market, the first price and the taker volume of the 24 hours before `now_ms`."""
    sql = f"""
        SELECT market, argMinMerge(open) AS open_24h, sum(volume) AS volume_24h, sum(trades) AS trades_24h
        FROM {wh.database}.candles
        WHERE resolution = 60 AND bucket >= toDateTime(intDiv({{since:Int64}}, 1000), 'UTC')
        GROUP BY market"""
    rows = await wh.arows(sql, {"since": now_ms - DAY_MS})
    return {r["market"]: r for r in rows}


class DaySummaries:
    """The 24-hour summaries, read from ClickHouse at most once a second (the markets list is hot); while ClickHouse
    cannot be reached, the last read (tried again every `RETRY_S`), so the list goes on with its live prices."""

    RETRY_S = 5.0

    def __init__(self, warehouse: Warehouse, unreachable: Callable[[], object], ttl_s: float = 1.0) -> None:
        """Read `warehouse`, calling `unreachable` each time it cannot be reached and the last read is served."""
        self.warehouse, self.unreachable, self.ttl_s = warehouse, unreachable, ttl_s
        self.held: dict[str, dict[str, Any]] | None = None
        self.expires = 0.0

    async def get(self, now_ms: int) -> dict[str, dict[str, Any]]:
        """Return the summaries of the day before `now_ms`, from the cache while it is fresh."""
        if time.monotonic() >= self.expires:
            try:
                self.held = await day_summary(self.warehouse, now_ms)
            except Unreachable:
                if self.held is None:
                    raise
                self.unreachable()
                self.expires = time.monotonic() + self.RETRY_S
                return self.held
            self.expires = time.monotonic() + self.ttl_s
        assert self.held is not None
        return self.held


async def trades(wh: Warehouse, market: str, window: Window) -> list[dict[str, Any]]:
    """Return the public tape of a market (taker fills, no wallets) in a window, oldest first."""
    columns = "id, toUnixTimestamp64Milli(ts) AS ts, market, side, size, price"
    return await page(wh, "fills", columns, "ts", "market = {market:String} AND liquidity = 'taker'",
                      {"market": market}, window)


async def funding(wh: Warehouse, market: str, window: Window) -> list[dict[str, Any]]:
    """Return the closed funding periods of a market whose period ended in a window, oldest first."""
    columns = ("id, market, toUnixTimestamp64Milli(period_start) AS period_start, "
               "toUnixTimestamp64Milli(period_end) AS period_end, oracle_twap, mark_twap, rate, cumulative_index")
    return await page(wh, "funding_rates", columns, "period_end", "market = {market:String}", {"market": market},
                      window)


async def account_fills(wh: Warehouse, wallet: str, window: Window) -> list[dict[str, Any]]:
    """Return a wallet's fills (every sub-account, both liquidity sides) in a window, oldest first."""
    columns = ("id, toUnixTimestamp64Milli(ts) AS ts, market, subaccount, side, size, price, fee, liquidity, "
               "signature, liquidation")
    return await page(wh, "fills", columns, "ts", "wallet = {wallet:String}", {"wallet": wallet}, window)


async def funding_payments(wh: Warehouse, wallet: str, window: Window) -> list[dict[str, Any]]:
    """Return what a wallet's positions paid (positive) or received at funding settles in a window, oldest first."""
    columns = "id, toUnixTimestamp64Milli(ts) AS ts, market, subaccount, size, payment, cumulative_index"
    return await page(wh, "funding_payments", columns, "ts", "wallet = {wallet:String}", {"wallet": wallet},
                      window)


async def ledger(wh: Warehouse, wallet: str, kind: str | None, window: Window) -> list[dict[str, Any]]:
    """Return a wallet's ledger entries (every sub-account), of one kind if given, in a window, oldest first."""
    columns = "id, toUnixTimestamp64Milli(ts) AS ts, subaccount, kind, market, amount, balance_after, cause"
    where, params = "wallet = {wallet:String}", {"wallet": wallet}
    if kind is not None:
        where, params = f"{where} AND kind = {{kind:String}}", {**params, "kind": kind}
    return [in_one_form(row) for row in await page(wh, "ledger", columns, "ts", where, params, window)]


HISTORY_RESOLUTIONS = {"1h": 3600, "1d": 86400}


async def account_history(wh: Warehouse, wallet: str, resolution: str, window: Window) -> list[dict[str, Any]]:
    """Return a wallet's buckets (every sub-account) in a window, oldest first (or the newest `limit`): the last
    equity and unrealised P&L of each, its realised P&L, funding and fees, and the realised P&L summed over every
    bucket up to it. From the `account_history` aggregates only; a bucket without an event has no row."""
    way = "DESC" if window.newest else "ASC"
    sql = f"""
        SELECT * FROM (
            SELECT time, subaccount, equity, unrealised_pnl, realised_pnl, funding, fees,
                   sum(realised_pnl) OVER (PARTITION BY subaccount ORDER BY time) AS cumulative_realised_pnl
            FROM (
                SELECT toUnixTimestamp(bucket) * 1000 AS time, subaccount, argMaxMerge(equity) AS equity,
                       argMaxMerge(unrealised_pnl) AS unrealised_pnl, sumMerge(realised_pnl) AS realised_pnl,
                       sumMerge(funding) AS funding, sumMerge(fees) AS fees
                FROM {wh.database}.account_history
                WHERE wallet = {{wallet:String}} AND resolution = {{res:UInt32}}
                  AND toUnixTimestamp(bucket) * 1000 < {{end:Int64}}
                GROUP BY subaccount, bucket))
        WHERE time >= {{start:Int64}}
          AND (time, leftPad(toString(subaccount), 10, '0')) > ({{after_ts:Int64}}, {{after_id:String}})
        ORDER BY time {way}, subaccount {way} LIMIT {{limit:UInt32}}"""
    after_ts, after_id = window.after or (-1, "")
    rows = await wh.arows(sql, {"wallet": wallet, "res": HISTORY_RESOLUTIONS[resolution], "end": window.end,
                                "start": window.start or 0, "after_ts": after_ts, "after_id": after_id,
                                "limit": window.limit})
    return [in_one_form(row) for row in sorted(rows, key=lambda r: (r["time"], r["subaccount"]))]


async def page(wh: Warehouse, table: str, columns: str, time_column: str, where: str, params: dict[str, Any],
               window: Window) -> list[dict[str, Any]]:
    """Return one page of a table ordered by (time, id): after the cursor or from `start`, else the newest before
    `end`."""
    return await page_of(wh, f"{wh.database}.{table}", columns, time_column, where, params, window)


async def page_of(wh: Warehouse, source: str, columns: str, time_column: str, where: str, params: dict[str, Any],
                  window: Window) -> list[dict[str, Any]]:
    """Return one page of a table or subquery ordered by (time, id), as `page`."""
    ms = f"toUnixTimestamp64Milli({time_column})"
    bounds = (f"{where} AND {ms} >= {{start:Int64}} AND {ms} < {{end:Int64}} "
              f"AND ({ms}, id) > ({{after_ts:Int64}}, {{after_id:String}})")
    way = "DESC" if window.newest else "ASC"
    inner = (f"SELECT * FROM {source} WHERE {bounds} "
             f"ORDER BY {time_column} {way}, id {way} LIMIT {{limit:UInt32}}")
    after_ts, after_id = window.after or (-1, "")
    return await wh.arows(f"SELECT {columns} FROM ({inner}) ORDER BY {time_column}, id",
                          {**params, "start": window.start or 0, "end": window.end, "after_ts": after_ts,
                           "after_id": after_id, "limit": window.limit})


ORDER_STATUSES = {"open": ("open", "partially_filled"), "filled": ("filled",), "cancelled": ("cancelled",)}
# an order as the API shows it, from a row `o` (`ts` then names its placement time)
ORDER_VIEW = ("`order` AS id, toUnixTimestamp64Milli(placed_ts) AS ts, toUnixTimestamp64Milli(o.ts) AS updated_ts, "
              "market, subaccount, side, order_type, size, price, status, filled_size, size - filled_size AS "
              "remaining_size, average_price, version")
ORDER_STATE = ("id, toUnixTimestamp64Milli(ts) AS ts, `order`, wallet, subaccount, market, side, size, price, "
               "order_type, status, filled_size, average_price, version, toUnixTimestamp64Milli(placed_ts) AS placed_ts, "
               "cause")  # a row as `orders.state` carried it


def in_one_form(row: dict[str, Any]) -> dict[str, Any]:
    """Return a row with its decimals in their one form: 10 and 0, not 10.000000000000000000 and 0E-18."""
    return {k: canonical(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def newest_orders(wh: Warehouse, where: str) -> str:
    """Return the SQL of the newest version of each order a WHERE clause picks (every version is a row)."""
    return f"SELECT * FROM {wh.database}.orders WHERE {where} ORDER BY `order`, version DESC LIMIT 1 BY `order`"


async def account_orders(wh: Warehouse, wallet: str, status: str | None, window: Window) -> list[dict[str, Any]]:
    """Return a wallet's orders (every sub-account) placed in a window, as they stand now, of a status if given
    (`open`: partially filled ones too), oldest placed first."""
    statuses = ORDER_STATUSES.get(status or "", ("open", "partially_filled", "filled", "cancelled"))
    ms = "toUnixTimestamp64Milli(placed_ts)"
    bounds = (f"status IN {{statuses:Array(String)}} AND {ms} >= {{start:Int64}} AND {ms} < {{end:Int64}} "
              f"AND ({ms}, `order`) > ({{after_ts:Int64}}, {{after_id:String}})")
    way = "DESC" if window.newest else "ASC"
    inner = (f"SELECT * FROM ({newest_orders(wh, 'wallet = {wallet:String}')}) WHERE {bounds} "
             f"ORDER BY placed_ts {way}, `order` {way} LIMIT {{limit:UInt32}}")
    after_ts, after_id = window.after or (-1, "")
    rows = await wh.arows(f"SELECT {ORDER_VIEW} FROM ({inner}) AS o ORDER BY placed_ts, `order`",
                          {"wallet": wallet, "statuses": list(statuses), "start": window.start or 0,
                           "end": window.end, "after_ts": after_ts, "after_id": after_id, "limit": window.limit})
    return [in_one_form(r) for r in rows]


async def order(wh: Warehouse, order_id: str) -> dict[str, Any] | None:
    """Return an order as it stands now, with its wallet, or None when no order has that id."""
    rows = await wh.arows(f"SELECT {ORDER_VIEW}, wallet FROM ({newest_orders(wh, '`order` = {order:String}')}) AS o",
                          {"order": order_id})
    return in_one_form(rows[0]) if rows else None


async def resting_orders(wh: Warehouse) -> list[dict[str, Any]]:
    """Return every resting order's newest state as `orders.state` carried it (none before the orders table
    exists: a gateway on a warehouse not migrated yet)."""
    if not await wh.arows("SELECT 1 FROM system.tables WHERE database = {db:String} AND name = 'orders'",
                          {"db": wh.database}):
        return []
    rows = await wh.arows(f"SELECT {ORDER_STATE} FROM ({newest_orders(wh, '1')}) "
                          "WHERE status IN ('open', 'partially_filled')")
    return [dump(OrderState.model_validate(in_one_form(row))) for row in rows]


SIGNAL_COLUMNS = ("id, toUnixTimestamp64Milli(ts) AS ts, kind, severity, subject, message, market, wallet, subaccount, "
                  "data, causes")
MARKET_SIGNAL = "wallet = '' AND subaccount IS NULL AND market != '' AND subject = market"  # as api.live.market_signal


def signal_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return stored signals as the API shows them: `data` and `causes` parsed from their JSON text, an empty
    market or wallet as null."""
    return [{**r, "data": json_value(r["data"], dict), "causes": json_value(r["causes"], list),
             "market": r["market"] or None, "wallet": r["wallet"] or None} for r in rows]


def json_value(text: str, kind: type) -> Any:
    """Return a JSON text of the expected kind, or an empty one of that kind when it is not."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return kind()
    return value if isinstance(value, kind) else kind()


def signal_filter(where: str, kind: str | None, **params: str | None) -> tuple[str, dict[str, Any]]:
    """Return a signals WHERE clause narrowed to a kind and the named columns given, with its parameters."""
    given = {name: value for name, value in {**params, "kind": kind}.items() if value is not None}
    return " AND ".join([where, *(f"{name} = {{{name}:String}}" for name in given)]), given


async def market_signals(wh: Warehouse, market: str | None, kind: str | None, window: Window) -> list[dict[str, Any]]:
    """Return the market signals (never an account's) in a window, of a market and a kind if given, oldest first."""
    where, params = signal_filter(MARKET_SIGNAL, kind, market=market)
    return signal_rows(await page(wh, "signals", SIGNAL_COLUMNS, "ts", where, params, window))


async def account_alerts(wh: Warehouse, wallet: str, kind: str | None, window: Window) -> list[dict[str, Any]]:
    """Return a wallet's account signals (every sub-account) in a window, of a kind if given, oldest first."""
    where, params = signal_filter("wallet = {wallet:String}", kind)
    return signal_rows(await page(wh, "signals", SIGNAL_COLUMNS, "ts", where, {**params, "wallet": wallet}, window))


async def recent_signals(wh: Warehouse, until_ms: int, span_ms: int, limit: int, *, market: str | None = None,
                         wallet: str | None = None) -> list[dict[str, Any]]:
    """Return the newest `limit` signals in (until − span, until], oldest first: a wallet's alerts when `wallet` is
    given, else market signals (of one market if given)."""
    if wallet is not None:
        where, params = signal_filter("wallet = {wallet:String}", None)
        params["wallet"] = wallet
    else:
        where, params = signal_filter(MARKET_SIGNAL, None, market=market)
    ms = "toUnixTimestamp64Milli(ts)"
    inner = (f"SELECT * FROM {wh.database}.signals WHERE {where} "
             f"AND {ms} > {{since:Int64}} AND {ms} <= {{until:Int64}} ORDER BY ts DESC, id DESC LIMIT {{limit:UInt32}}")
    rows = await wh.arows(f"SELECT {SIGNAL_COLUMNS} FROM ({inner}) ORDER BY ts, id",
                          {**params, "since": until_ms - span_ms, "until": until_ms, "limit": limit})
    return signal_rows(rows)


# A liquidation close in public: the liquidated account's side of a plan's fill. Its id is a keyed digest of the
# fill's, which names the wallet (`<plan>:<n>:<side>`, the plan's id `<cause>:<wallet>:<subaccount>:plan`): keyed,
# so nobody can test a guessed wallet against it.
PUBLIC_CLOSES = ("(SELECT lower(hex(SHA256(concat({key:String}, id)))) AS id, ts, market, side, size, price "
                 "FROM {db}.fills WHERE liquidation != '' AND liquidity = 'taker')")
DOSSIER_SPAN_MS = 15 * 60_000  # a liquidation's dossier looks back this much event time before its plan
DOSSIER_STEPS = 200  # and holds at most the newest this many snapshots, alerts and oracle states of it
SNAPSHOT_STEP = ("id, toUnixTimestamp64Milli(ts) AS ts, state, collateral, equity, maintenance_margin, leverage, "
                 "health")
MARKET_STEP = ("id, toUnixTimestamp64Milli(ts) AS ts, market, oracle_price, conf, mark_price, oracle_twap_5m, "
               "status, reason")
# Before a plan: event times in (plan − span, plan], less what its own fills caused at the plan's time (their
# ids, and the ids of the rows they cause, begin with the plan's).
BEFORE_PLAN = ("toUnixTimestamp64Milli(ts) > {plan_ts:Int64} - {span:Int64} AND toUnixTimestamp64Milli(ts) <= "
               "{plan_ts:Int64} AND NOT startsWith(id, {plan:String})")


async def liquidation_closes(wh: Warehouse, market: str | None, key: str, window: Window) -> list[dict[str, Any]]:
    """Return the liquidation closes (no wallet, ids digested under `key`) in a window, of a market if given, oldest
    first."""
    where, params = ("market = {market:String}", {"market": market}) if market else ("1", {})
    rows = await page_of(wh, PUBLIC_CLOSES.replace("{db}", wh.database), "id, toUnixTimestamp64Milli(ts) AS ts, "
                         "market, side, size, price", "ts", where, {**params, "key": key}, window)
    return [in_one_form(r) for r in rows]


async def liquidation_plans(wh: Warehouse, wallet: str, window: Window) -> list[dict[str, Any]]:
    """Return a wallet's liquidation plans (every sub-account) in a window, oldest first, each as published."""
    rows = await page(wh, "liquidations", "id, toUnixTimestamp64Milli(ts) AS ts, body", "ts",
                      "wallet = {wallet:String} AND kind = 'plan'", {"wallet": wallet}, window)
    return [orjson.loads(r["body"]) for r in rows]


async def before_plan(wh: Warehouse, table: str, columns: str, where: str, plan: dict[str, Any],
                      **params: Any) -> list[dict[str, Any]]:
    """Return the newest `DOSSIER_STEPS` rows a WHERE clause picks before a plan, oldest first."""
    inner = (f"SELECT * FROM {wh.database}.{table} WHERE {where} AND {BEFORE_PLAN} "
             "ORDER BY ts DESC, id DESC LIMIT {limit:UInt32}")
    rows = await wh.arows(f"SELECT {columns} FROM ({inner}) ORDER BY ts, id", {
        **params, "plan": plan["id"], "plan_ts": plan["ts"], "span": DOSSIER_SPAN_MS, "limit": DOSSIER_STEPS})
    return [in_one_form(r) for r in rows]


async def health_before(wh: Warehouse, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the liquidated account's snapshots before its plan, oldest first (the plan's own included)."""
    return await before_plan(wh, "account_snapshots", SNAPSHOT_STEP, "wallet = {wallet:String} AND "
                             "subaccount = {subaccount:UInt32}", plan, wallet=plan["wallet"],
                             subaccount=plan["subaccount"])


async def alerts_before(wh: Warehouse, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the liquidated account's alerts before its plan, oldest first (`liquidation_planned` included)."""
    rows = await before_plan(wh, "signals", SIGNAL_COLUMNS, "wallet = {wallet:String} AND "
                             "subaccount = {subaccount:UInt32}", plan, wallet=plan["wallet"],
                             subaccount=plan["subaccount"])
    return signal_rows(rows)


async def oracles_before(wh: Warehouse, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the states (oracle, mark, guard's verdict) of the plan's markets before it, oldest first."""
    markets = sorted({c["market"] for c in plan["closes"]})
    return await before_plan(wh, "market_state", MARKET_STEP, "market IN {markets:Array(String)}", plan,
                             markets=markets)


async def plan_fills(wh: Warehouse, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the liquidated account's fills that carried out a plan, in event time."""
    columns = ("id, toUnixTimestamp64Milli(ts) AS ts, market, subaccount, side, size, price, fee, liquidity, "
               "signature, liquidation")
    rows = await wh.arows(f"SELECT {columns} FROM {wh.database}.fills WHERE wallet = {{wallet:String}} "
                          "AND subaccount = {subaccount:UInt32} AND liquidation = {plan:String} ORDER BY ts, id",
                          {"wallet": plan["wallet"], "subaccount": plan["subaccount"], "plan": plan["id"]})
    return [in_one_form(r) for r in rows]


async def plan_outcome(wh: Warehouse, plan: dict[str, Any]) -> dict[str, Any] | None:
    """Return what the risk engine audited when a plan's last fill came back (its id and time; deficit, insurance draw,
    socialised loss, the fund after it), or None while the plan is in flight."""
    rows = await wh.arows(
        f"SELECT id, toUnixTimestamp64Milli(ts) AS ts, data FROM {wh.database}.audit_log "
        "WHERE action = 'liquidation_completed' AND subject = {subject:String} "
        "AND JSONExtractString(data, 'plan') = {plan:String} ORDER BY ts, id LIMIT 1",
        {"subject": f"{plan['wallet']}:{plan['subaccount']}", "plan": plan["id"]})
    return {"id": rows[0]["id"], "ts": rows[0]["ts"], **orjson.loads(rows[0]["data"])} if rows else None


async def snapshot(wh: Warehouse, snapshot_id: str) -> dict[str, Any] | None:
    """Return an account snapshot by its id, or None when none is stored."""
    rows = await wh.arows(f"SELECT {SNAPSHOT_STEP} FROM {wh.database}.account_snapshots WHERE id = {{id:String}} "
                          "LIMIT 1", {"id": snapshot_id})
    return in_one_form(rows[0]) if rows else None


async def admin_commands(wh: Warehouse, limit: int) -> list[dict[str, Any]]:
    """Return the admins' commands, newest first."""
    return await wh.arows(
        f"SELECT id, toUnixTimestamp64Milli(ts) AS ts, admin, action, market, wallet, reason, imr, mmr, "
        f"max_funding_per_hour, toUnixTimestamp64Milli(effective_at) AS effective_at "
        f"FROM {wh.database}.admin_commands FINAL "
        "ORDER BY ts DESC, id DESC LIMIT {limit:UInt32}", {"limit": limit})


async def account_audit(wh: Warehouse, wallet: str, window: Window) -> list[dict[str, Any]]:
    """Return the decisions about a wallet (its sign-ins, its sub-accounts' states, plans, tickets, an admin's
    freeze) in a window, oldest first, `data` and `causes` decoded."""
    source = (f"(SELECT *, toUnixTimestamp64Milli(processed_at) AS processed_ms FROM {wh.database}.audit_log FINAL)")
    columns = ("id, toUnixTimestamp64Milli(ts) AS ts, actor, action, subject, data, causes, params, digest, "
               "processed_ms AS processed_at")
    where = "(subject = {wallet:String} OR startsWith(subject, {prefix:String}))"
    rows = await page_of(wh, source, columns, "ts", where, {"wallet": wallet, "prefix": f"{wallet}:"}, window)
    return [{**r, "data": orjson.loads(r["data"] or "{}"), "causes": orjson.loads(r["causes"] or "[]")} for r in rows]


async def insurance_fund(wh: Warehouse, limit: int) -> list[dict[str, Any]]:
    """Return the insurance fund's newest movements (credits from liquidation fees, draws covering deficits), oldest
    first, `data` decoded."""
    rows = await wh.arows(
        "SELECT * FROM (SELECT id, toUnixTimestamp64Milli(ts) AS ts, action, data "
        f"FROM {wh.database}.audit_log FINAL WHERE subject = 'insurance-fund' "
        "ORDER BY ts DESC, id DESC LIMIT {limit:UInt32}) ORDER BY ts, id", {"limit": limit})
    return [{**r, "data": orjson.loads(r["data"])} for r in rows]

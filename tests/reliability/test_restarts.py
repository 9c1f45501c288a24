"""Restart test: `quantdesk up` with the simulator, stopped with SIGINT, SIGKILL and SIGINT and started again on
the same data dir, goes on where it stopped: no id stored twice, every trader funded once, the simulator's steps
continuing, and every account's last stored state the one a single run over the stored input gives."""

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from quantdesk.broker import free_port
from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AccountChange, Fill, OracleTick
from streams.risk.engine import RiskEngine
from streams.risk.outputs import Outputs
from streams.risk.reorder import order_key
from tests.api.test_embedded_up import alive, children, environment
from tests.conftest import ROOT
from tests.reliability.runs import TABLES, query
from tests.reliability.scenario import CRASH_RUN
from tests.waiting import eventually

pytestmark = CRASH_RUN
MODELS = {"account_changes": AccountChange, "oracle_ticks": OracleTick, "fills": Fill}
async def trades_seen(url: str, least: int) -> bool:
    """Tell whether the gateway serves at least `least` BTC trades."""
    try:
        async with httpx.AsyncClient() as http:
            trades = (await http.get(f"{url}/api/v1/markets/BTC-PERP/trades?limit=500")).json()
    except httpx.HTTPError:
        return False
    return isinstance(trades, list) and len(trades) >= least


async def cycle(tmp_path: Path, port: int, stop: signal.Signals, trades: int) -> str:
    """Run `quantdesk up` until it serves `trades` trades, stop its process group with `stop`; return its output."""
    env = {**environment(tmp_path, port), "QUANTDESK_SIMULATOR_TICK_MS": "100", "QUANTDESK_SIMULATOR_ACCOUNTS": "8"}
    env.pop("QUANTDESK_KAFKA_BOOTSTRAP")
    up = subprocess.Popen([sys.executable, "-m", "quantdesk", "up"], cwd=ROOT, env=env, start_new_session=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        await eventually(lambda: trades_seen(f"http://127.0.0.1:{port}", trades), timeout=120,
                         what=f"{trades} trades served", interval=0.5)
        spawned = children(up.pid)
        os.killpg(up.pid, stop)
        output = up.communicate(timeout=60)[0].decode()
        await eventually(lambda: gone(spawned), timeout=20, what="every process of the platform gone")
        return output
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()


async def gone(pids: list[int]) -> bool:
    """Tell whether none of `pids` is alive."""
    return not any(alive(p) for p in pids)


def duplicates(data: Path) -> dict[str, int]:
    """Return, per table, how many rows repeat an id."""
    return {t: query(data, f"SELECT count() - uniqExact(id) AS n FROM quantdesk.{t}")[0]["n"] for t in TABLES}


def stored_inputs(data: Path) -> list[Any]:
    """Return the stored input events as models, in apply order."""
    columns = {"oracle_ticks": "*, toUnixTimestamp64Milli(ts) AS ms, toUnixTimestamp64Milli(publish_time) AS pms",
               "fills": "*, toUnixTimestamp64Milli(ts) AS ms", "account_changes": "*, toUnixTimestamp64Milli(ts) AS ms"}
    events = []
    for table, model in MODELS.items():
        for row in query(data, f"SELECT {columns[table]} FROM quantdesk.{table}"):
            row["ts"], row["publish_time"] = row.pop("ms"), row.pop("pms", None)
            row["order"] = row.get("order") or None  # a fill naming no order stores '' (as `restore` reads it)
            events.append(model.model_validate({k: v for k, v in row.items() if v is not None}))
    return sorted(events, key=order_key)


def last_states(data: Path) -> dict[str, dict[str, Decimal]]:
    """Return each account's last stored figures."""
    rows = query(data, "SELECT wallet, subaccount, argMax(collateral, (ts, id)) AS collateral, "
                       "argMax(equity, (ts, id)) AS equity, argMax(state, (ts, id)) AS state "
                       "FROM quantdesk.account_snapshots GROUP BY wallet, subaccount")
    return {f"{r['wallet']}:{r['subaccount']}": {"collateral": Decimal(r["collateral"]),
                                                   "equity": Decimal(r["equity"]), "state": r["state"]} for r in rows}


def one_run(events: list[Any]) -> dict[str, dict[str, Any]]:
    """Return each account's last figures when one engine applies every event in order."""
    engine, out = RiskEngine(DEFAULT_MARKETS), Outputs()
    for event in events:
        out.extend(engine.apply(event))
    last = {f"{s.wallet}:{s.subaccount}": s for s in out.states}
    return {k: {"collateral": s.collateral, "equity": s.equity, "state": s.state} for k, s in last.items()}


async def test_up_stopped_three_ways_and_started_again_goes_on_where_it_stopped(tmp_path: Path) -> None:
    data, port, steps = tmp_path / "data", free_port(), []
    for n, stop in enumerate((signal.SIGINT, signal.SIGKILL, signal.SIGINT), 1):
        output = await cycle(tmp_path, port, stop, trades=20 * n)
        if n > 1:
            assert "Restored" in output, output[-3000:]
        assert duplicates(data) == dict.fromkeys(TABLES, 0)
        steps.append(query(data, "SELECT max(slot) AS s FROM quantdesk.oracle_ticks")[0]["s"])
        deposits = query(data, "SELECT wallet, count() AS n FROM quantdesk.account_changes "
                               "WHERE kind = 'deposit' GROUP BY wallet")
        assert deposits and all(d["n"] == 1 for d in deposits), deposits  # every trader funded once
    assert steps == sorted(steps) and len(set(steps)) == 3  # the simulator went on each time
    assert last_states(data) == one_run(stored_inputs(data))

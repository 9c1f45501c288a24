"""`make run` / `quantdesk up` as a user runs them: priced markets, and no process left behind."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from quantdesk.broker import free_port
from tests.waiting import eventually
from tests.conftest import ROOT



def children(pid: int) -> list[int]:
    """Return every descendant pid of `pid`, from /proc."""
    found, frontier = [], [pid]
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in stats.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def alive(pid: int) -> bool:
    """Return whether a process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def running_with(pids: list[int], marker: bytes) -> list[int]:
    """Return the pids among `pids` whose command line holds `marker`."""
    def holds(pid: int) -> bool:
        try:
            return marker in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
    return [p for p in pids if holds(p)]


def tansu_pids(pids: list[int]) -> list[int]:
    """Return the pids among `pids` that run the Tansu broker."""
    return running_with(pids, b"tansu")


def risk_worker_pids(pids: list[int]) -> list[int]:
    """Return the pids among `pids` that run the risk worker."""
    return running_with(pids, b"streams.worker")


def environment(tmp_path: Path, port: int) -> dict[str, str]:
    """Return an environment for a platform of its own under `tmp_path`."""
    return {**os.environ, "QUANTDESK_DATA_DIR": str(tmp_path / "data"), "QUANTDESK_API_PORT": str(port),
            "QUANTDESK_KAFKA_SESSION_TIMEOUT_S": "3", "QUANTDESK_KAFKA_BOOTSTRAP": "", "PYTHONUNBUFFERED": "1"}


async def priced_markets(url: str) -> list[dict]:
    """Return the markets when all of them carry an oracle price."""
    try:
        async with httpx.AsyncClient() as http:
            markets = (await http.get(f"{url}/api/v1/markets")).json()
    except httpx.HTTPError:
        return []
    priced = isinstance(markets, list) and markets and all(m["oracle_price"] for m in markets)
    return markets if priced else []  # not yet, or a 429: the public limit is 100 a minute


async def test_make_run_prices_markets_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, port)
    env.pop("QUANTDESK_KAFKA_BOOTSTRAP")
    make = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        markets = await eventually(lambda: priced_markets(f"http://127.0.0.1:{port}"), timeout=60,
                                   what="all markets priced by make run", interval=0.5)
        assert {m["market"] for m in markets} == {"BTC-PERP", "ETH-PERP", "SOL-PERP"}
        spawned = children(make.pid)
        assert tansu_pids(spawned), "make run should have started an embedded Tansu"
        assert risk_worker_pids(spawned), "make run should have started the risk worker"
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        output = make.communicate(timeout=60)[0].decode()
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
    assert "stopped cleanly" in output, output[-2000:]
    assert f"http://127.0.0.1:{port}/metrics" in output  # where Prometheus scrapes the platform
    assert [p for p in spawned if alive(p)] == []


async def test_replay_mode_serves_the_file_and_a_killed_parent_takes_tansu_along(tmp_path: Path) -> None:
    port = free_port()
    scenario = tmp_path / "scenario.jsonl"
    ticks = [{"id": f"r{i}:{m}", "ts": 1_767_225_600_000 + i * 1000, "market": m, "price": p, "conf": "0.5",
              "publish_time": 1_767_225_600_000 + i * 1000}
             for i in range(3) for m, p in (("BTC-PERP", "70000"), ("ETH-PERP", "3500"), ("SOL-PERP", "200"))]
    scenario.write_bytes(b"\n".join(orjson.dumps({"topic": "oracle.ticks", "value": t}) for t in ticks))
    env = environment(tmp_path, port)
    env.pop("QUANTDESK_KAFKA_BOOTSTRAP")
    up = subprocess.Popen([sys.executable, "-m", "quantdesk", "up", "--no-simulator", "--replay", str(scenario)],
                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        markets = await eventually(lambda: priced_markets(f"http://127.0.0.1:{port}"), timeout=60,
                                   what="replayed prices served", interval=0.5)
        assert {m["market"]: m["oracle_price"] for m in markets} == {
            "BTC-PERP": "70000", "ETH-PERP": "3500", "SOL-PERP": "200"}
        spawned = children(up.pid)
        assert tansu_pids(spawned) and risk_worker_pids(spawned)
        up.kill()
        up.wait(timeout=10)

        async def gone() -> bool:
            return not any(alive(p) for p in spawned)
        await eventually(gone, timeout=10, what="Tansu and the risk worker gone after their parent was killed")
    finally:
        if up.poll() is None:
            up.kill()


@pytest.mark.parametrize("argv", [["--help"], ["up", "--help"], ["replay", "--help"]])
def test_cli_answers_help(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "quantdesk", *argv], cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert b"Usage" in result.stdout


async def test_up_whose_broker_dies_exits_with_1_within_seconds(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, port)
    env.pop("QUANTDESK_KAFKA_BOOTSTRAP")
    up = subprocess.Popen([sys.executable, "-m", "quantdesk", "up"], cwd=ROOT, env=env, start_new_session=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        await eventually(lambda: priced_markets(f"http://127.0.0.1:{port}"), timeout=60, what="markets priced",
                         interval=0.5)
        spawned = children(up.pid)
        [tansu] = tansu_pids(spawned)
        os.kill(tansu, signal.SIGKILL)
        killed = time.monotonic()
        output = up.communicate(timeout=60)[0].decode()  # the platform's own deadline ends it before this one
        took = time.monotonic() - killed
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
    assert up.returncode == 1 and "the embedded broker died" in output, output[-2000:]
    assert took < 30
    await eventually(lambda: asyncio.sleep(0, not any(alive(p) for p in spawned)), timeout=20,
                     what="every process of the platform gone")

"""Whole-platform kills: `quantdesk up --replay` SIGKILLed with its whole process group at seeded moments and
started again on the same data dir ends with every stored output equal to an uninterrupted run's."""

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from quantdesk.broker import free_port
from tests.api.test_embedded_up import alive, children, environment
from tests.conftest import ROOT
from tests.reliability.runs import TABLES, stored
from tests.reliability.scenario import ACCOUNTS, CRASH_RUN, Day, same_rows
from tests.waiting import eventually

pytestmark = CRASH_RUN
KILLS = 5


async def applied(url: str) -> bool:
    """Tell whether the gateway says every published message is applied and stored."""
    try:
        async with httpx.AsyncClient() as http:
            body = (await http.get(f"{url}/ready")).json()
    except (httpx.HTTPError, ValueError):
        return False
    return body.get("input", {}).get("applied") is True


def start(tmp_path: Path, port: int, replay: Path) -> subprocess.Popen[bytes]:
    """Start `quantdesk up --no-simulator --replay` on the data dir under `tmp_path`, in a session of its own."""
    env = environment(tmp_path, port)
    env.pop("QUANTDESK_KAFKA_BOOTSTRAP")
    return subprocess.Popen([sys.executable, "-m", "quantdesk", "up", "--no-simulator", "--replay", str(replay)],
                            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def listening(url: str) -> bool:
    """Tell whether the gateway answers."""
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{url}/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def run(tmp_path: Path, replay: Path, kill_after: list[float]) -> dict[str, list[tuple]]:
    """Run the platform over the replay, SIGKILLing its process group `kill_after` seconds after each start it
    serves from; return every table, ordered by id, once a last start has applied and stored everything."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    for delay in [*kill_after, None]:
        up = start(tmp_path, port, replay)
        try:
            await eventually(lambda: listening(url), timeout=120, what="the gateway up", interval=0.2)
            spawned = children(up.pid)
            if delay is not None:
                await asyncio.sleep(delay)  # a seeded moment of the run, not a synchronisation
                os.killpg(up.pid, signal.SIGKILL)
                up.wait(timeout=30)
            else:
                await eventually(lambda: applied(url), timeout=300, what="everything applied", interval=0.5)
                os.killpg(up.pid, signal.SIGINT)
                up.wait(timeout=60)
            await eventually(lambda: asyncio.sleep(0, not any(alive(p) for p in spawned)), timeout=30,
                             what="every process gone")
        finally:
            if up.poll() is None:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()
    return stored(tmp_path / "data")


async def test_up_killed_with_its_process_group_and_started_again_ends_as_one_run(
        tmp_path: Path, uninterrupted_day: Day) -> None:
    reference = uninterrupted_day.tables
    rng = random.Random(3)
    delays = [rng.uniform(1.0, 6.0) for _ in range(KILLS)]

    killed = await run(tmp_path / "killed", uninterrupted_day.replay, delays)

    assert len(reference["liquidations"]) > 0 and len(reference["account_snapshots"]) > ACCOUNTS
    same_rows(reference, killed, TABLES)

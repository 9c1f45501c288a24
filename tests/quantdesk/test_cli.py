"""The CLI runs its commands on uvloop and finds each service's commands through entry points."""

import asyncio
import os
import subprocess
import sys

import uvloop

from quantdesk.broker import free_port
from quantdesk.cli import commands, run
from tests.conftest import ROOT


def test_a_commands_coroutine_runs_on_uvloop() -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert run(loop_type()) is uvloop.Loop


def test_a_broker_that_cannot_be_reached_is_said_plainly_not_as_a_traceback() -> None:
    env = {**os.environ, "QUANTDESK_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}  # nothing listens there
    done = subprocess.run([sys.executable, "-m", "quantdesk", "tail", "oracle.ticks"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "the broker cannot be reached" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_clickhouse_server_that_cannot_be_reached_is_said_plainly_not_as_a_traceback() -> None:
    env = {**os.environ, "QUANTDESK_CLICKHOUSE_DSN": f"http://127.0.0.1:{free_port()}",  # nothing listens there
           "QUANTDESK_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    for command, said in (("api", "did not answer within 10 s"), ("migrate", "cannot be reached")):
        done = subprocess.run([sys.executable, "-m", "quantdesk", command], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 1, (command, done.stdout + done.stderr)
        assert f"ClickHouse {said}: " in done.stdout, (command, done.stdout + done.stderr)
        assert "Traceback" not in done.stdout + done.stderr, command


def test_every_service_adds_its_commands_once() -> None:
    names = [c.callback.__name__ for c in commands().registered_commands if c.callback]
    assert sorted(names) == ["api", "bench", "export", "ingest", "migrate", "replay", "simulate", "sql", "tail", "up", "worker"]
    assert len(commands().registered_commands) == len(names), "commands are added once"

"""The CLI runs its commands on uvloop and finds each service's commands through entry points."""

import asyncio

import uvloop

from quantdesk.cli import commands, run


def test_a_commands_coroutine_runs_on_uvloop() -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert run(loop_type()) is uvloop.Loop


def test_every_service_adds_its_commands_once() -> None:
    names = [c.callback.__name__ for c in commands().registered_commands if c.callback]
    assert sorted(names) == ["api", "bench", "export", "ingest", "migrate", "replay", "simulate", "sql", "tail", "up", "worker"]
    assert len(commands().registered_commands) == len(names), "commands are added once"

"""The CLI runs its commands on uvloop."""

import asyncio

import uvloop

from quantdesk.cli import run


def test_a_commands_coroutine_runs_on_uvloop() -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert run(loop_type()) is uvloop.Loop

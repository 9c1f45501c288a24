"""The CLI runs its commands on uvloop and refuses a worker role it does not know."""

import asyncio

import uvloop
from typer.testing import CliRunner

from quantdesk.cli import app, run


def test_a_commands_coroutine_runs_on_uvloop() -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert run(loop_type()) is uvloop.Loop


def test_worker_refuses_an_unknown_role() -> None:
    result = CliRunner().invoke(app, ["worker", "--role", "gateway"])
    assert result.exit_code == 2
    assert "role must be one of all, risk, feed" in result.output

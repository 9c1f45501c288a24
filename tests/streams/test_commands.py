"""The streams commands refuse what they do not know."""

from typer.testing import CliRunner

from quantdesk.cli import commands


def test_worker_refuses_an_unknown_role() -> None:
    result = CliRunner().invoke(commands(), ["worker", "--role", "gateway"])
    assert result.exit_code == 2
    assert "role must be one of all, risk, feed" in result.output

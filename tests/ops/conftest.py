"""promtool and prometheus for the ops tests: Debian's `prometheus` package, which `make test` installs."""

import shutil

import pytest

from tests.conftest import unavailable


def installed(program: str) -> str:
    """Return a program of Debian's prometheus package (fails in CI, skips elsewhere, when it is missing)."""
    found = shutil.which(program)
    if found is None:
        unavailable(program, "not on PATH: `make promtool` installs Debian's prometheus package")
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    """Return promtool's path."""
    return installed("promtool")


@pytest.fixture(scope="session")
def prometheus() -> str:
    """Return the Prometheus server's path."""
    return installed("prometheus")

"""promtool for the ops tests: Debian's `prometheus` package, which `make test` installs."""

import shutil

import pytest

from tests.conftest import unavailable


@pytest.fixture(scope="session")
def promtool() -> str:
    """Return promtool's path (fails in CI, skips elsewhere, when it is not installed)."""
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool", "not on PATH: `make promtool` installs Debian's prometheus package")
    return found

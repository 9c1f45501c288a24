"""A real client that is not ours: the official JavaScript socket.io-client, run with node."""

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from api.embedded import running
from quantdesk.settings import Settings
from tests.conftest import unavailable

JS = Path(__file__).resolve().parent.parent / "js"


@pytest.fixture(scope="session")
def node() -> str:
    """Return the node binary, after installing the client from tests/js's lock file when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        unavailable("node and npm", "not on PATH")
    if not (JS / "node_modules" / "socket.io-client").is_dir():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, capture_output=True, text=True,
                              timeout=300)
        if done.returncode:
            unavailable("npm ci in tests/js", done.stderr[-500:])
    return node


async def test_official_js_client_subscribes_to_ticker_and_receives_events(settings: Settings, node: str) -> None:
    async with running(settings, simulator=True) as runtime:
        child = await asyncio.create_subprocess_exec(node, str(JS / "ticker.mjs"), runtime.api_url, "SOL-PERP", "3",
                                                     stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode == 0, (out, err)
    seen = json.loads(out)
    assert seen["ack"]["ok"] and seen["ack"]["room"] == "ticker:SOL-PERP"
    assert seen["snapshot"]["snapshot"] is True and seen["snapshot"]["seq"] == seen["ack"]["seq"]
    deltas = seen["deltas"]
    assert len(deltas) == 3 and {d["market"] for d in deltas} == {"SOL-PERP"}
    assert deltas[0]["seq"] == seen["snapshot"]["seq"] + 1
    assert [d["seq"] for d in deltas] == list(range(deltas[0]["seq"], deltas[0]["seq"] + 3))
    assert all(float(d["data"]["oracle_price"]) > 0 for d in deltas)

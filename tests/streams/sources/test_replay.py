"""Replay files are strict and name their bad line; a replay says when it has been applied: `/ready` counts what
the workers have not applied or stored, and `quantdesk replay --wait` returns once that is nothing."""

import asyncio
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from api.embedded import running
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from streams.sources.replay import ReplayError, read_lines, replay
from tests.conftest import ROOT
from tests.streams.agents.test_accounts_pipeline import START_MS, rows


@pytest.mark.parametrize("line, message", [
    (b"{oops", "line 1: not JSON"),
    (b'{"topic": "nope", "value": {}}', "line 1: needs"),
    (b'{"topic": "oracle.ticks", "value": 3}', "line 1: needs"),
])
def test_replay_names_the_bad_line(tmp_path: Path, line: bytes, message: str) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_bytes(line)
    with pytest.raises(ReplayError, match=message):
        list(read_lines(file))


def test_replay_keys_accounts_by_wallet_and_markets_by_market(tmp_path: Path) -> None:
    file = tmp_path / "ok.jsonl"
    file.write_bytes(b'{"topic": "accounts.changes", "value": {"wallet": "W", "subaccount": 2}}\n\n'
                     b'{"topic": "oracle.ticks", "value": {"market": "BTC-PERP"}}\n'
                     b'{"topic": "books", "value": {"venue": "quantdesk", "market": "SOL-PERP"}}\n')
    assert [(t, k) for t, k, _ in read_lines(file)] == [("accounts.changes", "W:2"), ("oracle.ticks", "BTC-PERP"),
                                                        ("books", "SOL-PERP")]


async def test_a_paced_replay_publishes_events_of_any_time_without_raising_or_waiting_on_them(
        tmp_path: Path, settings: Settings) -> None:
    # a time in text, a float or one past 2100: pacing on it raised (a TypeError) or waited for ever; the workers
    # dead-letter such events, the replay only sends them
    odd = [{"topic": "accounts.changes", "value": {"id": f"x{n}", "ts": ts, "wallet": "w", "kind": "deposit",
                                                   "amount": "1"}}
           for n, ts in enumerate(("soon", START_MS, 1.5, 10**15, None, START_MS + 50))]
    file = tmp_path / "odd.jsonl"
    file.write_bytes(b"\n".join(orjson.dumps(line) for line in odd))
    await ensure_topics(settings, settings.kafka_bootstrap or "")
    sent = await asyncio.wait_for(replay(settings, settings.kafka_bootstrap or "", file, speed=1.0), 30)
    assert sent == len(odd)


def replay_file(path: Path, deposits: int) -> Path:
    """Write a replay file of deposits to as many wallets, then a tick of each market."""
    lines = [{"topic": "accounts.changes", "value": {"id": f"d{n}", "ts": START_MS + n, "wallet": f"w{n}",
                                                     "kind": "deposit", "amount": "100"}} for n in range(deposits)]
    lines += [{"topic": "oracle.ticks", "value": {"id": f"t:{m}", "ts": START_MS + deposits, "market": m,
                                                  "price": "100", "conf": "0.1", "publish_time": START_MS}}
              for m in ("BTC-PERP", "ETH-PERP", "SOL-PERP")]
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    return path


async def test_replay_wait_returns_once_every_event_is_applied_and_stored_and_ready_says_so(
        settings: Settings, tmp_path: Path) -> None:
    file = replay_file(tmp_path / "deposits.jsonl", 300)
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        env = {"QUANTDESK_KAFKA_BOOTSTRAP": runtime.bootstrap, "QUANTDESK_TOPIC_PREFIX": settings.topic_prefix,
               "QUANTDESK_APP_ID": settings.app_id, "PATH": "/usr/bin:/bin"}
        cli = await asyncio.create_subprocess_exec(  # not subprocess.run: the sink runs on this event loop
            sys.executable, "-m", "quantdesk", "replay", str(file), "--wait", "120", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output = (await asyncio.wait_for(cli.communicate(), 180))[0]
        assert cli.returncode == 0 and b"applied and stored" in output, output.decode()

        snapshots = await rows(runtime, "SELECT uniqExact(wallet) AS n FROM {db}.account_snapshots")
        assert snapshots[0]["n"] == 300  # every deposit applied and its account stored when --wait returned
        ready = (await http.get("/ready")).json()
        assert ready == {"status": "ready", "input": {"risk": 0, "owners": 0, "markets": 0, "orders": 0, "store": 0, "applied": True}}

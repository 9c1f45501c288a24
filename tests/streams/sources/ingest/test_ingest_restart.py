"""A crash anywhere in backfill neither loses nor repeats an event: SIGKILL, and a fault after publish."""

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from streams.sources.ingest import chain
from streams.sources.ingest import cursor as cursor_module
from streams.sources.ingest.service import ingest_running
from quantdesk.settings import Settings
from tests.streams.sources.ingest.chain_kit import CHAIN_MARKETS, trade
from tests.streams.sources.ingest.conftest import pointed_at, read_topic
from tests.streams.sources.ingest.fake_solana import FakeSolana
from tests.waiting import eventually
from tests.conftest import ROOT



def expected_ids(node: FakeSolana) -> set[str]:
    """Return the ids of every fill and tick the ledger's trades carry."""
    return {f"{r.signature}:0:{i}" for r, _ in node.ledger for i in (0, 1)}


async def published(settings: Settings) -> Counter[str]:
    """Return how often each id is on the fill and tick topics."""
    events = await read_topic(settings, "trades.fills") + await read_topic(settings, "oracle.ticks")
    return Counter(e["id"] for e in events)


async def caught_up(settings: Settings, node: FakeSolana) -> dict[str, Any] | None:
    """Return the chain source's health once its cursor is the ledger's newest signature."""
    try:
        async with httpx.AsyncClient() as http:
            state = (await http.get(f"http://127.0.0.1:{settings.ingest_port}/health")).json()["sources"]["solana"]
    except httpx.HTTPError:
        return None
    done = state["cursor"] == node.ledger[-1][0].signature and state["backfill_behind"] == 0
    return state if done else None


def environment(settings: Settings, node: FakeSolana) -> dict[str, str]:
    """Return the environment of an ingest process pointed at the node and the test's topics."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "QUANTDESK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
            "QUANTDESK_TOPIC_PREFIX": settings.topic_prefix, "QUANTDESK_APP_ID": settings.app_id,
            "QUANTDESK_DATA_DIR": str(settings.data_dir), "QUANTDESK_INGEST_PORT": str(settings.ingest_port),
            "QUANTDESK_SOLANA_RPC_URLS": f'["{node.url}"]', "QUANTDESK_SOLANA_WS_URLS": f'["{node.ws_url}"]',
            "QUANTDESK_CHAIN_MARKETS": orjson.dumps(CHAIN_MARKETS).decode()}


def start_ingest(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `quantdesk ingest --source solana` as its own process."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "quantdesk", "ingest", "--source", "solana"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_sigkill_mid_backfill_then_restart_yields_every_event_exactly_once(
        settings: Settings, node: FakeSolana) -> None:
    for index in range(120):
        node.record(trade(index))
    node.hold_after = 50  # the third batch of 20 never completes before the kill
    cfg = pointed_at(settings, node)
    env, log = environment(cfg, node), cfg.data_dir / "ingest.log"
    first = start_ingest(env, log)
    try:
        async def some_published() -> int:
            count = sum((await published(cfg)).values())
            return count if count >= 80 else 0
        before_kill = await eventually(some_published, timeout=60, what="two batches published")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert before_kill < 240, "the kill must land mid-backfill"
    node.hold_after = None
    node.release.set()
    second = start_ingest(env, log)
    try:
        await eventually(lambda: caught_up(cfg, node), timeout=60, what=f"caught up after restart ({log})")
        counts = await published(cfg)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert set(counts) == expected_ids(node), "no event is missing and none is foreign"
    assert [i for i, n in counts.items() if n > 1] == [], "no event is repeated"


class Crash(Exception):
    """A fault injected between a publish and its record."""


async def test_a_fault_between_publish_and_record_repeats_nothing(settings: Settings, node: FakeSolana,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(45):
        node.record(trade(index))
    commit, calls = cursor_module.CursorStore.commit, []

    def failing_second_commit(self: Any, taken: Any, cursor: Any) -> None:
        calls.append(cursor)
        if len(calls) == 2:
            raise Crash("killed after publishing, before recording")
        commit(self, taken, cursor)

    monkeypatch.setattr(cursor_module.CursorStore, "commit", failing_second_commit)
    monkeypatch.setattr(chain, "PAGE", 7)  # listing pages back from the newest to the cursor
    cfg = pointed_at(settings, node)
    async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("solana",)):
        await eventually(lambda: caught_up(cfg, node), what="caught up after the fault")
        counts = await published(cfg)
    assert len(calls) >= 4, "the batch after the fault was taken again, then the rest"
    assert set(counts) == expected_ids(node)
    assert [i for i, n in counts.items() if n > 1] == []

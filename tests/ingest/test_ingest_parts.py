"""The ingest service's parts alone: cursor store, health app, metrics text, unsigned orders."""

import base64
from pathlib import Path
from typing import Any

import httpx
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from programs.pda import DEFAULT_PROGRAM_ID
from quantdesk.ingest.cursor import CursorStore
from quantdesk.ingest.metrics import Metrics
from quantdesk.ingest.orders import build_unsigned
from quantdesk.ingest.rpc import RpcPool
from quantdesk.ingest.service import Supervised, health_app
from quantdesk.settings import Settings
from tests.ingest.chain_kit import MARKET
from tests.ingest.conftest import metric
from tests.ingest.fake_solana import FakeSolana


def test_the_cursor_store_survives_reopening_and_forgets_what_the_cursor_passed(tmp_path: Path) -> None:
    path = tmp_path / "cursor.sqlite"
    store = CursorStore(path, "program")
    store.begin({"t.trades.fills": {0: 5, 1: 7}})
    store.commit([("a", 10), ("b", 11), ("live", 30)], ("b", 11))
    store.begin({"t.dlq": {2: 1}})
    store.close()
    again = CursorStore(path, "program")
    assert again.cursor() == ("b", 11)
    assert again.pending() == {"t.dlq": {2: 1}}, "an unrecorded publish is remembered"
    assert (again.seen("a"), again.seen("b"), again.seen("live")) == (False, True, True)
    assert CursorStore(path, "another program").cursor() is None


class Broken:
    """A source that fails at once."""

    async def run(self) -> None:
        raise RuntimeError("boom")

    def health(self) -> dict[str, Any]:
        return {"stage": "broken"}


async def test_health_is_503_while_a_source_fails_and_metrics_are_prometheus_text() -> None:
    metrics, failing = Metrics(), Supervised("chain", Broken(), error="RuntimeError('boom')")
    metrics.inc("ingest_published_total", 3, source="hermes", topic="oracle.ticks")
    transport = httpx.ASGITransport(app=health_app(metrics, [failing]))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        health, text = await http.get("/health"), await http.get("/metrics")
    assert health.status_code == 503
    assert health.json() == {"status": "failing",
                             "sources": {"chain": {"stage": "broken", "error": "RuntimeError('boom')"}}}
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE ingest_published_total counter" in text.text
    assert metric(text.text, "ingest_published_total", source="hermes", topic="oracle.ticks") == 3


async def test_an_unsigned_open_position_carries_the_node_s_blockhash(settings: Settings, node: FakeSolana) -> None:
    pool = RpcPool(settings.model_copy(update={"solana_rpc_urls": (node.url,)}), Metrics())
    user = Keypair().pubkey()
    try:
        order = await build_unsigned(pool, DEFAULT_PROGRAM_ID, "open_position", user,
                                     user_account=Pubkey.new_unique(), market=MARKET, position_index=0, side="Short",
                                     size=1_000_000, leverage=3, entry_price=50_000_000_000)
    finally:
        await pool.close()
    tx = VersionedTransaction.from_bytes(base64.b64decode(order.transaction))
    assert str(tx.message.recent_blockhash) == order.blockhash == "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N"
    assert order.last_valid_block_height == node.slot + 150
    assert tx.message.account_keys[0] == user and DEFAULT_PROGRAM_ID in tx.message.account_keys
    assert all(bytes(s) == bytes(64) for s in tx.signatures), "the wallet signs, not the server"

"""`quantdesk up --source pyth --source solana` against endpoints given in settings."""

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from quantdesk.broker import free_port
from tests.streams.sources.ingest.chain_kit import CHAIN_MARKETS, ETH_MARKET, trade
from tests.streams.sources.ingest.fake_hermes import FakeHermes
from tests.streams.sources.ingest.fake_solana import FakeSolana
from tests.waiting import eventually
from tests.conftest import ROOT



async def priced(url: str, markets: set[str]) -> dict[str, Any]:
    """Return oracle prices by market once every market in `markets` has one."""
    try:
        async with httpx.AsyncClient() as http:
            listed = (await http.get(f"{url}/api/v1/markets")).json()
    except httpx.HTTPError:
        return {}
    prices = {m["market"]: m["oracle_price"] for m in listed if m["oracle_price"]}
    return prices if markets <= set(prices) else {}


async def test_up_with_pyth_and_solana_sources_prices_markets_from_hermes_and_the_chain(
        tmp_path: Path, node: FakeSolana, hermes: FakeHermes) -> None:
    node.record(trade(0, price=3_000_000_000, market=ETH_MARKET))  # the program's ETH oracle update, 3000 USD
    api_port, ingest_port = free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "QUANTDESK_DATA_DIR": str(tmp_path / "data"),
           "QUANTDESK_API_PORT": str(api_port), "QUANTDESK_INGEST_PORT": str(ingest_port),
           "QUANTDESK_KAFKA_SESSION_TIMEOUT_S": "3", "QUANTDESK_HERMES_URL": hermes.ws_url,
           "QUANTDESK_SOLANA_RPC_URLS": f'["{node.url}"]', "QUANTDESK_SOLANA_WS_URLS": f'["{node.ws_url}"]',
           "QUANTDESK_CHAIN_MARKETS": orjson.dumps(CHAIN_MARKETS).decode()}
    env.pop("QUANTDESK_KAFKA_BOOTSTRAP", None)
    up = subprocess.Popen([sys.executable, "-m", "quantdesk", "up", "--source", "pyth", "--source", "solana"],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        prices = await eventually(lambda: priced(f"http://127.0.0.1:{api_port}", {"BTC-PERP", "ETH-PERP"}),
                                  timeout=90, what="BTC priced from Hermes and ETH from the chain")
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"http://127.0.0.1:{ingest_port}/health")).json()
        up.send_signal(signal.SIGINT)
        output = up.communicate(timeout=60)[0].decode()
    finally:
        if up.poll() is None:
            up.kill()
    assert Decimal(prices["BTC-PERP"]) == Decimal("29206.79499999") and Decimal(prices["ETH-PERP"]) == 3000
    assert "SOL-PERP" not in prices, "no simulator runs beside real sources"
    assert health["status"] == "ok" and set(health["sources"]) == {"hermes", "solana"}
    assert health["sources"]["solana"]["cursor"] == node.ledger[0][0].signature
    assert "stopped cleanly" in output, output[-2000:]

"""A ClickHouse server gone silent or away: every answer that reads it is a 503 saying so within
`clickhouse_timeout_s` (never a 500, never a hang), the markets list goes on with the day summaries it last read,
and the same requests are served again once it answers."""

import asyncio
import signal
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from solders.keypair import Keypair

from api.auth import COOKIE
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED, served
from tests.api.scraped import scrape
from tests.api.signing import sign_in
from tests.quantdesk.clickhouse_http import own_clickhouse
from tests.waiting import eventually

BTC = "BTC-PERP"
MARKETS = "/api/v1/markets"
READS = (f"/api/v1/markets/{BTC}/trades", f"/api/v1/markets/{BTC}/funding",
         f"/api/v1/markets/{BTC}/candles?resolution=1m")
MESSAGE = "ClickHouse did not answer within 1 s; retry once it answers"


async def test_a_silent_or_gone_clickhouse_makes_its_reads_503_side_by_side_and_they_come_back(
        settings: Settings, tmp_path: Path) -> None:
    admin = Keypair()
    with own_clickhouse(tmp_path / "clickhouse") as (server, dsn):
        settings = settings.model_copy(update={"clickhouse_dsn": dsn, "clickhouse_timeout_s": 1,
                                               "admin_wallets": (str(admin.pubkey()),)})
        Warehouse.from_settings(settings).migrate()
        async with AsyncExitStack() as stack:
            base = await stack.enter_async_context(served(settings, settings.kafka_bootstrap, RELAXED))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
            boss = {COOKIE: await sign_in(http, admin)}
            http.cookies.clear()

            async def read_all() -> list[httpx.Response]:
                """Send every read and the admin's query at once."""
                return await asyncio.gather(*(http.get(path) for path in READS), http.post(
                    "/api/v1/admin/sql", json={"query": "SELECT count() AS n FROM {db}.fills"}, cookies=boss))

            assert [r.status_code for r in await read_all()] == [200, 200, 200, 200]
            assert (await http.get(MARKETS)).status_code == 200  # its 24-hour summaries read once

            server.send_signal(signal.SIGSTOP)  # silent: connections taken, nothing answered
            for answer in await read_all():
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "5"
                error = answer.json()["error"]
                assert error == {"code": "unavailable", "message": MESSAGE}  # where the server is stays inside
            ready = await http.get("/ready")
            assert ready.status_code == 503 and ready.json()["reason"].startswith("ClickHouse cannot be reached")
            assert (await scrape(http)).value("gateway_unreachable_total", part="clickhouse") == 4
            for _ in range(2):  # the markets list goes on with the summaries last read (the first try counted)
                markets = await http.get(MARKETS)
                assert markets.status_code == 200 and [m["market"] for m in markets.json()] == [
                    BTC, "ETH-PERP", "SOL-PERP"], markets.text
            assert (await scrape(http)).value("gateway_unreachable_total", part="clickhouse") == 5

            server.send_signal(signal.SIGCONT)

            async def served_again() -> bool:
                return [r.status_code for r in await read_all()] == [200, 200, 200, 200]
            await eventually(served_again, timeout=30, what="the reads served once ClickHouse answers", interval=0.5)

            server.kill()  # gone: connections refused
            gone = await http.get(READS[0])
            assert gone.status_code == 503 and gone.json()["error"]["message"] == MESSAGE, gone.text

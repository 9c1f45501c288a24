"""REST history from ClickHouse: trades, candles of all six resolutions and funding, paged alike."""

from decimal import Decimal
from typing import AsyncIterator

import httpx
import pytest

from api.bars import RESOLUTIONS
from api.pagination import encode_cursor
from quantdesk.messages import OracleTick
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse, migration_files, statements
from tests.api.conftest import RELAXED, client, gateway
from tests.api.history import T0, btc_ticks, fills, market_states, seed_history, store


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Return a client of a gateway whose warehouse holds a little history."""
    warehouse = Warehouse.from_settings(settings)
    warehouse.migrate()
    seed_history(warehouse)
    warehouse.close()
    async with gateway(settings, RELAXED) as app, client(app) as http:
        yield http


async def pages(http: httpx.AsyncClient, url: str, params: dict) -> list[list[dict]]:
    """Follow X-Next-Cursor from a first page to the last; return every page."""
    found = []
    while True:
        response = await http.get(url, params=params)
        assert response.status_code == 200, response.text
        found.append(response.json())
        if "X-Next-Cursor" not in response.headers:
            return found
        assert response.headers["Link"].endswith('rel="next"') and "cursor=" in response.headers["Link"]
        params = {**params, "cursor": response.headers["X-Next-Cursor"]}


async def test_trades_page_forward_through_the_taker_tape_without_wallets(http: httpx.AsyncClient) -> None:
    found = await pages(http, "/api/v1/markets/BTC-PERP/trades", {"start": T0, "limit": 3})
    assert [len(p) for p in found] == [3, 3, 1]
    tape = [t for p in found for t in p]
    assert [t["id"] for t in tape] == sorted(f"trade-{i:02d}:taker" for i in range(7))
    assert [t["ts"] for t in tape] == sorted(t["ts"] for t in tape)
    assert all(set(t) == {"id", "ts", "market", "side", "size", "price"} for t in tape)


async def test_trades_without_start_are_the_newest(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/markets/BTC-PERP/trades", params={"limit": 2})
    assert [t["id"] for t in response.json()] == ["trade-05:taker", "trade-06:taker"]
    assert "X-Next-Cursor" not in response.headers


async def test_candles_of_all_six_resolutions(http: httpx.AsyncClient) -> None:
    expected = {"1m": 5, "5m": 1, "15m": 1, "1h": 1, "4h": 1, "1d": 1}
    for resolution, count in expected.items():
        response = await http.get("/api/v1/markets/BTC-PERP/candles", params={"resolution": resolution, "start": T0})
        body = response.json()
        assert len(body) == count, (resolution, body)
        assert Decimal(body[0]["open"]) == 97000 and Decimal(body[-1]["close"]) == 97009
        assert sum(c["trades"] for c in body) == 7
        assert sum(Decimal(c["volume"]) for c in body) == sum(Decimal("0.5") * (97000 + i) for i in range(7))


async def test_a_tick_the_guard_refused_is_no_candle_s_price(http: httpx.AsyncClient) -> None:
    # the tick at 291000 (3× the market, status trading) at T0 + 45 s was refused: the first minute spans 97000-97001
    for resolution in RESOLUTIONS:
        body = (await http.get("/api/v1/markets/BTC-PERP/candles", params={"resolution": resolution, "start": T0})).json()
        assert Decimal(body[0]["high"]) == (97001 if resolution == "1m" else 97009), resolution
        assert max(Decimal(c["high"]) for c in body) == 97009 and min(Decimal(c["low"]) for c in body) == 97000


def test_candles_stored_before_0005_are_rebuilt_from_accepted_ticks(settings: Settings) -> None:
    warehouse = Warehouse.from_settings(settings)
    warehouse.command(f"CREATE DATABASE IF NOT EXISTS {warehouse.database}")
    for path in migration_files()[:4]:
        for sql in statements(path.read_text(), warehouse.database):
            warehouse.command(sql)
    ticks = btc_ticks()
    for table, events in (("oracle_ticks", ticks), ("market_state", market_states(ticks)), ("fills", fills(7))):
        store(warehouse, table, events)  # the states without `tick_price`: the column is not there yet
    sql = f"SELECT maxMerge(high) AS high, sum(trades) AS trades FROM {warehouse.database}.candles WHERE resolution = 60"
    assert warehouse.rows(sql) == [{"high": 291000, "trades": 7}]  # raw ticks made the candles
    assert "0005_candles_from_accepted_ticks" in warehouse.migrate()
    assert warehouse.rows(sql) == [{"high": 97009, "trades": 7}]
    store(warehouse, "market_state", market_states([*ticks, OracleTick(
        id="tick-later", ts=T0 + 301_000, market="BTC-PERP", price=Decimal(97020), conf=Decimal(1),
        publish_time=T0 + 301_000)])[-1:])
    assert warehouse.rows(sql) == [{"high": 97020, "trades": 7}]  # a new accepted tick reaches them by the view
    warehouse.close()


async def test_candles_page_by_cursor(http: httpx.AsyncClient) -> None:
    found = await pages(http, "/api/v1/markets/BTC-PERP/candles", {"resolution": "1m", "start": T0, "limit": 2})
    assert [[c["time"] for c in p] for p in found] == [[T0, T0 + 60_000], [T0 + 120_000, T0 + 180_000], [T0 + 240_000]]


async def test_funding_history_with_apr(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v1/markets/BTC-PERP/funding", params={"start": T0})).json()
    assert [f["period_end"] for f in body] == [T0 + 3_600_000 * h for h in (1, 2, 3)]
    assert Decimal(body[0]["apr"]) == Decimal("0.0000042") * 24 * 365
    assert Decimal(body[2]["cumulative_index"]) == Decimal("1.2")


@pytest.mark.parametrize("url, params, status, code", [
    ("/api/v1/markets/DOGE-PERP/trades", {}, 404, "not_found"),
    ("/api/v1/markets/BTC-PERP/funding", {"cursor": "%%%"}, 422, "invalid_request"),
    ("/api/v1/markets/BTC-PERP/trades", {"limit": 1501}, 422, "invalid_request"),
    ("/api/v1/markets/BTC-PERP/candles", {"resolution": "2m"}, 422, "invalid_request"),
    ("/api/v1/markets/BTC-PERP/candles", {"start": T0, "end": T0}, 422, "invalid_request"),
])
async def test_refusals_share_one_error_shape(http: httpx.AsyncClient, url: str, params: dict, status: int,
                                             code: str) -> None:
    response = await http.get(url, params=params)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert set(response.json()["error"]) == {"code", "message"}


async def test_a_cursor_continues_after_its_row(http: httpx.AsyncClient) -> None:
    after_third = encode_cursor(T0 + 2000, "trade-02:taker")
    body = (await http.get("/api/v1/markets/BTC-PERP/trades", params={"cursor": after_third, "limit": 1})).json()
    assert [t["id"] for t in body] == ["trade-03:taker"]

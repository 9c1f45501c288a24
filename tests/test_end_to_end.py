"""End to end through the real parts: simulator → Tansu → Faust worker → chDB → REST and Socket.IO."""

from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import socketio
from solders.keypair import Keypair

from api.auth import COOKIE
from api.embedded import running
from quantdesk.kafka.publisher import Publisher
from streams.sources.replay import replay
from quantdesk.settings import Settings
from streams.domain.orders import Orders, apply_key
from streams.domain.resting import RestingBooks
from quantdesk.messages import Fill, OrderEvent
from streams.sources.simulator import Simulator
from tests.api.listening import Listener
from tests.api.signing import sign_in
from tests.conftest import send_raw
from tests.waiting import eventually, while_advancing

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def simulated(settings: Settings, steps: int) -> list[tuple[str, str, dict]]:
    """Return `steps` steps of the seeded simulator, starting at a fixed time."""
    sim = Simulator(settings, START_MS, seed=11)
    return [e for _ in range(steps) for e in sim.step()]


def taker_notional(events: list[tuple[str, str, dict]], market: str) -> Decimal:
    """Return the quote volume of the taker fills of a market."""
    fills = [e for t, _, e in events if t == "trades.fills" and e["market"] == market and e["liquidity"] == "taker"]
    return sum((Decimal(f["size"]) * Decimal(f["price"]) for f in fills), Decimal(0))


async def count(runtime, table: str) -> int:
    """Return how many rows a table of the test's database holds."""
    rows = await runtime.warehouse.arows(f"SELECT count() AS n FROM {runtime.warehouse.database}.{table}")
    return rows[0]["n"]


async def test_simulated_markets_reach_rest_candles(settings: Settings) -> None:
    events = simulated(settings, 300)
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(events)

        async def candles() -> list[dict]:
            response = await http.get("/api/v1/markets/BTC-PERP/candles",
                                      params={"resolution": "1m", "start": START_MS, "end": START_MS + 3_600_000})
            body = response.json()
            volume = sum(Decimal(c["volume"]) for c in body)
            last = body and Decimal(body[-1]["close"]) == Decimal(ticks[-1]["price"])  # the last tick folded in
            every = volume == taker_notional(events, "BTC-PERP") and last
            return body if every else []

        ticks = [e for t, _, e in events if t == "oracle.ticks" and e["market"] == "BTC-PERP"]
        body = await eventually(candles, what="1m candles carrying every BTC tick and taker fill")
        assert len(body) == 3  # ticks at +0.4 s … +120 s: two full minutes and the first tick of a third
        assert Decimal(body[0]["open"]) == Decimal(ticks[0]["price"])
        assert Decimal(body[-1]["close"]) == Decimal(ticks[-1]["price"])
        assert Decimal(body[0]["high"]) == max(Decimal(t["price"]) for t in ticks if t["ts"] < START_MS + 60_000)
        markets = (await http.get("/api/v1/markets")).json()
        assert [m["market"] for m in markets] == list(settings.market_names)
        assert all(m["status"] == "healthy" and Decimal(m["oracle_price"]) > 0 for m in markets)


async def test_socketio_client_gets_ticker_of_its_market_only(settings: Settings) -> None:
    events = simulated(settings, 40)
    async with running(settings, simulator=False) as runtime:
        client = socketio.AsyncClient()
        received: list[dict] = []
        errors: list[dict] = []
        client.on("ticker", lambda data: received.append(data))
        client.on("error", lambda data: errors.append(data))
        await client.connect(runtime.api_url, transports=["websocket"], wait_timeout=30)
        try:
            assert (await client.call("subscribe", {"channel": "ticker", "market": "ETH-PERP"}))["ok"]
            await client.emit("subscribe", {"channel": "ticker", "market": "DOGE-PERP"})
            await client.emit("subscribe", {"channel": "liquidations", "market": "ETH-PERP"})
            async with Publisher(settings, runtime.bootstrap) as publisher:
                await publisher.send(events)

            async def got_all() -> bool:
                return len(received) >= 40 and len(errors) == 2
            await eventually(got_all, what="40 ETH tickers and two errors")
        finally:
            await client.disconnect()
        assert {r["market"] for r in received} == {"ETH-PERP"}
        assert "DOGE-PERP" in errors[0]["message"] and "liquidations" in errors[1]["message"]


async def test_malformed_messages_go_to_dlq_and_the_pipeline_goes_on(settings: Settings) -> None:
    ticks = [e for t, _, e in simulated(settings, 3) if t == "oracle.ticks"]
    bad_tick = {**ticks[0], "id": "bad-1", "price": "not-a-number"}
    async with running(settings, simulator=False) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await send_raw(publisher, "oracle.ticks", b"{this is not json", key="BTC-PERP")
            await publisher.send([("oracle.ticks", "BTC-PERP", bad_tick)])
            await publisher.send([("oracle.ticks", "DOGE-PERP", {**ticks[0], "id": "bad-2", "market": "DOGE-PERP"})])
            await publisher.send([("oracle.ticks", e["market"], e) for e in ticks[-3:]])
        db = runtime.warehouse.database

        async def letters() -> list[dict]:
            rows = await runtime.warehouse.arows(f"SELECT topic, reason, payload FROM {db}.dead_letters ORDER BY reason")
            return rows if len(rows) == 3 else []
        rows = await eventually(letters, what="three dead letters")
        reasons = " | ".join(r["reason"] for r in rows)
        assert "not JSON" in reasons and "invalid price" in reasons and "unknown market 'DOGE-PERP'" in reasons
        assert any(r["payload"] == "{this is not json" for r in rows)

        async def later_ticks_stored() -> bool:
            rows = await runtime.warehouse.arows(f"SELECT count() AS n FROM {db}.market_state WHERE status = 'healthy'")
            return rows[0]["n"] >= 3
        await eventually(later_ticks_stored, what="valid ticks after the bad ones processed")


async def test_replayed_batch_is_not_duplicated(settings: Settings, tmp_path: Path) -> None:
    events = simulated(settings, 100)
    file = tmp_path / "scenario.jsonl"
    file.write_bytes(b"\n".join(orjson.dumps({"topic": t, "value": e}) for t, _, e in events))
    expected = {t: sum(1 for topic, _, _ in events if topic == t) for t in ("oracle.ticks", "trades.fills")}
    async with running(settings, simulator=False) as runtime:
        for _ in range(2):
            await replay(settings, runtime.bootstrap, file)

        async def stored() -> bool:
            return await count(runtime, "oracle_ticks") == expected["oracle.ticks"] and \
                await count(runtime, "fills") == expected["trades.fills"]
        await eventually(stored, what="every tick and fill stored")
        marker = {"id": "marker", "ts": START_MS + 999_000, "market": "SOL-PERP", "price": "150", "conf": "0.01",
                  "publish_time": START_MS + 999_000}
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send([("oracle.ticks", "SOL-PERP", marker)])

        async def marker_stored() -> bool:
            return await count(runtime, "oracle_ticks") == expected["oracle.ticks"] + 1
        await eventually(marker_stored, what="the marker tick after both replays")
        assert await count(runtime, "fills") == expected["trades.fills"]
        books = [e["venue"] for t, _, e in events if t == "books"]  # not stored, and nothing chokes on them
        assert set(books) == {"sim-venue"} and len(books) == 300  # ours comes from the orders worker
        assert await count(runtime, "dead_letters") == 0
        trades = await runtime.warehouse.arows(
            f"SELECT sum(trades) AS n FROM {runtime.warehouse.database}.candles WHERE resolution = 86400")
        assert trades[0]["n"] == expected["trades.fills"] // 2


async def test_a_backlog_read_partition_by_partition_makes_no_market_stale(settings: Settings) -> None:
    events = simulated(settings, 1500)  # 10 minutes of ticks: one partition's 500-tick message spans 200 s
    last = {e["market"]: e["id"] for t, _, e in events if t == "oracle.ticks"}
    async with running(settings, simulator=False) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(events)
        db = runtime.warehouse.database

        async def last_states_stored() -> bool:
            sql = f"SELECT count() AS n FROM {db}.market_state WHERE id IN {{ids:Array(String)}}"
            rows = await runtime.warehouse.arows(sql, {"ids": [f"{i}:state" for i in last.values()]})
            return rows[0]["n"] == len(last)
        async def states_stored() -> int:
            return (await runtime.warehouse.arows(f"SELECT count() AS n FROM {db}.market_state"))[0]["n"]
        await while_advancing(last_states_stored, states_stored, what="each market's state after its last tick")
        stale = await runtime.warehouse.arows(f"SELECT market, ts FROM {db}.market_state WHERE reason LIKE 'stale%'")
        assert not stale, stale[:3]  # every market ticked every 400 ms: none was 60 s behind the newest event


def order_lifecycle(wallet: str) -> list[tuple[str, str, dict]]:
    """Return a trader's day of orders on the input topics: a limit order filled in two parts, one cancelled after
    a fill, one still open, with a deposit and the market's price; and a fill of an order never placed."""
    key, t = f"{wallet}:0", START_MS

    def order(n: str, ts: int, kind: str = "placed", size: str = "10", price: str = "100") -> tuple[str, str, dict]:
        body = {"side": "buy", "size": size, "price": price, "order_type": "Limit"} if kind == "placed" else {}
        return "orders.events", key, {"id": f"{n}:{kind}", "ts": ts, "market": "SOL-PERP", "wallet": wallet,
                                      "kind": kind, "order": n, **body}

    def fill(n: str, ts: int, size: str, price: str) -> tuple[str, str, dict]:
        return "trades.fills", key, {"id": f"{n}:fill:{ts}", "ts": ts, "market": "SOL-PERP", "wallet": wallet,
                                     "side": "buy", "size": size, "price": price, "fee": "0", "liquidity": "maker",
                                     "order": n}
    return [("accounts.changes", key, {"id": "deposit", "ts": t, "wallet": wallet, "kind": "deposit",
                                       "amount": "100000"}),
            ("oracle.ticks", "SOL-PERP", {"id": "tick", "ts": t, "market": "SOL-PERP", "price": "100", "conf": "0.01",
                                          "publish_time": t}),
            order("full", t + 1), fill("full", t + 2, "4", "99.5"), fill("full", t + 3, "6", "100"),
            order("gone", t + 4, size="5"), fill("gone", t + 5, "1", "99"), order("gone", t + 6, "cancelled"),
            order("rests", t + 7, size="2", price="95"), fill("ghost", t + 8, "1", "100")]


async def test_an_order_lifecycle_through_kafka_reaches_rest_and_the_orders_channel(settings: Settings) -> None:
    trader = Keypair()
    wallet = str(trader.pubkey())
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        token = await sign_in(http, trader)
        http.cookies.clear()
        own = {"Cookie": f"{COOKIE}={token}"}
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(order_lifecycle(wallet))

        async def lifecycle() -> list[dict]:
            body = (await http.get(f"/api/v1/accounts/{wallet}/orders", headers=own)).json()
            return body if [o["version"] for o in body] == [3, 3, 1] else []
        orders = await eventually(lifecycle, what="three orders, each at its last version")
        assert [(o["id"], o["status"], Decimal(o["filled_size"]), o["average_price"]) for o in orders] == [
            ("full", "filled", 10, "99.8"), ("gone", "cancelled", 1, "99"), ("rests", "open", 0, None)]  # 998 / 10
        resting = (await http.get(f"/api/v1/accounts/{wallet}/orders", params={"status": "open"}, headers=own)).json()
        assert [o["id"] for o in resting] == ["rests"]
        one = (await http.get("/api/v1/orders/gone", headers=own)).json()
        assert (one["status"], Decimal(one["remaining_size"]), one["updated_ts"]) == ("cancelled", 4, START_MS + 6)

        listener = await Listener().connect(runtime.api_url, token)
        try:
            assert (await listener.subscribe(channel="orders"))["ok"]
        finally:
            await listener.close()
        assert [(o["order"], o["status"]) for o in listener.events["orders"][0]["data"]] == [("rests", "open")]
        async def ghosts() -> list[str]:  # the sink stores it in its own time
            return [g["reason"] for g in await runtime.warehouse.arows(
                f"SELECT reason FROM {runtime.warehouse.database}.dead_letters WHERE topic = 'trades.fills'")]
        assert await eventually(ghosts, what="the ghost fill's dead letter") == [
            "orders: a fill of order ghost, which was not placed"]


def our_books(events: list[tuple[str, str, dict]]) -> RestingBooks:
    """Return our venue's books as the orders' fold of the events leaves them."""
    orders, books = Orders(), RestingBooks()
    steps = [OrderEvent.model_validate(e) if t == "orders.events" else Fill.model_validate(e)
             for t, _, e in events if t in ("orders.events", "trades.fills")]
    for step in sorted(steps, key=apply_key):
        if (outcome := orders.apply(step)) is not None and outcome.state is not None:
            books.take(outcome.state)
    return books


async def test_our_venues_book_from_the_simulators_orders_is_the_same_over_rest_and_socket_at_the_same_seq(
        settings: Settings) -> None:
    steps = 150
    sim = Simulator(settings, START_MS, seed=11)
    first, rest = sim.step(), [e for _ in range(steps - 1) for e in sim.step()]
    expected = our_books(first + rest).books["SOL-PERP"]
    async with running(settings, simulator=False) as runtime, httpx.AsyncClient(base_url=runtime.api_url) as http:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(first)

            async def ours() -> bool:
                return "quantdesk" in (await http.get("/api/v1/markets/SOL-PERP/bbo")).text
            await eventually(ours, what="our venue's book built by the orders worker")
            listener = await Listener().connect(runtime.api_url)
            try:
                assert (await listener.subscribe(channel="orderbook", market="SOL-PERP", venue="quantdesk"))["ok"]
                await publisher.send(rest)

                async def settled() -> dict | None:
                    got = [e for e in listener.events["orderbook"] if e["venue"] == "quantdesk"]
                    return got[-1] if got and got[-1]["data"]["seq"] == expected.seq else None
                pushed = await eventually(settled, timeout=60, what=f"the socket's book at seq {expected.seq}")
                view = (await http.get("/api/v1/markets/SOL-PERP/orderbook", params={"venue": "quantdesk"})).json()
                both = (await http.get("/api/v1/markets/SOL-PERP/orderbook")).json()
            finally:
                await listener.close()
    assert view["seq"] == expected.seq and pushed["data"] == view  # one book at one seq, over REST and the socket
    assert expected.seq > 500 and view["healthy"] and not view["crossed"]
    assert [(Decimal(lv["price"]), Decimal(lv["size"]), lv["orders"]) for lv in view["bids"]] == list(
        expected.bids.top(view["depth"]))
    assert [(Decimal(lv["price"]), Decimal(lv["size"]), lv["orders"]) for lv in view["asks"]] == list(
        expected.asks.top(view["depth"]))
    room = [e for e in listener.events["orderbook"] if e["venue"] == "quantdesk"]
    assert room[0]["snapshot"] and [e["seq"] for e in room] == list(range(room[0]["seq"], room[0]["seq"] + len(room)))
    books = [e["data"]["seq"] for e in room]  # the snapshot, then every update of the book in turn
    assert books == list(range(books[0], expected.seq + 1))
    assert {v["venue"] for v in both["venues"]} == {"quantdesk", "sim-venue"} and both["healthy"]
    assert {lv["venue"] for lv in both["bids"]} == {"quantdesk", "sim-venue"}

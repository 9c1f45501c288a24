"""Accounts end to end: input → accounts agent → simulated venue → ClickHouse and REST; replay determinism."""

import uuid
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from solders.keypair import Keypair

from api.auth import COOKIE
from quantdesk.broker import free_port
from quantdesk.markets import DEFAULT_MARKETS, Market
from api.embedded import Runtime, running
from quantdesk.kafka.lag import applied_within
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from streams.risk.liquidator import LIQUIDATOR
from streams.sources.simulator import Simulator
from quantdesk.wire import decode
from tests.api.signing import sign_in
from tests.waiting import eventually

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SNAPSHOT_COLUMNS = ("id, toUnixTimestamp64Milli(ts) AS ts, wallet, subaccount, state, collateral, equity, "
                    "maintenance_margin, initial_margin, free_collateral, leverage, health, positions")


def crash(wallet: str, market: str, t0: int) -> list[tuple[str, str, dict]]:
    """Return deposit 1000, long 80 at 100 (fee 4), then the market at 95, 93, 92 and back at 100."""
    key = f"{wallet}:0"

    def tick(ts: int, price: str) -> tuple[str, str, dict]:
        return "oracle.ticks", market, {"id": f"crash:{market}:{ts}", "ts": ts, "market": market, "price": price,
                                        "conf": "0.01", "publish_time": ts, "status": "trading"}
    return [
        ("accounts.changes", key, {"id": f"crash:{wallet}:deposit", "ts": t0, "wallet": wallet, "subaccount": 0,
                                   "kind": "deposit", "amount": "1000"}),
        tick(t0 + 1000, "100"),
        ("trades.fills", key, {"id": f"crash:{wallet}:buy", "ts": t0 + 2000, "market": market, "wallet": wallet,
                               "subaccount": 0, "side": "buy", "size": "80", "price": "100", "fee": "4",
                               "liquidity": "taker"}),
        tick(t0 + 3000, "95"), tick(t0 + 4000, "93"), tick(t0 + 5000, "92"), tick(t0 + 6000, "100"),
    ]


async def rows(runtime: Runtime, sql: str, **parameters: Any) -> list[dict]:
    """Return the rows of a query on the test's database (`{db}` names it)."""
    return await runtime.warehouse.arows(sql.replace("{db}", runtime.warehouse.database), parameters)


async def test_a_long_is_liquidated_by_the_venue_and_every_step_is_stored(settings: Settings) -> None:
    keypair = Keypair()
    wallet = str(keypair.pubkey())
    async with running(settings, simulator=False) as runtime:
        async with Publisher(settings, runtime.bootstrap) as publisher:
            await publisher.send(crash(wallet, "SOL-PERP", START_MS))

        async def snapshots() -> list[dict]:
            # within one ts, the plan's fill comes after the tick that planned it, and its id extends the plan's
            found = await rows(runtime, f"SELECT {SNAPSHOT_COLUMNS} FROM {{db}}.account_snapshots "
                               "WHERE wallet = {w:String} ORDER BY ts, length(id)", w=wallet)
            return found if len(found) == 7 else []
        steps = await eventually(snapshots, what="seven snapshots of the crashed account")
        # deposit, fill, 95 (health under 50), 93 (under 20), 92 (under MM: plan), the plan's fill, back at 100
        assert [(s["ts"] - START_MS, s["state"], s["health"]) for s in steps] == [
            (0, "funded", D(100)), (2000, "active", D("59.8393")), (3000, "active", D("36.2416")),
            (4000, "at_risk", D("14.6788")), (5000, "liquidating", D(0)), (5000, "at_risk", D("1.9607")),
            (6000, "active", D("60.6051"))]
        # the fee: collateral 996 − realised 41.060445392 − liquidation fee 4.72195122
        assert (steps[5]["collateral"], steps[5]["equity"], steps[5]["maintenance_margin"]) == (
            D("950.217603388"), D("351.27804878"), D("344.3902439"))
        assert orjson.loads(steps[5]["positions"])[0]["size"] == "74.867444326"

        async def planned() -> list[dict]:  # stored apart from the snapshots, maybe in the sink's next batch
            return await rows(runtime, "SELECT id, kind, body FROM {db}.liquidations WHERE wallet = {w:String}",
                              w=wallet)
        [plan] = await eventually(planned, what="the plan stored")
        closes = orjson.loads(plan["body"])["closes"]
        assert plan["kind"] == "plan" and [(c["side"], c["size"], c["fee"]) for c in closes] == [
            ("sell", "5.132555674", "4.721951220")]

        async def fills() -> list[dict]:
            found = await rows(runtime, "SELECT wallet, side, size, price, fee, liquidity FROM {db}.fills "
                               "WHERE liquidation = {p:String} ORDER BY side", p=plan["id"])
            return found if len(found) == 2 else []
        assert [tuple(f.values()) for f in await eventually(fills, what="the plan's two fills")] == [
            (LIQUIDATOR, "buy", D("5.132555674"), D(92), D("-2.36097561"), "maker"),
            (wallet, "sell", D("5.132555674"), D(92), D("4.72195122"), "taker")]

        async def completed() -> list[dict]:
            return await rows(runtime, "SELECT data FROM {db}.audit_log WHERE subject = {s:String} "
                              "AND action = 'liquidation_completed'", s=f"{wallet}:0")
        [done] = await eventually(completed, what="the liquidation audited")
        assert orjson.loads(done["data"])["insurance_fund"] == "2.360975610"

        async with httpx.AsyncClient(base_url=runtime.api_url) as http:
            token = await sign_in(http, keypair)
            http.cookies.clear()

            async def rest() -> dict | None:
                response = await http.get(f"/api/v1/accounts/{wallet}", headers={"Cookie": f"{COOKIE}={token}"})
                body = response.json()["subaccounts"][0] if response.status_code == 200 else {}
                return body if body.get("ts") == START_MS + 6000 else None
            account = await eventually(rest, what="the account over REST", timeout=10)
        assert (account["state"], account["collateral"], account["health"]) == ("active", "950.217603388", "60.6051")
        assert [(p["market"], p["size"], p["entry_price"]) for p in account["positions"]] == [
            ("SOL-PERP", "74.867444326", "100")]


def replay_file(path: Path, steps: int) -> Path:
    """Write a replay file: seeded markets over an hour boundary, a crash on JUP-PERP, a closing marker."""
    sim = Simulator(Settings(), START_MS - 30_000, seed=5)
    events = [e for _ in range(steps) for e in sim.step()] + crash("crasher", "JUP-PERP", START_MS - 20_000)
    marker = ("accounts.changes", "marker:0", {"id": "marker", "ts": sim.now + 1, "wallet": "marker",
                                               "kind": "deposit", "amount": "1"})
    ordered = sorted(events, key=lambda e: e[2]["ts"]) + [marker]
    path.write_bytes(b"\n".join(orjson.dumps({"topic": t, "value": e}) for t, _, e in ordered))
    return path


def fresh(settings: Settings) -> Settings:
    """Return settings with their own topics, group, database and port, and JUP-PERP listed."""
    name = f"t{uuid.uuid4().hex[:10]}"
    jup = Market(name="JUP-PERP", feed_id="0" * 64, imr=D("0.10"), mmr=D("0.05"))
    return settings.model_copy(update={"topic_prefix": f"{name}.", "app_id": name, "clickhouse_database": name,
                                       "api_port": free_port(), "markets": (*DEFAULT_MARKETS, jup)})


async def topic_events(settings: Settings, bootstrap: str, topic: str) -> list[dict]:
    """Return every event of a topic, partition by partition in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        name = settings.topic(topic)
        parts = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name))]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        events = []
        for tp in parts:
            while await consumer.position(tp) < ends[tp]:
                for message in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    events += decode(message.value)
        return events
    finally:
        await consumer.stop()


async def replayed(settings: Settings, file: Path) -> tuple[dict[str, list[bytes]], list[dict], list[dict]]:
    """Replay the file into a fresh stack; return each account's `accounts.state` events, the snapshot rows
    and the funding payments."""
    async with running(settings, simulator=False, replay_file=file) as runtime:
        async def marker() -> list[dict]:
            return await rows(runtime, "SELECT id FROM {db}.account_snapshots WHERE wallet = 'marker'")
        await eventually(marker, what="the marker's snapshot", timeout=60)
        assert await applied_within(settings, runtime.bootstrap, 60)  # every task, not only the marker's
        states = await topic_events(settings, runtime.bootstrap, "accounts.state")
        history = await topic_events(settings, runtime.bootstrap, "accounts.history")
        assert by_account(history) == by_account(states)  # the warehouse's stream: the same states, in order
        ids = {s["id"] for s in states}

        async def stored() -> list[dict]:
            found = await rows(runtime, f"SELECT {SNAPSHOT_COLUMNS} FROM {{db}}.account_snapshots ORDER BY id")
            return found if len(found) == len(ids) else []
        snapshots = await eventually(stored, what=f"{len(ids)} snapshots stored", timeout=60)
        payments = await topic_events(settings, runtime.bootstrap, "funding.payments")
    return by_account(states), snapshots, sorted(payments, key=lambda p: p["id"])


def by_account(states: list[dict]) -> dict[str, list[bytes]]:
    """Return each account's states, as bytes, in the order published."""
    per_account: dict[str, list[bytes]] = {}
    for state in states:
        per_account.setdefault(f"{state['wallet']}:{state['subaccount']}", []).append(orjson.dumps(state))
    return per_account


async def test_replaying_a_file_twice_gives_identical_accounts(settings: Settings, tmp_path: Path) -> None:
    file = replay_file(tmp_path / "replay.jsonl", 150)
    first_states, first_rows, first_payments = await replayed(fresh(settings), file)
    second_states, second_rows, second_payments = await replayed(fresh(settings), file)
    assert {k: v[-1] for k, v in first_states.items()} == {k: v[-1] for k, v in second_states.items()}
    assert first_states == second_states
    assert first_rows == second_rows
    assert first_payments == second_payments and first_payments  # the file crosses 00:00: funding settles
    # the maker's one position nets every trader's: each payment is rounded once, to half a 1e-9 quantum
    assert abs(sum(D(p["payment"]) for p in first_payments)) <= len(first_payments) * D("0.5e-9")
    crasher = [orjson.loads(s) for s in first_states["crasher:0"]]
    assert [s["state"] for s in crasher] == ["funded", "active", "active", "at_risk", "liquidating", "at_risk",
                                             "active"]
    funded = [orjson.loads(s) for k, v in first_states.items() for s in v if k not in ("crasher:0", "marker:0")]
    assert len(first_rows) > 100 and len(funded) > 20

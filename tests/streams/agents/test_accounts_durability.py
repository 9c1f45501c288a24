"""A restarted worker goes on from its tables: the same `accounts.state` as one run over every event.

Each run finds its events waiting, as a restarted worker finds what came while it was down: how the
worker orders input that arrives while it runs is the accounts pipeline's tests' concern.
"""

import uuid
from decimal import Decimal as D

import orjson

from quantdesk.broker import free_port
from api.embedded import running
from quantdesk.kafka.lag import reader_behind, unapplied
from quantdesk.kafka.publisher import Keyed, Publisher
from quantdesk.settings import Settings
from quantdesk.kafka.topics import ensure_topics
from tests.streams.agents.test_accounts_pipeline import START_MS, rows, topic_events
from tests.waiting import eventually

MINUTE = 60_000
PRICES = {"SOL-PERP": 150, "BTC-PERP": 60_000}


def tick(market: str, ts: int, scale: float = 1.0) -> Keyed:
    """Return a tick whose price wanders a little with time."""
    price = round(PRICES[market] * scale * (1 + (ts // 10_000 % 7 - 3) / 1000), 3)
    return "oracle.ticks", market, {"id": f"tick:{market}:{ts}", "ts": ts, "market": market, "price": str(price),
                                    "conf": "0.01", "publish_time": ts}


def fill(n: int, ts: int, wallet: str, market: str, side: str, size: str) -> Keyed:
    """Return a taker fill a little off the oracle (it moves the premium and the mark)."""
    price = str(round(PRICES[market] * 1.002, 3))
    return "trades.fills", f"{wallet}:0", {"id": f"fill:{n}", "ts": ts, "market": market, "wallet": wallet,
                                           "side": side, "size": size, "price": price, "fee": "0.5"}


def deposit(ts: int, wallet: str, amount: str) -> Keyed:
    """Return a deposit."""
    return "accounts.changes", f"{wallet}:0", {"id": f"deposit:{wallet}:{ts}", "ts": ts, "wallet": wallet,
                                               "kind": "deposit", "amount": amount}


def ticks(start: int, end: int) -> list[Keyed]:
    """Return SOL and BTC ticks every 10 s in [start, end)."""
    return [tick(m, ts) for ts in range(start, end, 10_000) for m in PRICES]


def first_half() -> list[Keyed]:
    """Return deposits, positions opened at 23:51 and ticks to 00:05: the hour at 00:00 is funded."""
    t0 = START_MS - 10 * MINUTE
    return [deposit(t0, "alice", "5000"), deposit(t0, "bob", "5000"), deposit(t0, "carol", "100000"),
            *ticks(t0 + 1000, START_MS + 5 * MINUTE),
            fill(1, t0 + MINUTE + 1, "alice", "SOL-PERP", "buy", "20"),
            fill(2, t0 + MINUTE + 2, "bob", "SOL-PERP", "sell", "20"),
            fill(3, t0 + MINUTE + 3, "carol", "BTC-PERP", "buy", "1"),
            deposit(START_MS + 5 * MINUTE, "marker", "1")]


def second_half() -> list[Keyed]:
    """Return a tick the 5-minute TWAP rejects, more fills, a fill sent again and ticks past 01:00."""
    t1 = START_MS + 5 * MINUTE
    return [tick("SOL-PERP", t1 + 5000, scale=2.0), *ticks(t1 + 10_000, START_MS + 65 * MINUTE),
            fill(4, t1 + 2 * MINUTE + 1, "alice", "SOL-PERP", "sell", "5"),
            fill(5, t1 + 2 * MINUTE + 2, "dave", "BTC-PERP", "sell", "0.01"),
            first_half()[-2], deposit(START_MS + 65 * MINUTE, "marker", "1")]


def fresh(settings: Settings) -> Settings:
    """Return settings with their own topics, group, database and port."""
    name = f"t{uuid.uuid4().hex[:10]}"
    return settings.model_copy(update={"topic_prefix": f"{name}.", "app_id": name, "clickhouse_database": name,
                                       "api_port": free_port()})


async def run(settings: Settings, events: list[Keyed], markers: int, every_reader: bool = False) -> None:
    """Send `events` to a stopped platform (a backlog, as a restart finds it), start it and stop it once the
    marker has `markers` snapshots and the risk worker has committed every input (with `every_reader`, once
    every reader has applied or stored everything too)."""
    await ensure_topics(settings, settings.kafka_bootstrap)
    async with Publisher(settings, settings.kafka_bootstrap) as publisher:
        await publisher.send(events)
    async with running(settings, simulator=False) as runtime:
        async def marked() -> bool:
            found = await rows(runtime, "SELECT id FROM {db}.account_snapshots WHERE wallet = 'marker'")
            return len(found) == markers
        await eventually(marked, what=f"{markers} marker snapshots", timeout=60)
        await eventually(lambda: all_committed(settings, runtime.bootstrap), what="every input committed")
        if every_reader:
            async def everything() -> bool:
                return not any((await unapplied(settings, runtime.bootstrap)).values())
            await eventually(everything, what="every reader done", timeout=60)


async def all_committed(settings: Settings, bootstrap: str) -> bool:
    """Tell whether every risk task has committed every input partition it reads to its end."""
    return await reader_behind(settings, bootstrap, "risk") == 0


async def states(settings: Settings, bootstrap: str) -> dict[str, list[bytes]]:
    """Return each account's `accounts.state` payloads in the order published."""
    per_account: dict[str, list[bytes]] = {}
    for state in await topic_events(settings, bootstrap, "accounts.state"):
        per_account.setdefault(f"{state['wallet']}:{state['subaccount']}", []).append(orjson.dumps(state))
    return per_account


async def test_a_restarted_worker_ends_where_one_run_over_every_event_ends(settings: Settings) -> None:
    settings = settings.model_copy(update={"max_lateness_ms": 600_000})  # the first half's early ids forgotten
    await run(settings, first_half(), markers=1)
    await run(settings, second_half(), markers=2)  # the same app id, topics and tables: a restart
    reference = fresh(settings)
    await run(reference, first_half() + second_half(), markers=2)

    bootstrap = settings.kafka_bootstrap
    restarted, once = await states(settings, bootstrap), await states(reference, bootstrap)
    assert {k: v[-1] for k, v in restarted.items()} == {k: v[-1] for k, v in once.items()}
    # nothing applied twice or lost: the same snapshots (a restart may publish one again, never a new one)
    assert {k: set(v) for k, v in restarted.items()} == {k: set(v) for k, v in once.items()}
    payments = await topic_events(settings, bootstrap, "funding.payments")
    assert {p["id"].split(":")[2] for p in payments} == {str(START_MS), str(START_MS + 60 * MINUTE)}
    # the ledger too: the same entries by id (a restart may publish one again), adding up to each final collateral
    ledger = {e["id"]: orjson.dumps(e) for e in await topic_events(settings, bootstrap, "accounts.ledger")}
    assert ledger == {e["id"]: orjson.dumps(e) for e in await topic_events(reference, bootstrap, "accounts.ledger")}
    booked: dict[str, D] = {}
    for entry in map(orjson.loads, ledger.values()):
        key = f"{entry['wallet']}:{entry['subaccount']}"
        booked[key] = booked.get(key, D(0)) + D(entry["amount"])
    assert booked == {k: D(orjson.loads(v[-1])["collateral"]) for k, v in once.items() if k in booked}
    assert booked and all(D(orjson.loads(v[-1])["collateral"]) == 0 for k, v in once.items() if k not in booked)

"""MIKEY through the real pipeline: the same input gives byte-identical `mikey.signals` in two runs, and a
killed and restarted platform signals exactly what one uninterrupted run signals; the sink stores them.

The input is the accounts durability test's (two halves, positions open over an hour boundary), with an
ETH-PERP long the price takes under health 50 and an ETH oracle that then falls silent (stale) and comes back,
a whale trade on BTC-PERP and another venue's SOL price far from our mark.
"""

import orjson

from quantdesk.kafka.publisher import Keyed
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.streams.agents.test_accounts_durability import MINUTE, deposit, first_half, fresh, second_half
from tests.streams.agents.test_accounts_durability import run as durable_run
from tests.streams.agents.test_accounts_pipeline import START_MS, topic_events

ETH = "ETH-PERP"


def eth_tick(ts: int, price: str) -> Keyed:
    return "oracle.ticks", ETH, {"id": f"eth:{ts}", "ts": ts, "market": ETH, "price": price, "conf": "0.01",
                                 "publish_time": ts}


def first_extras() -> list[Keyed]:
    t0 = START_MS - 9 * MINUTE
    return [deposit(t0, "crasher", "1000"), deposit(t0, "whale", "100000"),
            eth_tick(t0 + 1000, "100"),
            ("trades.fills", "crasher:0", {"id": "eth:buy", "ts": t0 + 2000, "market": ETH, "wallet": "crasher",
                                           "side": "buy", "size": "80", "price": "100", "fee": "4"}),
            eth_tick(t0 + 3000, "95"), eth_tick(t0 + 4000, "93"),
            ("trades.fills", "whale:0", {"id": "whale:buy", "ts": t0 + 5000, "market": "BTC-PERP", "wallet": "whale",
                                         "side": "buy", "size": "2", "price": "60120", "fee": "10"}),
            ("venues.prices", "SOL-PERP", {"id": "hl:sol:1", "ts": t0 + 6000, "venue": "hyperliquid",
                                           "market": "SOL-PERP", "price": "160", "source": "test"})]


def second_extras() -> list[Keyed]:
    return [eth_tick(START_MS + 7 * MINUTE, "100")]  # the ETH oracle back: recovered, and health back over 52


async def run(settings: Settings, events: list[Keyed], markers: int) -> None:
    """Run the platform over `events` until every reader is done (the markets agent: published its signals)."""
    await durable_run(settings, events, markers, every_reader=True)


async def signals(settings: Settings) -> list[bytes]:
    """Return every `mikey.signals` message as bytes, sorted (two writers share the topic)."""
    return sorted(orjson.dumps(s) for s in await topic_events(settings, settings.kafka_bootstrap, "mikey.signals"))


async def test_signals_replay_byte_identical_and_survive_a_restart(settings: Settings) -> None:
    first, second = first_half() + first_extras(), second_half() + second_extras()
    await run(settings, first, markers=1)
    await run(settings, second, markers=2)  # the same app id, topics and tables: a restart
    once, again = fresh(settings), fresh(settings)
    await run(once, first + second, markers=2)
    await run(again, first + second, markers=2)

    reference = await signals(once)
    assert reference == await signals(again)  # a replay: the same bytes
    assert set(await signals(settings)) == set(reference)  # a restart may send one again, never a new one
    found = [orjson.loads(s) for s in reference]
    kinds = {(s["kind"], s["subject"]) for s in found}
    assert {("health_crossed", "crasher:0"), ("health_recovered", "crasher:0"), ("whale_fill", "BTC-PERP"),
            ("venue_divergence", "SOL-PERP"), ("oracle_degraded", ETH), ("oracle_recovered", ETH)} <= kinds
    assert all(s["wallet"] is None for s in found if ":" not in s["subject"])
    assert len({s["id"] for s in found}) == len(found)

    warehouse = Warehouse.from_settings(once)  # the sink stored each once
    try:
        stored = warehouse.rows(f"SELECT id, market, wallet, causes FROM {once.clickhouse_database}.signals")
    finally:
        warehouse.close()
    assert sorted(r["id"] for r in stored) == sorted(s["id"] for s in found)

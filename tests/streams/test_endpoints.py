"""A real worker of each role serves `/health`, `/ready` and `/metrics` on its port: what its loops did, counted as
they did it, in Prometheus' text format."""

import time
from contextlib import asynccontextmanager
from typing import AsyncIterator

import httpx
from faust.contrib.asgi import faust_app_running
from prometheus_client.parser import text_string_to_metric_families

from quantdesk.kafka.publisher import Publisher
from quantdesk.kafka.topics import (EPOCHS, FOLLOWER_INPUTS, MARKET_INPUTS, ORDER_INPUTS, RISK_INPUTS, STORED_TABLES,
                                   ensure_topics)
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from streams.endpoints import endpoints_serving, port_of
from streams.pipeline import Pipeline
from streams.worker import Role, build_pipeline
from tests.conftest import send_raw
from tests.streams.agents.test_accounts_pipeline import START_MS, crash
from tests.waiting import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
WALLET = "5ZWj7a1f8tWkjBESHKgrLmXshuXxqeY9SYcfbshpAqPG"


def tick(n: int, market: str = "SOL-PERP", price: str = "100") -> tuple[str, str, dict]:
    """Return the n-th tick of a market, n seconds into the day."""
    ts = START_MS + n * 1000
    return "oracle.ticks", market, {"id": f"tick:{market}:{n}", "ts": ts, "market": market, "price": price,
                                    "conf": "0.01", "publish_time": ts}


@asynccontextmanager
async def worker(settings: Settings, role: Role, warehouse: Warehouse | None,
                 started: bool = True) -> AsyncIterator[Pipeline]:
    """Serve a role's endpoints, its loops running unless `started` is false."""
    bootstrap = settings.kafka_bootstrap or ""
    await ensure_topics(settings, bootstrap)
    pipeline = build_pipeline(settings, bootstrap, None if role == "risk" else warehouse, role)
    async with endpoints_serving(pipeline):
        if not started:
            yield pipeline
            return
        async with faust_app_running(pipeline.app):
            yield pipeline


def url(pipeline: Pipeline, path: str) -> str:
    """Return an endpoint's URL."""
    return f"http://{pipeline.settings.api_host}:{port_of(pipeline)}{path}"


async def get(pipeline: Pipeline, path: str) -> httpx.Response:
    """Return a worker endpoint's answer."""
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url(pipeline, path))


async def scrape(pipeline: Pipeline) -> Samples:
    """Return every sample `/metrics` shows, by name and labels, as Prometheus' parser reads them."""
    answer = await get(pipeline, "/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """Return one sample's value, None when it is not shown."""
    return samples.get((name, frozenset(labels.items())))


async def showing(pipeline: Pipeline, name: str, expected: float, **labels: str) -> Samples:
    """Wait until a sample shows `expected`; return the page then."""
    async def probe() -> Samples | None:
        samples = await scrape(pipeline)
        return samples if value(samples, name, **labels) == expected else None
    return await eventually(probe, timeout=60, what=f"{name}{labels} == {expected}")


async def test_a_risk_worker_shows_a_liquidation_and_what_it_read_published_and_refused(settings: Settings) -> None:
    async with worker(settings, "risk", None) as pipeline, Publisher(settings, pipeline.bootstrap) as publisher:
        started, before = time.time(), await scrape(pipeline)
        await publisher.send(crash(WALLET, "SOL-PERP", START_MS))
        await send_raw(publisher, "accounts.changes", b"{not json")

        await showing(pipeline, "worker_dead_letters_total", 1, role="risk", reason="not_json")
        await showing(pipeline, "worker_insurance_fund_usd", 2.36097561, role="risk")  # the plan completed
        # every task has re-margined every tick: the followers apply the author's epochs after it
        page = await showing(pipeline, "worker_remargin_seconds_count", 5 * settings.topic_partitions, role="risk")
        ended = time.time()
    # every topic, market and state from the first scrape, at 0
    for topic in RISK_INPUTS:
        assert value(before, "worker_events_in_total", role="risk", topic=topic) == 0
    assert value(before, "worker_accounts", role="risk", state="liquidating") == 0
    assert value(before, "worker_liquidations_planned_total", role="risk", market="BTC-PERP") == 0
    # the plan and its venue fills came back as input: the account's close and the liquidator's
    assert value(page, "worker_liquidations_planned_total", role="risk", market="SOL-PERP") == 1
    assert value(page, "worker_events_in_total", role="risk", topic="oracle.ticks") == 5
    assert value(page, "worker_events_in_total", role="risk", topic="trades.fills") == 3
    assert value(page, "worker_events_in_total", role="risk", topic="accounts.changes") == 3  # deposit, float, bad
    assert value(page, "worker_oracle_last_event_seconds", role="risk", market="SOL-PERP") == (START_MS + 6000) / 1000
    assert value(page, "worker_liquidations_filled_total", role="risk", market="SOL-PERP") == 1
    assert value(page, "worker_accounts", role="risk", state="active") == 2  # the trader and the venue's liquidator
    assert sum(v for (name, _), v in page.items() if name == "worker_accounts") == 2
    assert value(page, "worker_events_out_total", role="risk", topic="risk.liquidations") == 1
    assert value(page, "worker_event_latency_seconds_count", role="risk", topic="risk.liquidations") == 1
    planned_at = (START_MS + 5000) / 1000  # the plan's event time: its tick's
    latency = value(page, "worker_event_latency_seconds_sum", role="risk", topic="risk.liquidations") or 0
    assert started - planned_at <= latency <= ended - planned_at  # the wall clock at publish minus its event time
    assert value(page, "worker_events_out_total", role="risk", topic="trades.fills") == 2
    assert {dict(labels)["role"] for name, labels in page if name.startswith("worker_")} == {"risk"}


async def test_a_feed_worker_shows_ticks_read_states_published_rows_stored_and_an_unknown_market_refused(
        settings: Settings, warehouse: Warehouse) -> None:
    async with worker(settings, "feed", warehouse) as pipeline, Publisher(settings, pipeline.bootstrap) as publisher:
        await publisher.send([tick(1), tick(2, "BTC-PERP"), tick(3, "DOGE-PERP")])

        await showing(pipeline, "worker_sink_rows_total", 2, role="feed", table="market_state")
        await showing(pipeline, "worker_dead_letters_total", 1, role="feed", reason="unknown_market")
        page = await showing(pipeline, "worker_sink_rows_total", 3, role="feed", table="oracle_ticks")  # all stored
        health = (await get(pipeline, "/health")).json()
    assert value(page, "worker_events_in_total", role="feed", topic="oracle.ticks") == 3
    assert value(page, "worker_events_out_total", role="feed", topic="markets.state") == 2
    assert (value(page, "worker_event_latency_seconds_count", role="feed", topic="markets.state") or 0) >= 1
    assert value(page, "worker_oracle_last_event_seconds", role="feed", market="BTC-PERP") == (START_MS + 2000) / 1000
    assert value(page, "worker_sink_retries_total", role="feed", table="oracle_ticks") == 0
    assert value(page, "worker_sink_batch_rows_sum", role="feed", table="oracle_ticks") == 3
    assert (value(page, "worker_sink_batch_seconds_count", role="feed", table="oracle_ticks") or 0) >= 1
    assert {dict(labels)["table"] for name, labels in page if name == "worker_sink_rows_total"} == set(
        STORED_TABLES.values())
    assert {dict(labels)["reader"] for name, labels in page if name == "worker_consumer_lag"} == {
        "markets", "orders", "store"}
    assert health == {"status": "ok", "role": "feed", "loops": ["markets", "orders", "sink", "webhooks"]}


async def test_ready_fails_with_its_reason_while_a_reader_is_over_the_lag_threshold(
        settings: Settings, warehouse: Warehouse) -> None:
    behind = settings.model_copy(update={"ready_max_lag": 2})
    async with worker(behind, "feed", warehouse, started=False) as pipeline, \
            Publisher(behind, pipeline.bootstrap) as publisher:
        for n in range(3):  # a message each
            await publisher.send([tick(n)])

        answer = await get(pipeline, "/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unready"
    assert "the markets reader is 3 messages behind (over 2)" in body["reason"]
    assert body["behind"] == {"markets": 3, "orders": 0, "store": 3}
    async with worker(behind, "feed", warehouse) as pipeline:
        async def caught_up() -> dict | None:  # ready comes first, within the threshold: then nothing behind
            answer = await get(pipeline, "/ready")
            return answer.json() if answer.status_code == 200 and not any(answer.json()["behind"].values()) else None
        assert await eventually(caught_up, timeout=60, what="the feed worker caught up") == {
            "status": "ready", "behind": {"markets": 0, "orders": 0, "store": 0}}


async def test_ready_fails_when_the_broker_cannot_be_reached(settings: Settings) -> None:
    gone = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    pipeline = build_pipeline(gone, "127.0.0.1:1", None, "risk")
    async with endpoints_serving(pipeline):
        answer = await get(pipeline, "/ready")
    assert answer.status_code == 503 and answer.json()["reason"].startswith("the broker cannot be reached")


async def test_the_all_role_shows_every_reader_and_the_inputs_of_both_folds(
        settings: Settings, warehouse: Warehouse) -> None:
    async with worker(settings, "all", warehouse) as pipeline:
        async def every_reader() -> Samples | None:
            page = await scrape(pipeline)
            readers = {dict(labels)["reader"] for name, labels in page if name == "worker_consumer_lag"}
            tasks = {f"risk{n}" for n in range(settings.topic_partitions)}  # each risk task shows its own lag
            return page if readers == {*tasks, "markets", "orders", "store"} else None
        page = await eventually(every_reader, timeout=60, what="every reader's lag shown")
        health = (await get(pipeline, "/health")).json()
    lag = [dict(labels) for name, labels in page if name == "worker_consumer_lag"]
    every = {str(n) for n in range(settings.topic_partitions)}

    def shown(reader: str, topic: str) -> set[str]:
        return {g["partition"] for g in lag if g["reader"] == reader and g["topic"] == topic}
    # task 0 authors the markets from every input; the others follow its epochs and read their own fills and changes
    assert all(shown("risk0", topic) == every for topic in RISK_INPUTS) and shown("risk0", EPOCHS) == set()
    assert all(shown(f"risk{n}", "trades.fills") == shown(f"risk{n}", "accounts.changes") == {str(n)}
               and shown(f"risk{n}", EPOCHS) == every and shown(f"risk{n}", "oracle.ticks") == set()
               for n in range(1, settings.topic_partitions))
    assert {dict(labels)["topic"] for name, labels in page if name == "worker_events_in_total"} == {
        *RISK_INPUTS, *FOLLOWER_INPUTS, *MARKET_INPUTS, *ORDER_INPUTS}
    assert health["loops"] == ["accounts", "markets", "orders", "sink", "webhooks"]

"""The chain source against a local RPC node: signed transactions become input messages, verified."""

import json
from decimal import Decimal
from typing import Any

import pytest

from streams.sources.ingest.chain import rejected
from streams.sources.ingest.service import ingest_running
from quantdesk.messages import DeadLetter, Fill, OracleTick
from quantdesk.settings import Settings
from tests.streams.sources.ingest.chain_kit import BLOCK_TIME, failed_trade, other_program_tx, tampered_trade, trade
from tests.streams.sources.ingest.conftest import metric, metrics_text, pointed_at, read_topic
from tests.streams.sources.ingest.fake_solana import FakeSolana
from tests.waiting import eventually


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return events keyed by id."""
    return {e["id"]: e for e in events}


async def topic_has(settings: Settings, topic: str, count: int) -> list[dict[str, Any]]:
    """Return the topic's events once it holds at least `count` of them."""
    events = await read_topic(settings, topic)
    return events if len(events) >= count else []


async def test_a_signed_transaction_served_by_the_node_becomes_a_fill_and_a_tick(
        settings: Settings, node: FakeSolana) -> None:
    recorded = node.record(trade(0))
    cfg = pointed_at(settings, node)
    async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("solana",)):
        fills = await eventually(lambda: topic_has(cfg, "trades.fills", 1), what="the fill published")
        ticks = await eventually(lambda: topic_has(cfg, "oracle.ticks", 1), what="the program's tick published")
    fill, tick = Fill.model_validate(fills[0]), OracleTick.model_validate(ticks[0])
    signature = recorded.signature
    assert fill.id == f"{signature}:0:0" and tick.id == f"{signature}:0:1"
    assert (fill.market, fill.wallet, fill.side) == ("BTC-PERP", str(recorded.tx.message.account_keys[0]), "buy")
    assert (fill.size, fill.price, fill.fee) == (Decimal("1.5"), Decimal("51000.25"), Decimal("0.0255"))
    assert (fill.signature, fill.slot, fill.ts) == (signature, node.ledger[0][1], BLOCK_TIME * 1000)
    assert (tick.market, tick.price, tick.conf, tick.source) == ("BTC-PERP", Decimal("51000.25"), Decimal("5"),
                                                                 "quantdesk-program")


async def test_live_notifications_are_taken_at_once_and_a_repeat_is_dropped(settings: Settings,
                                                                            node: FakeSolana) -> None:
    cfg = pointed_at(settings, node, backfill_interval_s=600.0)
    async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("solana",)):
        await eventually(lambda: _is_set(node.subscribed), what="logsSubscribe")
        recorded = trade(1)
        await node.announce(recorded)
        fills = await eventually(lambda: topic_has(cfg, "trades.fills", 1), what="the live fill")
        await node.announce(recorded)  # a second notification of the same signature
        await eventually(lambda: _duplicates(cfg), what="the repeat counted as a duplicate")
        assert len(await read_topic(cfg, "trades.fills")) == 1
    assert fills[0]["signature"] == recorded.signature


async def _is_set(event: Any) -> bool:
    """Return whether an asyncio.Event is set."""
    return event.is_set()


async def _duplicates(settings: Settings) -> float:
    """Return the duplicates counted by the running service."""
    return metric(await metrics_text(settings), "ingest_duplicates_total", source="solana")


async def test_verification_rejects_reach_the_dlq_with_their_reasons(settings: Settings, node: FakeSolana) -> None:
    made = (tampered_trade(), failed_trade(), other_program_tx(), trade(2))
    tampered, failed, other, good = (node.record(r) for r in made)
    cfg = pointed_at(settings, node)
    async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("solana",)):
        letters = await eventually(lambda: topic_has(cfg, "dlq", 3), what="three dead letters")
        await eventually(lambda: topic_has(cfg, "trades.fills", 1), what="the good fill")
        text = await metrics_text(cfg)
    reasons = {e["id"]: DeadLetter.model_validate(e).reason for e in letters}
    assert "does not verify" in reasons[f"{tampered.signature}:verify"]
    assert "transaction failed" in reasons[f"{failed.signature}:verify"]
    assert "was not invoked" in reasons[f"{other.signature}:verify"]
    assert len(letters) == 3 and f"{good.signature}:verify" not in reasons
    assert metric(text, "ingest_dlq_total", source="solana", stage="verify") == 3


async def one_fill_through(settings: Settings, first: FakeSolana, second: FakeSolana, tx: Any) -> str:
    """Serve one trade from both endpoints (first listed first) until its fill is published; return the metrics."""
    for node in (first, second):
        await node.start()
        node.record(tx)
    try:
        cfg = pointed_at(settings, first, second)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("solana",)):
            await eventually(lambda: topic_has(cfg, "trades.fills", 1), what="the fill through one endpoint")
            return await metrics_text(cfg)
    finally:
        await first.stop()
        await second.stop()


@pytest.mark.parametrize("failing", ["*", "getTransaction", "http"])
async def test_errors_on_the_first_endpoint_fail_over_to_the_second_and_the_figures_show_it(settings: Settings,
                                                                                            failing: str) -> None:
    broken, healthy = FakeSolana(), FakeSolana()
    broken.failing = {failing}
    text = await one_fill_through(settings, broken, healthy, trade(3))
    assert metric(text, "ingest_rpc_errors_total", endpoint=broken.url) >= 1
    assert metric(text, "ingest_rpc_errors_total", endpoint=healthy.url, method="getTransaction") == 0
    assert metric(text, "ingest_rpc_requests_total", endpoint=healthy.url, method="getTransaction") >= 1
    assert metric(text, "ingest_rpc_active", endpoint=healthy.url) == 1
    assert metric(text, "ingest_rpc_active", endpoint=broken.url) == 0
    assert metric(text, "ingest_rpc_latency_seconds_count", endpoint=healthy.url) >= 2


async def test_a_lagging_endpoint_is_skipped(settings: Settings) -> None:
    behind, ahead = FakeSolana(slot=1_000), FakeSolana(slot=250_000_000)
    text = await one_fill_through(settings, behind, ahead, trade(4))
    assert behind.requests["getTransaction"] == 0 and behind.requests["getSignaturesForAddress"] == 0
    assert metric(text, "ingest_rpc_lag_slots", endpoint=behind.url) > settings.rpc_max_lag_slots
    assert metric(text, "ingest_rpc_active", endpoint=ahead.url) == 1


@pytest.mark.parametrize("result", [{"blockTime": "x"}, {"blockTime": -5}, {"blockTime": 2**70}, [1, 2],
                                    {"blockTime": 1_708_363_256, "meta": {"fee": 2**80}}])
def test_a_refused_transaction_is_a_dead_letter_whatever_the_node_sent(result: Any) -> None:
    # a block time of another type made a ts of "xxx…" or a negative one, an integer past 64 bits failed to write:
    # each raised where a dead letter was due
    mapped = rejected("sig", result, "malformed transaction")
    letter = DeadLetter.model_validate(mapped.value)
    assert mapped.topic == "dlq" and letter.ts in (0, 1_708_363_256_000)
    assert letter.payload == json.dumps(result, separators=(",", ":"))

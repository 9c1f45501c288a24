"""The ingest service's parts alone: cursor store, health app, metrics."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.sources.ingest.cursor import CursorStore
from streams.sources.ingest.metrics import FAMILIES, Metrics
from streams.sources.ingest.service import Supervised, health_app
from tests.streams.sources.ingest.conftest import metric


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


def test_metrics_render_every_family_and_refuse_labels_a_family_does_not_declare() -> None:
    metrics = Metrics()
    metrics.observe("ingest_rpc_latency_seconds", 0.25, endpoint="http://node")
    metrics.observe("ingest_rpc_latency_seconds", 0.5, endpoint="http://node")
    text = metrics.render().decode()
    assert metric(text, "ingest_rpc_latency_seconds_count", endpoint="http://node") == 2
    assert metric(text, "ingest_rpc_latency_seconds_sum", endpoint="http://node") == 0.75
    assert all(f"# TYPE {name}" in text for name in FAMILIES), "every family is declared, with or without samples"
    with pytest.raises(ValueError):
        metrics.inc("ingest_published_total", source="hermes")  # no topic: a series no panel could find


def test_a_source_shows_its_series_at_zero_before_its_first_event() -> None:
    metrics = Metrics()
    metrics.source("hermes", ("oracle.ticks",), ("decode",), streaming=True)
    text = metrics.render().decode()
    shown = {(s.name, tuple(sorted(s.labels.items()))) for f in text_string_to_metric_families(text) for s in f.samples
             if s.labels.get("source") == "hermes" and s.value == 0}
    assert shown == {
        ("ingest_published_total", (("source", "hermes"), ("topic", "oracle.ticks"))),
        ("ingest_published_total", (("source", "hermes"), ("topic", "dlq"))),
        ("ingest_dlq_total", (("source", "hermes"), ("stage", "decode"))),
        ("ingest_connected", (("source", "hermes"),)),
        ("ingest_reconnects_total", (("source", "hermes"),)), ("ingest_gaps_total", (("source", "hermes"),)),
        ("ingest_gap_seconds_total", (("source", "hermes"),)),
    }

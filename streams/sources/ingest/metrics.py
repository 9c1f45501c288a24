"""Counters, gauges and a summary of the ingest service, kept and rendered by `prometheus_client`."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics import MetricWrapperBase

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus 2 scrapes
FAMILIES: dict[str, tuple[type[MetricWrapperBase], str, tuple[str, ...]]] = {
    "ingest_published_total": (Counter, "Events published, by source and topic.", ("source", "topic")),
    "ingest_dlq_total": (Counter, "Dead letters published, by source and stage (verify, map, decode).",
                         ("source", "stage")),
    "ingest_duplicates_total": (Counter, "Transactions dropped because their signature was already taken.",
                                ("source",)),
    "ingest_rpc_requests_total": (Counter, "JSON-RPC requests, by endpoint and method.", ("endpoint", "method")),
    "ingest_rpc_errors_total": (Counter, "JSON-RPC requests that failed, by endpoint and method.",
                                ("endpoint", "method")),
    "ingest_rpc_latency_seconds": (Summary, "JSON-RPC request latency, by endpoint.", ("endpoint",)),
    "ingest_rpc_slot": (Gauge, "Newest slot an endpoint reported.", ("endpoint",)),
    "ingest_rpc_lag_slots": (Gauge, "How far an endpoint is behind the best one, in slots.", ("endpoint",)),
    "ingest_rpc_active": (Gauge, "1 for the endpoint that answered the last request.", ("endpoint",)),
    "ingest_connected": (Gauge, "1 while a streaming source is connected.", ("source",)),
    "ingest_reconnects_total": (Counter, "Streaming reconnections, by source.", ("source",)),
    "ingest_gaps_total": (Counter, "Interruptions of a stream after it had delivered data, by source.", ("source",)),
    "ingest_gap_seconds_total": (Counter, "Seconds without data across those interruptions, by source.",
                                 ("source",)),
    "ingest_hermes_binary_mismatches_total": (Counter, "Hermes payloads whose JSON their binary update lacks.",
                                              ("source",)),
    "ingest_backfill_behind": (Gauge, "Signatures listed after the cursor and not yet taken.", ("source",)),
}

disable_created_metrics()  # a `_created` series beside every counter doubles the scrape and no panel reads it


class Metrics:
    """The service's figures in a registry of their own (one per service, so tests and services never share)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.families = {name: kind(name, text, labels, registry=self.registry)
                         for name, (kind, text, labels) in FAMILIES.items()}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to a counter."""
        self.families[name].labels(**labels).inc(amount)  # type: ignore[attr-defined]

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        self.families[name].labels(**labels).set(value)  # type: ignore[attr-defined]

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        """Record one observation of a summary."""
        self.families[name].labels(**labels).observe(seconds)  # type: ignore[attr-defined]

    def render(self) -> bytes:
        """Return every family in the Prometheus text exposition format."""
        return generate_latest(self.registry)

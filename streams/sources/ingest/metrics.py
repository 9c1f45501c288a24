"""The ingest service's metric families (`quantdesk.metrics` keeps and renders them)."""

from prometheus_client import Counter, Gauge, Histogram

from quantdesk import metrics
from quantdesk.metrics import Family

FAMILIES: dict[str, Family] = {
    "ingest_published_total": Family(Counter, "Events published, by source and topic.", ("source", "topic")),
    "ingest_dlq_total": Family(Counter, "Dead letters published, by source and stage (verify, map, decode).",
                               ("source", "stage")),
    "ingest_duplicates_total": Family(Counter, "Events dropped as already published: a transaction whose signature "
                                      "was taken, a venue's book no newer than the last or unchanged.", ("source",)),
    "ingest_rpc_requests_total": Family(Counter, "JSON-RPC requests, by endpoint and method.", ("endpoint", "method")),
    "ingest_rpc_errors_total": Family(Counter, "JSON-RPC requests that failed, by endpoint and method.",
                                      ("endpoint", "method")),
    "ingest_rpc_latency_seconds": Family(Histogram, "JSON-RPC request latency, by endpoint.", ("endpoint",)),
    "ingest_rpc_slot": Family(Gauge, "Newest slot an endpoint reported.", ("endpoint",)),
    "ingest_rpc_lag_slots": Family(Gauge, "How far an endpoint is behind the best one, in slots.", ("endpoint",)),
    "ingest_rpc_active": Family(Gauge, "1 for the endpoint that answered the last request.", ("endpoint",)),
    "ingest_connected": Family(Gauge, "1 while a streaming source is connected.", ("source",)),
    "ingest_reconnects_total": Family(Counter, "Streaming reconnections, by source.", ("source",)),
    "ingest_gaps_total": Family(Counter, "Interruptions of a stream after it had delivered data, by source.",
                                ("source",)),
    "ingest_gap_seconds_total": Family(Counter, "Seconds without data across those interruptions, by source.",
                                       ("source",)),
    "ingest_hermes_binary_mismatches_total": Family(Counter, "Hermes payloads whose JSON their binary update lacks.",
                                                    ("source",)),
    "ingest_backfill_behind": Family(Gauge, "Signatures listed after the cursor and not yet taken.", ("source",)),
}


class Metrics(metrics.Metrics):
    """The ingest service's figures, in a registry of their own."""

    def __init__(self) -> None:
        super().__init__(FAMILIES)

    def source(self, name: str, topics: tuple[str, ...], dead: tuple[str, ...], streaming: bool = False) -> None:
        """Show a source's series from the first scrape: what it publishes to `topics`, its dead letters by stage in
        `dead`, and, for a streaming source, its connection, reconnects and gaps."""
        for topic in (*topics, "dlq"):
            self.show("ingest_published_total", source=name, topic=topic)
        for stage in dead:
            self.show("ingest_dlq_total", source=name, stage=stage)
        if streaming:
            self.set("ingest_connected", 0.0, source=name)
            for family in ("ingest_reconnects_total", "ingest_gaps_total", "ingest_gap_seconds_total"):
                self.show(family, source=name)

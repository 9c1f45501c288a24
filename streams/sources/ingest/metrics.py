"""Counters and gauges of the ingest service, rendered in the Prometheus text format."""

from collections import defaultdict

Labels = tuple[tuple[str, str], ...]

FAMILIES: dict[str, tuple[str, str]] = {
    "ingest_published_total": ("counter", "Events published, by source and topic."),
    "ingest_dlq_total": ("counter", "Dead letters published, by source and stage (verify, map, decode)."),
    "ingest_duplicates_total": ("counter", "Transactions dropped because their signature was already taken."),
    "ingest_rpc_requests_total": ("counter", "JSON-RPC requests, by endpoint and method."),
    "ingest_rpc_errors_total": ("counter", "JSON-RPC requests that failed, by endpoint and method."),
    "ingest_rpc_latency_seconds": ("summary", "JSON-RPC request latency, by endpoint."),
    "ingest_rpc_slot": ("gauge", "Newest slot an endpoint reported."),
    "ingest_rpc_lag_slots": ("gauge", "How far an endpoint is behind the best one, in slots."),
    "ingest_rpc_active": ("gauge", "1 for the endpoint that answered the last request."),
    "ingest_connected": ("gauge", "1 while a streaming source is connected."),
    "ingest_reconnects_total": ("counter", "Streaming reconnections, by source."),
    "ingest_gaps_total": ("counter", "Interruptions of a stream after it had delivered data, by source."),
    "ingest_gap_seconds_total": ("counter", "Seconds without data across those interruptions, by source."),
    "ingest_hermes_binary_mismatches_total": ("counter", "Hermes payloads whose JSON their binary update lacks."),
    "ingest_backfill_behind": ("gauge", "Signatures listed after the cursor and not yet taken."),
}


def _labels(labels: dict[str, str]) -> Labels:
    """Return labels in a stable order."""
    return tuple(sorted(labels.items()))


def _escape(value: str) -> str:
    """Escape a label value for the text format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _render_labels(labels: Labels) -> str:
    """Return `{a="x",b="y"}`, or nothing without labels."""
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _number(value: float) -> str:
    """Return a sample value without losing digits of large integers."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """The service's figures, kept in memory and rendered on demand."""

    def __init__(self) -> None:
        self.values: dict[str, dict[Labels, float]] = defaultdict(dict)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to a counter."""
        series = self.values[name]
        key = _labels(labels)
        series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        self.values[name][_labels(labels)] = value

    def get(self, name: str, **labels: str) -> float:
        """Return one series' value (0 when never set)."""
        return self.values[name].get(_labels(labels), 0.0)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        """Record one observation of a summary (its sum and count)."""
        self.inc(f"{name}_sum", seconds, **labels)
        self.inc(f"{name}_count", 1.0, **labels)

    def render(self) -> str:
        """Return every family in the Prometheus text exposition format."""
        lines = []
        for family, (kind, help_text) in FAMILIES.items():
            names = [f"{family}_sum", f"{family}_count"] if kind == "summary" else [family]
            lines += [f"# HELP {family} {help_text}", f"# TYPE {family} {kind}"]
            for name in names:
                lines += [f"{name}{_render_labels(k)} {_number(v)}" for k, v in sorted(self.values[name].items())]
        return "\n".join(lines) + "\n"

"""The workers' metric families (`quantdesk.metrics` keeps and renders them), one `WorkerMetrics` per pipeline.

Every family is labelled with the worker's `role`. The pure parts (`streams.domain`, `streams.risk`) know nothing of
metrics: the agents and loops read figures off them after each batch or tick and record them here.
"""

import time
from bisect import bisect_left
from collections import Counter as Tally
from typing import TYPE_CHECKING, Any, Iterable

from prometheus_client import Counter, Gauge, Histogram

from quantdesk import metrics
from quantdesk.metrics import Family
from quantdesk.wire import EncodedRun

if TYPE_CHECKING:  # the feed worker shows its figures without loading the risk engine's compiled parts
    from streams.risk.snapshot_bytes import Published

ROWS_BUCKETS = (1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

FAMILIES: dict[str, Family] = {
    "worker_events_in_total": Family(Counter, "Events read, by topic (once a process, by the reader that owns them).",
                                     ("role", "topic")),
    "worker_events_out_total": Family(Counter, "Events published, by topic.", ("role", "topic")),
    "worker_dead_letters_total": Family(Counter, "Dead letters published, by why (a bounded category).",
                                        ("role", "reason")),
    "worker_event_latency_seconds": Family(Histogram, "Wall clock at publish minus the oldest event's time in each "
                                                      "published batch, by topic.",
                                           ("role", "topic"), LATENCY_BUCKETS),
    "worker_consumer_lag": Family(Gauge, "Messages not yet read (highwater minus position), by reader and partition.",
                                  ("role", "reader", "topic", "partition")),
    "worker_reorder_buffer_events": Family(Gauge, "Events held by a reader's reorder buffer.", ("role", "reader")),
    "worker_sink_rows_total": Family(Counter, "Rows the sink added to ClickHouse, by table.", ("role", "table")),
    "worker_sink_batch_rows": Family(Histogram, "Events per batch the sink wrote, by table.", ("role", "table"),
                                     ROWS_BUCKETS),
    "worker_sink_batch_seconds": Family(Histogram, "Seconds to write a batch (retries included), by table.",
                                        ("role", "table")),
    "worker_sink_retries_total": Family(Counter, "Writes retried because ClickHouse failed, by table.",
                                        ("role", "table")),
    "worker_remargin_seconds": Family(Histogram, "Seconds the risk engine took to apply an oracle tick.", ("role",)),
    "worker_accounts": Family(Gauge, "Accounts, by state.", ("role", "state")),
    "worker_liquidations_planned_total": Family(Counter, "Liquidation plans made, by market they close.",
                                                ("role", "market")),
    "worker_liquidations_filled_total": Family(Counter, "Liquidation fills applied, by market.", ("role", "market")),
    "worker_insurance_fund_usd": Family(Gauge, "The insurance fund (a float screen of the exact figure).", ("role",)),
    "worker_signals_total": Family(Counter, "MIKEY signals published, by kind.", ("role", "kind")),
    "worker_oracle_last_event_seconds": Family(Gauge, "The newest oracle tick's event time, unix seconds.",
                                               ("role", "market")),
}

# A dead letter's reason, as the code writes it, starts with one of these: the category is its label.
REASONS = {"not JSON": "not_json", "invalid ": "invalid", "unknown market": "unknown_market",
           "cannot be stored": "unstorable", "late: ": "late"}
REFUSED = "refused"  # whatever else: the risk engine (a withdrawal past free collateral) or the orders worker (a fill
# of an order not placed) refused the event


def reason_category(reason: str) -> str:
    """Return the bounded category of a dead letter's free-text reason."""
    return next((label for prefix, label in REASONS.items() if reason.startswith(prefix)), REFUSED)


def event_seconds(event: Any) -> float:
    """Return an event's time (a model's or a dict's `ts`, milliseconds) in unix seconds."""
    ts = event["ts"] if isinstance(event, dict) else event.ts
    return ts / 1000


class WorkerMetrics(metrics.Metrics):
    """One role's figures in a registry of its own; the series a loop records often are bound once."""

    def __init__(self, role: str, markets: Iterable[str] = ()) -> None:
        super().__init__(FAMILIES)
        self.role = role
        self.out: dict[str, tuple[Any, Any]] = {}  # topic -> (events out, latency)
        self.newest_tick: dict[str, float] = {}
        self.ticked: set[str] = set()  # markets whose newest tick is not shown yet
        self.child("worker_insurance_fund_usd")
        self.child("worker_remargin_seconds")
        for market in markets:
            self.child("worker_oracle_last_event_seconds", market=market)

    def child(self, name: str, **labels: str) -> Any:
        """Return a family's series for this role and `labels` (0 from its first call: the scrape shows it)."""
        return self.families[name].labels(role=self.role, **labels)

    def reading(self, topics: Iterable[str]) -> dict[str, Any]:
        """Return the events-in counter of each topic a loop reads."""
        return {topic: self.child("worker_events_in_total", topic=topic) for topic in topics}

    def publishing(self, topics: Iterable[str]) -> None:
        """Show the topics a loop publishes from the first scrape, and each category of dead letter if it publishes
        them."""
        for topic in topics:
            self.outgoing(topic)
            if topic == "dlq":
                for category in (*REASONS.values(), REFUSED):
                    self.child("worker_dead_letters_total", reason=category)

    def outgoing(self, topic: str) -> tuple[Any, Any]:
        """Return the events-out counter and latency histogram of a topic."""
        if topic not in self.out:
            self.out[topic] = (self.child("worker_events_out_total", topic=topic),
                               self.child("worker_event_latency_seconds", topic=topic))
        return self.out[topic]

    def published(self, topic: str, keyed: list[tuple[str, Any] | EncodedRun]) -> None:
        """Count events published to `topic`, and how far behind the wall clock the batch went: one observation
        per publish, its oldest event's (an observation per event costs microseconds each in a child's files);
        count dead letters by category and signals by kind."""
        count, latency = self.outgoing(topic)
        count.inc(sum(len(item) if isinstance(item, EncodedRun) else 1 for item in keyed))
        latency.observe(time.time() - min(item.ts / 1000 if isinstance(item, EncodedRun) else event_seconds(item[1])
                                          for item in keyed))
        if topic == "dlq":
            for category, n in Tally(reason_category(d.reason) for _, d in keyed).items():
                self.child("worker_dead_letters_total", reason=category).inc(n)
        elif topic == "mikey.signals":
            for kind, n in Tally(s.kind for _, s in keyed).items():
                self.child("worker_signals_total", kind=kind).inc(n)

    def oracle_seen(self, market: str, ts: int) -> None:
        """Note a tick's event time when it is its market's newest (`show_ticks` shows it)."""
        seconds = ts / 1000
        if seconds > self.newest_tick.get(market, 0.0):
            self.newest_tick[market] = seconds
            self.ticked.add(market)

    def show_ticks(self) -> None:
        """Show each market's newest tick noted since the last call: once a batch, not once a tick (a gauge set
        costs microseconds in a child's files, and every risk task sees every tick)."""
        for market in self.ticked:
            self.child("worker_oracle_last_event_seconds", market=market).set(self.newest_tick[market])
        self.ticked.clear()


class Observations:
    """Observations of one histogram series, counted in this process by bucket as the series would count them, and
    added to it together (`write`): a series in a child's files writes each observation there, ~3 µs each."""

    def __init__(self, series: Histogram) -> None:
        self.series = series
        self.bounds = series._upper_bounds  # the last is +Inf: every observation falls in a bucket
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, amount: float) -> None:
        """Count `amount` in the first bucket whose upper bound holds it."""
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.total += amount

    def write(self) -> None:
        """Add what was counted since the last write to the series."""
        if not any(self.counts):
            return
        for bucket, n in zip(self.series._buckets, self.counts):
            if n:
                bucket.inc(n)
        self.series._sum.inc(self.total)
        self.counts, self.total = [0] * len(self.bounds), 0.0


class AccountsByState:
    """How many accounts stand in each state, kept from the snapshots the risk engine publishes."""

    def __init__(self, metrics: WorkerMetrics, states: Iterable[str]) -> None:
        self.gauges = {state: metrics.child("worker_accounts", state=state) for state in states}
        self.metrics = metrics
        self.state: dict[str, str] = {}
        self.count: Tally[str] = Tally()

    def take(self, states: dict[str, str]) -> None:
        """Count more accounts (a restored task's), each in its state, and show the counts."""
        for key, state in states.items():
            self.state[key] = state
            self.count[state] += 1
        self.show()

    def drop(self, keys: Iterable[str]) -> None:
        """Stop counting these accounts (a task this worker gave up), and show the counts."""
        for key in keys:
            if (state := self.state.pop(key, None)) is not None:
                self.count[state] -= 1
        self.show()

    def update(self, snapshots: Iterable["Published"]) -> None:
        """Move the accounts these snapshots show and show the counts."""
        for s in snapshots:
            key = f"{s.wallet}:{s.subaccount}"
            before = self.state.get(key)
            if before != s.state:
                if before is not None:
                    self.count[before] -= 1
                self.count[s.state] += 1
                self.state[key] = s.state
        self.show()

    def show(self) -> None:
        """Set each state's gauge."""
        for state, n in self.count.items():
            gauge = self.gauges.get(state) or self.gauges.setdefault(
                state, self.metrics.child("worker_accounts", state=state))
            gauge.set(n)

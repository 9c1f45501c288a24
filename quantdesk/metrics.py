"""Prometheus metrics, kept and rendered by `prometheus_client`: each service declares its families once, each
instance keeps them in a registry of its own (tests and services never share one), and one `/metrics` page may
show several registries and a child process's (`MultiProcessCollector`) as one."""

import os
import shutil
from pathlib import Path
from typing import Iterable, NamedTuple

from prometheus_client import CollectorRegistry, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus 2 scrapes
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's switch, read when a process imports it
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

disable_created_metrics()  # a `_created` series beside every counter doubles the scrape and no panel reads it


class Family(NamedTuple):
    """One metric family as a service declares it."""

    kind: type[MetricWrapperBase]
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = SECONDS_BUCKETS  # histograms only


class Metrics:
    """A service's families in a registry of its own."""

    def __init__(self, families: dict[str, Family]) -> None:
        self.registry = CollectorRegistry()
        self.families = {name: build(name, family, self.registry) for name, family in families.items()}

    def show(self, name: str, **labels: str) -> None:
        """Show a series at zero before its first event (a series born with its first event hides that event from
        `rate()`, and alerts on it cannot tell "none yet" from "not scraped")."""
        self.families[name].labels(**labels)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to a counter."""
        self.families[name].labels(**labels).inc(amount)  # type: ignore[attr-defined]

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        self.families[name].labels(**labels).set(value)  # type: ignore[attr-defined]

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Record one observation of a histogram or summary."""
        self.families[name].labels(**labels).observe(value)  # type: ignore[attr-defined]

    def render(self) -> bytes:
        """Return every family in the Prometheus text exposition format."""
        return generate_latest(self.registry)


def build(name: str, family: Family, registry: CollectorRegistry) -> MetricWrapperBase:
    """Return the family's metric, registered in `registry`."""
    options: dict[str, object] = {}
    if family.kind is Gauge:
        options["multiprocess_mode"] = "livemostrecent"  # in a child's files: its latest value while it lives
    if family.kind is Histogram:
        options["buckets"] = family.buckets
    return family.kind(name, family.help, family.labels, registry=registry, **options)


class Merged:
    """Several collectors read as one: families of one name (say, a worker family both in this process and in a
    child's files) become one family holding all their samples, as the text format requires."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self.collectors = tuple(collectors)

    def collect(self) -> Iterable[Metric]:
        """Yield each family once, with the samples of every collector."""
        merged: dict[str, Metric] = {}
        for collector in self.collectors:
            for family in collector.collect():
                if family.name not in merged:
                    merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                merged[family.name].samples.extend(family.samples)
        return merged.values()


def render(collectors: Iterable[Collector]) -> bytes:
    """Return the families of all `collectors` as one page of the text format."""
    return generate_latest(Merged(collectors))  # type: ignore[arg-type]


class ChildMetrics:
    """The metrics a child process writes to files under `path` (prometheus_client's multiprocess mode), for its
    parent to serve beside its own."""

    def __init__(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)  # files of an earlier run would add to this one's counters
        path.mkdir(parents=True)
        self.path = path
        self.registry = CollectorRegistry(auto_describe=True)
        MultiProcessCollector(self.registry, str(path))

    def env(self) -> dict[str, str]:
        """Return the environment a child writes its metrics under."""
        return {**os.environ, MULTIPROC_ENV: str(self.path)}

    def exited(self, pid: int) -> None:
        """Forget an exited child's gauges (its counters stay: they are still counts of what happened)."""
        mark_process_dead(pid, str(self.path))

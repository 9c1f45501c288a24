"""One page from several registries and a child process's files."""

import subprocess
import sys

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from quantdesk.metrics import ChildMetrics, Family, Metrics, render

FAMILIES = {
    "t_events_total": Family(Counter, "Events.", ("role",)),
    "t_accounts": Family(Gauge, "Accounts.", ("role",)),
    "t_seconds": Family(Histogram, "Seconds.", ("role",), buckets=(0.1, 1.0)),
}
CHILD = """
from quantdesk.metrics import Metrics
from tests.quantdesk.test_metrics import FAMILIES
m = Metrics(FAMILIES)
m.inc("t_events_total", 5, role="risk")
m.set("t_accounts", 7, role="risk")
m.observe("t_seconds", 0.5, role="risk")
"""


def samples(page: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of a page by name and labels; the parser refuses a family declared twice."""
    families = list(text_string_to_metric_families(page.decode()))
    assert len({f.name for f in families}) == len(families)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def test_a_family_in_two_registries_is_served_once_with_both_samples() -> None:
    feed, risk = Metrics(FAMILIES), Metrics(FAMILIES)
    feed.inc("t_events_total", 2, role="feed")
    risk.inc("t_events_total", 3, role="risk")
    page = samples(render([feed.registry, risk.registry]))
    assert page[("t_events_total", (("role", "feed"),))] == 2
    assert page[("t_events_total", (("role", "risk"),))] == 3


def test_a_child_process_metrics_are_served_by_the_parent_and_its_gauges_go_with_it(tmp_path) -> None:
    child = ChildMetrics(tmp_path / "risk")
    parent = Metrics(FAMILIES)
    parent.inc("t_events_total", 1, role="feed")
    subprocess.run([sys.executable, "-c", CHILD], env=child.env(), check=True)
    page = samples(render([parent.registry, child.registry]))
    assert page[("t_events_total", (("role", "feed"),))] == 1
    assert page[("t_events_total", (("role", "risk"),))] == 5
    assert page[("t_seconds_bucket", (("le", "1.0"), ("role", "risk")))] == 1
    assert page[("t_accounts", (("role", "risk"),))] == 7
    child.exited(int(next(child.path.glob("counter_*.db")).stem.rsplit("_", 1)[1]))  # files are named by pid
    page = samples(render([parent.registry, child.registry]))
    assert ("t_accounts", (("role", "risk"),)) not in page, "a dead child's gauges are not its current state"
    assert page[("t_events_total", (("role", "risk"),))] == 5, "what it counted happened"


def test_a_new_run_starts_from_no_child_files(tmp_path) -> None:
    ChildMetrics(tmp_path / "risk")
    (tmp_path / "risk" / "counter_1.db").write_bytes(b"stale")
    assert not list(ChildMetrics(tmp_path / "risk").path.iterdir())

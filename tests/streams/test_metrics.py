"""The workers' figures: dead letters counted by a bounded category, accounts by the state they stand in, re-margins
timed and newest ticks shown a batch at a time."""

from decimal import Decimal as D

import pytest
from hypothesis import given, strategies as st

from quantdesk.messages import AccountChange, AccountSnapshot, OracleTick
from quantdesk.metrics import SECONDS_BUCKETS
from streams.agents.sink import unstored
from streams.decode import decode_events
from streams.metrics import AccountsByState, Observations, WorkerMetrics, reason_category
from streams.ordered import late_reason
from streams.risk.engine import RiskEngine
from quantdesk.markets import DEFAULT_MARKETS


def reasons(raw: bytes) -> list[str]:
    """Return the reasons of a tick message's dead letters."""
    return [d.reason for d in decode_events(OracleTick, "oracle.ticks", raw, 0, lambda e: "unknown market 'X'")[1]]


def test_every_reason_the_workers_write_falls_in_one_category() -> None:
    withdrawal = AccountChange(id="w", ts=1_767_225_600_000, wallet="alice", kind="withdraw", amount=D(5))
    refused = RiskEngine(DEFAULT_MARKETS).apply(withdrawal).dead_letters[0].reason
    tick = b'[{"id":"t","ts":1767225600000,"market":"X","price":"1","conf":"0","publish_time":1767225600000}]'
    written = [*reasons(b"{nope"), *reasons(b'[{"id":"t"}]'), *reasons(tick),
               unstored("fills", [({"id": "f", "ts": 1}, "fills: too many digits")])[0].reason, refused,
               late_reason(60_000)]
    assert [reason_category(r) for r in written] == ["not_json", "invalid", "unknown_market", "unstorable", "refused",
                                                     "late"]



def snapshot(wallet: str, state: str) -> AccountSnapshot:
    """Return an account's snapshot in `state` (only its key and state count here)."""
    return AccountSnapshot.model_construct(wallet=wallet, subaccount=0, state=state)


def test_accounts_are_counted_in_the_state_their_latest_snapshot_shows() -> None:
    metrics = WorkerMetrics("risk")
    accounts = AccountsByState(metrics, ["new", "funded", "active", "liquidating"])
    accounts.take({"alice:0": "funded"})  # a task restored
    accounts.take({"dave:0": "funded", "erin:0": "liquidating"})  # another
    accounts.update([snapshot("alice", "active"), snapshot("bob", "funded"), snapshot("bob", "active"),
                     snapshot("carol", "closed")])
    page = metrics.render().decode()
    shown = {state: f'worker_accounts{{role="risk",state="{state}"}}'
             for state in ("funded", "active", "new", "closed", "liquidating")}
    assert f'{shown["active"]} 2.0' in page and f'{shown["funded"]} 1.0' in page and f'{shown["new"]} 0.0' in page
    assert f'{shown["closed"]} 1.0' in page  # a state not declared up front is shown once it has an account
    accounts.drop(["dave:0", "erin:0", "nobody:0"])  # a task given up: its accounts are another worker's to count
    page = metrics.render().decode()
    assert f'{shown["funded"]} 0.0' in page and f'{shown["liquidating"]} 0.0' in page
    assert f'{shown["active"]} 2.0' in page


def test_a_loop_that_publishes_dead_letters_shows_every_category_at_zero() -> None:
    metrics = WorkerMetrics("feed")
    metrics.publishing(["markets.state", "dlq"])
    page = metrics.render().decode()
    for category in ("not_json", "invalid", "unknown_market", "unstorable", "refused"):
        assert f'worker_dead_letters_total{{reason="{category}",role="feed"}} 0.0' in page
    assert "worker_dead_letters_total{" not in WorkerMetrics("risk").render().decode()  # nothing until it publishes


def histogram(metrics: WorkerMetrics) -> dict[str, float]:
    """Return the series of the re-margin histogram on a metrics page, each with its value."""
    lines = [line.rsplit(" ", 1) for line in metrics.render().decode().splitlines()]
    return {name: float(value) for name, value in lines if name.startswith("worker_remargin_seconds")}


@given(st.lists(st.one_of(st.sampled_from(SECONDS_BUCKETS), st.floats(0, 60), st.floats(-1, 1e9)), max_size=50),
       st.integers(0, 50))
def test_observations_written_together_show_what_each_observed_alone_shows(amounts: list[float], cut: int) -> None:
    alone, together = WorkerMetrics("risk"), WorkerMetrics("risk")
    for amount in amounts:
        alone.child("worker_remargin_seconds").observe(amount)
    observations = Observations(together.child("worker_remargin_seconds"))
    for n, amount in enumerate(amounts):
        observations.observe(amount)  # a bound itself falls in its own bucket, as the series counts it
        if n == cut:
            observations.write()
    assert len(histogram(together)) == len(SECONDS_BUCKETS) + 3  # every bucket, +Inf, the count and the sum
    observations.write()
    observations.write()  # nothing new: nothing added
    shown, expected = histogram(together), histogram(alone)
    total = 'worker_remargin_seconds_sum{role="risk"}'
    assert shown[total] == pytest.approx(expected.pop(total), rel=1e-12, abs=1e-12)  # summed in another order
    assert {name: value for name, value in shown.items() if name != total} == expected


def test_the_newest_tick_of_each_market_is_shown_once_the_batch_is() -> None:
    metrics = WorkerMetrics("risk", ["BTC-PERP", "ETH-PERP"])
    shown = 'worker_oracle_last_event_seconds{market="BTC-PERP",role="risk"}'
    for ts in (1_767_225_602_000, 1_767_225_601_000):  # the second is older: the newest stays
        metrics.oracle_seen("BTC-PERP", ts)
    assert f"{shown} 0.0" in metrics.render().decode()  # noted, not shown yet
    metrics.show_ticks()
    page = metrics.render().decode()
    assert f"{shown} 1.767225602e+09" in page
    assert 'worker_oracle_last_event_seconds{market="ETH-PERP",role="risk"} 0.0' in page

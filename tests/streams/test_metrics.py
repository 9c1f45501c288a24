"""The workers' figures: dead letters counted by a bounded category, accounts by the state they stand in."""

from decimal import Decimal as D

from quantdesk.messages import AccountChange, AccountSnapshot, OracleTick
from streams.agents.sink import unstored
from streams.decode import decode_events
from streams.metrics import AccountsByState, WorkerMetrics, reason_category
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

"""The owners of what spans the accounts, fed by every risk task's records, in apply order; no I/O.

Each fill's holder side goes to the open interest (`streams.risk.open_interest`), each liquidation outcome to the
insurance fund (`streams.risk.insurance`). Records wait until every task has applied past them
(`RiskOutcomes.through`), then go to their owner in apply order (their fill's, then their id's). A task restarted
from its checkpoint sends its last release again: the records of each task's latest release already taken are
dropped, and a higher release number proves the task checkpointed the one before, so only the latest is remembered.
"""

import heapq
from typing import Any, Iterable

from quantdesk.messages import HolderSide, LiquidationOutcome, RiskOutcomes
from streams.domain.alerts import Thresholds
from streams.risk.insurance import InsuranceFund
from streams.risk.open_interest import OpenInterest
from streams.risk.outputs import Outputs
from streams.risk.reorder import order_key

Key = tuple[int, int, str]
Record = HolderSide | LiquidationOutcome


class Owners:
    """The owners' state and the tasks' records waiting for their turn."""

    def __init__(self, markets: Iterable[str], thresholds: Thresholds | None, tasks: int = 1) -> None:
        """Own the open interest of `markets` and the insurance fund, raising signals on `thresholds` (None: none),
        for `tasks` risk tasks."""
        self.open_interest = OpenInterest(markets, thresholds)
        self.fund = InsuranceFund(signals=thresholds is not None)
        self.tasks = tasks
        self.through: dict[int, Key] = {}  # task -> the apply order key it has applied through
        self.latest: dict[int, tuple[int, set[str]]] = {}  # task -> its latest release and the ids taken from it
        self.waiting: list[tuple[Key, str, int, int, Record]] = []  # key, id, task, release, record
        self.held: set[str] = set()

    def after(self, caused: Outputs) -> Outputs:
        """Apply the records one event caused, at once (one engine, fed event by event); return what it caused
        followed by what they raise."""
        for record in sorted([*caused.sides, *caused.outcomes], key=lambda r: (order_key(r.fill), r.id)):
            caused.extend(self.apply(record))
        return caused

    def take(self, outcomes: RiskOutcomes) -> list[str]:
        """Hold a release's records not taken before; move its task's key; return the ids held."""
        task, (latest, taken) = outcomes.task, self.latest.get(outcomes.task, (-1, set()))
        if outcomes.release > latest:
            latest, taken = self.latest[task] = (outcomes.release, set())
        records: list[Record] = [*outcomes.sides, *outcomes.outcomes]
        fresh = [] if outcomes.release < latest else [
            r for r in records if r.id not in taken and r.id not in self.held]
        for record in fresh:
            heapq.heappush(self.waiting, (order_key(record.fill), record.id, task, outcomes.release, record))
            self.held.add(record.id)
        through = tuple(outcomes.through)
        if through > self.through.get(task, (0, 0, "")):
            self.through[task] = through  # type: ignore[assignment]
        return [record.id for record in fresh]

    def due(self) -> tuple[Outputs, list[str]]:
        """Apply every record no task can still precede, in apply order; return what they raise and their ids."""
        out, applied = Outputs(), []
        if len(self.through) < self.tasks:
            return out, applied
        frontier = min(self.through.values())
        while self.waiting and self.waiting[0][0] <= frontier:
            _, record_id, task, release, record = heapq.heappop(self.waiting)
            self.held.discard(record_id)
            out.extend(self.apply(record))
            if self.latest[task][0] == release:
                self.latest[task][1].add(record_id)
            applied.append(record_id)
        return out, applied

    def apply(self, record: Record) -> Outputs:
        """Apply one record to its owner; return what it raises."""
        if isinstance(record, HolderSide):
            return self.open_interest.apply(record)
        return self.fund.apply(record)

    def to_row(self) -> dict[str, Any]:
        """Return the owners' rows and what is remembered of each task, as a stored row."""
        return {"open_interest": self.open_interest.to_row(), "insurance_fund": self.fund.to_row(),
                "through": {str(t): list(k) for t, k in self.through.items()},
                "latest": {str(t): [n, sorted(ids)] for t, (n, ids) in self.latest.items()}}

    def load_row(self, row: dict[str, Any]) -> None:
        """Take back a `to_row` row."""
        self.open_interest.load_row(row["open_interest"])
        self.fund.load_row(row["insurance_fund"])
        self.through = {int(t): (k[0], k[1], k[2]) for t, k in row["through"].items()}
        self.latest = {int(t): (n, set(ids)) for t, (n, ids) in row["latest"].items()}

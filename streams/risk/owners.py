"""The owners of what spans the accounts, fed by every risk task's records, in apply order; no I/O.

Records wait until every task has applied past them (`RiskOutcomes.through`), then go to their owner in apply
order: each fill's holder side to the open interest (`streams.risk.open_interest`). A task restarted from its
checkpoint sends its last release again: the records of each task's latest release already taken are dropped,
and a higher release number proves the task checkpointed the one before, so only the latest is remembered.
"""

import heapq
from typing import Any

from quantdesk.messages import HolderSide, RiskOutcomes
from streams.domain.alerts import Thresholds
from streams.risk.open_interest import OpenInterest
from streams.risk.outputs import Outputs
from streams.risk.reorder import order_key

Key = tuple[int, int, str]


class Owners:
    """The owners' state and the tasks' records waiting for their turn, without I/O."""

    def __init__(self, markets: list[str], thresholds: Thresholds | None, tasks: int) -> None:
        self.open_interest = OpenInterest(markets, thresholds)
        self.tasks = tasks
        self.through: dict[int, Key] = {}  # task -> the apply order key it has applied through
        self.latest: dict[int, tuple[int, set[str]]] = {}  # task -> its latest release and the ids taken from it
        self.waiting: list[tuple[Key, str, int, int, HolderSide]] = []  # key, id, task, release, record
        self.held: set[str] = set()

    def take(self, outcomes: RiskOutcomes) -> list[str]:
        """Hold a release's records not taken before; move its task's key; return the ids held."""
        task, (latest, taken) = outcomes.task, self.latest.get(outcomes.task, (-1, set()))
        if outcomes.release > latest:
            latest, taken = self.latest[task] = (outcomes.release, set())
        fresh = [] if outcomes.release < latest else [
            side for side in outcomes.sides if side.id not in taken and side.id not in self.held]
        for side in fresh:
            heapq.heappush(self.waiting, (order_key(side.fill), side.id, task, outcomes.release, side))
            self.held.add(side.id)
        through = tuple(outcomes.through)
        if through > self.through.get(task, (0, 0, "")):
            self.through[task] = through  # type: ignore[assignment]
        return [side.id for side in fresh]

    def due(self) -> tuple[Outputs, list[str]]:
        """Apply every record no task can still precede, in apply order; return what they raise and their ids."""
        out, applied = Outputs(), []
        if len(self.through) < self.tasks:
            return out, applied
        frontier = min(self.through.values())
        while self.waiting and self.waiting[0][0] <= frontier:
            _, record_id, task, release, side = heapq.heappop(self.waiting)
            self.held.discard(record_id)
            out.extend(self.open_interest.apply(side))
            if self.latest[task][0] == release:
                self.latest[task][1].add(record_id)
            applied.append(record_id)
        return out, applied

    def to_row(self) -> dict[str, Any]:
        """Return the owners' rows and what is remembered of each task, as a stored row."""
        return {"open_interest": self.open_interest.to_row(),
                "through": {str(t): list(k) for t, k in self.through.items()},
                "latest": {str(t): [n, sorted(ids)] for t, (n, ids) in self.latest.items()}}

    def load_row(self, row: dict[str, Any]) -> None:
        """Take back a `to_row` row."""
        self.open_interest.load_row(row["open_interest"])
        self.through = {int(t): (k[0], k[1], k[2]) for t, k in row["through"].items()}
        self.latest = {int(t): (n, set(ids)) for t, (n, ids) in row["latest"].items()}

"""The owners of what spans the accounts, fed by every risk task's records, in apply order; no I/O.

Each fill's holder side goes to the open interest (`streams.risk.open_interest`), each liquidation outcome to the
insurance fund (`streams.risk.insurance`). Records wait until every task has applied past them
(`RiskOutcomes.through`), then go to their owner in apply order (their fill's, then their id's). The records still
waiting are part of the owners' row, so a restored owner reads on after what it had read, and takes nothing twice;
a task restarted from its checkpoint sends none that it sent before (`streams.agents.accounts`).
"""

import heapq
from typing import Any, Iterable

from typing import Annotated

from pydantic import Field, TypeAdapter

from quantdesk.messages import HolderSide, InsuranceCredit, LiquidationCompletion, LiquidationOutcome, RiskOutcomes
from streams.domain.alerts import Thresholds
from streams.risk.insurance import InsuranceFund
from streams.risk.open_interest import OpenInterest
from streams.risk.outputs import Outputs
from streams.risk.reorder import Key, order_key

Record = HolderSide | LiquidationOutcome
RECORD: TypeAdapter[Record] = TypeAdapter(Annotated[HolderSide | InsuranceCredit | LiquidationCompletion,
                                                    Field(discriminator="kind")])


class Owners:
    """The owners' state and the tasks' records waiting for their turn."""

    def __init__(self, markets: Iterable[str], thresholds: Thresholds | None, tasks: int = 1) -> None:
        """Own the open interest of `markets` and the insurance fund, raising signals on `thresholds` (None: none),
        for `tasks` risk tasks."""
        self.open_interest = OpenInterest(markets, thresholds)
        self.fund = InsuranceFund(signals=thresholds is not None)
        self.tasks = tasks
        self.through: dict[int, Key] = {}  # task -> the apply order key it has applied through
        self.waiting: list[tuple[Key, str, Record]] = []  # apply order key, id, record
        self.held: set[str] = set()

    def after(self, caused: Outputs) -> Outputs:
        """Apply the records one event caused, at once (one engine, fed event by event); return what it caused
        followed by what they raise."""
        for record in sorted([*caused.sides, *caused.outcomes], key=lambda r: (order_key(r.fill), r.id)):
            caused.extend(self.apply(record))
        return caused

    def take(self, outcomes: RiskOutcomes) -> list[str]:
        """Hold a release's records (one held already is not held twice); move its task's key; return the ids
        held."""
        fresh = [r for r in [*outcomes.sides, *outcomes.outcomes] if r.id not in self.held]
        for record in fresh:
            heapq.heappush(self.waiting, (order_key(record.fill), record.id, record))
            self.held.add(record.id)
        through = tuple(outcomes.through)
        if through > self.through.get(outcomes.task, (0, 0, "")):
            self.through[outcomes.task] = through  # type: ignore[assignment]
        return [r.id for r in fresh]

    def due(self) -> tuple[Outputs, list[str]]:
        """Apply every record no task can still precede, in apply order; return what they raise and their ids."""
        out, applied = Outputs(), []
        if len(self.through) < self.tasks:
            return out, applied
        frontier = min(self.through.values())
        while self.waiting and self.waiting[0][0] <= frontier:
            _, record_id, record = heapq.heappop(self.waiting)
            self.held.discard(record_id)
            out.extend(self.apply(record))
            applied.append(record_id)
        return out, applied

    def apply(self, record: Record) -> Outputs:
        """Apply one record to its owner; return what it raises."""
        if isinstance(record, HolderSide):
            return self.open_interest.apply(record)
        return self.fund.apply(record)

    def to_row(self) -> dict[str, Any]:
        """Return the owners' rows, how far each task has applied and the records waiting, as a stored row."""
        return {"open_interest": self.open_interest.to_row(), "insurance_fund": self.fund.to_row(),
                "through": {str(t): list(k) for t, k in self.through.items()},
                "waiting": [RECORD.dump_python(record, mode="json") for _, _, record in sorted(self.waiting)]}

    def load_row(self, row: dict[str, Any]) -> None:
        """Take back a `to_row` row."""
        self.open_interest.load_row(row["open_interest"])
        self.fund.load_row(row["insurance_fund"])
        self.through = {int(t): (k[0], k[1], k[2]) for t, k in row["through"].items()}
        self.waiting, self.held = [], set()
        for raw in row["waiting"]:
            record = RECORD.validate_python(raw)
            heapq.heappush(self.waiting, (order_key(record.fill), record.id, record))
            self.held.add(record.id)

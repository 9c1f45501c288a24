"""Owners agent: what spans the accounts, from every risk task's records, in event-time order.

A risk task holds only its own accounts, so what counts across them has one owner fed by records
(`streams.risk.owners`). Each task sends, per release, one message on its partition of `risk.outcomes`
(`RiskOutcomes`): its release number, the apply order key of the last event it applied, and the records the release
left. This agent, run beside task 0, reads every partition and applies the records in apply order up to the least
key every task has applied through: no task can still send a record before it (but a late event's, applied as it
comes, as one engine would), so any number of workers gives one order, and so one set of outputs.

Its checkpoint (the owners' rows with the records still waiting, each task's key, and where each partition was read
to) goes to the first partition of `risk.owners`, as a task's does: a restored agent reads on after it.

The tasks running in the owners' worker hand their messages over as they sent them (`Handed`): decoding each message
again, every holder side with its fill, took the owners ~0.1 s of a quick run's ~6 s risk worker.
"""

from collections import OrderedDict
from typing import Any

from aiokafka import TopicPartition

from quantdesk.broker import BATCH_FETCH_WAIT_MS, BATCH_PARTITION_BYTES
from quantdesk.kafka.lag import progress_group
from quantdesk.kafka.reader import Reader
from quantdesk.messages import RiskOutcomes, account_key
from streams.domain.alerts import Thresholds
from streams.ordered import Positions, offset_key
from streams.pipeline import Pipeline
from streams.risk.checkpoint import CheckpointLog, Fence, Journal, write
from streams.risk.owners import Owners

FETCH_MS = 200
OUTPUTS = ("accounts.ledger", "mikey.signals", "audit.log")


class Handed:
    """The records the tasks of this worker sent, kept at the partition and offset each send gave while the owners run
    here, until the owners read that message: they take it as it was sent instead of decoding it. A message the owners
    read before its send completed (they decode it) goes once they read on past it."""

    def __init__(self) -> None:
        self.kept: dict[Any, OrderedDict[int, RiskOutcomes]] = {}
        self.open = False  # the owners run in this worker

    def sent(self, tp: Any, outcomes: RiskOutcomes, delivery: Any) -> None:
        """Keep a task's records sent to partition `tp` at the offset `delivery` (the send's future, done) gives,
        while the owners run here and the send did not fail."""
        if self.open and not delivery.cancelled() and delivery.exception() is None:
            self.kept.setdefault(tp, OrderedDict())[delivery.result().offset] = outcomes

    def take(self, tp: Any, offset: int) -> RiskOutcomes | None:
        """Return the records kept for the message at `offset` of `tp`, or None; forget those up to it."""
        kept = self.kept.get(tp)
        while kept and next(iter(kept)) < offset:
            kept.popitem(last=False)
        return kept.pop(offset, None) if kept else None

    def close(self) -> None:
        """Keep nothing more: the owners stopped here."""
        self.open = False
        self.kept.clear()


class OwnersAgent:
    """The owners behind the tasks' records: read, applied in order, published, checkpointed."""

    def __init__(self, pipeline: Pipeline, fence: Fence | None = None, handed: Handed | None = None) -> None:
        """Own what spans the accounts for `pipeline`'s tasks, checkpointing once `fence` confirms this worker holds
        task 0 (none: no check), taking the records this worker's tasks sent from `handed` (none: all decoded)."""
        settings = pipeline.settings
        self.pipeline, self.fence, self.handed = pipeline, fence, handed
        self.owners = Owners(list(settings.market_names), Thresholds.of(settings), settings.topic_partitions)
        self.topic = settings.topic("risk.outcomes")
        self.parts = [TopicPartition(self.topic, p) for p in range(settings.topic_partitions)]
        self.log = CheckpointLog(pipeline.bootstrap, settings.topic("risk.owners"), 0)
        self.table = Journal()
        self.positions = Positions({})
        self.group = progress_group(settings, "owners")
        self.shown: dict[TopicPartition, int] = {}
        self.insurance_fund = pipeline.metrics.child("worker_insurance_fund_usd")
        pipeline.metrics.publishing(OUTPUTS)

    async def run(self) -> None:
        """Load the owners from their checkpoint, then read every task's records on from its offsets, until
        cancelled."""
        restored = await self.log.restore()
        self.table = Journal(restored.tables.get("owners"))
        if "owners" in self.table:
            self.owners.load_row(self.table["owners"])
        self.insurance_fund.set(float(self.owners.fund.balance))
        start = {tp: restored.offsets.get(offset_key(tp), 0) for tp in self.parts}
        self.positions = Positions(start)  # the read positions, and for the progress shown what waits where
        if self.handed is not None:
            self.handed.open = True
        try:
            await self.read(start)
        finally:
            if self.handed is not None:
                self.handed.close()

    async def read(self, start: dict[TopicPartition, int]) -> None:
        """Read every task's records from `start` on and apply them as they fall due, until cancelled."""
        async with Reader(self.pipeline.bootstrap, self.group, BATCH_FETCH_WAIT_MS, BATCH_PARTITION_BYTES) as reader:
            reader.assign(start)
            while True:
                fetched = await reader.fetch(timeout_ms=FETCH_MS)
                for tp, records in fetched.items():
                    for record in records:
                        held = self.owners.take(self.outcomes(tp, record))
                        self.positions.read(tp, record.offset, held)
                await self.apply_due()
                if (offsets := self.positions.offsets()) != self.shown:  # progress only: `quantdesk.kafka.lag`
                    await reader.commit(offsets)
                    self.shown = offsets

    def outcomes(self, tp: TopicPartition, record: Any) -> RiskOutcomes:
        """Return the records a message holds: as its task sent them, if it ran here, else decoded."""
        handed = self.handed.take(tp, record.offset) if self.handed is not None else None
        return handed if handed is not None else RiskOutcomes.model_validate_json(record.value)

    async def apply_due(self) -> None:
        """Apply the records due; publish what they raise and wait until the broker holds it; then checkpoint."""
        out, applied = self.owners.due()
        if not applied:
            return
        send = self.pipeline.publish
        await send("accounts.ledger", ((account_key(e.wallet, e.subaccount), e) for e in out.ledger))
        await send("mikey.signals", ((s.subject, s) for s in out.signals))
        await send("audit.log", ((a.subject, a) for a in out.audit))
        await self.pipeline.flush()
        self.insurance_fund.set(float(self.owners.fund.balance))
        # records restored with the checkpoint were read before it: only those read since hold a message back
        self.positions.applied(i for i in applied if i in self.positions.holder)
        self.table["owners"] = self.owners.to_row()
        await write(self.log, await self.pipeline.app.maybe_start_producer(), {"owners": self.table},
                    {offset_key(tp): offset for tp, offset in self.positions.next.items()}, self.fence)

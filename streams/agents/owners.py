"""Owners agent: what spans the accounts, from every risk task's records, in event-time order.

A risk task holds only its own accounts, so what counts across them has one owner fed by records
(`streams.risk.owners`). Each task sends, per release, one message on its partition of `risk.outcomes`
(`RiskOutcomes`): its release number, the apply order key of the last event it applied, and the records the release
left. This agent, run beside task 0, reads every partition and applies the records in apply order up to the least
key every task has applied through: no task can still send a record before it (but a late event's, applied as it
comes, as one engine would), so any number of workers gives one order, and so one set of outputs.

Its checkpoint (the owners' rows with the records still waiting, each task's key, and where each partition was read
to) goes to the first partition of `risk.owners`, as a task's does: a restored agent reads on after it.
"""

from aiokafka import TopicPartition

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


class OwnersAgent:
    """The owners behind the tasks' records: read, applied in order, published, checkpointed."""

    def __init__(self, pipeline: Pipeline, fence: Fence | None = None) -> None:
        """Own what spans the accounts for `pipeline`'s tasks, checkpointing once `fence` confirms this worker holds
        task 0 (none: no check)."""
        settings = pipeline.settings
        self.pipeline, self.fence = pipeline, fence
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
        async with Reader(self.pipeline.bootstrap, self.group) as reader:
            reader.assign(start)
            while True:
                fetched = await reader.fetch(timeout_ms=FETCH_MS)
                for tp, records in fetched.items():
                    for record in records:
                        held = self.owners.take(RiskOutcomes.model_validate_json(record.value))
                        self.positions.read(tp, record.offset, held)
                await self.apply_due()
                if (offsets := self.positions.offsets()) != self.shown:  # progress only: `quantdesk.kafka.lag`
                    await reader.commit(offsets)
                    self.shown = offsets

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

"""Ordered input whose state goes to a checkpoint log every few seconds and comes back from it on start: the feed's
markets and orders agents, and the risk tasks.

Every few seconds of wall-clock time (`QUANTDESK_FEED_CHECKPOINT_S`, `QUANTDESK_RISK_CHECKPOINT_S`), once something
was applied, a reader writes what its state changed since its last checkpoint, with the offsets of the first messages
holding events it has not applied (`streams.risk.checkpoint`, on its partition of its own log topic). A start reads
the log back and reads on from those offsets, so what it reads again is bounded by that interval, not by all history.
The rows a checkpoint writes are taken when it is written, not at each release: a row changed by many releases in
between is made and written once. The feed's readers send nothing for what they apply again (`streams.ordered`,
`told`); the risk tasks send it again, under the same ids. Two feed workers running at once both write the log; a
restore follows one writer's line (`streams.risk.checkpoint.line`).
"""

import time
from typing import Any

from streams.ordered import OrderedInput, offset_key
from streams.risk.checkpoint import CheckpointLog, Fence, Journal, write

FULL_EVERY = 720  # checkpoints between two whole copies (an hour's, when busy)


class CheckpointedInput(OrderedInput):
    """An ordered reader that checkpoints its state on the first partition of `log_topic` every `interval` setting's
    seconds."""

    log_topic = ""  # the logical name of its checkpoint log
    interval = "feed_checkpoint_s"  # the setting of the seconds between two checkpoints

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: CheckpointLog | None = None  # the checkpoint log, once `run` has read it back
        self.checkpointed = (0, 0.0)  # the buffer's count of releases at the last checkpoint, and when (monotonic)
        self.fence: Fence | None = None  # what a checkpoint waits for first: the group's word that it still holds it

    def restore(self, tables: dict[str, dict[str, Any]]) -> None:
        """Rebuild the state from the tables the log held, into journals the next checkpoints take from."""
        raise NotImplementedError

    def save(self) -> dict[str, Journal]:
        """Write what the state changed since the last checkpoint into its journals; return them."""
        raise NotImplementedError

    def offsets(self) -> dict[str, int]:
        """Return the offsets a checkpoint names: the first message of each input partition holding an event not
        applied."""
        return {offset_key(tp): offset for tp, offset in self.positions.offsets().items()}

    async def run(self) -> None:
        """Rebuild the state from the last checkpoint, then read on from the offsets it covers, until cancelled."""
        log = CheckpointLog(self.bootstrap, self.pipeline.settings.topic(self.log_topic), 0, full_every=FULL_EVERY)
        restored = await log.restore()
        self.restore(restored.tables)
        self.log, self.checkpointed = log, (self.buffer.releases, time.monotonic())
        await self.read(restored.offsets)

    async def on_timer(self) -> None:
        """Apply what is due and show progress; checkpoint if one is due."""
        await super().on_timer()
        await self.checkpoint()

    async def checkpoint(self) -> None:
        """Write a checkpoint once the `interval` setting's seconds have passed since the last one and something was
        applied since (never before the log is known)."""
        releases, at = self.checkpointed
        every = getattr(self.pipeline.settings, self.interval)
        if self.log is None or self.buffer.releases == releases or time.monotonic() - at < every:
            return
        tables = self.save()
        await write(self.log, await self.pipeline.app.maybe_start_producer(), tables, self.offsets(), self.fence)
        self.checkpointed = (self.buffer.releases, time.monotonic())

"""Ordered input whose state goes to a checkpoint log every few seconds and comes back from it on start: the feed's
markets and orders agents.

Every `QUANTDESK_FEED_CHECKPOINT_S` of wall-clock time, once something was applied, a reader writes what its state
changed since its last checkpoint, with the offsets of the first messages holding events it has not applied
(`streams.risk.checkpoint`, on the first partition of its own log topic). A start reads the log back and reads on
from those offsets, so what it reads again is bounded by that interval, not by all history. What it applies again
there it sends nothing for, as what an earlier run delivered (`streams.ordered`, `told`). Two feed workers running at
once both write the log; a restore follows one writer's line (`streams.risk.checkpoint.line`).
"""

import time
from typing import Any

from streams.ordered import OrderedInput, offset_key
from streams.risk.checkpoint import CheckpointLog, Journal, write

FULL_EVERY = 720  # checkpoints between two whole copies (an hour's, when busy)


class CheckpointedInput(OrderedInput):
    """An ordered reader that checkpoints its state on the first partition of `log_topic`."""

    log_topic = ""  # the logical name of its checkpoint log

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: CheckpointLog | None = None  # the checkpoint log, once `run` has read it back
        self.checkpointed = (0, 0.0)  # the buffer's count of releases at the last checkpoint, and when (monotonic)

    def restore(self, tables: dict[str, dict[str, Any]]) -> None:
        """Rebuild the state from the tables the log held, into journals the next checkpoints take from."""
        raise NotImplementedError

    def save(self) -> dict[str, Journal]:
        """Write what the state changed since the last checkpoint into its journals; return them."""
        raise NotImplementedError

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
        """Write a checkpoint once `QUANTDESK_FEED_CHECKPOINT_S` has passed since the last one and something was
        applied since (never before `run` has read the log back)."""
        releases, at = self.checkpointed
        every = self.pipeline.settings.feed_checkpoint_s
        if self.log is None or self.buffer.releases == releases or time.monotonic() - at < every:
            return
        tables = self.save()
        offsets = {offset_key(tp): offset for tp, offset in self.positions.offsets().items()}
        await write(self.log, await self.pipeline.app.maybe_start_producer(), tables, offsets)
        self.checkpointed = (self.buffer.releases, time.monotonic())

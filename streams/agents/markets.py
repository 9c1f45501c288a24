"""Market agent: oracle guard, mark price and TWAP per market, published to `markets.state`.

Ticks and fills are folded in event-time order (`streams.ordered`), so marks, TWAPs and staleness are
the same in every run whatever order the partitions are read in. Every `QUANTDESK_FEED_CHECKPOINT_S` (5 s), once
something was applied, the trackers, MIKEY's watches and the ids applied go to the agent's checkpoint log with the
offsets they cover (`streams.markets_store`, on the first partition of `markets.checkpoints`). A start reads the
log back and reads on from those offsets, not from the input's start, so what a start reads again is bounded by that
interval, not by all history. It publishes the states (and signals) of what an earlier run had not applied yet
(`streams.ordered`, `told`), under the same ids as a run from the start would. Applied ids are remembered for
`QUANTDESK_MAX_LATENESS_MS` of event time (`streams.ordered`); a tick or fill later than that goes to `dlq` as late,
but for a liquidation's fill: it moves no market figure, and the risk worker that awaits it may send it days of
event time behind this one in a replay.

MIKEY's market rules that need the tracker run here (`streams.domain.market_signals.MarketWatch`): realised
volatility, whale fills, the oracle degraded and recovered, and our mark against other venues' prices
(`venues.prices`, folded in the same event-time order, after fills at equal times). Their state is checkpointed with
the trackers.
"""

import time
from typing import Any, Iterator

from quantdesk.messages import DeadLetter, Fill, MarketState, OracleTick, Signal, VenuePrice
from streams.pipeline import Pipeline
from streams.domain.alerts import Thresholds
from streams.domain.market_tracker import discovers_price
from streams.domain.markets import Markets
from streams.markets_store import MarketsStore
from streams.ordered import Decoded, OrderedInput, offset_key
from streams.risk.checkpoint import CheckpointLog, write
from streams.risk.reorder import Event

MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "venues.prices": VenuePrice}
OUTPUTS = ("markets.state", "mikey.signals", "dlq")
FULL_EVERY = 720  # checkpoints between two whole copies (an hour's, when busy)


class MarketsAgent(OrderedInput):
    """The market trackers behind ordered input, from their last checkpoint on."""

    resumes = True  # its checkpoints name the offsets its applied ids were read before

    def __init__(self, pipeline: Pipeline, shared: Decoded | None = None) -> None:
        """Track the settings' markets, taking messages the feed's other readers decoded from `shared`."""
        super().__init__(pipeline, MODELS, "markets", shared=shared)
        self.markets = Markets(pipeline.settings.market_names, Thresholds.of(pipeline.settings))
        self.store = MarketsStore()
        self.log: CheckpointLog | None = None  # the checkpoint log, once `run` has read it back
        self.touched: set[str] = set()  # the markets applied to since the last checkpoint
        self.checkpointed = (0, 0.0)  # the buffer's count of releases at the last checkpoint, and when (monotonic)
        pipeline.metrics.publishing(OUTPUTS)

    def check(self, event: Any) -> str | None:
        """Return why an event names a market this platform does not list, or None."""
        return self.markets.unknown(event)

    def timeless(self, event: Any) -> bool:
        """Tell whether an event is taken however late it comes: a liquidation's fill (the module's text)."""
        return type(event) is Fill and not discovers_price(event)

    async def dead_letters(self, topic: str, dead: list[DeadLetter]) -> None:
        """Publish the dead letters of ticks and fills."""
        await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))

    async def run(self) -> None:
        """Load the markets from the last checkpoint, then read ticks, fills and other venues' prices on from the
        offsets it covers, until cancelled."""
        settings = self.pipeline.settings
        log = CheckpointLog(self.bootstrap, settings.topic("markets.checkpoints"), 0, full_every=FULL_EVERY)
        restored = await log.restore()
        self.store = MarketsStore(restored.tables)
        self.store.load(self.markets, self.buffer)
        self.log, self.checkpointed = log, (self.buffer.releases, time.monotonic())
        await self.read(restored.offsets)

    async def release(self, events: Iterator[Event]) -> None:
        """Fold the events due into their markets; publish the states they cause and show the progress once the
        broker holds them; checkpoint if one is due."""
        applied = list(events)
        if not applied:
            return
        states: list[MarketState] = []
        signals: list[Signal] = []
        for event in applied:
            caused = self.markets.apply(event)  # type: ignore[arg-type]
            raised = self.markets.take_signals()
            self.touched.update(state.market for state in caused)  # a market gone stale is touched too
            self.touched.add(event.market)  # type: ignore[union-attr]
            if event.id not in self.again:  # an earlier run sent those of the others
                states += caused
                signals += raised
            if type(event) is OracleTick:
                self.pipeline.metrics.oracle_seen(event.market, event.ts)
        await self.pipeline.publish("markets.state", ((s.market, s) for s in states))
        await self.pipeline.publish("mikey.signals", ((s.subject, s) for s in signals))
        await self.pipeline.flush()
        self.settled(applied)
        await self.show_progress()
        await self.checkpoint()

    async def on_timer(self) -> None:
        """Apply what is due and show progress; checkpoint if one is due."""
        await super().on_timer()
        await self.checkpoint()

    async def checkpoint(self) -> None:
        """Write the markets touched, the clocks and the records of applied ids, with the offsets they cover, once
        `QUANTDESK_FEED_CHECKPOINT_S` has passed since the last checkpoint and something was applied since (never
        before `run` has read the log back)."""
        releases, at = self.checkpointed
        every = self.pipeline.settings.feed_checkpoint_s
        if self.log is None or self.buffer.releases == releases or time.monotonic() - at < every:
            return
        self.store.save(self.markets, self.buffer, sorted(self.touched))
        offsets = {offset_key(tp): offset for tp, offset in self.positions.offsets().items()}
        await write(self.log, await self.pipeline.app.maybe_start_producer(), self.store.tables, offsets)
        self.touched, self.checkpointed = set(), (self.buffer.releases, time.monotonic())


def register(pipeline: Pipeline, shared: Decoded | None = None) -> MarketsAgent:
    """Register the market worker as a task of the app, decoding with the feed's other readers through `shared`:
    its failure crashes the app."""
    worker = MarketsAgent(pipeline, shared)
    pipeline.loop(worker.run, "markets")
    return worker

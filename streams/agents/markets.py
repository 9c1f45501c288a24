"""Market agent: oracle guard, mark price and TWAP per market, published to `markets.state`.

Ticks and fills are folded in event-time order (`streams.ordered`), so marks, TWAPs and staleness are
the same in every run whatever order the partitions are read in. The trackers, MIKEY's watches and the ids applied
are checkpointed every few seconds (`streams.checkpointed`, `streams.markets_store`): a start reads on from the last
checkpoint, and publishes the states (and signals) of what an earlier run had not applied yet (`streams.ordered`,
`told`), under the same ids as a run from the start would. Applied ids are remembered for
`QUANTDESK_MAX_LATENESS_MS` of event time (`streams.ordered`); a tick or fill later than that goes to `dlq` as late,
but for a liquidation's fill: it moves no market figure, and the risk worker that awaits it may send it days of
event time behind this one in a replay.

MIKEY's market rules that need the tracker run here (`streams.domain.market_signals.MarketWatch`): realised
volatility, whale fills, the oracle degraded and recovered, and our mark against other venues' prices
(`venues.prices`, folded in the same event-time order, after fills at equal times). Their state is checkpointed with
the trackers.
"""

from typing import Any, Iterator

from quantdesk.messages import DeadLetter, Fill, MarketState, OracleTick, Signal, VenuePrice
from streams.pipeline import Pipeline
from streams.domain.alerts import Thresholds
from streams.domain.market_tracker import discovers_price
from streams.domain.markets import Markets
from streams.checkpointed import CheckpointedInput
from streams.markets_store import MarketsStore
from streams.ordered import Decoded
from streams.risk.checkpoint import Journal
from streams.risk.reorder import Event

MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "venues.prices": VenuePrice}
OUTPUTS = ("markets.state", "mikey.signals", "dlq")


class MarketsAgent(CheckpointedInput):
    """The market trackers behind ordered input, checkpointed."""

    log_topic = "markets.checkpoints"

    def __init__(self, pipeline: Pipeline, shared: Decoded | None = None) -> None:
        """Track the settings' markets, taking messages the feed's other readers decoded from `shared`."""
        super().__init__(pipeline, MODELS, "markets", shared=shared)
        self.markets = Markets(pipeline.settings.market_names, Thresholds.of(pipeline.settings))
        self.store = MarketsStore()
        self.touched: set[str] = set()  # the markets applied to since the last checkpoint
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

    def restore(self, tables: dict[str, dict[str, Any]]) -> None:
        """Rebuild the markets and the buffer from the tables the log held."""
        self.store = MarketsStore(tables)
        self.store.load(self.markets, self.buffer)

    def save(self) -> dict[str, Journal]:
        """Write the markets touched since the last checkpoint, the clocks and the records of applied ids."""
        self.store.save(self.markets, self.buffer, sorted(self.touched))
        self.touched = set()
        return self.store.tables

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
        self.pipeline.metrics.show_ticks()
        await self.show_progress()
        await self.checkpoint()


def register(pipeline: Pipeline, shared: Decoded | None = None) -> MarketsAgent:
    """Register the market worker as a task of the app, decoding with the feed's other readers through `shared`:
    its failure crashes the app."""
    worker = MarketsAgent(pipeline, shared)
    pipeline.loop(worker.run, "markets")
    return worker

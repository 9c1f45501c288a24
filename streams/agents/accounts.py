"""Accounts agent: ticks, fills and account changes in event-time order through the risk engine.

It reads every input partition itself (`streams.ordered`: one risk worker owns every account), from
the offsets its last checkpoint names, so what it has applied and where it reads on are one record
(`streams.risk.checkpoint`): a restarted worker goes on from exactly that, never from offsets Faust's
acking may have moved past a message it never delivered.

With the simulated venue on, a plan's fills (and, the first time, the liquidator's float) are
published with the plan, and nothing later is applied until they come back through the input
topics, wherever that puts them in wall-clock time: a replay puts them at the same place every time.

A release publishes what it caused, waits until the broker holds it, then writes one checkpoint:
the rows of the engine's tables it changed and, per partition, the offset of the first message
holding an event not yet applied. A worker stopped anywhere in between applies those events again
and publishes the same ids, which every reader takes once.
"""

import asyncio
import time
from typing import Any, Iterator

from quantdesk.kafka.publisher import Keyed, group_by_topic
from quantdesk.messages import AccountChange, AdminCommand, DeadLetter, Fill, LiquidationPlan, OracleTick, account_key
from quantdesk.process import CollectorPaused
from quantdesk.wire import Encoded
from streams.domain.account_state import AccountState
from streams.domain.alerts import Thresholds
from streams.metrics import AccountsByState
from streams.ordered import OrderedInput, offset_key
from streams.pipeline import Pipeline
from streams.risk.checkpoint import CheckpointLog, write
from streams.risk.engine import RiskEngine
from streams.risk.insurance import InsuranceFund
from streams.risk.liquidator import LIQUIDATOR, venue_events
from streams.risk.outputs import Outputs
from streams.risk.reorder import Event
from streams.risk.store import EngineStore

YIELD_EVERY = 100  # events applied between two chances for the event loop to run other tasks
SETTLE_EVERY = 1000  # events applied between two checkpoints, in a long release
MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "accounts.changes": AccountChange,
          "admin.commands": AdminCommand}
OUTPUTS = ("accounts.state", "accounts.history", "accounts.ledger", "funding.rates", "funding.payments",
           "risk.liquidations", "audit.log", "mikey.signals", "dlq")


class AccountsAgent(OrderedInput):
    """The engine behind ordered input, its checkpointed tables, and the simulated venue."""

    forgets = True  # its checkpoints name the offsets its applied ids were read before

    def __init__(self, pipeline: Pipeline) -> None:
        settings = pipeline.settings
        super().__init__(pipeline, MODELS, "risk")
        self.engine = RiskEngine(settings.markets, Thresholds.of(settings))
        self.fund = InsuranceFund()  # its one owner for now: fed the engine's liquidation outcomes after each event
        self.store = EngineStore.journaled()
        self.log = CheckpointLog(pipeline.bootstrap, settings.topic("risk.checkpoints"))
        self.venue = settings.simulator_venue
        self.metrics = metrics = pipeline.metrics
        metrics.publishing(OUTPUTS)
        self.accounts_by_state = AccountsByState(metrics, [state.value for state in AccountState])
        self.remargin = metrics.child("worker_remargin_seconds")
        self.insurance_fund = metrics.child("worker_insurance_fund_usd")
        self.planned = {m: metrics.child("worker_liquidations_planned_total", market=m) for m in settings.market_names}
        self.filled = {m: metrics.child("worker_liquidations_filled_total", market=m) for m in settings.market_names}

    def check(self, event: Any) -> str | None:
        """Return why an event names a market the engine does not list, or None."""
        return self.engine.unknown(event)

    async def dead_letters(self, topic: str, dead: list[DeadLetter]) -> None:
        """Publish the dead letters of account changes and admins' commands (the market agent owns those of ticks
        and fills)."""
        if topic in ("accounts.changes", "admin.commands"):
            await self.pipeline.publish("dlq", ((d.topic, d) for d in dead))

    async def run(self) -> None:
        """Load the engine from the last checkpoint, then read on from the offsets it covers, until cancelled."""
        restored = await self.log.restore()
        self.store = EngineStore.journaled(restored.tables)
        self.store.load(self.engine, self.fund, self.buffer)
        self.accounts_by_state.load({key: account.state.value for key, account in self.engine.accounts.items()})
        self.insurance_fund.set(float(self.fund.balance))
        await self.read(restored.offsets)

    async def release(self, events: Iterator[Event]) -> None:
        """Apply events one by one (a plan stops the rest until its fills come), settling every `SETTLE_EVERY`."""
        out, applied, venue = Outputs(), [], []
        for n, event in enumerate(events, 1):
            caused = self.apply(event)
            venue += self.venue_fills(caused.liquidations, out)
            out.extend(caused)
            applied.append(event)
            if n % SETTLE_EVERY == 0:
                await self.settle(applied, out, venue)
                out, applied, venue = Outputs(), [], []
            elif n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let other tasks run between slices of a long release
        await self.settle(applied, out, venue)

    def apply(self, event: Event) -> Outputs:
        """Apply one event through the engine, then its liquidation outcomes through the insurance fund, the
        collector held off (`CollectorPaused`), timing a tick's re-margin and counting a liquidation's fill."""
        if type(event) is OracleTick:
            started = time.perf_counter()
            with CollectorPaused():
                caused = self.engine.apply(event)
            self.remargin.observe(time.perf_counter() - started)
            self.metrics.oracle_seen(event.market, event.ts)
            return self.fund.after(caused)
        if type(event) is Fill and event.model_extra and event.model_extra.get("liquidation") \
                and event.wallet != LIQUIDATOR:  # the liquidated account's side of a close, not the venue's
            self.filled[event.market].inc()
        with CollectorPaused():
            return self.fund.after(self.engine.apply(event))

    def venue_fills(self, plans: list[LiquidationPlan], out: Outputs) -> list[Keyed]:
        """With the simulated venue on, return the fills carrying out these plans; later events wait for them."""
        if not self.venue or not plans:
            return []
        return venue_events(plans, self.engine.accounts, self.buffer, self.engine.unknown, out)

    async def settle(self, applied: list[Event], out: Outputs, venue: list[Keyed]) -> None:
        """Publish what `applied` caused and wait until the broker holds it; then checkpoint the tables it
        changed with the offsets it brings the input to."""
        if not applied:
            return
        await self.publish(out)
        for topic, keyed in group_by_topic(venue).items():
            await self.pipeline.publish(topic, keyed)
        await self.pipeline.flush()
        self.show(out)
        self.store.save(self.engine, self.fund, self.buffer, applied, out, self.settled(applied))
        offsets = self.positions.offsets()
        await write(self.log, await self.pipeline.app.maybe_start_producer(), self.store.tables,
                    {offset_key(tp): offset for tp, offset in offsets.items()})
        await self.show_progress()

    def show(self, out: Outputs) -> None:
        """Show the accounts by state, the plans made (per market each closes) and the insurance fund."""
        self.accounts_by_state.update(out.states)
        for plan in out.liquidations:
            for market in {close.market for close in plan.closes}:
                self.planned[market].inc()
        self.insurance_fund.set(float(self.fund.balance))

    async def publish(self, out: Outputs) -> None:
        """Send what the engine caused, each to its topic and key."""
        send = self.pipeline.publish  # a state goes to two topics: encoded once
        states = [(account_key(s.wallet, s.subaccount), Encoded.of(s)) for s in out.states]
        await send("accounts.state", states)
        await send("accounts.history", states)
        await send("accounts.ledger", ((account_key(e.wallet, e.subaccount), e) for e in out.ledger))
        await send("funding.rates", ((r.market, r) for r in out.funding_rates))
        await send("funding.payments", ((account_key(p.wallet, p.subaccount), p) for p in out.funding_payments))
        await send("risk.liquidations", ((account_key(p.wallet, p.subaccount), p) for p in out.liquidations))
        await send("audit.log", ((a.subject, a) for a in out.audit))
        await send("mikey.signals", ((s.subject, s) for s in out.signals))
        await send("dlq", ((d.topic, d) for d in out.dead_letters))


def register(pipeline: Pipeline) -> AccountsAgent:
    """Register the accounts agent as a task of the app: its failure crashes the app."""
    agent = AccountsAgent(pipeline)
    pipeline.loop(agent.run, "accounts")
    return agent

"""Simulated venue: executes liquidation plans as fills that come back through `trades.fills`."""

from quantdesk.messages import LiquidationPlan
from quantdesk.simulator import liquidation_fills, liquidator_float
from streams.app import Pipeline
from streams.decode import decode_events


def register(pipeline: Pipeline) -> None:
    """Register the venue agent on `risk.liquidations` and the liquidator's float deposit."""
    settings = pipeline.settings
    source = pipeline.app.topic(settings.topic("risk.liquidations"), key_serializer="raw", value_serializer="raw")

    @pipeline.app.agent(source, name=f"{settings.app_id}.venue")
    async def venue_agent(stream):  # type: ignore[no-untyped-def]
        """Fill every plan: the liquidated account's closes against the liquidator."""
        async for event in stream.events():
            plans, _ = decode_events(LiquidationPlan, "risk.liquidations", event.value, 0)
            fills = [fill for plan in plans for fill in liquidation_fills(plan)]
            await pipeline.publish("trades.fills", ((key, fill) for _, key, fill in fills))

    @pipeline.app.task
    async def fund_liquidator() -> None:
        """Deposit the liquidator's float."""
        _, key, deposit = liquidator_float()
        await pipeline.publish("accounts.changes", [(key, deposit)])

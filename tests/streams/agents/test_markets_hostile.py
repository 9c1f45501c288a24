"""Any tick, fill or other venue's price the boundary accepts takes no market worker down: prices, sizes and
confidences at the edges of their bounds, liquidation fills, books crossed or one-sided, in event-time order, with
MIKEY's market rules on. A raise inside `Markets.apply` kills the worker on that event at every start."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import Fill, OracleTick, VenuePrice
from streams.domain.markets import Markets
from streams.domain.alerts import Thresholds
from tests.streams.risk.test_engine_hostile import MARKETS, T0, amounts


@st.composite
def events(draw: st.DrawFn) -> list[Any]:
    """Draw up to 40 market inputs the boundary accepts over two hours, in event-time order."""
    out: list[Any] = []
    for n in range(draw(st.integers(1, 40))):
        ts = T0 + draw(st.integers(0, 2 * 3_600_000))
        market, kind = draw(st.sampled_from(MARKETS)), draw(st.sampled_from(("tick", "fill", "venue")))
        fields: dict[str, Any] = {"id": f"e{n}", "ts": ts, "market": market}
        if kind == "tick":
            fields |= {"price": draw(amounts()), "conf": draw(amounts()),
                       "publish_time": ts - draw(st.integers(0, 9000))}
        elif kind == "fill":
            fields |= {"wallet": "w", "side": draw(st.sampled_from(("buy", "sell"))), "size": draw(amounts()),
                       "price": draw(amounts()), **({"liquidation": True} if draw(st.booleans()) else {})}
        else:
            fields |= {"venue": "hyperliquid", "price": draw(amounts()),
                       **{side: draw(amounts()) for side in ("bid", "ask") if draw(st.booleans())}}
        try:
            out.append({"tick": OracleTick, "fill": Fill, "venue": VenuePrice}[kind].model_validate(fields))
        except ValidationError:  # the boundary refuses it: a dead letter, never applied
            pass
    return sorted(out, key=lambda e: (e.ts, e.id))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_no_input_the_boundary_accepts_raises_inside_the_market_worker(inputs: list[Any]) -> None:
    markets = Markets(tuple(m.name for m in DEFAULT_MARKETS), Thresholds())
    for event in inputs:
        for state in markets.apply(event):
            state.model_dump_json()  # as the worker publishes it
        for signal in markets.take_signals():
            signal.model_dump_json()

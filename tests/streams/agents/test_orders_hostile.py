"""Any order event or fill the boundary accepts takes no orders worker down: sizes and prices at the edges of their
bounds, market orders, fills past an order's size, of another account's order or of none, cancellations, odd
names, in the order the worker applies them. A raise inside the fold kills the feed worker on that event at every
start."""

from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from quantdesk.messages import Fill, OrderEvent
from streams.agents.orders import folded
from streams.domain.orders import Orders
from streams.domain.resting import RestingBooks
from streams.risk.reorder import order_key
from tests.streams.risk.test_engine_hostile import MARKETS, T0, WALLETS, amounts

ORDERS = ("o1", "o2", "o3")


@st.composite
def events(draw: st.DrawFn) -> list[Any]:
    """Draw up to 40 order events and fills the boundary accepts over an hour, in the order the worker applies
    them, a few orders named again and again."""
    out: list[Any] = []
    for n in range(draw(st.integers(1, 40))):
        ts = T0 + draw(st.integers(0, 3_600_000))
        fields: dict[str, Any] = {"id": f"e{n}", "ts": ts, "market": draw(st.sampled_from(MARKETS)),
                                  "wallet": draw(st.sampled_from(WALLETS)),
                                  "subaccount": draw(st.sampled_from((0, 2**32 - 1))),
                                  "side": draw(st.sampled_from(("buy", "sell"))),
                                  "order": draw(st.sampled_from(ORDERS))}
        if draw(st.booleans()):
            kind = draw(st.sampled_from(("placed", "cancelled", "position_opened", "position_closed")))
            fields |= {"kind": kind, "size": draw(amounts()),
                       **({"price": draw(st.sampled_from(("0", draw(amounts()))))} if draw(st.booleans()) else {})}
            model: type = OrderEvent
        else:
            fields |= {"size": draw(amounts()), "price": draw(amounts()), "fee": draw(amounts(positive=False))}
            model = Fill
        try:
            out.append(model.model_validate(fields))
        except ValidationError:  # the boundary refuses it: a dead letter, never applied
            pass
    return sorted(out, key=order_key)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_no_input_the_boundary_accepts_raises_inside_the_orders_worker(inputs: list[Any]) -> None:
    for message in [*sum(folded(Orders(), RestingBooks(), inputs), [])]:
        message.model_dump_json()  # as the worker publishes it


def test_an_order_its_book_level_cannot_hold_stands_and_is_left_out_of_the_book_with_why() -> None:
    # two bids of 9e19 at one price: the level would hold 1.8e20, past what `books` carries (the second raised)
    placed = [OrderEvent(id=f"p{n}", ts=T0 + n, market=MARKETS[0], wallet="alice", kind="placed", order=f"o{n}",
                         side="buy", size=D("9e19"), price=D(100)) for n in range(2)]
    fill = Fill(id="f", ts=T0 + 5, market=MARKETS[0], wallet="alice", side="buy", size=D("8.5e19"), price=D(100),
                order="o1")
    states, updates, refused = folded(Orders(), RestingBooks(), [*placed, fill])
    assert [(s.order, s.status) for s in states] == [("o0", "open"), ("o1", "open"), ("o1", "partially_filled")]
    assert [u.bids[0].size for u in updates] == [D("9e19"), D("9.5e19")]  # o1 rests once the level holds it
    why, = [d.reason for d in refused]
    assert "would hold 180000000000000000000" in why and refused[0].topic == "orders.events"


def test_38_digit_sizes_rest_and_fill_exactly() -> None:
    # the default context's 28 digits rounded this size to 1E+20 in the book (a level past the bound: a raise), and
    # rounded what was left of the order, so a fill of exactly the rest could be refused as an overfill
    size = D("99999999999999999999.999999999999999999")
    placed = OrderEvent(id="p", ts=T0, market=MARKETS[0], wallet="alice", kind="placed", order="o", side="sell",
                        size=size, price=D("1e-18"))
    parts = D("99999999999999999999.999999999999999998"), D("1e-18")  # exactly the order's size
    fills = [Fill(id=f"f{n}", ts=T0 + 1 + n, market=MARKETS[0], wallet="alice", side="sell", size=part,
                  price=D("1e-18"), order="o") for n, part in enumerate(parts)]
    states, updates, refused = folded(Orders(), RestingBooks(), [placed, *fills])
    assert not refused and [s.status for s in states] == ["open", "partially_filled", "filled"]
    assert [u.asks[0].size for u in updates] == [size, D("1e-18"), 0]

"""The `orders` channel: a signed-in session sees its own wallet's resting orders (those stored before the gateway
started among them), then each of its orders' new states; never another wallet's; versions seen before are no news."""

from contextlib import AsyncExitStack

import httpx
from solders.keypair import Keypair

from api.orders import OpenOrders
from quantdesk.broker import EmbeddedBroker
from quantdesk.kafka.publisher import Publisher
from quantdesk.messages import OrderState, dump
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import served
from tests.api.history import T0, cancelled, order_fill, order_states, placed, store
from tests.api.listening import Listener
from tests.api.signing import sign_in
from tests.waiting import eventually


def states(*events: object) -> list[dict]:
    """Return the states the orders worker publishes for `events`, as the wire carries them."""
    return [dump(s) for s in order_states(list(events))]  # type: ignore[arg-type]


def test_resting_orders_are_held_newest_version_first_placed_first_and_closed_ones_let_go() -> None:
    held = OpenOrders()
    o1, o1_part, o1_done = states(placed("W", "o1", T0 + 5, "2"), order_fill("W", "o1", T0 + 6, "1", "100"),
                                  order_fill("W", "o1", T0 + 7, "1", "100"))
    [o2] = states(placed("W", "o2", T0, "2"))
    assert held.apply(o1) and held.apply(o2) and held.apply(o1_part)
    assert not held.apply(o1) and not held.apply(o1_part)  # an older version, or the same, read again
    assert [(s["order"], s["status"]) for s in held.of("W")] == [("o2", "open"), ("o1", "partially_filled")]
    assert held.apply(o1_done) and [s["order"] for s in held.of("W")] == ["o2"]
    assert held.of("X") == [] and held.versions == {"o2": 1}


async def test_orders_channel_carries_only_the_sessions_own_orders(settings: Settings, broker: EmbeddedBroker) -> None:
    a, b = Keypair(), Keypair()
    wa, wb = str(a.pubkey()), str(b.pubkey())
    warehouse = Warehouse.from_settings(settings)
    warehouse.migrate()
    stored = order_states([placed(wa, "a-old", T0, "3"), placed(wa, "a-gone", T0 + 1, "1"),
                           cancelled(wa, "a-gone", T0 + 2)])
    store(warehouse, "orders", stored)  # resting before the gateway starts: only the store knows it
    warehouse.close()
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(settings, broker.bootstrap))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
        token_a, token_b = await sign_in(http, a), await sign_in(http, b)
        anonymous, on_a, on_b = [await Listener().connect(url, t) for t in (None, token_a, token_b)]
        for listener in (anonymous, on_a, on_b):
            stack.push_async_callback(listener.close)
        fresh = states(placed(wa, "a1", T0 + 10, "5"), order_fill(wa, "a1", T0 + 11, "2", "99"),
                       order_fill(wa, "a1", T0 + 12, "3", "101"), placed(wb, "b1", T0 + 13, "1"))
        async with Publisher(settings, broker.bootstrap) as publisher:
            await publisher.send([("orders.state", f"{s['wallet']}:0", s) for s in fresh[:2]])

        refused = await anonymous.subscribe(channel="orders")
        assert refused["ok"] is False and refused["error"]["code"] == "unauthorized"
        theft = await on_a.subscribe(channel="orders", wallet=wb)
        assert theft["ok"] is False and theft["error"]["code"] == "forbidden"

        async def resting() -> list | None:
            await on_a.subscribe(channel="orders")
            data = on_a.events["orders"][-1]["data"]
            return data if len(data) == 2 else None
        snapshot = await eventually(resting, what="the stored order and the one the feed read, in the snapshot")
        assert [(s["order"], s["status"], s["version"]) for s in snapshot] == [
            ("a-old", "open", 1), ("a1", "partially_filled", 2)]
        assert on_a.events["orders"][-1]["snapshot"] and on_a.events["orders"][-1]["wallet"] == wa
        assert (await on_b.subscribe(channel="orders"))["ok"] and on_b.events["orders"][-1]["data"] == []
        async with Publisher(settings, broker.bootstrap) as publisher:
            await publisher.send([("orders.state", f"{s['wallet']}:0", s) for s in fresh])  # two again, two new

        def since_snapshot() -> list[dict]:
            """Return what a's session heard after its last snapshot (polling, it may have heard a1 come earlier)."""
            heard = on_a.events["orders"]
            last = max(n for n, e in enumerate(heard) if e["snapshot"])
            return heard[last + 1:]

        async def heard() -> bool:
            return len(since_snapshot()) >= 1 and len(on_b.deltas("orders")) >= 1
        await eventually(heard, what="a's fill and b's new order")
        assert (await on_a.subscribe(channel="ticker", market="SOL-PERP"))["ok"]  # a round trip after the pushes
        [done] = since_snapshot()
        assert (done["data"]["order"], done["data"]["status"], done["data"]["average_price"]) == ("a1", "filled", "100.2")
        assert done["seq"] == on_a.events["orders"][-2]["seq"] + 1  # right after the last snapshot
        assert [d["data"]["order"] for d in on_b.deltas("orders")] == ["b1"]
        assert {e["wallet"] for e in on_b.events["orders"]} == {wb}
        assert all(OrderState.model_validate(d["data"]) for d in on_a.deltas("orders") + on_b.deltas("orders"))

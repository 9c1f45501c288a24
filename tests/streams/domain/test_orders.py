"""An order's lifecycle: open, partially filled, filled, cancelled; exact sums; the same state from the same events
in any order, with duplicates; every event that cannot count refused with why."""

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.messages import Fill, OrderEvent
from streams.domain.orders import CLOSED, Closed, OrderHistory, Orders, Outcome, Step, apply_key
from tests.streams.domain.domain_strategies import decimals

T0 = 1_767_225_600_000
ORDER = "ord1"


def place(size: str = "10", ts: int = T0, **fields: object) -> OrderEvent:
    """Return a buy limit order of `size` placed by W at `ts`."""
    return OrderEvent.model_validate({"id": f"p{ts}", "ts": ts, "market": "SOL-PERP", "wallet": "W", "kind": "placed",
                                      "side": "buy", "size": size, "price": "100", "order_type": "Limit",
                                      "order": ORDER, **fields})


def fill(size: str, price: str, ts: int, n: int = 0, **fields: object) -> Fill:
    """Return W's buy fill of the order."""
    return Fill.model_validate({"id": f"f{ts}:{n}", "ts": ts, "market": "SOL-PERP", "wallet": "W", "side": "buy",
                                "size": size, "price": price, "liquidity": "maker", "order": ORDER, **fields})


def cancel(ts: int, **fields: object) -> OrderEvent:
    """Return W's cancellation of the order."""
    return OrderEvent.model_validate({"id": f"c{ts}", "ts": ts, "market": "SOL-PERP", "wallet": "W",
                                      "kind": "cancelled", "order": ORDER, **fields})


def history(*steps: Step) -> OrderHistory:
    """Return the order's history after `steps`, taken in the order given."""
    held = OrderHistory(ORDER)
    for step in steps:
        held.add(step)
    return held


def test_an_order_fills_in_parts_with_an_exact_size_weighted_price() -> None:
    orders = Orders()
    opened = orders.apply(place("10"))
    assert opened and opened.state and (opened.state.status, opened.state.version, opened.state.id) == ("open", 1, "ord1:1")
    part = orders.apply(fill("3", "99.5", T0 + 1))
    assert part and part.state and (part.state.status, part.state.filled_size) == ("partially_filled", D("3"))
    assert part.state.average_price == D("99.5")
    done = orders.apply(fill("7", "100.25", T0 + 2))
    assert done and done.state and (done.state.status, done.state.filled_size, done.state.version) == ("filled", 10, 3)
    # (3 × 99.5 + 7 × 100.25) / 10 = (298.5 + 701.75) / 10 = 100.025
    assert done.state.average_price == D("100.025") and done.state.cause == f"f{T0 + 2}:0"
    assert (done.state.ts, done.state.placed_ts) == (T0 + 2, T0)


def test_an_average_that_does_not_end_is_rounded_to_18_places_half_to_even() -> None:
    state = history(place("3"), fill("1", "100", T0 + 1), fill("2", "101", T0 + 2)).order
    assert state is not None and state.average_price() == D("100.666666666666666667")  # 302 / 3


def test_a_cancelled_order_keeps_what_filled_and_takes_nothing_more() -> None:
    held = history(place("10"), fill("4", "100", T0 + 1), cancel(T0 + 2), fill("1", "100", T0 + 3), cancel(T0 + 4))
    assert held.order is not None and (held.order.status, held.order.filled_size) == ("cancelled", D("4"))
    assert held.refused == {f"f{T0 + 3}:0": "a fill of order ord1, which is cancelled already",
                            f"c{T0 + 4}": "a cancellation of order ord1, which is cancelled already"}


def test_a_cancellation_at_the_time_of_a_fill_comes_first() -> None:
    held = history(place("10"), fill("4", "100", T0 + 1), cancel(T0 + 1))
    assert held.order is not None and (held.order.status, held.order.filled_size) == ("cancelled", 0)


def test_hostile_events_are_refused_with_why() -> None:
    orders = Orders()
    assert orders.apply(fill("1", "100", T0)) == Outcome(None, "a fill of order ord1, which was not placed")
    assert orders.apply(cancel(T0)) == Outcome(None, "a cancellation of order ord1, which was not placed")
    orders.apply(place("5", ts=T0 + 1))
    refusals = {
        "again": place("5", ts=T0 + 2),
        "theirs": fill("1", "100", T0 + 3, wallet="X"),
        "market": cancel(T0 + 3, market="BTC-PERP"),
        "side": fill("1", "100", T0 + 3, n=1, side="sell"),
        "over": fill("6", "100", T0 + 3, n=2),
    }
    why = {name: getattr(orders.apply(step), "refused", None) for name, step in refusals.items()}
    assert why == {"again": "order ord1 is placed already",
                   "theirs": "a fill of order ord1 by another account or in another market than its own",
                   "market": "a cancellation of order ord1 by another account or in another market than its own",
                   "side": "a sell fill of order ord1, a buy order",
                   "over": "a fill of 6 overfills order ord1: 5 left of 5"}


def test_fills_of_no_order_position_events_and_duplicates_change_nothing() -> None:
    orders = Orders()
    assert orders.apply(fill("1", "100", T0, order=None)) is None
    position = OrderEvent.model_validate({"id": "pos", "ts": T0, "market": "SOL-PERP", "wallet": "W",
                                          "kind": "position_opened", "side": "buy", "size": "1", "price": "100"})
    assert orders.apply(position) is None
    assert orders.apply(place()) is not None and orders.apply(place()) is None
    assert orders.histories[ORDER].order is not None and orders.histories[ORDER].order.version == 1


sizes = decimals("0.001", "5", 3)
prices = decimals("90", "110", 4)


@st.composite
def lifecycles(draw: st.DrawFn) -> list[Step]:
    """Draw an order's events, some hostile: placements (maybe two, maybe late), fills of every kind, cancellations."""
    times = st.integers(T0, T0 + 20)
    steps: list[Step] = [place(str(draw(decimals("1", "10", 3))), ts=draw(times))]
    if draw(st.booleans()):
        steps.append(place(str(draw(decimals("1", "10", 3))), ts=draw(times), id="second"))
    for n in range(draw(st.integers(0, 8))):
        odd = draw(st.sampled_from([{}, {}, {}, {"side": "sell"}, {"wallet": "X"}]))
        steps.append(fill(str(draw(sizes)), str(draw(prices)), draw(times), n=n, **odd))
    steps += [cancel(draw(times)) for _ in range(draw(st.integers(0, 2)))]
    return steps


def reference(steps: list[Step]) -> tuple[D, D, str]:
    """Return the filled size, notional and status the rules give, walking the events by hand in apply order."""
    walked = sorted({s.id: s for s in steps}.values(), key=apply_key)
    placement, filled, notional, status = None, D(0), D(0), "open"
    for step in walked:
        if isinstance(step, OrderEvent) and step.kind == "placed":
            placement = placement or step
        elif placement is None or status in ("filled", "cancelled") or step.wallet != "W":
            continue
        elif isinstance(step, OrderEvent):
            status = "cancelled"
        elif step.side == "buy" and filled + step.size <= placement.size:
            filled, notional = filled + step.size, notional + step.size * step.price
            status = "filled" if filled == placement.size else "partially_filled"
    return filled, notional, status


@settings(max_examples=300, deadline=None)
@given(lifecycles(), st.randoms(use_true_random=False), st.integers(0, 4))
def test_any_order_of_the_same_events_with_duplicates_gives_one_state(steps: list[Step], rng, repeats: int) -> None:
    in_order = history(*sorted(steps, key=apply_key))
    shuffled = steps + [rng.choice(steps) for _ in range(repeats)]
    rng.shuffle(shuffled)
    anyhow = history(*shuffled)
    assert anyhow.order == in_order.order and anyhow.refused == in_order.refused
    assert in_order.order is not None
    filled, notional, status = reference(steps)
    assert (in_order.order.filled_size, in_order.order.filled_notional, in_order.order.status) == (
        filled, notional, status)
    counted = len({s.id for s in steps}) - len(in_order.refused)
    assert in_order.order.version == counted and in_order.order.filled_size <= in_order.order.size


@settings(max_examples=200, deadline=None)
@given(lifecycles())
def test_taken_in_apply_order_an_event_refused_when_it_comes_stays_refused(steps: list[Step]) -> None:
    held, verdicts = OrderHistory(ORDER), {}
    for step in sorted({s.id: s for s in steps}.values(), key=apply_key):
        verdicts[step.id] = held.add(step)
    assert {i: why for i, why in verdicts.items() if why} == held.refused


@st.composite
def histories_over_time(draw: st.DrawFn) -> list[Step]:
    """Draw the events of a few orders over a minute, some hostile, in the order they arrive."""
    times = st.integers(T0, T0 + 60)
    steps: list[Step] = []
    for name in ("o1", "o2", "o3"):
        for n in range(draw(st.integers(1, 2))):
            steps.append(place(str(draw(decimals("1", "10", 3))), ts=draw(times), order=name, id=f"{name}:p{n}"))
        for n in range(draw(st.integers(0, 6))):
            odd = draw(st.sampled_from([{}, {}, {}, {"side": "sell"}, {"wallet": "X"}]))
            steps.append(fill(str(draw(sizes)), str(draw(prices)), draw(times), order=name, id=f"{name}:f{n}", **odd))
        steps += [cancel(draw(times), order=name, id=f"{name}:c{n}") for n in range(draw(st.integers(0, 2)))]
    return draw(st.permutations(steps + draw(st.lists(st.sampled_from(steps), max_size=4))))


@settings(max_examples=300, deadline=None)
@given(histories_over_time(), st.integers(0, 30))
def test_forgetting_what_is_older_than_the_window_changes_no_outcome(arriving: list[Step], window: int) -> None:
    # taken as the orders agent takes them: an event more than `window` behind the newest applied is refused as
    # late, one seen before dropped, and after each the orders forget what is older than the window
    remembering, forgetting = Orders(), Orders()
    seen: set[str] = set()
    newest = 0
    for step in arriving:
        if step.id in seen or step.ts < newest - window:
            continue
        seen.add(step.id)
        assert forgetting.apply(step) == remembering.apply(step)
        newest = max(newest, step.ts)
        forgetting.forget_before(newest - window)
        assert all(s.ts >= newest - window for h in forgetting.histories.values() for s in h.steps.values())
    for name, history in remembering.histories.items():
        order = history.order
        kept = forgetting.histories[name].order if name in forgetting.histories else forgetting.closed.get(name)
        if isinstance(kept, Closed):  # all that is left of a closed order
            assert order is not None and kept == Closed(order.owner, order.status) and order.status in CLOSED
        else:
            assert kept == order  # None: never placed, nothing is left of it


def test_a_closed_order_forgotten_refuses_its_later_events_as_it_did_once_and_each_once() -> None:
    orders = Orders()
    orders.apply(place("1"))
    assert orders.apply(fill("1", "100", T0 + 1)) is not None
    orders.forget_before(T0 + 2)
    assert orders.histories == {} and orders.closed == {ORDER: Closed(("W", 0, "SOL-PERP"), "filled")}
    late_cancel = cancel(T0 + 5)
    assert orders.apply(late_cancel) == Outcome(None, f"a cancellation of order {ORDER}, which is filled already")
    assert orders.apply(late_cancel) is None  # seen before
    assert orders.apply(place("1", ts=T0 + 6)) == Outcome(None, f"order {ORDER} is placed already")
    assert orders.apply(fill("1", "100", T0 + 7, wallet="X")) == Outcome(
        None, f"a fill of order {ORDER} by another account or in another market than its own")
    orders.forget_before(T0 + 10)
    assert orders.histories == {} and ORDER in orders.closed and not orders.times
    assert orders.apply(fill("1", "100", T0 + 3)) == Outcome(
        None, f"older than the events of its order forgotten ({T0 + 10})")


def test_an_event_at_the_windows_edge_is_kept_for_one_that_comes_before_it_at_the_same_time() -> None:
    # a fill at the edge, then its placement at the same time (order events come first): the fill counts (an older
    # event of the order is forgotten beside it)
    orders = Orders()
    assert orders.apply(cancel(T0 + 1)) == Outcome(None, f"a cancellation of order {ORDER}, which was not placed")
    assert orders.apply(fill("1", "100", T0 + 5)) == Outcome(None, f"a fill of order {ORDER}, which was not placed")
    orders.forget_before(T0 + 5)
    assert list(orders.histories[ORDER].steps) == ["f1767225600005:0"]
    outcome = orders.apply(place("1", ts=T0 + 5))
    assert outcome is not None and outcome.state is not None and outcome.state.status == "filled"

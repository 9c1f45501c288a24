"""An order's lifecycle: placed, filled in parts, cancelled; its state a function of its events, whatever their order.

An order is the set of its events (its placement, the fills naming it, a cancellation). Its state walks them in
apply order (event time; at one time order events before fills, then id, as `streams.risk.reorder` releases them),
so the same events taken in any order, or some twice, give one state. An event the walk cannot use is refused
with why: a fill or cancellation of an order not placed, one that is not the order's wallet's (or market's, or
side's), one after the order closed, a fill past the order's size, a second placement. Taken in apply order, as
the orders agent takes them, an event refused when it comes stays refused: nothing after it can come before it.

Sums are exact (a context wide enough for any two Decimal(38, 18) values); only the average price is rounded, to
the warehouse's 18 places.
"""

from dataclasses import dataclass, replace
from decimal import Decimal
from quantdesk.messages import Fill, OrderEvent, OrderState, OrderStatus, canonical
from streams.domain import EXACT, to_stored

Step = OrderEvent | Fill  # an order's placement or cancellation, or one of its fills
CLOSED: tuple[OrderStatus, ...] = ("filled", "cancelled")
ZERO = Decimal(0)


def apply_key(step: Step) -> tuple[int, int, str]:
    """Return where an order's event falls in its walk: event time, order events before fills, then id."""
    return step.ts, 1 if isinstance(step, Fill) else 0, step.id


@dataclass(frozen=True)
class Order:
    """An order as its events so far made it: what was placed, what filled, and the last event that counted."""

    placed: OrderEvent
    status: OrderStatus = "open"
    filled_size: Decimal = ZERO
    filled_notional: Decimal = ZERO  # Σ size × price of its fills, exactly (more places than the warehouse holds)
    version: int = 1
    ts: int = 0
    cause: str = ""

    @property
    def name(self) -> str:
        """Return the order's id."""
        assert self.placed.order is not None
        return self.placed.order

    @property
    def size(self) -> Decimal:
        """Return the size the order was placed for."""
        assert self.placed.size is not None
        return self.placed.size

    def average_price(self) -> Decimal | None:
        """Return the size-weighted price of its fills, to 18 places (none before a fill)."""
        if not self.filled_size:
            return None
        return canonical(to_stored(EXACT.divide(self.filled_notional, self.filled_size)))  # type: ignore[arg-type]

    def state(self) -> OrderState:
        """Return the order as `orders.state` carries it."""
        placed = self.placed
        assert placed.side is not None
        return OrderState(
            id=f"{self.name}:{self.version}", ts=self.ts, order=self.name, wallet=placed.wallet,
            subaccount=placed.subaccount, market=placed.market, side=placed.side, size=self.size, price=placed.price,
            order_type=placed.order_type, status=self.status, filled_size=canonical(self.filled_size),
            average_price=self.average_price(), version=self.version, placed_ts=placed.ts, cause=self.cause)


def placed(event: OrderEvent) -> Order:
    """Return an order just placed."""
    return Order(event, ts=event.ts, cause=event.id)


def filled(order: Order, fill: Fill) -> Order:
    """Return the order with one more fill."""
    size = EXACT.add(order.filled_size, fill.size)
    notional = EXACT.add(order.filled_notional, EXACT.multiply(fill.size, fill.price))
    return replace(order, status="filled" if size == order.size else "partially_filled", filled_size=size,
                   filled_notional=notional, version=order.version + 1, ts=fill.ts, cause=fill.id)


def cancelled(order: Order, event: OrderEvent) -> Order:
    """Return the order cancelled (what filled before stays filled)."""
    return replace(order, status="cancelled", version=order.version + 1, ts=event.ts, cause=event.id)


def refusal(order: Order | None, step: Step, name: str) -> str | None:
    """Return why `step` cannot count towards order `name` as it stands, or None when it can."""
    if isinstance(step, OrderEvent) and step.kind == "placed":
        return None if order is None else f"order {name} is placed already"
    what = "a fill" if isinstance(step, Fill) else "a cancellation"
    if order is None:
        return f"{what} of order {name}, which was not placed"
    theirs = (order.placed.wallet, order.placed.subaccount, order.placed.market)
    if (step.wallet, step.subaccount, step.market) != theirs:
        return f"{what} of order {name} by another account or in another market than its own"
    if order.status in CLOSED:
        return f"{what} of order {name}, which is {order.status} already"
    if isinstance(step, Fill):
        return mismatched_fill(order, step)
    return None


def mismatched_fill(order: Order, fill: Fill) -> str | None:
    """Return why a fill of an open order does not fit it (another side, more than is left), or None."""
    if fill.side != order.placed.side:
        return f"a {fill.side} fill of order {order.name}, a {order.placed.side} order"
    left = EXACT.subtract(order.size, order.filled_size)
    if fill.size > left:
        return f"a fill of {fill.size} overfills order {order.name}: {left} left of {order.size}"
    return None


def advanced(order: Order | None, step: Step) -> Order:
    """Return the order after a step that counts."""
    if isinstance(step, Fill):
        assert order is not None
        return filled(order, step)
    if step.kind == "placed":
        return placed(step)
    assert order is not None
    return cancelled(order, step)


class OrderHistory:
    """One order's events by id, and where walking them in apply order leads: its state and the refused events."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.steps: dict[str, Step] = {}
        self.order: Order | None = None
        self.refused: dict[str, str] = {}
        self.last: tuple[int, int, str] | None = None  # the apply key of the latest event walked

    def add(self, step: Step) -> str | None:
        """Take an event in (one seen before changes nothing); return why it is refused, or None if it counts."""
        if step.id in self.steps:
            return self.refused.get(step.id)
        self.steps[step.id] = step
        key = apply_key(step)
        if self.last is None or key > self.last:  # in apply order, as the agent takes them: one more step
            self.step(step)
            self.last = key
        else:  # before an event already walked: walk them all again
            self.walk()
        return self.refused.get(step.id)

    def step(self, step: Step) -> None:
        """Walk one more event."""
        why = refusal(self.order, step, self.name)
        if why is None:
            self.order = advanced(self.order, step)
        else:
            self.refused[step.id] = why

    def walk(self) -> None:
        """Walk every event from the start, in apply order."""
        self.order, self.refused = None, {}
        ordered = sorted(self.steps.values(), key=apply_key)
        for step in ordered:
            self.step(step)
        self.last = apply_key(ordered[-1])


@dataclass(frozen=True)
class Outcome:
    """What an event did to its order: the order's new state, or why the event was refused."""

    state: OrderState | None
    refused: str | None


class Orders:
    """Every order's history, by order id."""

    def __init__(self) -> None:
        self.histories: dict[str, OrderHistory] = {}

    def apply(self, step: Step) -> Outcome | None:
        """Take an event in; return what it did to its order (None for a fill of no order, a position's event, or
        an event seen before)."""
        name = step.order
        if name is None or isinstance(step, OrderEvent) and step.kind not in ("placed", "cancelled"):
            return None
        history = self.histories.setdefault(name, OrderHistory(name))
        if step.id in history.steps:
            return None
        why = history.add(step)
        if why is not None:
            return Outcome(None, why)
        assert history.order is not None
        return Outcome(history.order.state(), None)

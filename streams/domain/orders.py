"""An order's lifecycle: placed, filled in parts, cancelled; its state a function of its events, whatever their order.

An order is the set of its events (its placement, the fills naming it, a cancellation). Its state walks them in
apply order (event time; at one time order events before fills, then id, as `streams.risk.reorder` releases them),
so the same events taken in any order, or some twice, give one state. An event the walk cannot use is refused
with why: a fill or cancellation of an order not placed, one that is not the order's wallet's (or market's, or
side's), one after the order closed, a fill past the order's size, a second placement. Taken in apply order, as
the orders agent takes them, an event refused when it comes stays refused: nothing after it can come before it.

Events older than what may still come (the caller's lateness window) are folded into the order and forgotten
(`Orders.forget_before`): an order keeps only its recent events, and a closed one only who owned it and how it
closed, which is all that refusing its later events needs.

Sums are exact (a context wide enough for any two Decimal(38, 18) values); only the average price is rounded, to
the warehouse's 18 places.
"""

import heapq
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Iterable

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

    @property
    def owner(self) -> tuple[str, int, str]:
        """Return the wallet, subaccount and market that placed the order."""
        return self.placed.wallet, self.placed.subaccount, self.placed.market

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


@dataclass(frozen=True, slots=True)
class Closed:
    """A closed order whose events are all forgotten: what refusing its later events needs."""

    owner: tuple[str, int, str]
    status: OrderStatus


def refusal(order: Order | Closed | None, step: Step, name: str) -> str | None:
    """Return why `step` cannot count towards order `name` as it stands, or None when it can."""
    if isinstance(step, OrderEvent) and step.kind == "placed":
        return None if order is None else f"order {name} is placed already"
    what = "a fill" if isinstance(step, Fill) else "a cancellation"
    if order is None:
        return f"{what} of order {name}, which was not placed"
    if (step.wallet, step.subaccount, step.market) != order.owner:
        return f"{what} of order {name} by another account or in another market than its own"
    if order.status in CLOSED:
        return f"{what} of order {name}, which is {order.status} already"
    if isinstance(step, Fill):
        assert isinstance(order, Order)  # a `Closed` one is closed
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

    def __init__(self, name: str, settled: Order | Closed | None = None) -> None:
        self.name = name
        self.steps: dict[str, Step] = {}  # the events not forgotten
        self.settled = settled  # the order as the events forgotten left it
        self.order = settled
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
        """Walk every event not forgotten again, in apply order, from where the forgotten ones left the order."""
        self.order, self.refused = self.settled, {}
        ordered = sorted(self.steps.values(), key=apply_key)
        for step in ordered:
            self.step(step)
        self.last = apply_key(ordered[-1])

    def forget_before(self, ts: int) -> None:
        """Fold the events older than `ts` into the settled order and forget them (none older may come)."""
        old = sorted((s for s in self.steps.values() if s.ts < ts), key=apply_key)
        for step in old:
            if refusal(self.settled, step, self.name) is None:
                self.settled = advanced(self.settled, step)
            del self.steps[step.id]
            self.refused.pop(step.id, None)


    def to_row(self) -> dict[str, Any]:
        """Return the order as a stored row: where its forgotten events left it, and its events since (what it walks
        to, and the refusals, follow from them)."""
        steps = sorted(self.steps.values(), key=apply_key)
        return {"settled": order_row(self.settled), "last": self.last,
                "steps": [["fill" if isinstance(s, Fill) else "order", s.model_dump(mode="json")] for s in steps]}

    @classmethod
    def from_row(cls, name: str, row: dict[str, Any], owners: dict[Any, Any]) -> "OrderHistory":
        """Return the history a `to_row` row holds, walked again (`owners` interns what closed orders keep)."""
        history = cls(name, order_of_row(row["settled"], owners))
        for kind, step in row["steps"]:
            event = Fill.model_validate(step) if kind == "fill" else OrderEvent.model_validate(step)
            history.steps[event.id] = event
        if history.steps:
            history.walk()
        history.last = None if row["last"] is None else tuple(row["last"])  # walked before its events were forgotten
        return history


def order_row(order: Order | Closed | None) -> dict[str, Any] | None:
    """Return where an order stands as a stored row."""
    if isinstance(order, Closed):
        return {"closed": [*order.owner, order.status]}
    if order is None:
        return None
    return {"placed": order.placed.model_dump(mode="json"), "status": order.status,
            "filled_size": str(order.filled_size), "filled_notional": str(order.filled_notional),
            "version": order.version, "ts": order.ts, "cause": order.cause}


def order_of_row(row: dict[str, Any] | None, owners: dict[Any, Any]) -> Order | Closed | None:
    """Return the order an `order_row` row holds (`owners` interns what closed orders keep)."""
    if row is None:
        return None
    if "closed" in row:
        wallet, subaccount, market, status = row["closed"]
        owner = (wallet, subaccount, market)
        return Closed(owners.setdefault(owner, owner), status)
    return Order(OrderEvent.model_validate(row["placed"]), row["status"], Decimal(row["filled_size"]),
                 Decimal(row["filled_notional"]), row["version"], row["ts"], row["cause"])


@dataclass(frozen=True)
class Outcome:
    """What an event did to its order: the order's new state, or why the event was refused."""

    state: OrderState | None
    refused: str | None


class Orders:
    """Every order's history, by order id, with its events since `forget_before`'s time; what is left of the orders
    closed before it."""

    def __init__(self) -> None:
        self.histories: dict[str, OrderHistory] = {}
        self.closed: dict[str, Closed] = {}
        self.owners: dict[tuple[str, int, str], tuple[str, int, str]] = {}  # one tuple an account and market
        self.forgotten = 0  # no event older than this is taken
        self.times: list[tuple[int, str]] = []  # a heap: each event's time and order, until forgotten
        self.changed: set[str] = set()  # the orders changed since `take_changed`

    def apply(self, step: Step) -> Outcome | None:
        """Take an event in; return what it did to its order (None for a fill of no order, a position's event, or
        an event seen before)."""
        name = step.order
        if name is None or isinstance(step, OrderEvent) and step.kind not in ("placed", "cancelled"):
            return None
        if step.ts < self.forgotten:  # the caller refuses these as late: one that comes anyway counts for nothing
            return Outcome(None, f"older than the events of its order forgotten ({self.forgotten})")
        history = self.histories.get(name)
        if history is None:  # a closed order's later event walks from what is left of it: refused, with why
            history = self.histories[name] = OrderHistory(name, self.closed.pop(name, None))
        if step.id in history.steps:
            return None
        self.changed.add(name)
        heapq.heappush(self.times, (step.ts, name))
        why = history.add(step)
        if why is not None:
            return Outcome(None, why)
        assert isinstance(history.order, Order)  # what is left of a closed order refuses every event
        return Outcome(history.order.state(), None)

    def forget_before(self, ts: int) -> None:
        """Forget the events older than `ts`, which the caller promises never to give again or give older ones: an
        order keeps its later events, a closed order with none left only its `Closed`, a never placed one nothing."""
        self.forgotten = max(self.forgotten, ts)
        while self.times and self.times[0][0] < self.forgotten:
            name = heapq.heappop(self.times)[1]
            history = self.histories.get(name)
            if history is None:  # its events were forgotten with an earlier one's
                continue
            self.changed.add(name)
            history.forget_before(self.forgotten)
            if history.steps:
                continue
            order = history.order
            if order is None:
                del self.histories[name]
            elif order.status in CLOSED:
                self.closed[name] = Closed(self.owners.setdefault(order.owner, order.owner), order.status)
                del self.histories[name]

    def take_changed(self) -> set[str]:
        """Return the orders changed since the last call and forget them."""
        changed, self.changed = self.changed, set()
        return changed

    def row(self, name: str) -> dict[str, Any] | None:
        """Return an order as a stored row: its history, or what is left of it closed; None when nothing is."""
        history = self.histories.get(name)
        if history is not None:
            return history.to_row()
        closed = self.closed.get(name)
        return None if closed is None else order_row(closed)

    def to_row(self) -> dict[str, Any]:
        """Return how far events are forgotten as a stored row (each order is stored apart: `row`)."""
        return {"forgotten": self.forgotten}

    def load(self, row: dict[str, Any], orders: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Take back a `to_row` row and every order's `row`, into new orders."""
        self.forgotten = row["forgotten"]
        for name, stored in orders:
            if "closed" in stored:
                closed = order_of_row(stored, self.owners)
                assert isinstance(closed, Closed)
                self.closed[name] = closed
                continue
            history = self.histories[name] = OrderHistory.from_row(name, stored, self.owners)
            self.times += [(step.ts, name) for step in history.steps.values()]
        heapq.heapify(self.times)

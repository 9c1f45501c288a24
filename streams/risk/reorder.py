"""Input events in apply order: held for a grace period, released by event time, each id applied once."""

import heapq
from typing import Any, Iterable, Iterator

from quantdesk.messages import AccountChange, AdminCommand, Fill, OracleTick, OrderEvent, VenuePrice

Event = OracleTick | Fill | AccountChange | VenuePrice | OrderEvent | AdminCommand
PRIORITY: dict[type, int] = {AdminCommand: 0, AccountChange: 1, OracleTick: 2, OrderEvent: 3, Fill: 4, VenuePrice: 5}


def order_key(event: Event) -> tuple[int, int, str]:
    """Return the apply order of an event: event time, then admins' commands (a pause holds from its moment on),
    changes, ticks, order events (an order is placed before it fills), fills, other venues' prices, then id."""
    return event.ts, PRIORITY[type(event)], event.id


class ReorderBuffer:
    """Hold events until they are due, then give them out in apply order; drop ids seen before.

    An event is due once the newest event time is `grace_ms` past it and it is older than
    `ceiling`, the caller's bound (e.g. what unread input partitions may still hold). Events
    expected by id (a plan's fills) stop the release until they have all arrived.
    """

    def __init__(self, grace_ms: int) -> None:
        self.grace_ms = grace_ms
        self.heap: list[tuple[tuple[int, int, str], Event]] = []
        self.seen: set[str] = set()
        self.awaited: set[str] = set()
        self.newest = 0
        self.horizon = 0

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, events: Iterable[Event], ceiling: int | None = None) -> list[Event]:
        """Take events in and move the horizon: grace behind the newest, below `ceiling`; return those kept."""
        kept = [event for event in events if self._hold(event)]
        self.horizon = self.newest - self.grace_ms if ceiling is None else min(self.newest - self.grace_ms, ceiling)
        return kept

    def expect(self, ids: Iterable[str]) -> None:
        """Release nothing more until events with these ids have arrived."""
        self.awaited.update(i for i in ids if i not in self.seen)

    def coming(self, event_id: str) -> bool:
        """Tell whether an event with this id was taken in or is awaited."""
        return event_id in self.seen or event_id in self.awaited

    def due(self) -> Iterator[Event]:
        """Yield the events due, in apply order, while none is awaited."""
        while self.heap and not self.awaited and self.heap[0][0][0] <= self.horizon:
            yield heapq.heappop(self.heap)[1]

    def drain(self, ceiling: int | None = None) -> Iterator[Event]:
        """Yield every held event up to `ceiling` (all without one), grace or not, in apply order, while none
        is awaited."""
        while self.heap and not self.awaited and (ceiling is None or self.heap[0][0][0] <= ceiling):
            yield heapq.heappop(self.heap)[1]

    def _hold(self, event: Event) -> bool:
        """Keep an event not seen before; tell whether it was kept."""
        if event.id in self.seen:
            return False
        self.seen.add(event.id)
        self.awaited.discard(event.id)
        heapq.heappush(self.heap, (order_key(event), event))
        self.newest = max(self.newest, event.ts)
        return True

    def to_row(self) -> dict[str, Any]:
        """Return the buffer's clock and what it awaits as a stored row (the ids it has seen are stored apart)."""
        return {"newest": self.newest, "awaited": sorted(self.awaited)}

    def load_row(self, row: dict[str, Any], seen: Iterable[str]) -> None:
        """Take back a `to_row` row and the ids applied before."""
        self.newest, self.awaited = row["newest"], set(row["awaited"])
        self.seen = set(seen)

"""Input events in apply order: held for a grace period, released by event time, each id applied once."""

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from quantdesk.messages import AccountChange, AdminCommand, Fill, MarketEpoch, OracleTick, OrderEvent, VenuePrice

Event = OracleTick | Fill | AccountChange | VenuePrice | OrderEvent | AdminCommand | MarketEpoch
PRIORITY: dict[type, int] = {AdminCommand: 0, AccountChange: 1, OracleTick: 2, OrderEvent: 3, Fill: 4, VenuePrice: 5}
PAST = len(PRIORITY)  # a rank past every kind: (ts, PAST, "") orders after every event at ts
Key = tuple[int, int, str]  # an event's apply order
DAY_MS = 86_400_000


def order_key(event: Event) -> Key:
    """Return the apply order of an event: event time, then admins' commands (a pause holds from its moment on),
    changes, ticks, order events (an order is placed before it fills), fills, other venues' prices, then id. A market
    epoch goes where its event goes."""
    if type(event) is MarketEpoch:
        return event.ts, event.rank, event.source
    return event.ts, PRIORITY[type(event)], event.id


@dataclass(frozen=True)
class Applied:
    """Ids applied in one release, each partition's read offset then (every one was read before it), and the
    newest event time among them."""

    n: int
    ids: list[str]
    read: dict[str, int]
    newest: int

    def gone(self, committed: dict[str, int], oldest: int) -> bool:
        """Tell whether no input can bring these ids again: a restart reads on from the `committed` offsets, past
        all of them, and an event older than `oldest` not remembered is refused as late."""
        return self.newest < oldest and all(committed.get(tp, 0) >= end for tp, end in self.read.items())

    def to_row(self) -> dict[str, Any]:
        """Return the record as a stored row."""
        return {"ids": self.ids, "read": self.read, "newest": self.newest}

    @classmethod
    def of_row(cls, n: int, row: dict[str, Any]) -> "Applied":
        """Return the record a `to_row` row holds."""
        return cls(n, row["ids"], row["read"], row["newest"])


class ReorderBuffer:
    """Hold events until they are due, then give them out in apply order; drop ids seen before.

    An event is due once the newest event time is `grace_ms` past it and it is older than
    `ceiling`, the caller's bound (e.g. what unread input partitions may still hold), and not after
    `bound` (a risk task that takes its markets from epochs: the time up to which their author has
    applied every market event). Events expected by id (a plan's fills) stop the release until they
    have all arrived.

    The ids applied are remembered (`Applied`) until no input can bring them again: what is read
    before the committed offsets is never read again, and an event more than `max_lateness_ms` of
    event time behind the newest released is refused as late (`late`) unless its id is still
    remembered or the reader holds it `timeless` (one it may take however late, once more or not:
    the markets agent's liquidation fills). (The newest released, not the newest read: a backlog
    read a partition at a time runs far ahead in one partition, and the ceiling holds the release
    back for the others.) Memory so stays bounded by the uncommitted input and that window, not by
    all history.
    """

    def __init__(self, grace_ms: int, max_lateness_ms: int = DAY_MS,
                 timeless: Callable[[Event], bool] | None = None) -> None:
        self.grace_ms, self.max_lateness_ms = grace_ms, max_lateness_ms
        self.timeless = timeless
        self.heap: list[tuple[Key, bool, Event]] = []  # a market epoch before its fill's own side
        self.seen: set[str] = set()
        self.applied: deque[Applied] = deque()
        self.releases = 0  # records of applied ids made, forgotten or not
        self.awaited: set[str] = set()
        self.expected: set[str] = set()  # ids awaited, arrived or not, until applied: what a restore awaits again
        self.newest = 0
        self.released = 0  # the newest event time given out
        self.horizon = 0
        self.bound: int | None = None  # nothing later goes out, grace or not: what the markets' author has applied

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, events: Iterable[Event], ceiling: int | None = None) -> list[Event]:
        """Take events in and move the horizon: grace behind the newest, below `ceiling`; return those kept."""
        kept = [event for event in events if self._hold(event)]
        self.horizon = min([self.newest - self.grace_ms, *(c for c in (ceiling, self.bound) if c is not None)])
        return kept

    def late(self, event: Event) -> bool:
        """Tell whether an event is too late to apply: older than the window and not remembered, so it cannot be
        told from one applied and forgotten."""
        return event.ts < self.released - self.max_lateness_ms and event.id not in self.seen \
            and not (self.timeless and self.timeless(event))

    def expect(self, ids: Iterable[str]) -> None:
        """Release nothing more until events with these ids have arrived; remember them until they are applied (one
        held is still expected: a restore reads it again, after what its partition holds before it)."""
        ids = list(ids)
        held = {event.id for *_, event in self.heap} if any(i in self.seen for i in ids) else set()
        self.awaited.update(i for i in ids if i not in self.seen)
        self.expected.update(i for i in ids if i not in self.seen or i in held)

    def coming(self, event_id: str) -> bool:
        """Tell whether an event with this id was taken in or is awaited."""
        return event_id in self.seen or event_id in self.awaited

    def due(self) -> Iterator[Event]:
        """Yield the events due, in apply order, while none is awaited."""
        while self.heap and not self.awaited and self.heap[0][0][0] <= self.horizon:
            yield self._pop()

    def drain(self, ceiling: int | None = None) -> Iterator[Event]:
        """Yield every held event up to `ceiling` (all without one) and the bound, grace or not, in apply order,
        while none is awaited."""
        if self.bound is not None:
            ceiling = self.bound if ceiling is None else min(ceiling, self.bound)
        while self.heap and not self.awaited and (ceiling is None or self.heap[0][0][0] <= ceiling):
            yield self._pop()

    def settle(self, events: list[Event], read: dict[str, int],
               committed: dict[str, int]) -> tuple[Applied, list[Applied]]:
        """Record `events` as applied, read before the `read` offsets; forget the records no input can bring
        again now that reading restarts from `committed`. Return the new record and those forgotten."""
        self.releases += 1
        record = Applied(self.releases, [e.id for e in events], dict(read), max(e.ts for e in events))
        self.applied.append(record)
        gone, oldest = [], self.released - self.max_lateness_ms
        while self.applied and self.applied[0].gone(committed, oldest):
            gone.append(self.applied.popleft())
            self.seen.difference_update(gone[-1].ids)
        return record, gone

    def _pop(self) -> Event:
        """Give out the first event held, moving the newest released."""
        event = heapq.heappop(self.heap)[2]
        if event.ts > self.released:
            self.released = event.ts
        if self.expected:
            self.expected.discard(event.id)
        return event

    def _hold(self, event: Event) -> bool:
        """Keep an event not seen before; tell whether it was kept."""
        if event.id in self.seen or self.late(event):
            return False
        self.seen.add(event.id)
        self.awaited.discard(event.id)
        heapq.heappush(self.heap, (order_key(event), type(event) is not MarketEpoch, event))
        self.newest = max(self.newest, event.ts)
        return True

    def to_row(self) -> dict[str, Any]:
        """Return the buffer's clock and the ids it expects (awaited, or arrived and held) as a stored row (the ids it
        remembers are stored apart)."""
        return {"newest": self.newest, "released": self.released, "awaited": sorted(self.expected),
                "releases": self.releases, "bound": self.bound}

    def load_row(self, row: dict[str, Any], applied: Iterable[Applied]) -> None:
        """Take back a `to_row` row and the records of ids applied before."""
        self.newest, self.released, self.releases = row["newest"], row["released"], row["releases"]
        self.awaited, self.bound = set(row["awaited"]), row.get("bound", self.bound)
        self.expected = set(self.awaited)  # nothing is held after a restore: every one expected is awaited again
        self.applied = deque(sorted(applied, key=lambda record: record.n))
        self.seen = {i for record in self.applied for i in record.ids}

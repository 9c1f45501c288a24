"""How far an agent has read each input partition, and so which event times no unread input can still hold.

A partition counts as read to its end once it has stayed there `IDLE_S`: the end a fetch reported may be
stale (its producer may have written more since). Readers that fold input in event-time order
(`streams.ordered`) ask `ceiling`.
"""

from typing import Any, Iterable

IDLE_S = 0.04  # 2 fetch waits (20 ms) with nothing new: what the tick-to-client latency waits for when a partition is idle
NO_EVENT = -1
# (topic partition, its end offset or None when unknown, the offset reading it started at: a restarted worker
# starts a partition it had read to the end at that end)
PartitionEnd = tuple[Any, int | None, int]


class InputProgress:
    """How far this agent has read each input partition: next offset, newest event time, and since when
    (monotonic seconds) it has been read to its end."""

    def __init__(self) -> None:
        self.next_offset: dict[Any, int] = {}
        self.newest: dict[Any, int] = {}
        self.at_end: dict[Any, float] = {}

    def saw(self, tp: Any, offset: int, events: list[Any]) -> None:
        """Record a message read at `offset` with its valid events."""
        self.next_offset[tp] = offset + 1
        self.at_end.pop(tp, None)
        if events:
            self.newest[tp] = max(self.newest.get(tp, NO_EVENT), *(e.ts for e in events))

    def ceiling(self, ends: Iterable[PartitionEnd], now: float) -> int | None:
        """Return the newest event time safe to apply: below every partition not read to its end for
        `IDLE_S`."""
        unread = [self.newest.get(tp, NO_EVENT) - 1 for tp, end, start in ends if not self.quiet(tp, end, start, now)]
        return min(unread, default=None)

    def quiet(self, tp: Any, end: int | None, start: int, now: float) -> bool:
        """Tell whether a partition has been read (from `start`) to its known end for `IDLE_S`."""
        if end is None or self.next_offset.get(tp, start) < end:
            self.at_end.pop(tp, None)
            return False
        return now - self.at_end.setdefault(tp, now) >= IDLE_S

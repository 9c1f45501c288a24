"""Room logs: each room's sequence number and the last deltas pushed to it, so a client that missed some catches up.

A room's log opens when the room has members here and it is pushed to, or gets a subscriber; it holds at most
`size` deltas. It goes when a push finds the room empty (that push is skipped, unnumbered, so the log would have
a hole), when its last member unsubscribes, or at a sweep: whenever the logs have doubled since the last sweep,
those of empty rooms go, so there are never more than about twice as many logs as rooms listened to.
A log that goes takes its numbers with it: the next log of any room starts above every number a dropped log
reached, so a `since_seq` a client kept from an older log never matches a newer log's deltas.
"""

from collections import deque
from itertools import islice
from typing import Callable, Generic, TypeVar

Delta = TypeVar("Delta")
SWEEP_AT_LEAST = 64  # logs held before the first sweep


class RoomLog(Generic[Delta]):
    """One room's number and its last deltas, oldest first."""

    def __init__(self, seq: int, size: int) -> None:
        self.seq = seq
        self.deltas: deque[Delta] = deque(maxlen=size)

    def add(self, make: Callable[[int], Delta]) -> Delta:
        """Number the next delta, make it from its number, keep it and return it."""
        self.seq += 1
        delta = make(self.seq)
        self.deltas.append(delta)
        return delta

    def since(self, seq: int) -> list[Delta] | None:
        """Return the deltas numbered after `seq`, oldest first, or None when some are gone or `seq` is ahead."""
        missed = self.seq - seq
        if missed < 0 or missed > len(self.deltas):
            return None
        return list(islice(self.deltas, len(self.deltas) - missed, None))


class RoomLogs(Generic[Delta]):
    """The logs of the rooms, opened on demand, dropped when their room is found empty."""

    def __init__(self, size: int, listened: Callable[[str], bool]) -> None:
        self.size, self.listened = size, listened
        self.logs: dict[str, RoomLog[Delta]] = {}
        self.fresh = 0  # where a new log starts: above every number a dropped log reached
        self.sweep_at = SWEEP_AT_LEAST

    def open(self, name: str) -> RoomLog[Delta]:
        """Return a room's log, opening it (after a sweep, when due) if it has none."""
        log = self.logs.get(name)
        if log is None:
            if len(self.logs) >= self.sweep_at:
                self.sweep()
            log = self.logs[name] = RoomLog(self.fresh, self.size)
        return log

    def drop(self, name: str) -> None:
        """Forget a room's log; its numbers are never given out again."""
        log = self.logs.pop(name, None)
        if log is not None:
            self.fresh = max(self.fresh, log.seq + 1)

    def sweep(self) -> None:
        """Drop the logs of rooms nobody listens to; sweep again once the logs have doubled."""
        for name in [name for name in self.logs if not self.listened(name)]:
            self.drop(name)
        self.sweep_at = max(SWEEP_AT_LEAST, 2 * len(self.logs))

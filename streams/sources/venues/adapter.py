"""What a venue adapter is: it connects to one venue and yields what each message it reads means, as
`VenuePrice` events, `BookUpdate`s and dead letters; the runner (`runner.py`) publishes them and reconnects."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from quantdesk.messages import BookUpdate, DeadLetter, VenuePrice


@dataclass(frozen=True)
class Update:
    """What one message of a venue meant: prices and books of our markets, dead letters for what could not be read,
    and how many books it dropped as already published."""

    prices: list[VenuePrice] = field(default_factory=list)
    books: list[BookUpdate] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    dropped: int = 0


class VenueAdapter(Protocol):
    """One venue's feed of prices and books."""

    venue: str  # its name on `venues.prices` and `books`, and the `source` label of its metrics
    url: str

    def updates(self) -> AsyncIterator[Update]:
        """Connect, subscribe and yield an update per message that carried prices or a book or could not be read;
        end, or raise `OSError` (a timeout too), `ValueError` or a websocket error, when the connection is lost."""
        ...

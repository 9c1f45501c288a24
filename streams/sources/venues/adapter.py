"""What a venue adapter is: it connects to one venue and yields what each message it reads means, as
`VenuePrice` events and dead letters; the runner (`runner.py`) publishes them and reconnects."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from quantdesk.messages import DeadLetter, VenuePrice


@dataclass(frozen=True)
class Update:
    """What one message of a venue meant: prices of our markets, and dead letters for what could not be read."""

    prices: list[VenuePrice] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


class VenueAdapter(Protocol):
    """One venue's feed of prices."""

    venue: str  # its name on `venues.prices`, and the `source` label of its metrics
    url: str

    def updates(self) -> AsyncIterator[Update]:
        """Connect, subscribe and yield an update per message that carried prices or could not be read; end, or
        raise `OSError` (a timeout too), `ValueError` or a websocket error, when the connection is lost."""
        ...

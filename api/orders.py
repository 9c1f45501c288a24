"""The open orders of every wallet, as the gateway holds them for the `orders` channel's snapshot.

Seeded from the warehouse when the gateway starts, then kept by `orders.state` (`api.live`): an order's newest
version while it rests (`open` or `partially_filled`); one filled or cancelled is let go. Versions of one order
come in order on one partition, so an older one read again (the feed's warm-up, a restarted orders worker) is no
news.
"""

from typing import Any

from quantdesk.messages import OrderState

RESTING = ("open", "partially_filled")  # what a trader counts among open orders


class OpenOrders:
    """The newest state of each resting order, per wallet, and the newest version seen of each order."""

    def __init__(self) -> None:
        self.resting: dict[str, dict[str, dict[str, Any]]] = {}  # wallet -> order -> its state as pushed
        self.versions: dict[str, int] = {}  # order -> newest version seen

    def apply(self, event: dict[str, Any]) -> bool:
        """Take an order's state; return whether it is news (a newer version than any seen of that order)."""
        state = OrderState.model_validate(event)
        if self.versions.get(state.order, 0) >= state.version:
            return False
        self.versions[state.order] = state.version
        held = self.resting.setdefault(state.wallet, {})
        if state.status in RESTING:
            held[state.order] = event
        else:
            held.pop(state.order, None)
            del self.versions[state.order]  # closed for good: a later version, if any, would be hostile news
        if not held:
            del self.resting[state.wallet]
        return True

    def load(self, states: list[dict[str, Any]]) -> None:
        """Take the resting orders the warehouse holds."""
        for state in states:
            self.apply(state)

    def of(self, wallet: str) -> list[dict[str, Any]]:
        """Return a wallet's resting orders, oldest placed first."""
        held = self.resting.get(wallet, {})
        return sorted(held.values(), key=lambda s: (s["placed_ts"], s["order"]))

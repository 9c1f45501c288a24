"""What the gateway knows of a wallet's accounts: the plug point between the accounts engine and the API."""

from typing import Any, Protocol

from api.live import LiveState


class AccountsView(Protocol):
    """A reader of every sub-account of a wallet."""

    def get(self, wallet: str) -> dict[str, Any] | None:
        """Return `{"wallet", "subaccounts": [...]}` for a wallet, or None when it has no account."""


class LiveAccounts:
    """Accounts as the newest `accounts.state` events the live feed holds."""

    def __init__(self, live: LiveState) -> None:
        self.live = live

    def get(self, wallet: str) -> dict[str, Any] | None:
        """Return the wallet's sub-account states, lowest sub-account first, or None."""
        held = self.live.accounts.get(wallet)
        if not held:
            return None
        return {"wallet": wallet, "subaccounts": [held[sub] for sub in sorted(held)]}

"""A signal names exactly one audience: an account (its wallet and sub-account as subject) or a market."""

import pytest
from pydantic import ValidationError

from quantdesk.messages import Signal

BASE = {"id": "s", "ts": 1, "kind": "health_crossed", "severity": "warning", "message": "m"}


@pytest.mark.parametrize("audience", [
    {"subject": "W:0", "wallet": "W", "subaccount": 0, "market": "SOL-PERP"},
    {"subject": "SOL-PERP", "market": "SOL-PERP"},
])
def test_a_signal_for_one_account_or_one_market_is_taken(audience: dict) -> None:
    assert Signal(**BASE, **audience).subject == audience["subject"]


@pytest.mark.parametrize("audience", [
    {"subject": "W:0", "wallet": "W"},  # no sub-account
    {"subject": "W:0", "subaccount": 0, "market": "SOL-PERP"},  # no wallet
    {"subject": "SOL-PERP", "wallet": "W", "subaccount": 0, "market": "SOL-PERP"},  # an alert addressed to a market
    {"subject": "W:0", "market": "SOL-PERP"},  # a market signal about an account
    {"subject": "SOL-PERP"},  # a market signal without its market
])
def test_a_signal_whose_audience_is_unclear_is_refused(audience: dict) -> None:
    with pytest.raises(ValidationError):
        Signal(**BASE, **audience)

"""A signal names exactly one audience: an account (its wallet and sub-account as subject) or a market. An admin's
command names its subject, and a change of parameters is whole, sane and never retroactive. A dead letter keeps a
bounded part of what it refuses."""

import hashlib

import pytest
from pydantic import ValidationError

from quantdesk.messages import LETTER_CHARS, REASON_CHARS, AdminCommand, DeadLetter, Signal

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


COMMAND = {"id": "admin:1", "ts": 1_767_225_600_000, "admin": "boss", "reason": "volatility"}
PARAMS = {"action": "set_market_params", "market": "SOL-PERP", "imr": "0.2", "mmr": "0.1",
          "max_funding_per_hour": "0.002", "effective_at": 1_767_225_600_000}


def test_a_whole_sane_change_of_parameters_is_taken() -> None:
    command = AdminCommand.model_validate({**COMMAND, **PARAMS})
    assert (command.subject, str(command.mmr), command.effective_at) == ("SOL-PERP", "0.1", COMMAND["ts"])


@pytest.mark.parametrize(("change", "why"), [
    ({"effective_at": COMMAND["ts"] - 1}, "never retroactive"),
    ({"mmr": "0.2"}, "must be under imr"),
    ({"imr": "1.5", "mmr": "0.5"}, "imr at most 1"),
    ({"mmr": "0"}, "greater than 0"),
    ({"max_funding_per_hour": None}, "gives imr, mmr, max_funding_per_hour and effective_at"),
    ({"effective_at": None}, "gives imr, mmr, max_funding_per_hour and effective_at"),
    ({"market": None, "wallet": "W"}, "names its market"),
    ({"action": "pause_market"}, "sets no parameters"),
])
def test_a_change_of_parameters_that_is_partial_insane_or_retroactive_is_refused(change: dict, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        AdminCommand.model_validate({**COMMAND, **PARAMS, **change})


@pytest.mark.parametrize("length", [0, LETTER_CHARS, LETTER_CHARS + 1, 12 << 20])
def test_a_dead_letter_keeps_at_most_its_bound_of_what_it_refuses_and_says_how_long_it_was(length: int) -> None:
    payload = "\\x80" * (length // 4) + '"' * (length % 4)
    letter = DeadLetter(id="dlq:1", ts=0, topic="orders.events", reason="why " * 1000, payload=payload)
    assert len(letter.payload) == min(length, LETTER_CHARS) and len(letter.reason) == REASON_CHARS
    if length <= LETTER_CHARS:
        assert letter.payload == payload
    else:
        digest = hashlib.sha256(payload.encode()).hexdigest()
        assert letter.payload.endswith(f"… [cut: {length} characters in all, sha256 {digest}]")
        assert payload.startswith(letter.payload[:LETTER_CHARS - 200])
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter  # read back, it stays as it is

"""The account life cycle: one test per transition."""

from decimal import Decimal as D

import pytest

from streams.domain.account_state import AccountState as S
from streams.domain.account_state import next_state
from streams.domain.margin import Exposure, Margin, Quote, assess
from streams.domain.positions import Position


def flat(collateral: str) -> Margin:
    """Return the figures of an account without positions."""
    return assess(D(collateral), [])


def long_at(oracle: str) -> Margin:
    """Return the figures of 100 collateral and a 10 long from 100 (MM 5%) at `oracle`.

    At 100: equity 100, MM 50, health 50. At 95: equity 50, MM 47.5, health 5.
    At 94: equity 40 < MM 47: liquidatable.
    """
    long = Exposure(Position("SOL-PERP", D("10"), D("100")), Quote(D(oracle), D("0.05"), D("0.10")))
    return assess(D("100"), [long])


@pytest.mark.parametrize(
    ("previous", "margin", "in_flight", "expected"),
    [
        pytest.param(S.NEW, flat("0"), False, S.NEW, id="new stays new until a deposit"),
        pytest.param(S.NEW, flat("100"), False, S.FUNDED, id="new -> funded on a deposit"),
        pytest.param(S.FUNDED, long_at("100"), False, S.ACTIVE, id="funded -> active on a healthy fill"),
        pytest.param(S.FUNDED, flat("0"), False, S.CLOSED, id="funded -> closed when all is withdrawn"),
        pytest.param(S.CLOSED, flat("10"), False, S.FUNDED, id="closed -> funded on a new deposit"),
        pytest.param(S.ACTIVE, long_at("95"), False, S.AT_RISK, id="active -> at_risk under health 20"),
        pytest.param(S.AT_RISK, long_at("100"), False, S.ACTIVE, id="at_risk -> active at health 20 or more"),
        pytest.param(S.AT_RISK, long_at("94"), False, S.LIQUIDATABLE, id="at_risk -> liquidatable when equity < MM"),
        pytest.param(S.ACTIVE, long_at("94"), False, S.LIQUIDATABLE, id="active -> liquidatable on a gap"),
        pytest.param(S.ACTIVE, flat("120"), False, S.FUNDED, id="active -> funded when the trader closes out"),
        pytest.param(S.LIQUIDATABLE, long_at("94"), True, S.LIQUIDATING, id="liquidatable -> liquidating"),
        pytest.param(S.LIQUIDATABLE, long_at("100"), False, S.ACTIVE, id="liquidatable -> active on recovery"),
        pytest.param(S.LIQUIDATING, long_at("100"), True, S.LIQUIDATING, id="liquidating while the plan runs"),
        pytest.param(S.LIQUIDATING, long_at("100"), False, S.ACTIVE, id="liquidating -> active"),
        pytest.param(S.LIQUIDATING, long_at("95"), False, S.AT_RISK, id="liquidating -> at_risk if still under 20"),
        pytest.param(S.LIQUIDATING, flat("3"), True, S.FUNDED, id="liquidating -> funded once all is closed"),
        pytest.param(S.LIQUIDATING, flat("-7"), True, S.BANKRUPT, id="liquidating -> bankrupt with a deficit"),
        pytest.param(S.LIQUIDATING, flat("0"), False, S.BANKRUPT, id="liquidating -> bankrupt with nothing left"),
        pytest.param(S.BANKRUPT, flat("0"), False, S.BANKRUPT, id="bankrupt stays after the write-off"),
        pytest.param(S.BANKRUPT, flat("50"), False, S.FUNDED, id="bankrupt -> funded on a new deposit"),
    ],
)
def test_transition(previous: S, margin: Margin, in_flight: bool, expected: S) -> None:
    assert next_state(previous, margin, in_flight) is expected


def test_the_worked_figures_behind_the_transitions() -> None:
    assert (long_at("100").health, long_at("95").health) == (D(50), D(5))
    assert long_at("94").liquidatable and not long_at("95").liquidatable

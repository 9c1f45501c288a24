"""The no-noise gate: hysteresis per condition, cool-down per kind (more severe passes), stored rows."""

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from quantdesk.settings import Settings
from streams.domain.alerts import AlertGate, Thresholds, money_text, percent_text, price_text, short_key

COOL = 300_000


def fires(gate: AlertGate, value: D, ts: int, line: D = D(20), margin: D = D(2)) -> str | None:
    """A rule 'value under line': crossed or regained, through the gate's cool-down."""
    if gate.crossed("x", value < line) and gate.admit("crossed", ts, "warning", COOL):
        gate.enter("x")
        return "crossed"
    if gate.regained("x", value >= line + margin) and gate.admit("recovered", ts, "info", COOL):
        gate.leave("x")
        return "recovered"
    return None


def test_the_defaults_are_the_settings_defaults() -> None:
    assert Thresholds.of(Settings()) == Thresholds()


def test_a_value_wobbling_around_its_line_fires_once() -> None:
    gate = AlertGate()
    fired = [fires(gate, D("19.5") if n % 2 else D("20.5"), n * 1000) for n in range(200)]
    assert [f for f in fired if f] == ["crossed"]


def test_a_level_must_be_regained_by_its_margin_before_it_fires_again() -> None:
    gate = AlertGate()
    assert fires(gate, D(19), 0) == "crossed"
    assert fires(gate, D("21.99"), COOL * 2) is None and fires(gate, D(19), COOL * 3) is None
    assert fires(gate, D(22), COOL * 4) == "recovered"
    assert fires(gate, D(19), COOL * 5) == "crossed"


def test_the_cool_down_holds_a_crossing_back_until_it_has_passed_then_fires_if_still_past() -> None:
    gate = AlertGate()
    assert [fires(gate, v, ts) for v, ts in ((D(19), 0), (D(25), 1000), (D(19), 2000))] == ["crossed", "recovered",
                                                                                            None]
    assert "x" not in gate.past  # held back: not taken as signalled
    assert fires(gate, D(19), COOL - 1) is None
    assert fires(gate, D(19), COOL) == "crossed"


def test_a_more_severe_signal_passes_the_cool_down() -> None:
    gate = AlertGate()
    assert gate.admit("health_crossed", 0, "warning", COOL)
    assert not gate.admit("health_crossed", 1, "warning", COOL) and not gate.admit("health_crossed", 1, "info", COOL)
    assert gate.admit("health_crossed", 2, "critical", COOL)
    assert gate.admit("other_kind", 3, "info", COOL)  # per kind


@given(st.sets(st.text(min_size=1, max_size=8)),
       st.dictionaries(st.text(min_size=1, max_size=8), st.tuples(st.integers(0, 2**50), st.integers(0, 2))))
def test_a_gate_round_trips_through_its_row(past: set[str], last: dict[str, tuple[int, int]]) -> None:
    gate = AlertGate(past, last)
    assert AlertGate.from_row(gate.to_row()) == gate


def test_numbers_read_as_a_trader_reads_them() -> None:
    assert (price_text(D("131.2")), price_text(D("60000.125")), price_text(D("0.1234567"))) == (
        "131.20", "60,000.12", "0.123457")
    assert (percent_text(D("0.0312")), percent_text(D("-0.00001")), money_text(D("150000.5"))) == (
        "3.1 %", "0.0 %", "$150,000")
    assert short_key("7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU", 0) == "7xKX…:0"


OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("admit"), st.sampled_from(("crossed", "recovered")), st.integers(0, 10 * COOL),
              st.sampled_from(("info", "warning", "critical"))),
    st.tuples(st.sampled_from(("enter", "leave")), st.lists(st.sampled_from(("x", "y", "near:a", "near:b")))),
    st.tuples(st.just("forget"), st.sampled_from(("near:", "x", "")))), max_size=30)


@given(OPERATIONS)
def test_a_gates_row_is_its_state_after_every_change(operations: list[tuple]) -> None:
    # the row is made once a change (a checkpoint asks every account's gate): one kept past a change would store,
    # and restore, a gate that no longer is
    gate = AlertGate()
    for name, *args in operations:
        if name == "admit":
            gate.admit(args[0], args[1], args[2], COOL)
        elif name == "forget":
            gate.forget(args[0])
        else:
            getattr(gate, name)(*args[0])
        assert gate.to_row() == {"past": sorted(gate.past), "last": {k: list(v) for k, v in sorted(gate.last.items())}}
        assert AlertGate.from_row(gate.to_row()) == gate

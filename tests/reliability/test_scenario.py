"""A crash run's tables are held to the reference row for row, and a difference is named by id, quickly."""

import pytest

from tests.reliability.scenario import same_rows

REFERENCE = {"fills": [("a", 1), ("b", 2), ("c", 3)], "rates": [("r", 1)]}


def test_equal_tables_pass() -> None:
    same_rows(REFERENCE, {"fills": list(REFERENCE["fills"]), "rates": [("r", 1)]}, REFERENCE)


def test_a_table_that_differs_names_its_missing_extra_and_changed_rows() -> None:
    got = {"fills": [("a", 1), ("c", 4), ("d", 5)], "rates": [("r", 1)]}
    with pytest.raises(AssertionError) as failed:
        same_rows(REFERENCE, got, REFERENCE)
    said = str(failed.value)
    assert "fills: 3 rows against 3; 1 missing ['b'], 1 extra ['d'], 1 changed [(('c', 3), ('c', 4))]" in said
    assert "rates" not in said


def test_fifty_thousand_rows_that_differ_fail_at_once() -> None:
    rows = [(f"s{n:06d}", n) for n in range(50_000)]
    with pytest.raises(AssertionError, match="1 missing"):
        same_rows({"states": rows}, {"states": rows[:-1]}, ["states"])

"""Numbers written in compiled code print as Python prints them."""

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.risk.json_text import INTEGER_CHARS, decimal_text, write_integer

COEFFICIENTS = st.one_of(st.integers(-(2**63) + 1, 2**63 - 1), st.integers(-10**7, 10**7))
EXPONENTS = st.one_of(st.integers(-30, 30), st.sampled_from((-12, -9, -4, 0)))


@pytest.fixture(autouse=True, scope="module")
def loaded() -> None:
    """Load the compiled writers once, before hypothesis times an example (a loaded machine took more than its
    200 ms deadline to load them from numba's cache)."""
    decimal_text(1, 0)
    write_integer(np.zeros(INTEGER_CHARS, np.uint8), 0, np.int64(1))


@given(COEFFICIENTS, EXPONENTS)
def test_a_figure_prints_as_str_of_its_decimal(coefficient: int, exponent: int) -> None:
    expected = Decimal(coefficient).scaleb(exponent) if coefficient else Decimal((0, (0,), exponent))
    assert decimal_text(coefficient, exponent) == str(expected)


def test_the_forms_decimal_chooses_between_plain_and_scientific() -> None:
    assert [decimal_text(c, e) for c, e in ((0, -9), (15, -9), (1_000_000_000_000, -9), (-4, -3), (1, 3),
                                            (123456, -12), (1234567, -12), (977990, -4), (50025, 0))] == [
        "0E-9", "1.5E-8", "1000.000000000", "-0.004", "1E+3", "1.23456E-7", "0.000001234567", "97.7990", "50025"]


@given(COEFFICIENTS)
def test_an_integer_prints_as_str_of_its_int(value: int) -> None:
    out = np.zeros(INTEGER_CHARS, np.uint8)
    assert out[:write_integer(out, 0, np.int64(value))].tobytes().decode() == str(value)

"""The integer margin bench checks its figures against the Decimal engine's and reports each beside its anchors."""

import pytest

from bench.fixed_margin import fixed_margin_costs

PER_HOLDER = ("kernel_us_per_holder", "kernel_funding_us_per_holder", "decimal_us_per_holder",
              "decimal_settle_us_per_holder", "numpy_us_per_holder")


def test_the_integer_pass_beside_the_decimal_engine_and_bare_numpy() -> None:
    report = fixed_margin_costs(130, repeats=2)  # more than the 60 kinds of holder
    assert (report["holders"], report["markets"], report["decimal_sample"]) == (130, 3, 130)
    assert report["matches_decimal"] is True
    assert all(report[figure] > 0 for figure in PER_HOLDER)
    assert report["kernel_vs_numpy"] == pytest.approx(report["kernel_us_per_holder"] / report["numpy_us_per_holder"])
    assert report["decimal_vs_kernel"] == pytest.approx(report["decimal_us_per_holder"]
                                                        / report["kernel_us_per_holder"])

"""The snapshot bench writes the same bytes as pydantic and reports each beside the other."""

import pytest

from bench.snapshots import snapshot_costs


def test_snapshots_from_columns_beside_pydantic() -> None:
    report = snapshot_costs(200, repeats=2)
    assert report["holders"] == 200 and 100 < report["snapshots"] <= 200
    assert report["matches_pydantic"] is True
    assert report["columns_us_per_snapshot"] > 0 and report["pydantic_us_per_snapshot"] > 0
    assert report["pydantic_vs_columns"] == pytest.approx(report["pydantic_us_per_snapshot"]
                                                          / report["columns_us_per_snapshot"])

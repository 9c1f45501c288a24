"""Account snapshots written from integer columns, beside pydantic writing the same snapshots.

The snapshots are those a 1 % move publishes over the holders bench's engine (`bench.holders`: every holder in
the three default markets), laid out as the columns `streams.risk.snapshot_bytes` writes. Timed in the same run:
- `snapshot_bytes` over every snapshot the move published (one compiled pass and the slicing of its output);
- pydantic serialising each of them (`to_json`, what the risk worker pays per state it sends), the anchor.
Both give the same bytes (`matches_pydantic`). Neither includes making the figures: the engine makes them as
Decimal models today (`streams.risk.outputs.snapshot`), the integer pass as columns (`streams.domain.fixed_margin`).
"""

from typing import Any

from bench.fixed_margin import median_seconds
from bench.holders import built_engine, moves
from streams.risk.snapshot_bytes import snapshot_bytes, snapshot_columns


def snapshot_costs(holders: int, repeats: int) -> dict[str, Any]:
    """Return µs per snapshot written from columns and by pydantic, over a 1 % move's snapshots at `holders`."""
    engine = built_engine(holders, integers=False)  # the Decimal engine's models, to time pydantic on
    states = engine.apply(moves(1)[0]).states
    columns = snapshot_columns(states)
    pydantic = median_seconds(lambda: [s.__pydantic_serializer__.to_json(s) for s in states], repeats)
    written = median_seconds(lambda: snapshot_bytes(columns), repeats)
    per = {"columns_us_per_snapshot": 1e6 * written / len(states),
           "pydantic_us_per_snapshot": 1e6 * pydantic / len(states)}
    return {"holders": holders, "snapshots": len(states), "repeats": repeats, **per,
            "pydantic_vs_columns": per["pydantic_us_per_snapshot"] / per["columns_us_per_snapshot"],
            "matches_pydantic": snapshot_bytes(columns) == [s.__pydantic_serializer__.to_json(s) for s in states],
            "what": "streams.risk.snapshot_bytes: the JSON of every account snapshot a 1 % BTC move publishes, written "
                    "from integer columns in one compiled pass; median of repeats",
            "baseline": "pydantic to_json of the same AccountSnapshot models"}

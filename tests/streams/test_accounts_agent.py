"""The accounts agent's bookkeeping without a broker: how far each input partition has been read."""

from decimal import Decimal as D

from quantdesk.messages import OracleTick
from streams.agents.accounts import InputProgress

T0 = 1_767_225_600_000


def tick(ts: int) -> OracleTick:
    return OracleTick(id=f"t{ts}", ts=ts, market="SOL-PERP", price=D(100), conf=D("0.1"), publish_time=ts)


def test_only_partitions_with_unread_records_bound_the_release() -> None:
    progress = InputProgress()
    progress.saw("ticks/0", 9, [tick(T0 + 500)])
    progress.saw("fills/0", 3, [tick(T0 + 200)])
    # ticks/0 read to its end (next offset 10 = end); fills/0 has records past offset 3: apply below its newest
    assert progress.ceiling([("ticks/0", 10), ("fills/0", 7)]) == T0 + 199
    assert progress.ceiling([("ticks/0", 10), ("fills/0", 4)]) is None


def test_a_partition_not_read_or_not_fetched_yet_holds_everything() -> None:
    progress = InputProgress()
    progress.saw("ticks/0", 0, [tick(T0)])
    assert progress.ceiling([("ticks/0", 1), ("changes/1", 5)]) == -2
    assert progress.ceiling([("ticks/0", 1), ("changes/1", None)]) == -2
    assert progress.ceiling([("ticks/0", 1), ("changes/1", 0)]) is None

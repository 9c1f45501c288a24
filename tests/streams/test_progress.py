"""How far each input partition has been read, and which event times no unread input can still hold."""

from decimal import Decimal as D

from quantdesk.messages import OracleTick
from streams.progress import IDLE_S, InputProgress

T0 = 1_767_225_600_000


def tick(ts: int) -> OracleTick:
    return OracleTick(id=f"t{ts}", ts=ts, market="SOL-PERP", price=D(100), conf=D("0.1"), publish_time=ts)


def test_only_partitions_with_unread_records_bound_the_release() -> None:
    progress = InputProgress()
    progress.saw("ticks/0", 9, [tick(T0 + 500)])
    progress.saw("fills/0", 3, [tick(T0 + 200)])
    progress.ceiling([("ticks/0", 10, 0), ("fills/0", 4, 0)], 0.0)
    # ticks/0 has stayed at its end (next offset 10); fills/0 has records past offset 3: apply below its newest
    assert progress.ceiling([("ticks/0", 10, 0), ("fills/0", 4, 0)], IDLE_S) is None
    assert progress.ceiling([("ticks/0", 10, 0), ("fills/0", 7, 0)], IDLE_S) == T0 + 199


def test_a_partition_just_read_to_its_end_bounds_the_release_until_it_stays_there() -> None:
    progress = InputProgress()
    progress.saw("ticks/0", 9, [tick(T0 + 500)])
    progress.saw("fills/0", 3, [tick(T0 + 200)])
    # the end a fetch reported may be stale: fills/0 may hold more than it said
    assert progress.ceiling([("ticks/0", 10, 0), ("fills/0", 4, 0)], 0.0) == T0 + 199
    assert progress.ceiling([("ticks/0", 10, 0), ("fills/0", 4, 0)], IDLE_S / 2) == T0 + 199
    progress.saw("fills/0", 4, [tick(T0 + 300)])  # it did: the wait starts again
    assert progress.ceiling([("ticks/0", 10, 0), ("fills/0", 5, 0)], IDLE_S) == T0 + 299
    assert progress.ceiling([("ticks/0", 10, 0), ("fills/0", 5, 0)], 2 * IDLE_S) is None


def test_a_partition_not_read_or_not_fetched_yet_holds_everything() -> None:
    progress = InputProgress()
    progress.saw("ticks/0", 0, [tick(T0)])
    progress.ceiling([("ticks/0", 1, 0), ("changes/1", 0, 0)], 0.0)
    assert progress.ceiling([("ticks/0", 1, 0), ("changes/1", 0, 0)], IDLE_S) is None
    assert progress.ceiling([("ticks/0", 1, 0), ("changes/1", 5, 0)], IDLE_S) == -2
    assert progress.ceiling([("ticks/0", 1, 0), ("changes/1", None, 0)], IDLE_S) == -2


def test_a_partition_a_restarted_worker_starts_at_its_end_is_read_to_it() -> None:
    progress = InputProgress()
    progress.saw("ticks/0", 9, [tick(T0 + 500)])
    progress.ceiling([("ticks/0", 10, 0), ("changes/1", 3, 3)], 0.0)  # changes/1 was committed to its end
    assert progress.ceiling([("ticks/0", 10, 0), ("changes/1", 3, 3)], IDLE_S) is None
    assert progress.ceiling([("ticks/0", 10, 0), ("changes/1", 4, 3)], IDLE_S) == -2  # it has a record unread

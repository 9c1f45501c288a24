"""The owners behind the risk tasks' records: applied in apply order once no task can precede them, whatever the
tasks' interleaving, and the same after a restore at any point (the records waiting restored with them)."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.messages import HolderSide, RiskOutcomes, dump
from streams.risk.outputs import OUTPUT_LISTS, Outputs
from streams.risk.owners import Owners
from streams.risk.reorder import order_key
from tests.streams.risk.test_open_interest import FAST, NAMES, moves, record
from tests.streams.risk.events import T0

TASKS = 3


def outcomes(task: int, release: int, sides: list[HolderSide], through: HolderSide | None = None) -> RiskOutcomes:
    """Return a task's release holding `sides`, applied through `through` (its last side when None)."""
    last = through or sides[-1]
    return RiskOutcomes(task=task, release=release, through=order_key(last.fill), sides=sides)


def published(out: Outputs) -> dict[str, list[bytes]]:
    """Return what `out` publishes, per list (each its own topic)."""
    return {name: [orjson.dumps(dump(m)) for m in getattr(out, name)] for name in OUTPUT_LISTS}


def extend(got: dict[str, list[bytes]], out: Outputs) -> None:
    """Add what `out` publishes to `got`, per list."""
    for name, messages in published(out).items():
        got.setdefault(name, []).extend(messages)


def test_records_wait_until_every_task_has_applied_past_them_then_go_in_apply_order() -> None:
    owners = Owners(NAMES, FAST, 2)
    early, late = record(1, T0, NAMES[0], "a", "flat", "long"), record(2, T0 + 10, NAMES[0], "b", "flat", "short")
    owners.take(outcomes(1, 1, [late]))
    assert owners.due()[1] == []  # task 0 has applied nothing yet: it could still send an earlier record
    owners.take(outcomes(0, 1, [early]))
    assert owners.due()[1] == [early.id]  # task 1's record is past task 0's key
    owners.take(outcomes(0, 2, [], through=late))
    assert owners.due()[1] == [late.id]
    counts = owners.open_interest.markets[NAMES[0]]
    assert (counts.longs, counts.shorts) == (1, 1)


def test_a_record_held_already_is_not_held_twice() -> None:
    owners = Owners(NAMES, FAST, 1)
    first = [record(n, T0 + n, NAMES[0], f"w{n}", "flat", "long") for n in range(3)]
    assert owners.take(outcomes(0, 1, first[:2], through=first[0])) == [first[0].id, first[1].id]
    assert owners.due()[1] == [first[0].id]
    assert owners.take(outcomes(0, 2, first[1:])) == [first[2].id]  # the second is waiting already
    assert owners.due()[1] == [first[1].id, first[2].id]
    assert owners.open_interest.markets[NAMES[0]].longs == 3


@settings(deadline=None, max_examples=60)
@given(moves(), st.data())
def test_tasks_in_any_interleaving_and_a_restore_anywhere_give_one_engines_order(
        sides: list[HolderSide], data: st.DataObject) -> None:
    sides = sorted(sides, key=lambda side: order_key(side.fill))  # as tasks release them: in apply order
    one = Owners(NAMES, FAST, 1)
    one.take(outcomes(0, 1, sides, through=sides[-1]) if sides else idle(0, 1))
    expected = published(one.due()[0])
    task_of = [data.draw(st.integers(0, TASKS - 1)) for _ in sides]  # the task holding each record's account
    queues = [releases(t, [s for s, held in zip(sides, task_of) if held == t], sides, data) for t in range(TASKS)]
    owners, got = Owners(NAMES, FAST, TASKS), {}
    while any(queues):
        task = data.draw(st.sampled_from([t for t, queue in enumerate(queues) if queue]))
        owners.take(queues[task].pop(0))
        extend(got, owners.due()[0])
        if data.draw(st.booleans()):  # restored from its checkpoint, the records waiting with it, and read on
            restored = Owners(NAMES, FAST, TASKS)
            restored.load_row(orjson.loads(orjson.dumps(owners.to_row())))
            owners = restored
    assert {name: got.get(name, []) for name in expected} == expected


def idle(task: int, release: int) -> RiskOutcomes:
    """Return a release that applied nothing of a task's: through the earliest key."""
    return RiskOutcomes(task=task, release=release, through=(0, 0, ""), sides=[])


def releases(task: int, mine: list[HolderSide], every: list[HolderSide], data: st.DataObject) -> list[RiskOutcomes]:
    """Return a task's releases of its records, in drawn sizes, each through its last record, then one through the
    last record of all (the task applied every event, its own or not)."""
    out, start = [], 0
    while start < len(mine):
        part = mine[start:start + data.draw(st.integers(1, 5))]
        out.append(outcomes(task, len(out) + 1, part))
        start += len(part)
    out.append(outcomes(task, len(out) + 1, [], through=every[-1]) if every else idle(task, len(out) + 1))
    return out

"""Derived events leave packed per partition (per key on a compacted topic), runs written together as slices."""

from quantdesk.kafka.publisher import MESSAGE_BYTES, partition_messages, partition_of
from quantdesk.kafka.records import keyed_batches
from quantdesk.wire import decode
from tests.quantdesk.kafka.test_records import records
from tests.quantdesk.test_wire import run_of

PARTITIONS = (0, 1, 2)
ACCOUNTS = [f"W{n}:0" for n in range(30)]


def entries() -> list[tuple[str, dict]]:
    """Return two events per account, interleaved, numbered in order per account."""
    return [(key, {"id": f"{key}:{n}", "subject": key, "n": n}) for n in range(2) for key in ACCOUNTS]


def test_audit_entries_of_many_accounts_share_one_message_per_partition() -> None:
    sent = list(partition_messages(entries(), PARTITIONS))
    assert sorted(partition for partition, _, _ in sent) == [0, 1, 2]
    runs = [run_of(entries())], [run_of(entries()[:25]), *entries()[25:40], run_of(entries()[40:])]
    for sent in (sent, *(list(partition_messages(events, PARTITIONS)) for events in runs)):
        by_partition: dict[int, list[dict]] = {}
        for partition, key, value in sent:
            batch = decode(value)
            assert {partition_of(e["subject"], PARTITIONS) for e in batch} == {partition}
            assert batch[0]["subject"] == key  # a message's key is its first event's
            by_partition.setdefault(partition, []).extend(batch)
        assert sum(map(len, by_partition.values())) == len(entries())
        for batch in by_partition.values():
            for account in {e["subject"] for e in batch}:
                assert [e["n"] for e in batch if e["subject"] == account] == [0, 1]


def test_a_long_run_leaves_in_messages_of_at_most_500_events_and_the_byte_bound() -> None:
    events = [(f"W{n % 7}:0", {"n": n, "pad": "x" * (2000 if n >= 1500 else 10)}) for n in range(2000)]
    sent = [(p, decode(v), len(v)) for p, _, v in partition_messages([run_of(events)], PARTITIONS)]
    assert all(len(batch) <= 500 and size <= MESSAGE_BYTES for _, batch, size in sent)
    assert any(len(batch) == 500 for _, batch, _ in sent) and any(len(batch) < 500 for _, batch, _ in sent[-5:])
    for partition in PARTITIONS:
        assert [e["n"] for p, batch, _ in sent if p == partition for e in batch] == [
            n for n, (key, _) in enumerate(events) if partition_of(key, PARTITIONS) == partition]


def test_account_states_stay_one_key_per_record_for_compaction() -> None:
    sent = records(keyed_batches(entries(), PARTITIONS, 1 << 20, 0))
    assert sorted((partition, key) for partition, key, _ in sent) == sorted(
        (partition_of(key, PARTITIONS), key) for key in ACCOUNTS)
    assert all([e["subject"] for e in decode(value)] == [key, key] for _, key, value in sent)

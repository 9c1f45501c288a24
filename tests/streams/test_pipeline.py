"""Derived events leave packed per partition (per key on a compacted topic)."""

from quantdesk.kafka.publisher import partition_of
from quantdesk.wire import decode
from streams.pipeline import outgoing

PARTITIONS = (0, 1, 2)
ACCOUNTS = [f"W{n}:0" for n in range(30)]


def entries() -> list[tuple[str, dict]]:
    """Return two events per account, interleaved, numbered in order per account."""
    return [(key, {"id": f"{key}:{n}", "subject": key, "n": n}) for n in range(2) for key in ACCOUNTS]


def test_audit_entries_of_many_accounts_share_one_message_per_partition() -> None:
    sent = list(outgoing("audit.log", entries(), PARTITIONS))
    assert sorted(partition for partition, _, _ in sent) == [0, 1, 2]
    for partition, _, value in sent:
        batch = decode(value)
        assert {partition_of(e["subject"], PARTITIONS) for e in batch} == {partition}
        for key in {e["subject"] for e in batch}:
            assert [e["n"] for e in batch if e["subject"] == key] == [0, 1]


def test_account_states_stay_one_key_per_message_for_compaction() -> None:
    sent = list(outgoing("accounts.state", entries(), PARTITIONS))
    expected = [(partition_of(key, PARTITIONS), key) for key in ACCOUNTS]
    assert [(partition, key) for partition, key, _ in sent] == expected
    assert all({e["subject"] for e in decode(value)} == {key} for _, key, value in sent)

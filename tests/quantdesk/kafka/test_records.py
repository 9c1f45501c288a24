"""Record batches written in one pass are the bytes aiokafka's own builder writes for the same records; a compacted
topic's hold one record per key, its events in order; runs' rows go into them from their buffers."""

import asyncio

import numpy as np
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.kafka.publisher import MESSAGE_BYTES, partition_messages, partition_of
from quantdesk.kafka.records import keyed_batches, partition_batches, record_batches
from quantdesk.kafka.topics import ensure_topics
from quantdesk.settings import Settings
from quantdesk.wire import Encoded, decode
from tests.quantdesk.kafka.test_publisher import read_all
from tests.quantdesk.test_wire import mixed, run_of

TIMESTAMP = 1_764_000_000_123
KEYS = st.text(min_size=1, max_size=40).map(str.encode)
PIECES = st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=4)


def written(records: list[tuple[bytes, list[bytes]]], batch_bytes: int = 1 << 20) -> list[tuple[bytes, int]]:
    """Return `record_batches` over records given as (key, value pieces)."""
    pieces = [p for _, ps in records for p in ps]
    at = np.cumsum([0, *(len(p) for p in pieces)])
    keys = [k for k, _ in records]
    batches = record_batches(b"".join(pieces), at[:-1], at[1:], np.arange(len(pieces)),
                             np.cumsum([0, *(len(ps) for _, ps in records)]), b"".join(keys),
                             np.cumsum([0, *(len(k) for k in keys)]), TIMESTAMP, batch_bytes)
    return [(bytes(batch), count) for batch, count in batches]


def built(records: list[tuple[bytes, bytes]]) -> bytes:
    """Return aiokafka's batch of (key, value) records, as its producer's `BatchBuilder` makes it."""
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, 0, 1 << 30)
    for offset, (key, value) in enumerate(records):
        builder.append(offset, timestamp=TIMESTAMP, key=key, value=value, headers=[])
    return bytes(builder.build())


@settings(deadline=None)  # the first example compiles the writer, unless cached
@given(st.lists(st.tuples(KEYS, PIECES), min_size=1, max_size=300))
def test_a_batch_is_the_bytes_aiokafka_builds_each_value_its_pieces_as_a_json_array(
        records: list[tuple[bytes, list[bytes]]]) -> None:
    [(batch, count)] = written(records)
    assert count == len(records)
    assert batch == built([(key, b"[" + b",".join(pieces) + b"]") for key, pieces in records])
    read = DefaultRecordBatch(batch)
    assert read.validate_crc()
    assert [(r.key, r.value, r.timestamp) for r in read] == [
        (key, b"[" + b",".join(pieces) + b"]", TIMESTAMP) for key, pieces in records]


def test_records_past_a_batchs_bytes_start_the_next_batch_and_a_record_larger_alone_has_its_own() -> None:
    records = [(b"k%d" % n, [b"x" * 700]) for n in range(100)] + [(b"big", [b"y" * 9000])] + [(b"z", [b"1"])]
    batches = written(records, batch_bytes=8 << 10)
    # a header of 61 bytes and at most 728 a record: 11 in 8 KiB; the last of the 100 alone before the big one
    assert [count for _, count in batches] == [11] * 9 + [1, 1, 1]
    assert all(len(batch) <= 8 << 10 for batch, _ in batches[:9]) and len(batches[10][0]) > 9000
    offset = 0
    for batch, count in batches:  # each batch counts its own offsets from 0, in order
        assert batch == built([(key, b"[" + b",".join(pieces) + b"]")
                               for key, pieces in records[offset:offset + count]])
        offset += count


def records(batches: list[tuple[int, object]]) -> list[tuple[int, str, bytes]]:
    """Return the (partition, key, value) records of built batches, in order."""
    return [(partition, r.key.decode(), r.value) for partition, batch in batches
            for r in DefaultRecordBatch(bytes(batch._build()))]  # type: ignore[attr-defined]


def test_a_key_holds_one_record_of_its_events_in_order_from_runs_and_single_events_alike() -> None:
    keys = [f"W{n}:0" for n in range(50)]
    first = [(k, {"key": k, "n": 0}) for k in keys]  # a run of one state per key, single states, the run's rest, a run
    again = [(k, Encoded(0, orjson.dumps({"key": k, "n": 1}))) for k in keys[::5]]
    third = [(k, {"key": k, "n": 2}) for k in keys[::2]]
    run = run_of(first)
    got = records(keyed_batches([run.part(0, 20), *again, run.part(20, 50), run_of(third)], (0, 1, 2), 1 << 20, 0))
    assert sorted(key for _, key, _ in got) == sorted(keys)  # one record a key
    for partition, key, value in got:
        assert partition == partition_of(key, (0, 1, 2)) and all(e["key"] == key for e in decode(value))
        before = keys.index(key) < 20  # its first state in the run's first part, before the single ones
        assert [e["n"] for e in decode(value)] == [  # its own events, in the order they came
            *([0] if before else []), *([1] if key in keys[::5] else []), *([] if before else [0]),
            *([2] if key in keys[::2] else [])]
    came = list(dict.fromkeys([*keys[:20], *(k for k, _ in again), *keys[20:]]))
    for partition in (0, 1, 2):  # keys in the order they first came
        assert [key for p, key, _ in got if p == partition] == [
            k for k in came if partition_of(k, (0, 1, 2)) == partition]


def test_a_key_with_many_or_large_events_holds_several_records_each_within_the_bounds() -> None:
    events = [("A", {"n": n}) for n in range(1200)] + [("B", {"n": n, "pad": "x" * 200_000}) for n in range(5)]
    got = records(keyed_batches([run_of(events[:700]), *events[700:]], (0,), 1 << 20, 0))
    assert [len(decode(v)) for _, k, v in got if k == "A"] == [500, 500, 200]
    assert all(len(v) <= MESSAGE_BYTES for _, k, v in got if k == "B") and sum(k == "B" for _, k, _ in got) == 3
    assert [e["n"] for _, k, v in got for e in decode(v) if k == "B"] == list(range(5))


async def test_keyed_batches_go_to_the_broker_few_each_record_on_its_partition_in_order(settings: Settings) -> None:
    # 3,000 account states of ~600 bytes in batches of at most 16 KiB: each partition's ~600 KB in ~40 batches
    await ensure_topics(settings, settings.kafka_bootstrap or "")
    events = [(f"W{n}:0", {"n": n, "pad": "x" * 580}) for n in range(3000)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, max_batch_size=16 << 10)
    await producer.start()
    try:
        name = settings.topic("accounts.state")
        sent = [await producer.send_batch(batch, name, partition=partition)
                for partition, batch in keyed_batches([run_of(events)], (0, 1, 2), 16 << 10, 1_764_000_000_000)]
        delivered = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    assert 3 * 30 < len(delivered) < 3 * 60  # batches full to the size asked, not one per record
    got = await read_all(settings, "accounts.state", len(events))
    expected = [(partition_of(k, (0, 1, 2)), k.encode(), b"[" + orjson.dumps(e) + b"]") for k, e in events]
    assert sorted(got) == sorted(expected)  # each once, with its key
    for partition in range(3):
        assert [r[2] for r in got if r[0] == partition] == [v for p, _, v in expected if p == partition]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 300_000)), max_size=40))
def test_written_batches_hold_the_messages_and_a_keys_record_passes_the_byte_bound_only_with_one_event(
        sizes: list[tuple[str, int]]) -> None:
    events = [(key, {"n": n, "text": "x" * size}) for n, (key, size) in enumerate(sizes)]
    for sent_in in (events, mixed(events)):  # single events, and runs among them
        assert records(partition_batches(sent_in, (0, 1), 1 << 20, 0)) == list(partition_messages(sent_in, (0, 1)))
        sent = records(keyed_batches(sent_in, (0,), 1 << 20, 0))
        assert all(len(value) <= MESSAGE_BYTES or len(decode(value)) == 1 for _, _, value in sent)
        assert sorted(e["n"] for _, _, value in sent for e in decode(value)) == list(range(len(events)))
        for _, key, value in sent:  # each record holds its own key's events, in order
            assert {events[e["n"]][0] for e in decode(value)} == {key}
            assert [e["n"] for e in decode(value)] == sorted(e["n"] for e in decode(value))


def test_keys_beyond_ascii_keep_their_bytes() -> None:
    events = [("wallet-é:0", {"n": 0}), ("W1:0", {"n": 1}), ("钱包:2", {"n": 2})]
    for sent_in in (events, [run_of(events)]):
        assert sorted(key for _, key, _ in records(keyed_batches(sent_in, (0,), 1 << 20, 0))) == sorted(
            k for k, _ in events)
        assert [key for _, key, _ in records(partition_batches(sent_in, (0,), 1 << 20, 0))] == ["wallet-é:0"]

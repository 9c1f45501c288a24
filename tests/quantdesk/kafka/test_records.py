"""Record batches written in one pass are the bytes aiokafka's own builder writes for the same records."""

import numpy as np
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.kafka.records import record_batches

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

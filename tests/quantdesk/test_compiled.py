"""Compiled passes count no references; the byte copy they share copies exactly its piece, and their SHA-256 is
hashlib's."""

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit
from numba.core.errors import NumbaError

from quantdesk.compiled import OPTIONS, SHA256_SCRATCH, compiled, copy_into, sha256_hex_into
from quantdesk.kafka import records
from streams.domain import fixed_margin
from streams.risk import funding_bytes, remark, snapshot_bytes

PASSES = [records._write, fixed_margin._margins, fixed_margin._owed, funding_bytes._fill, funding_bytes._digests,
          remark.remark, snapshot_bytes._write]


@pytest.fixture(autouse=True, scope="module")
def loaded() -> None:
    """Load the copy once, before hypothesis times an example (numba loads it from its cache)."""
    copy_into(np.zeros(1, np.uint8), 0, np.zeros(1, np.uint8), 0, 1)


@given(st.binary(max_size=200), st.binary(max_size=200), st.data())
def test_a_piece_is_copied_exactly_and_nothing_else_is_touched(source: bytes, before: bytes,
                                                                data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(source)))
    end = data.draw(st.integers(start, len(source)))
    at = data.draw(st.integers(0, len(before)))
    out = np.frombuffer(before + bytes(end - start) + b"tail", np.uint8).copy()
    w = copy_into(out, at, np.frombuffer(source, np.uint8), start, end)
    assert w == at + end - start
    assert out.tobytes() == before[:at] + source[start:end] + (before + bytes(end - start))[w:] + b"tail"


@compiled
def hashed(out, w, source, start, end, scratch):  # pragma: no cover (compiled)
    return sha256_hex_into(out, w, source, start, end, scratch)


@given(st.binary(max_size=300), st.binary(max_size=70), st.data())
def test_a_piece_is_hashed_as_hashlib_hashes_it_and_nothing_else_is_touched(source: bytes, before: bytes,
                                                                            data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(source)))  # pieces over none, one and several of SHA-256's 64-byte blocks
    end = data.draw(st.integers(start, len(source)))
    at = data.draw(st.integers(0, len(before)))
    out = np.frombuffer(before + bytes(64) + b"tail", np.uint8).copy()
    scratch = np.frombuffer(bytes(range(SHA256_SCRATCH)), np.uint8).copy()  # whatever a caller's scratch held
    w = hashed(out, at, np.frombuffer(source, np.uint8), start, end, scratch)
    assert w == at + 64
    assert out.tobytes() == (before[:at] + hashlib.sha256(source[start:end]).hexdigest().encode()
                             + (before + bytes(64))[w:] + b"tail")


def test_every_pass_is_compiled_without_reference_counting() -> None:
    # counting took more than half of the byte writers' time (docs/BENCHMARKS.md); a plain `njit` brings it back
    assert [p.py_func.__qualname__ for p in PASSES if p.targetoptions.get("_nrt", True)] == []


def test_a_pass_that_would_make_an_array_is_refused() -> None:
    def made(n):  # pragma: no cover (compiled)
        return np.zeros(n)

    with pytest.raises(NumbaError):  # with reference counting on, it would compile and run
        njit(**{**OPTIONS, "cache": False})(made)(3)  # not cached: a cached version would outlive OPTIONS

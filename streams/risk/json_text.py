"""JSON text written into a byte buffer in compiled code (numba): integers, and numbers as
`str(Decimal)` prints them. The writers of account snapshots and of a funding close's messages share them.

Each writer takes the buffer, the position to write at, and what to write; it returns the position after it.
Range: an integer or coefficient is an int64 (|c| < 2^63), an exponent within ±999.
"""

import numpy as np

from quantdesk.compiled import inlined

DECIMAL_CHARS = 48  # the longest text of one figure: sign, 19 digits, point, 6 zeros or an exponent of 3 digits
INTEGER_CHARS = 20  # the longest text of an int64: sign and 19 digits
_POWERS = np.array([10**k for k in range(19)], dtype=np.int64)
_PAIRS = np.frombuffer("".join(f"{k:02d}" for k in range(100)).encode(), dtype=np.uint8).copy()  # "00" to "99"


def decimal_text(coefficient: int, exponent: int) -> str:
    """Return the text `str(Decimal)` gives the number coefficient × 10^exponent (for tests and tools)."""
    out = np.empty(DECIMAL_CHARS, np.uint8)
    return out[:write_decimal(out, 0, np.int64(coefficient), np.int64(exponent))].tobytes().decode()


@inlined
def write_integer(out, w, value):  # pragma: no cover (compiled)
    """Write an integer in decimal digits."""
    if value < 0:
        out[w] = 45  # '-'
        w += 1
    n = _length(abs(value))
    _digits(out, w + n, np.uint64(abs(value)), n)
    return w + n


@inlined
def _length(magnitude):  # pragma: no cover (compiled)
    """Return how many decimal digits a non-negative integer has (compared with powers of ten: no division)."""
    n = 1
    while n < 19 and magnitude >= _POWERS[n]:
        n += 1
    return n


@inlined
def _digits(out, end, rest, n):  # pragma: no cover (compiled)
    """Write the last `n` decimal digits of `rest` (unsigned) so that they end just before `end`, two at a time from
    the last (a division by a constant compiles to a multiplication); return what is left of `rest`."""
    at = np.uint64(end)
    for _ in range(n // 2):
        pair = np.uint64(2) * (rest % np.uint64(100))
        rest //= np.uint64(100)
        out[at - np.uint64(1)], out[at - np.uint64(2)] = _PAIRS[pair + np.uint64(1)], _PAIRS[pair]
        at -= np.uint64(2)
    if n % 2:
        out[at - np.uint64(1)] = np.uint64(48) + rest % np.uint64(10)
        rest //= np.uint64(10)
    return rest


@inlined
def _zeros(out, w, n):  # pragma: no cover (compiled)
    """Write `n` zeros at w."""
    at = np.uint64(w)
    for i in range(np.uint64(n)):
        out[at + i] = 48
    return w + n


@inlined
def write_decimal(out, w, coefficient, exponent):  # pragma: no cover (compiled)
    """Write coefficient × 10^exponent as Python's `Decimal.__str__` does (its to-scientific-string rule)."""
    if coefficient < 0:
        out[w] = 45
        w += 1
    magnitude = np.uint64(abs(coefficient))
    n = _length(abs(coefficient))
    left = exponent + n  # where the point falls, counted from the first digit
    point = left if exponent <= 0 and left > -6 else 1
    if point <= 0:
        out[w], out[w + 1] = 48, 46  # '0.'
        w = _zeros(out, w + 2, -point)
        _digits(out, w + n, magnitude, n)
        w += n
    elif point >= n:
        _digits(out, w + n, magnitude, n)
        w = _zeros(out, w + n, point - n)
    else:  # the digits after the point, the point, then those before it
        whole = _digits(out, w + n + 1, magnitude, n - point)
        out[w + point] = 46
        _digits(out, w + point, whole, point)
        w += n + 1
    if left != point:
        out[w], out[w + 1] = 69, 45 if left - point < 0 else 43  # 'E-' or 'E+'
        w = write_integer(out, w + 2, abs(left - point))
    return w

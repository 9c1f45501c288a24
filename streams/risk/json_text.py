"""JSON text written into a byte buffer in compiled code (numba): bytes copied, integers, and numbers as
`str(Decimal)` prints them. The writers of account snapshots and of a funding close's messages share them.

Each writer takes the buffer, the position to write at, and what to write; it returns the position after it.
Range: an integer or coefficient is an int64 (|c| < 2^63), an exponent within ±999.
"""

import numpy as np
from numba import njit

DECIMAL_CHARS = 48  # the longest text of one figure: sign, 19 digits, point, 6 zeros or an exponent of 3 digits
INTEGER_CHARS = 20  # the longest text of an int64: sign and 19 digits
_POWERS = np.array([10**k for k in range(19)], dtype=np.int64)


def decimal_text(coefficient: int, exponent: int) -> str:
    """Return the text `str(Decimal)` gives the number coefficient × 10^exponent (for tests and tools)."""
    out = np.empty(DECIMAL_CHARS, np.uint8)
    return out[:write_decimal(out, 0, np.int64(coefficient), np.int64(exponent))].tobytes().decode()


@njit(cache=True, nogil=True)
def copy_into(out, w, source, start, end):  # pragma: no cover (compiled)
    """Copy source[start:end] to out at w."""
    for i in range(start, end):
        out[w] = source[i]
        w += 1
    return w


@njit(cache=True, nogil=True)
def write_integer(out, w, value):  # pragma: no cover (compiled)
    """Write an integer in decimal digits."""
    if value < 0:
        out[w] = 45  # '-'
        w += 1
    return _digits(out, w, abs(value), _length(abs(value)))


@njit(cache=True, nogil=True)
def _length(magnitude):  # pragma: no cover (compiled)
    """Return how many decimal digits a non-negative integer has (compared with powers of ten: no division)."""
    n = 1
    while n < 19 and magnitude >= _POWERS[n]:
        n += 1
    return n


@njit(cache=True, nogil=True)
def _digits(out, w, magnitude, n):  # pragma: no cover (compiled)
    """Write the `n` decimal digits of a non-negative integer at w, last digit first (unsigned: a division by ten
    compiles to a multiplication)."""
    rest = np.uint64(magnitude)
    for i in range(n - 1, -1, -1):
        out[w + i] = np.uint64(48) + rest % np.uint64(10)
        rest //= np.uint64(10)
    return w + n


@njit(cache=True, nogil=True)
def write_decimal(out, w, coefficient, exponent):  # pragma: no cover (compiled)
    """Write coefficient × 10^exponent as Python's `Decimal.__str__` does (its to-scientific-string rule)."""
    if coefficient < 0:
        out[w] = 45
        w += 1
    magnitude = abs(coefficient)
    n = _length(magnitude)
    left = exponent + n  # where the point falls, counted from the first digit
    point = left if exponent <= 0 and left > -6 else 1
    if point <= 0:
        out[w], out[w + 1] = 48, 46  # '0.'
        w += 2
        for _ in range(-point):
            out[w] = 48
            w += 1
        w = _digits(out, w, magnitude, n)
    elif point >= n:
        w = _digits(out, w, magnitude, n)
        for _ in range(point - n):
            out[w] = 48
            w += 1
    else:  # the digits, then a point moved in after the first `point` of them
        w = _digits(out, w, magnitude, n)
        for i in range(w, w - (n - point), -1):
            out[i] = out[i - 1]
        out[w - (n - point)] = 46
        w += 1
    if left != point:
        out[w], out[w + 1] = 69, 45 if left - point < 0 else 43  # 'E-' or 'E+'
        w = write_integer(out, w + 2, abs(left - point))
    return w

"""How the compiled passes (numba) are compiled, and the byte copy the byte writers share.

numba counts references to every array a compiled function binds, each count an atomic add behind a call (its
runtime, NRT), and its pruning pass leaves the counts in loops with branches (numba issues #2345 and #2350). In the
byte writers, which bind their buffers in every helper they call, that counting took more than half of their time.
`compiled` functions count nothing: none of them makes an array (numba refuses to compile one that does without its
runtime); each writes into arrays its caller made. `inlined` ones are small helpers compiled into their callers.
"""

import numpy as np
from numba import njit

OPTIONS = {"cache": True, "nogil": True, "_nrt": False}
compiled = njit(**OPTIONS)
inlined = njit(**OPTIONS, inline="always")


@inlined
def copy_into(out, w, source, start, end):  # pragma: no cover (compiled)
    """Copy source[start:end] to out at w; return where it ends (indexed unsigned: no wraparound check, so the loop
    vectorises)."""
    at, begin = np.uint64(w), np.uint64(start)
    for i in range(np.uint64(end - start)):
        out[at + i] = source[begin + i]
    return w + (end - start)

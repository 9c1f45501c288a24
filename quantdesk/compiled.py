"""How the compiled passes (numba) are compiled, and the byte copy and SHA-256 the byte writers share.

numba counts references to every array a compiled function binds, each count an atomic add behind a call (its
runtime, NRT), and its pruning pass leaves the counts in loops with branches (numba issues #2345 and #2350). In the
byte writers, which bind their buffers in every helper they call, that counting took more than half of their time.
`compiled` functions count nothing: none of them makes an array (numba refuses to compile one that does without its
runtime); each writes into arrays its caller made. `inlined` ones are small helpers compiled into their callers.

The SHA-256 is OpenSSL's (libcrypto, which hashlib is built on), called from compiled code: through hashlib a digest
costs ~0.8 µs of Python a call, and a funding close hashes an audit entry per holder.
"""

import ctypes.util

import llvmlite.binding
import numpy as np
from numba import njit, types

OPTIONS = {"cache": True, "nogil": True, "_nrt": False}
compiled = njit(**OPTIONS)
inlined = njit(**OPTIONS, inline="always")
HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
SHA256_CONTEXT = 112  # bytes of OpenSSL's SHA256_CTX
SHA256_SCRATCH = SHA256_CONTEXT + 32  # the context, then the digest


def _libcrypto() -> str:
    """Return OpenSSL's libcrypto, refusing to go on without it (no digest could be written)."""
    found = ctypes.util.find_library("crypto")
    if found is None:
        raise ImportError("OpenSSL's libcrypto is not found: the compiled SHA-256 needs it")
    return found


llvmlite.binding.load_library_permanently(_libcrypto())
_sha256_init = types.ExternalFunction("SHA256_Init", types.intc(types.voidptr))
_sha256_update = types.ExternalFunction("SHA256_Update", types.intc(types.voidptr, types.voidptr, types.uintp))
_sha256_final = types.ExternalFunction("SHA256_Final", types.intc(types.voidptr, types.voidptr))


@inlined
def copy_into(out, w, source, start, end):  # pragma: no cover (compiled)
    """Copy source[start:end] to out at w; return where it ends (indexed unsigned: no wraparound check, so the loop
    vectorises)."""
    at, begin = np.uint64(w), np.uint64(start)
    for i in range(np.uint64(end - start)):
        out[at + i] = source[begin + i]
    return w + (end - start)


@inlined
def sha256_hex_into(out, w, source, start, end, scratch):  # pragma: no cover (compiled)
    """Write the SHA-256 of source[start:end] to out at w in lower-case hex, 64 bytes (`scratch`: SHA256_SCRATCH
    bytes of the caller's); return where it ends."""
    context, digest = scratch.ctypes.data, scratch.ctypes.data + SHA256_CONTEXT
    _sha256_init(context)
    _sha256_update(context, source.ctypes.data + start, end - start)
    _sha256_final(digest, context)
    for i in range(32):
        byte = scratch[SHA256_CONTEXT + i]
        out[w + 2 * i], out[w + 2 * i + 1] = HEX[byte >> 4], HEX[byte & 15]
    return w + 64

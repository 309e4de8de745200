#!/usr/bin/python3
"""All-reduce NumPy arrays across ranks through libkizuna, Kizuna's C ABI.

Build the library, then start this script as the ranks of a job:

    go build -buildmode=c-shared -o libkizuna.so ./cmd/libkizuna
    kizuna run -np 3 -- /usr/bin/python3 examples/python/allreduce.py ./libkizuna.so

Each rank all-reduces, all-gathers and broadcasts NumPy arrays in place
(the library works on the arrays' own memory, through ctypes pointers),
checks every result against NumPy, and prints one line per rank:
"rank R of N: ok ...". It exits 1 on the first wrong result or error.
Needs NumPy (Debian: apt-get install python3-numpy).
"""

import ctypes
import os
import sys

import numpy as np

# Element types and reduction operators, as in kizuna.h.
KZ_DTYPES = {
    np.dtype(np.float32): 0,  # KZ_FLOAT32
    np.dtype(np.float64): 1,  # KZ_FLOAT64
    np.dtype(np.float16): 2,  # KZ_FLOAT16
    np.dtype(np.int8): 4,  # KZ_INT8 (KZ_BFLOAT16 = 3 has no NumPy type)
    np.dtype(np.uint8): 5,  # KZ_UINT8
    np.dtype(np.int32): 6,  # KZ_INT32
    np.dtype(np.int64): 7,  # KZ_INT64
}
KZ_SUM, KZ_PROD, KZ_MIN, KZ_MAX, KZ_AVG = range(5)


class KizunaError(RuntimeError):
    """A kz_* call failed; the message is kz_last_error()."""


class Kizuna:
    """A thin wrapper over libkizuna. Arrays must be C-contiguous; every
    operation works on their memory in place, without a copy."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        for name in ("kz_init", "kz_finalize", "kz_rank", "kz_size", "kz_barrier"):
            getattr(lib, name).restype = ctypes.c_int
            getattr(lib, name).argtypes = []
        p, n, i = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        lib.kz_allreduce.argtypes = [p, n, i, i]
        lib.kz_allgather.argtypes = [p, p, n, i]
        lib.kz_broadcast.argtypes = [p, n, i, i]
        lib.kz_last_error.restype = ctypes.c_char_p
        lib.kz_version.restype = ctypes.c_char_p
        self.lib = lib
        self._check("kz_init", lib.kz_init())
        self.rank = self._check("kz_rank", lib.kz_rank())
        self.size = self._check("kz_size", lib.kz_size())

    def _check(self, what, rc):
        if rc < 0:
            raise KizunaError(self.lib.kz_last_error().decode())
        return rc

    @staticmethod
    def _buf(a):
        if not a.flags.c_contiguous:
            raise ValueError("array must be C-contiguous")
        return ctypes.c_void_p(a.ctypes.data), a.size, KZ_DTYPES[a.dtype]

    def allreduce(self, a, op=KZ_SUM):
        """Reduces a over all ranks, in place."""
        p, n, dt = self._buf(a)
        self._check("kz_allreduce", self.lib.kz_allreduce(p, n, dt, op))

    def allgather(self, a):
        """Returns every rank's a, concatenated in rank order."""
        out = np.empty(self.size * a.size, dtype=a.dtype)
        p, n, dt = self._buf(a)
        self._check("kz_allgather", self.lib.kz_allgather(p, ctypes.c_void_p(out.ctypes.data), n, dt))
        return out

    def broadcast(self, a, root=0):
        """Copies root's a into a on every rank, in place."""
        p, n, dt = self._buf(a)
        self._check("kz_broadcast", self.lib.kz_broadcast(p, n, dt, root))

    def barrier(self):
        self._check("kz_barrier", self.lib.kz_barrier())

    def finalize(self):
        self._check("kz_finalize", self.lib.kz_finalize())


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KIZUNA_LIB", "./libkizuna.so")
    kz = Kizuna(path)
    r, n = kz.rank, kz.size
    checked = []

    def expect(name, got, want):
        if not np.array_equal(got, want):
            raise AssertionError(f"rank {r}: {name} = {got[:8]}...; want {want[:8]}...")
        checked.append(name)

    # A gradient-like float32 all-reduce: the sum of every rank's array.
    count = 1 << 16
    grad = np.arange(count, dtype=np.float32) * (r + 1)
    kz.allreduce(grad, KZ_SUM)
    expect("allreduce(float32, sum)", grad, np.arange(count, dtype=np.float32) * (n * (n + 1) // 2))

    # Averages, minima and maxima in other types.
    x = np.full(1001, r + 1, dtype=np.float64) + np.arange(1001)
    kz.allreduce(x, KZ_AVG)
    expect("allreduce(float64, avg)", x, np.full(1001, (n + 1) / 2) + np.arange(1001))
    h = (np.arange(257) % 7 + r).astype(np.float16)
    kz.allreduce(h, KZ_MAX)
    expect("allreduce(float16, max)", h, (np.arange(257) % 7 + n - 1).astype(np.float16))
    k = np.array([r - 5, 3, -r, 7], dtype=np.int8)
    kz.allreduce(k, KZ_MIN)
    expect("allreduce(int8, min)", k, np.array([-5, 3, -(n - 1), 7], dtype=np.int8))
    q = np.array([r + 1, 2], dtype=np.int64)
    kz.allreduce(q, KZ_PROD)
    expect("allreduce(int64, prod)", q, np.array([np.prod(np.arange(1, n + 1)), 2 ** n], dtype=np.int64))

    # All-gather and broadcast.
    g = kz.allgather(np.array([r * 10, r * 10 + 1], dtype=np.int32))
    expect("allgather(int32)", g, np.array([v for s in range(n) for v in (s * 10, s * 10 + 1)], dtype=np.int32))
    b = np.arange(5, dtype=np.uint8) + (40 if r == n - 1 else 0)
    kz.broadcast(b, root=n - 1)
    expect("broadcast(uint8)", b, np.arange(5, dtype=np.uint8) + 40)

    # Errors come back as exceptions carrying kz_last_error's text.
    try:
        kz.broadcast(b, root=n)
        raise AssertionError(f"rank {r}: broadcast from root {n} succeeded")
    except KizunaError as e:
        if "root" not in str(e):
            raise AssertionError(f"rank {r}: broadcast from root {n}: error {e!r} does not name the root")
    checked.append("error")

    kz.barrier()
    kz.finalize()
    print(f"rank {r} of {n}: ok {len(checked)} checks ({', '.join(checked)})", flush=True)


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, KizunaError) as e:
        print(f"FAIL {e}", file=sys.stderr, flush=True)
        sys.exit(1)

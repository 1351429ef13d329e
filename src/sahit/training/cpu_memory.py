"""Keep freed memory in the process on a glibc CPU host instead of handing it back to the OS.

A training step on the CPU allocates and frees the same large activations every step. With
glibc's defaults, blocks of a few MiB are mmap'ed and unmapped again, or trimmed off the heap
top, so each step writes into fresh pages: thousands of page faults per hit-32 step, each a
kernel trap that zeroes a page before the first write (a GELU or a bias broadcast into a new
activation is then several times slower than into reused memory). Raising glibc's mmap
and trim thresholds keeps those blocks in the heap for reuse, what jemalloc or tcmalloc (which
PyTorch's CPU performance guide recommends preloading) do by design. ``python -m benchmarks.hit_speed``
measures what it buys (its ``glibc defaults`` rows; the numbers are in docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

log = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # the largest value glibc accepts on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2**30  # free heap top kept before it is returned to the OS
OPT_OUT = "SAHIT_KEEP_FREED_MEMORY"


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds, once per process. Returns whether they were set.

    Nothing changes where the C library is not glibc, where ``SAHIT_KEEP_FREED_MEMORY=0``, or
    where ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` are set (the user tuned glibc).
    """
    if os.environ.get(OPT_OUT, "1") == "0" or {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        glibc = libc is not None and hasattr(libc, "gnu_get_libc_version")  # musl has mallopt but not these knobs
    except OSError:
        glibc = False
    if not glibc:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    log.debug("glibc mallopt: mmap threshold %d, trim threshold %d: %s", MMAP_THRESHOLD, TRIM_THRESHOLD, ok)
    return ok

"""Keep freed memory in the training process for the next step (glibc).

Each training step allocates and frees the same few megabytes: autocast's
bf16 copies of the weights, the gradients, their fp32 casts. glibc hands
the top of its heap back to the kernel whenever more than its trim
threshold is free there, so the next step gets fresh pages and takes a
page fault on every 4 KB of them before any arithmetic: 400-600 faults
a step for the default model (ru_minflt). On the 2-core Xeon, bf16, the
default step took 9.6-10.7 ms with them and 6.7-9.9 ms with the thresholds
below (two threads, load ~1, three alternating rounds, then with a 32 MB
mmap threshold; under 1 fault a step then, 0-20 with the 4 MB below), and
14.9-17.9 ms against 11.0-12.3 ms on one thread under load.

Raising the trim threshold keeps those pages. Fixing the mmap threshold at
4 MB keeps a step's blocks (the largest is 1.6 MB) on the heap, while the
larger, rarer buffers (an evaluation batch is 7.8 MB) stay mappings that go
back at once: with 32 MB the heap fragmented and a one-epoch run's peak
resident memory grew from 734 to 790-796 MB (a bare `import torch` is 650).
Elsewhere than glibc (musl, macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
TRIM_BYTES = 1 << 30  # hand memory back only when a whole GB lies free at the heap's top
MMAP_BYTES = 4 << 20  # blocks up to 4 MB (a step's largest is 1.6 MB) come from the heap; larger ones stay mappings

_done = False


def keep_freed_memory() -> bool:
    """Set glibc's thresholds once per process; True if they were set."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # musl has a mallopt that ignores these
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _done = bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES))
    return _done

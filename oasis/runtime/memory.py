"""Allocator settings for a long-running process, so its memory stays flat under load.

Measured with bench/load.py (2 cores): with 50 senders of 1,000-record batches the server's
peak RSS was 432 MB with the defaults and 325 MB with the Arrow pool and arena settings
below, at the same throughput; one streamed 256 MB body peaked at 386 MB, and 366 MB with
the fixed mmap threshold. Each allocator otherwise keeps per-thread pools of freed memory
(the ingest routes run on many threads), and glibc raises its mmap threshold after every
large free, so multi-megabyte blocks end up in arenas that never shrink.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os

log = logging.getLogger(__name__)

#: glibc's mallopt parameter numbers (malloc.h).
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
#: Arenas for the whole process: one per core (at least 2), instead of glibc's 8 per core.
ARENAS = max(2, os.cpu_count() or 1)
#: Allocations from this size up are mapped apart and unmapped when freed (glibc's own
#: starting value is 128 KiB, but it rises with use; fixing it stops the rise).
MMAP_THRESHOLD_BYTES = 1024 * 1024

#: Environment variables by which an operator tunes glibc malloc; when one is set, OASIS
#: leaves malloc alone.
_OPERATOR_SETTINGS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")

_done = False


def bound_allocators() -> None:
    """Arrow on the system allocator (its default mimalloc pool holds freed pages per
    thread), at most `ARENAS` glibc malloc arenas and a fixed mmap threshold (unless the
    operator set malloc's own variables). Once per process; safe to repeat."""
    global _done
    if _done:
        return
    _done = True
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    try:
        libc = ctypes.CDLL(libc_name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to set
        return
    if any(name in os.environ for name in _OPERATOR_SETTINGS):
        return  # the operator tuned malloc themselves: theirs wins
    for option, value in ((_M_ARENA_MAX, ARENAS), (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)):
        if mallopt(option, value) != 1:
            log.debug("mallopt(%d, %d) refused; malloc keeps its default", option, value)


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, settings, routes) out of the cycle
    collector's sight: they live as long as the process, and every full collection would
    otherwise walk them again."""
    gc.collect()
    gc.freeze()

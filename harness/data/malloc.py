"""glibc's allocator: freed memory kept for the next batch, and given back in loader workers.

The model's process keeps it (``reuse_freed_memory``, asked for by the engine's
``prepare``); each DataLoader worker hands it back (``return_freed_memory``, its
``worker_init_fn``).
"""

from __future__ import annotations

import ctypes
import functools
import platform
from typing import Any

# glibc's mallopt parameters (malloc.h), and its default thresholds
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
KEEP_BYTES, DEFAULT_BYTES, DEFAULT_MMAP_MAX = 1 << 30, 128 * 1024, 65536


def _libc() -> Any:
    """glibc, or None where the C library is another (musl, macOS, Windows)."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


@functools.cache
def reuse_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse instead of handing it back: True if set.

    By default glibc gives a CPU tensor of over 32 MiB pages of its own (mmap) and
    returns them on free, so the next batch's activations fault every page in
    again, zero-filled: 540,000 page faults per resnet50 forward pass at batch 32
    in fp32 (2 GiB), which made it about 1.5x slower (bf16: 1.9x; measured on a
    2-core Xeon with AMX). With the mmap threshold and the trim threshold at 1 GiB
    the heap keeps that memory and the faults stop after the first batch (the peak
    RSS can grow by what fragmentation leaves: vgg16 1,749 -> 1,943 MiB).
    PyTorch's CPU tuning guide reaches the same with jemalloc or tcmalloc
    preloaded; this needs nothing installed. Older glibc refuses an mmap threshold
    over 32 MiB: there mmap is turned off instead. The process's allocator is
    global, so this holds for the rest of the process (loader workers undo it:
    ``return_freed_memory``). A no-op (False) where the C library is not glibc.
    """
    libc = _libc()
    if libc is None:
        return False
    trim = libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES) == 1
    kept = libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) == 1 or libc.mallopt(M_MMAP_MAX, 0) == 1
    return trim and kept


def return_freed_memory(_worker_id: int = 0) -> None:
    """glibc's defaults again, for DataLoader workers (a ``worker_init_fn``): they inherit
    ``reuse_freed_memory`` when forked, but hold a decoded photo only briefly, and a
    108-megapixel one would otherwise stay in each worker's heap after it is freed.
    """
    libc = _libc()
    if libc is not None:
        for param, value in (
            (M_TRIM_THRESHOLD, DEFAULT_BYTES),
            (M_MMAP_THRESHOLD, DEFAULT_BYTES),
            (M_MMAP_MAX, DEFAULT_MMAP_MAX),
        ):
            libc.mallopt(param, value)

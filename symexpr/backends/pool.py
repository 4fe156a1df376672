"""Result arrays whose memory is reused once the caller lets go of them.

A fresh array of tens of megabytes is new memory from the operating system
(glibc maps anything above 32 MB afresh, and unmaps it on free), and the first
write to each of its pages is a page fault: at 10 million floats that costs as
much as the fused kernel itself. So, as the caching allocators of GPU array
libraries do, the OpenCL engine takes large result arrays from a pool: each is a
view of a block this module owns, and when the last view of a block is gone the
block goes back to the pool instead of to the operating system, already faulted
in, for the next call of that size.

The mechanism is plain CPython reference counting: the array's buffer is a
ctypes object (which exports the buffer protocol) over the block, and that
object's `__del__` returns the block. At most `LIMIT` bytes wait in the pool;
`clear()` empties it. Arrays from the pool are ordinary writeable C-contiguous
ndarrays whose `.base` is that ctypes object.
"""
from __future__ import annotations

import ctypes
import math
import os

import numpy as np

MIN_BYTES = 8 << 20   # smaller arrays come from malloc's own free lists, already faulted in
ALIGN = 64


def _limit() -> int:
    """Bytes the pool may hold while nobody uses them: 1 GiB, or an eighth of the memory if less."""
    try:
        return min(1 << 30, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 8)
    except (ValueError, OSError, AttributeError):
        return 256 << 20


LIMIT = _limit()

_free: dict[int, list[np.ndarray]] = {}
_held = [0]
_types: dict[int, type] = {}


def _give_back(self):
    block = self._block
    nbytes = block.nbytes
    if _held[0] + nbytes <= LIMIT:
        _held[0] += nbytes
        _free.setdefault(nbytes, []).append(block)


def _holder(nbytes: int) -> type:
    t = _types.get(nbytes)
    if t is None:
        t = _types[nbytes] = type("PooledBlock", (ctypes.c_char * nbytes,), {"__del__": _give_back})
    return t


def empty(shape: tuple, dtype) -> np.ndarray:
    """Like np.empty(shape, dtype); large arrays come from (and go back to) the pool."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    blocks = _free.get(nbytes)
    block = None
    if blocks:
        try:
            block = blocks.pop()  # atomic under the GIL: no lock, so __del__ can run anywhere
            _held[0] -= nbytes
        except IndexError:
            block = None
    if block is None:
        if _held[0] + nbytes > LIMIT:
            clear()  # other sizes waiting: make room rather than hold more
        raw = np.empty(nbytes + ALIGN, np.uint8)
        start = -raw.ctypes.data % ALIGN
        block = raw[start:start + nbytes]
    holder = _holder(nbytes).from_buffer(block)
    holder._block = block
    return np.frombuffer(holder, dtype=dtype, count=nbytes // dtype.itemsize).reshape(shape)


def clear() -> None:
    """Give every block waiting in the pool back to the operating system."""
    _free.clear()
    _held[0] = 0


def held_bytes() -> int:
    return _held[0]

"""Result arrays whose memory is reused once the caller lets go of them.

A fresh array of tens of megabytes is new memory from the operating system
(glibc maps anything above 32 MB afresh, and unmaps it on free), and the first
write to each of its pages is a page fault: at 10 million floats that costs as
much as the fused kernel itself. So, as the caching allocators of GPU array
libraries do, the OpenCL engine takes large result arrays from a pool: each is a
view of a block this module owns, and when the last view of a block is gone the
block goes back to the pool instead of to the operating system, already faulted
in, for the next call of that size.

The mechanism is plain CPython reference counting: the array's base is a small
object that exports the block through NumPy's array interface, and that
object's `__del__` returns the block. At most `LIMIT` bytes wait in the pool;
`clear()` empties it. Arrays from the pool are ordinary writeable C-contiguous
ndarrays whose `.base` leads to that object.
"""
from __future__ import annotations

import math
import os

import numpy as np

MIN_BYTES = 8 << 20   # smaller arrays come from malloc's own free lists, already faulted in
ALIGN = 4096  # page-aligned: 64-byte alignment put results 48 bytes past NumPy's inputs (16 bytes into a page), and the CPU's 4K-aliasing of stores and loads made the 10-statement kernel 3x slower


def _limit() -> int:
    """Bytes the pool may hold while nobody uses them: 1 GiB, or an eighth of the memory if less."""
    try:
        return min(1 << 30, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 8)
    except (ValueError, OSError, AttributeError):
        return 256 << 20


LIMIT = _limit()

_free: dict[int, list[np.ndarray]] = {}
_held = [0]


class _Block:
    """The owner of one pooled block while arrays view it: it exports the block through the array
    interface, and when the last view is gone its `__del__` puts the block back in the pool."""

    __slots__ = ("block", "__array_interface__")

    def __init__(self, block: np.ndarray):
        self.block = block
        self.__array_interface__ = {"data": (block.ctypes.data, False), "shape": (block.nbytes,),
                                    "typestr": "|u1", "version": 3}

    def __del__(self):
        block = self.block
        nbytes = block.nbytes
        if _held[0] + nbytes <= LIMIT:
            _held[0] += nbytes
            _free.setdefault(nbytes, []).append(block)


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
            if not blocks:
                _free.pop(nbytes, None)
        except IndexError:
            block = None
    if block is None:
        if _held[0] + nbytes > LIMIT:
            clear()  # other sizes waiting: make room rather than hold more
        raw = np.empty(nbytes + ALIGN, np.uint8)
        start = -raw.ctypes.data % ALIGN
        block = raw[start:start + nbytes]
    return np.asarray(_Block(block)).view(dtype).reshape(shape)


def clear() -> None:
    """Give every block waiting in the pool back to the operating system."""
    _free.clear()  # (sizes with no block waiting are dropped here too)
    _held[0] = 0


def held_bytes() -> int:
    return _held[0]

"""The engine's memory: OpenCL buffers over NumPy arrays (zero copy on a CPU device), the launch
geometry, non-temporal stores, and pieces of arrays beyond the device's largest buffer."""
from __future__ import annotations

import math

import numpy as np
import pyopencl as cl
import pyopencl.array as cl_array

from ...errors import BackendError, DTypeError, ShapeError
from ...infer import is_weak_value
from ..out_arrays import check_out
from .elementwise import Layout
from .runtime import MF


class Memory:
    """What `OpenCLEngine` (and the kernel plans' runner) use to hand arrays to kernels."""

    def _streaming(self, size: int, in_layouts, out_arrays, by_name, sgraph) -> bool:
        """Non-temporal stores for this call: on a CPU, when what the kernel reads and writes is
        more than the cache holds (so nothing it writes would still be cached for the caller), and
        every output is aligned to 16 bytes. (Measured on PoCL, the kernel alone of a*b + c at 1e7 floats: 2.5 -> 1.1 ms.)"""
        if not self.info.is_cpu or not self.info.cache_bytes:
            return False
        arrays = [by_name[n.input_name] for n, lay in zip(sgraph.inputs, in_layouts) if lay.how != "scalar"]
        outputs = [a for a in out_arrays if a is not None]
        if any(not isinstance(a, np.ndarray) or a.ctypes.data % 16 for a in outputs):
            return False
        if _crowded(outputs, arrays):
            return False  # non-temporal stores among crowded arrays: see ALIAS_CROWD
        return size * sum(a.dtype.itemsize for a in arrays + outputs) > self.info.cache_bytes

    def _array_queue(self, inputs):
        for v in inputs:
            if isinstance(v, cl_array.Array):
                if v.context != self.context:
                    raise BackendError("a pyopencl array input lives in another OpenCL context than the program's "
                                       "device; compile with device=<that array's queue>")
                return v.queue or self.queue
        return self.queue

    def _split(self, size: int, width: int) -> tuple[int, int, tuple | None]:
        """(elements per work-item, work-items, local size): a few chunks per compute unit, whole
        vectors each. On a CPU each work-item is its own work-group: a CPU device runs one
        work-group per thread, and with the local size left to it PoCL put all the work-items in
        one group, on one core (half the speed on two cores)."""
        units = max(self.info.units, 1) if self.info.is_cpu else 4096
        if size < 4096 * max(width, 1):
            groups = 1 if self.info.is_cpu else min(size, 256)
        else:
            groups = units * 4
        chunk = -(-size // groups)
        if width > 1:
            chunk = -(-chunk // width) * width
        groups = -(-size // chunk)
        return chunk, groups, ((1,) if self.info.is_cpu else None)

    def _buffer(self, v, keep: list, wait_for: list, *, write: bool):
        """(buffer, element offset, element strides, host array to copy back into or None)."""
        if isinstance(v, cl_array.Array):
            item = v.dtype.itemsize
            if v.offset % item or any(s % item for s in v.strides):
                raise BackendError("a pyopencl array with an offset or strides that are not whole elements")
            if v.events:
                wait_for.extend(v.events)
            return (v.base_data, v.offset // item, tuple(s // item for s in v.strides), None)
        arr = v
        item = arr.dtype.itemsize
        if arr.flags.c_contiguous and arr.ctypes.data % item == 0:
            # The common case, without the stride arithmetic below.
            buf, copy_back = self._wrap(arr if arr.ndim else arr.reshape(1), keep, write=write)
            return (buf, 0, tuple(s // item for s in arr.strides), copy_back)
        if _misaligned(arr):
            arr = np.ascontiguousarray(arr)  # inputs only: outputs were given a new array instead
        # The smallest memory block holding every element: flip the negative strides.
        low = arr[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in arr.strides)] if arr.ndim else arr
        span = 1 + sum((d - 1) * s for d, s in zip(low.shape, low.strides)) // item if arr.size else 1
        block = np.lib.stride_tricks.as_strided(low, shape=(span,), strides=(item,), writeable=write and arr.flags.writeable)
        offset = (arr.ctypes.data - low.ctypes.data) // item
        buf, copy_back = self._wrap(block, keep, write=write)
        return (buf, offset, tuple(s // item for s in arr.strides), copy_back)

    def _wrap(self, block: np.ndarray, keep: list, *, write: bool):
        keep.append(block)
        if self.info.max_alloc and block.nbytes > self.info.max_alloc:
            # `run` splits calls so that this does not happen; a driver would refuse it anyway.
            raise BackendError(f"cannot make an OpenCL buffer of {block.nbytes} bytes: the device's largest "
                               f"is {self.info.max_alloc}")
        try:
            if self.info.is_cpu:
                flags = (MF.READ_WRITE if write else MF.READ_ONLY) | MF.USE_HOST_PTR
                return cl.Buffer(self.context, flags, hostbuf=block), None
            flags = (MF.READ_WRITE | MF.COPY_HOST_PTR) if write else (MF.READ_ONLY | MF.COPY_HOST_PTR)
            return cl.Buffer(self.context, flags, hostbuf=block), (block if write else None)
        except cl.MemoryError as e:
            raise BackendError(f"the OpenCL device ran out of memory for {block.nbytes} bytes: {e}") from None
        except cl.Error as e:
            raise BackendError(f"cannot make an OpenCL buffer of {block.nbytes} bytes: {e}") from None


def _span_bytes(v) -> int:
    """The bytes of the smallest memory block holding every element of `v` (what `_buffer` wraps)."""
    if is_weak_value(v) or not isinstance(v, np.ndarray) or v.size <= 1:
        return 0
    if v.flags.c_contiguous:
        return v.nbytes
    return (1 + sum((d - 1) * abs(s) for d, s in zip(v.shape, v.strides)) // v.itemsize) * v.itemsize


def _split_axis(limit: int, space: tuple, inputs, targets, outputs) -> int | None:
    """None when every array of the call fits in one device buffer; else the first axis of the index
    space along which whole rows fit, for `_run_in_pieces`."""
    sizes = [_span_bytes(v) for v in inputs]
    sizes += [_span_bytes(t) if t is not None else math.prod(shape) * dt.itemsize
              for t, (shape, dt) in zip(targets or [None] * len(outputs), outputs)]
    if max(sizes, default=0) <= limit:
        return None
    widest = max([v.dtype.itemsize for v in inputs if not is_weak_value(v)] + [dt.itemsize for _, dt in outputs])
    for axis in range(len(space)):
        if math.prod(space[axis + 1:]) * widest <= limit:
            return axis
    return None


def _piece(v, where: tuple, ndim: int, limit: int | None):
    """The part of `v` (broadcast to an index space of `ndim` axes) at `where`: integers for the
    leading axes, then a slice; contiguous when its view would still span more than `limit` bytes."""
    if is_weak_value(v) or not isinstance(v, np.ndarray) or v.ndim == 0:
        return v
    full = v.reshape((1,) * (ndim - v.ndim) + v.shape)
    index = tuple((0 if isinstance(w, int) else slice(0, 1)) if d == 1 else w for w, d in zip(where, full.shape))
    part = full[index]
    if limit is not None and _span_bytes(part) > limit:
        part = np.ascontiguousarray(part)
    return part


def _misaligned(arr: np.ndarray) -> bool:
    """Elements not whole elements apart (a field of a record array, an odd byte offset)."""
    item = arr.dtype.itemsize
    return arr.ctypes.data % item != 0 or any(s % item for s in arr.strides)


# Large arrays that start within a few cache lines of each other modulo 4 KiB fall into the same
# cache sets, and non-temporal stores among them are slow: with out= at 1e7 float32, the
# 10-statement program (4 inputs, 2 outputs, all 16 bytes into a page, as np.empty places large
# arrays) took 42 to 98 ms with non-temporal stores and 27 to 32 ms with plain ones (a fresh,
# page-aligned result: 25 to 38 ms either way); 16 to 96 bytes apart was worse still (86 to 150
# ms). `a*b + c` and `2*a + 3*b - c*d` (four and five arrays) showed nothing at any offset. So
# where ALIAS_CROWD large arrays start within ALIAS_WINDOW bytes before an output, the kernel
# writes with plain stores.
ALIAS_WINDOW = 128
ALIAS_CROWD = 6
ALIAS_MIN_BYTES = 1 << 20


def _crowded(targets, inputs) -> set:
    """The indices of the outputs that have ALIAS_CROWD or more large arrays (inputs, outputs not
    counted yet, itself) starting 0 to ALIAS_WINDOW - 1 bytes before them, modulo 4 KiB (taken
    one by one: moving one such output elsewhere would leave the next one fewer)."""
    def start(v):
        return v.ctypes.data if type(v) is np.ndarray and v.nbytes >= ALIAS_MIN_BYTES else None
    loads = [a for a in map(start, inputs) if a is not None]
    stores = {k: a for k, a in enumerate(map(start, targets or ())) if a is not None}
    if len(loads) + len(stores) < ALIAS_CROWD:
        return set()
    moved = set()
    for k, t in stores.items():
        near = sum((t - a) % 4096 < ALIAS_WINDOW for a in loads)
        near += sum((t - a) % 4096 < ALIAS_WINDOW for j, a in stores.items() if j not in moved)
        if near >= ALIAS_CROWD:
            moved.add(k)
    return moved


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return a.ctypes.data == b.ctypes.data and a.strides == b.strides and a.shape == b.shape


def _layout(v, space: tuple, weak: bool, output: bool = False) -> Layout:
    """How the kernel addresses value `v` in the index space `space`."""
    if weak:
        return Layout("scalar")
    shape = tuple(v.shape)
    if isinstance(v, np.ndarray) and v.size == 1 and not output:
        return Layout("scalar")
    if shape == space and v.flags.c_contiguous and (isinstance(v, np.ndarray) or v.offset == 0):
        return Layout("flat")
    pad = len(space) - len(shape)
    full = (1,) * pad + shape
    return Layout("strided", tuple(d == 1 for d in full))


def _scalar_of(v, dtype):
    """A one-element array's value, as a kernel argument."""
    if is_weak_value(v):
        return dtype.type(v)
    value = np.asarray(v).reshape(())[()]
    return value if value.dtype == dtype else dtype.type(value)  # a float16 as its float (exact)


def _to_host(values: dict) -> dict:
    return {k: (v.get() if isinstance(v, cl_array.Array) else v) for k, v in values.items()}


def _check_target(name: str, target, shape, dtype) -> None:
    if isinstance(target, cl_array.Array):
        if target.shape != tuple(shape) or target.dtype != dtype:
            raise (ShapeError if target.shape != tuple(shape) else DTypeError)(f"out= for `{name}` is {target.dtype}{list(target.shape)}; "
                               f"the result is {dtype}{list(shape)}")
        return
    check_out(name, target, shape, dtype)

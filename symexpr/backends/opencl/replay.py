"""The fast path: a general call on C-contiguous arrays records its launch, and later calls of the same
dtypes and shapes replay it (same kernel, same arguments but the buffers), skipping specialization."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyopencl as cl

from ...errors import BackendError
from .. import pool
from ..out_arrays import out_targets
from .memory import _crowded, _scalar_of
from .runtime import MF

if TYPE_CHECKING:
    from .engine import Specialization

_IN_FLAGS = MF.READ_ONLY | MF.USE_HOST_PTR
_OUT_FLAGS = MF.READ_WRITE | MF.USE_HOST_PTR
HOLD_BYTES = 1 << 16  # inputs up to this size keep their buffer for the next call (Launch.held)


@dataclass(frozen=True)
class Launch:
    """One recorded launch: the kernel and its arguments, with ("in", k) / ("out", k) where the
    buffer of the call's k-th input / k-th output goes.

    The rest is derived once from those, so that a replay only fills slots: `template` is `argv`
    with None in every slot a call fills, `in_slots` / `out_slots` / `scalar_slots` say which.
    """

    spec: "Specialization"
    argv: tuple
    buffered: tuple      # the call's inputs that are kernel buffers (the others are not read)
    outputs: tuple       # (shape, dtype) of each result
    global_size: tuple
    local_size: tuple | None
    template: tuple = ()
    in_slots: tuple = ()      # (argv position, input k)
    out_slots: tuple = ()     # (argv position, output k)
    scalar_slots: tuple = ()  # (argv position, input k, dtype): one-element arrays passed by value
    loose: tuple = ()         # inputs whose dtype's alignment is less than its size (complex): checked apart
    small: tuple = ()         # per output: below the pool's size, so plain np.empty
    # input k -> (array, its buffer) from the latest call, for small inputs: a call passing the
    # same array object again reuses the buffer (a host-pointer buffer reads the array's memory
    # at each launch, so changes made in place are seen). The buffer keeps the array alive, as
    # the engine's own reference to the latest small inputs of each signature.
    held: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def of(cls, spec, argv: tuple, buffered: tuple, outputs: tuple, global_size, local_size,
           loose: tuple) -> "Launch":
        template = [None if type(a) is tuple else a for a in argv]
        in_slots = tuple((pos, a[1]) for pos, a in enumerate(argv) if type(a) is tuple and a[0] == "in")
        out_slots = tuple((pos, a[1]) for pos, a in enumerate(argv) if type(a) is tuple and a[0] == "out")
        scalar_slots = tuple((pos, a[1], a[2]) for pos, a in enumerate(argv) if type(a) is tuple and len(a) == 3)
        small = tuple(math.prod(shape) * dt.itemsize < pool.MIN_BYTES for shape, dt in outputs)
        return cls(spec, argv, buffered, outputs, global_size, local_size, tuple(template),
                   in_slots, out_slots, scalar_slots, loose, small)


class Replay:
    """Recording and replaying launches, for `OpenCLEngine`."""

    def _replay(self, launch: "Launch", args: tuple, out=None) -> list:
        # Only C-contiguous inputs at whole-element addresses replay (NumPy's `aligned` flag is
        # that, but for complex dtypes, aligned to half their size: those are checked apart).
        self._last_source = launch.spec.source  # (kernel_source: the kernel this call runs)
        for k in launch.buffered:
            flags = args[k].flags
            if not (flags.c_contiguous and flags.aligned):
                return self._run_args(args, out)
        for k in launch.loose:
            if args[k].ctypes.data % args[k].itemsize:
                return self._run_args(args, out)
        if out is None:
            results = [np.empty(shape, dt) if small else pool.empty(shape, dt)
                       for (shape, dt), small in zip(launch.outputs, launch.small)]
        else:
            results = self._replay_targets(launch, args, out_targets(self.graph, out))
            if results is None:
                return self._run_args(args, out)
        ctx = self.context
        argv = list(launch.template)
        try:
            held = launch.held
            for pos, k in launch.in_slots:
                a = args[k]
                got = held.get(k)
                if got is not None and got[0] is a:
                    argv[pos] = got[1]
                    continue
                buf = argv[pos] = cl.Buffer(ctx, _IN_FLAGS, hostbuf=a if a.ndim else a.reshape(1))
                if a.nbytes <= HOLD_BYTES:
                    held[k] = (a, buf)
            for pos, k in launch.out_slots:
                r = results[k]
                argv[pos] = cl.Buffer(ctx, _OUT_FLAGS, hostbuf=r if r.ndim else r.reshape(1))
        except cl.Error:
            return self._run_args(args, out)  # it raises the BackendError
        for pos, k, dt in launch.scalar_slots:
            argv[pos] = _scalar_of(args[k], dt)
        spec = launch.spec
        self._last_source = spec.source  # kernel_source shows the kernel of the latest call
        try:
            with spec.lock:
                spec.kernel.set_args(*argv)
                event = cl.enqueue_nd_range_kernel(self.queue, spec.kernel, launch.global_size, launch.local_size)
            event.wait()
        except cl.Error as e:
            raise BackendError(f"the OpenCL kernel failed: {e}") from None
        return [r if r.ndim else r[()] for r in results]

    @staticmethod
    def _replay_targets(launch: "Launch", args: tuple, targets: list):
        """The out= arrays the replayed kernel can write straight into (new ones where none was
        given), or None where the general path must handle them (it checks and reports)."""
        results = []
        for t, (shape, dt) in zip(targets, launch.outputs):
            if t is None:
                results.append(pool.empty(shape, dt))
                continue
            if not (type(t) is np.ndarray and t.dtype == dt and t.shape == shape and t.flags.c_contiguous
                    and t.flags.writeable and t.ctypes.data % 16 == 0 and t.ndim
                    and not any(np.may_share_memory(t, args[k]) for k in launch.buffered)
                    and not any(np.may_share_memory(t, r) for r in results)):
                return None
            results.append(t)
        if launch.spec.signature.streaming and _crowded(targets, [args[k] for k in launch.buffered]):
            return None  # the general path writes them with plain stores (memory.py, ALIAS_CROWD)
        return results

    def _record(self, sgraph, inputs, bufs_in, bufs_out, argv, spec, global_size, local, results) -> None:
        """Keep this call's launch for `fast_runner`, if it applies to every call of these dtypes and
        shapes made with C-contiguous arrays: whole-array buffers, no offsets, nothing else varying."""
        if not all(v.flags.c_contiguous for v in inputs) or any(b[1] for b in (*bufs_in.values(), *bufs_out.values())):
            return
        names = self.graph.input_names
        position = {k: names.index(node.input_name) for k, node in enumerate(sgraph.inputs)}
        template = []
        for a, value in zip(spec.args, argv):
            tag = a.what[0]
            if tag == "in":
                template.append(("in", position[a.what[1]]))
            elif tag == "out":
                template.append(("out", a.what[1]))
            elif tag == "scalar_in":  # a one-element array, passed by value: read at each call
                template.append(("scalar", position[a.what[1]], a.dtype))
            elif tag in ("in_off", "out_off", "err"):
                return
            else:  # sizes, strides, host-computed constants: fixed for the signature
                template.append(value)
        template = tuple(template)
        key = tuple((v.dtype, v.shape) for v in inputs)
        buffered = tuple(position[k] for k in bufs_in)
        outputs = tuple((r.shape, r.dtype) for r in results)
        loose = tuple(k for k in buffered if inputs[k].dtype.alignment < inputs[k].dtype.itemsize)
        self._launches[key] = Launch.of(spec, template, buffered, outputs, global_size, local, loose)

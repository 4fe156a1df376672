"""The OpenCL peers: a hand-written vector kernel per program (where the program has one) and the
copy kernels that stand for the memory limit, on the device symexpr uses by default."""
from __future__ import annotations

import math
import warnings

import numpy as np

from .cases import Case


# Vector widths of the hand-written kernels: 8 floats, 4 doubles (on the pip PoCL 3.0-rc2,
# float16 kernels build empty and double8 gives wrong results; each result is checked anyway).
HAND_WIDTH = {"float32": 8, "float64": 4}


# Launch geometry of the hand-written and copy kernels, chosen by measurement on the 2-core PoCL
# 3.0-rc2 pthread device (n = 1e7, out=): the scheme symexpr's engine uses. Each work-item loops over a
# contiguous chunk (whole vectors, then a scalar tail); on a CPU device 4 work-items per compute
# unit, each its own work-group (local size (1,)), so that PoCL's pthread driver spreads them over
# the cores. One work-item per vector (global n/W, local size left to PoCL), as before, paid PoCL's
# per-work-group cost: a*b + c float32 7.3 ms against 4.1-4.3 ms chunked; the other programs were
# equal within noise. 2, 8 or 32 chunks, `restrict` or not, local (1,) or PoCL's choice: all
# within noise of each other, so 4 per compute unit (as symexpr) it is. Below 4096 vectors, one
# work-item (as symexpr): more launches nothing but overhead. On a GPU: one vector per work-item.
GEOMETRY_CHUNKS_PER_UNIT = 4


GEOMETRY_SMALL = 4096


HAND_KERNEL = """\
#pragma OPENCL FP_CONTRACT OFF
{pragma}
// The body is written once for both loops: `V` is the value type (VT, then T) and
// SEL(c, x, y) is where(c, x, y) (select() on vectors, ?: on scalars).
__kernel void hand({params}, const long n, const long chunk)
{{
    const long start = (long)get_global_id(0) * chunk;
    const long end = min(start + chunk, n);
    long i = start;
#define V VT
#define SEL(c, x, y) select((y), (x), (c))
    for (; i + W <= end; i += W) {{
{vector_loads}
        {body}
{vector_stores}
    }}
#undef V
#undef SEL
#define V T
#define SEL(c, x, y) ((c) ? (x) : (y))
    for (; i < end; ++i) {{
{scalar_loads}
        {body}
{scalar_stores}
    }}
#undef V
#undef SEL
}}
"""


# The memory limit: a copy, chunked like the kernels above, in uint4s (16 bytes; on the pip PoCL 3.0-rc2,
# 32-byte pointer types crash). Measured at 160 MB moved: uint4 loads and stores 35 GB/s whatever the
# geometry (1, 2, 8, ... chunks: one core already saturates memory); float8 vload8/vstore8 loops only
# 25 GB/s, float4 25; np.copyto 27 GB/s. Non-temporal stores (clang's __builtin_nontemporal_store,
# which PoCL's compiler accepts) skip the read of each written line: 43 GB/s. Both copies are timed
# and the faster one is the reference ("copy CL"): in cache (small n) the plain one wins, beyond it
# the non-temporal one. The non-temporal kernel is built apart, so a compiler without the builtin
# leaves only the plain copy.
_COPY_TEMPLATE = """\
__kernel void {name}(__global const uint4 *restrict src, __global uint4 *restrict dst,
                   const long n, const long chunk)
{{
    const long start = (long)get_global_id(0) * chunk;
    const long end = min(start + chunk, n);
    for (long i = start; i < end; ++i)
        {store};
}}
"""


COPY_KERNEL = _COPY_TEMPLATE.format(name="copy", store="dst[i] = src[i]")


COPY_KERNEL_NT = _COPY_TEMPLATE.format(name="copy_nt", store="__builtin_nontemporal_store(src[i], dst + i)")


def render_hand_kernel(case: Case, t: str) -> str:
    """The OpenCL C of a case's hand-written kernel, for element type `t` ("float" or "double")."""
    return HAND_KERNEL.format(
        pragma="#pragma OPENCL EXTENSION cl_khr_fp64 : enable" if t == "double" else "",
        params=", ".join([f"__global const T *p_{x}" for x in case.inputs]
                         + [f"__global T *p_{x}" for x in case.outputs]),
        vector_loads="\n".join(f"        const VT {x} = VLOAD(0, p_{x} + i);" for x in case.inputs),
        vector_stores="\n".join(f"        VSTORE({x}, 0, p_{x} + i);" for x in case.outputs),
        scalar_loads="\n".join(f"        const T {x} = p_{x}[i];" for x in case.inputs),
        scalar_stores="\n".join(f"        p_{x}[i] = {x};" for x in case.outputs),
        body=case.hand)


def launch_geometry(n: int, width: int, units: int, is_cpu: bool) -> tuple[int, int, tuple | None]:
    """(elements per work-item, work-items, local size) for `n` elements in vectors of `width`."""
    if not is_cpu:
        return width, max(1, -(-n // width)), None
    groups = 1 if n < GEOMETRY_SMALL * width else GEOMETRY_CHUNKS_PER_UNIT * max(units, 1)
    chunk = -(-max(n, 1) // groups)
    chunk = -(-chunk // width) * width
    return chunk, max(1, -(-n // chunk)), (1,)


class OpenCLPeers:
    """The hand-written and copy kernels, on the device symexpr uses by default."""

    def __init__(self):
        import pyopencl as cl
        self.cl = cl
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx = cl.create_some_context(interactive=False)
        self.device = ctx.devices[0]
        self.context = cl.Context([self.device])
        self.queue = cl.CommandQueue(self.context)
        self.is_cpu = bool(self.device.type & cl.device_type.CPU)
        self.units = self.device.max_compute_units
        self._hand: dict[tuple, object] = {}
        self._copy = None
        self.copy_nt_error: str | None = None

    def geometry(self, n: int, width: int):
        return launch_geometry(n, width, self.units, self.is_cpu)

    def _build(self, source: str, options=()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.cl.Program(self.context, source).build(options=list(options))

    def _wrap(self, array, write=False):
        mf = self.cl.mem_flags
        flags = (mf.WRITE_ONLY if write else mf.READ_ONLY) | mf.USE_HOST_PTR
        return self.cl.Buffer(self.context, flags, hostbuf=array)

    def hand(self, case: Case, dtype):
        """A callable(data, out=None) -> (result,) running the case's hand-written kernel, or None."""
        if case.hand is None:
            return None
        dtype = np.dtype(dtype)
        if dtype == np.float64 and not self.device.double_fp_config:
            return None
        key = (case.name, dtype.name)
        if key not in self._hand:
            t = "float" if dtype == np.float32 else "double"
            w = HAND_WIDTH[dtype.name]
            src = render_hand_kernel(case, t)
            opts = [f"-DT={t}", f"-DW={w}", f"-DVT={t}{w}", f"-DVLOAD=vload{w}", f"-DVSTORE=vstore{w}"]
            kernel = self._build(src, opts).hand
            kernel.set_scalar_arg_dtypes([None] * (len(case.inputs) + len(case.outputs)) + [np.int64, np.int64])
            self._hand[key] = (kernel, w)
        kernel, w = self._hand[key]
        names, n_out, queue, wrap, geometry = case.inputs, len(case.outputs), self.queue, self._wrap, self.geometry

        def run(data, out=None):
            first = data[names[0]]
            n = first.size
            if out is None:
                results = tuple(np.empty(n, first.dtype) for _ in range(n_out))
            else:
                results = out if isinstance(out, tuple) else (out,)
            bufs = [wrap(data[x]) for x in names] + [wrap(r, write=True) for r in results]
            chunk, groups, local = geometry(n, w)
            kernel(queue, (groups,), local, *bufs, n, chunk).wait()
            return results
        return run

    def _copy_kernels(self) -> dict:
        if self._copy is None:
            self._copy = {"copy_cl": self._build(COPY_KERNEL).copy}
            try:
                self._copy["copy_cl_nt"] = self._build(COPY_KERNEL_NT).copy_nt
            except Exception as err:  # noqa: BLE001 - no non-temporal builtin here: the plain copy only
                self.copy_nt_error = f"{type(err).__name__}: {str(err)[:200]}"
            for k in self._copy.values():
                k.set_scalar_arg_dtypes([None, None, np.int64, np.int64])
        return self._copy

    def copy(self, nbytes: int):
        """({name: copy callable}, np.copyto callable, {name: ok}) moving `nbytes` in total: nbytes/2
        read, nbytes/2 written; the names are "copy_cl" (plain stores) and "copy_cl_nt" (non-temporal)."""
        items = max(1, math.ceil(nbytes / 2 / 16))
        src = np.arange(items * 4, dtype=np.uint32)
        dst = np.zeros_like(src)
        queue, wrap = self.queue, self._wrap
        chunk, groups, local = self.geometry(items, 1)
        kernels, oks = {}, {}

        def make(kernel):
            def copy_cl():
                kernel(queue, (groups,), local, wrap(src), wrap(dst, write=True), items, chunk).wait()
            return copy_cl
        for name, kernel in self._copy_kernels().items():
            fn = make(kernel)
            dst[:] = 0
            try:
                fn()
                oks[name] = bool(np.array_equal(src, dst))
            except Exception:  # noqa: BLE001
                oks[name] = False
            kernels[name] = fn

        def copyto():
            np.copyto(dst, src)
        return kernels, copyto, oks

    def describe(self) -> dict:
        d = self.device
        return {"platform": d.platform.name.strip(), "platform_version": d.platform.version.strip(),
                "device": d.name.strip(), "device_version": d.version.strip(),
                "compute_units": d.max_compute_units, "fp64": bool(d.double_fp_config),
                "preferred_vector_width_float": d.preferred_vector_width_float,
                "preferred_vector_width_double": d.preferred_vector_width_double}

"""The benchmark: symexpr against NumPy, numexpr, a hand-written kernel and the memory limit.

Every peer runs in one process on the same data, and every symexpr result is
checked against NumPy's before anything is timed. The peers, by their keys in
the results:

    sx              symexpr, default backend ("auto"): per call signature the NumPy engine or the
                    OpenCL kernel; each cell's "engine" says which ran (`_engine.engine_for`)
    sx_cl           symexpr with backend="opencl" forced: the fused kernel's own speed
    sx_numpy        symexpr's NumPy engine (backend="numpy")
    numpy           NumPy written naturally: the program's statements, one after another
    numexpr         numexpr, one `evaluate` per statement (one string for one-line programs)
    numexpr_inline  numexpr, the statements inlined into one string per output
                    (multi-statement programs only; numexpr has no CSE, so shared
                    intermediates are computed again)
    hand            a hand-written pyopencl kernel with vload8/vstore8 floats
                    (vload4/vstore4 doubles), for four of the programs, launched
                    as symexpr's kernels are (see GEOMETRY_CHUNKS_PER_UNIT)
    copy_cl         the memory limit: an OpenCL copy kernel moving the same bytes
                    (reads + writes) as the program; the faster of a plain and a
                    non-temporal-store copy (copy_cl_plain, copy_cl_nt)
    copyto          np.copyto of the same bytes

Each cell reports the minimum and median seconds per call of several repeats
after warm-up (peers interleaved round-robin, so noise is shared), the
speed-up of symexpr over each peer (t_peer / t_sx: above 1 means symexpr is
faster), and effective GB/s (bytes of inputs and outputs over time) with its
fraction of the copy kernel's bandwidth. `main()` writes JSON and markdown.

    python -m symexpr.bench --short          # CI: small sizes, float32, 2 repeats
    python benchmarks/run.py                 # the full run, under five minutes
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import symexpr as sx

SCHEMA = "symexpr-bench/1"
PEERS = ("sx", "sx_cl", "sx_numpy", "numpy", "numexpr", "numexpr_inline", "hand", "copy_cl", "copyto")
PEER_TITLES = {"sx": "symexpr", "sx_cl": "sx CL", "sx_numpy": "sx NumPy eng.", "numpy": "NumPy",
               "numexpr": "numexpr", "numexpr_inline": "numexpr 1-expr", "hand": "hand CL", "copy_cl": "copy CL",
               "copyto": "np.copyto", "sx_out": "symexpr out=", "sx_cl_out": "sx CL out="}
FULL_SIZES = (10, 1_000, 100_000, 1_000_000, 10_000_000)
SHORT_SIZES = (10, 1_000, 100_000)
LARGE_SIZE = 50_000_000
OUT_SIZE = 10_000_000
OVERHEAD_N = 16

# Vector widths of the hand-written kernels: 8 floats, 4 doubles (on the pip PoCL 3.0-rc2,
# float16 kernels build empty and double8 gives wrong results; each result is checked anyway).
HAND_WIDTH = {"float32": 8, "float64": 4}


# -- the programs -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One benchmark program, written once in symexpr; the NumPy and numexpr peers are made from it.

    name:   the row label.
    source: the symexpr program; its unread names are the outputs.
    kind:   "memory" (bound by memory traffic) or "transcendental".
    exact:  symexpr must equal NumPy bit for bit; otherwise allclose (OpenCL's ulp bounds).
    fused:  more than one operation, so fusing them can win: the issue's multi-statement target.
    hand:   the body of the hand-written kernel (or None): OpenCL C over the input names, assigning
            each output's name, with `V` for the value type and SEL(c, x, y) for where.
    """

    name: str
    source: str
    kind: str = "memory"
    exact: bool = True
    fused: bool = True
    hand: str | None = None

    @property
    def statements(self) -> list[tuple[str, str]]:
        """(target, expression) per statement, in order."""
        parts = [s.strip() for s in re.split(r"[;\n]", self.source) if s.strip()]
        return [tuple(p.strip() for p in s.split("=", 1)) for s in parts]

    @property
    def inputs(self) -> tuple[str, ...]:
        return _parsed(self.source)[0]

    @property
    def outputs(self) -> tuple[str, ...]:
        return _parsed(self.source)[1]


_PARSED: dict[str, tuple] = {}


def _parsed(source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if source not in _PARSED:
        from .parse import parse
        graph = parse(source)
        _PARSED[source] = (graph.input_names, graph.output_names)
    return _PARSED[source]


LONG_EXPRESSION = ("r = a*b + c*d - a*c + b*d + 0.5*a - 1.5*b + c*c - d*d + a*b*c - b*c*d"
                   " + 2*a*d - c + a*a*b - 0.25*d + b*b - a*c*d + 3*c*d - a + b*c - 0.75*d*d")

MULTI_STATEMENT = """\
s = a + b
t = a - b
u = s * t
v = u * c + d
w = v * 0.5 - a
x = where(w > 0, w, -w)
y = x * x + s
z = y - t * c
p = z * 0.25 + v
q = x - y * d"""

# The 10-statement program by hand, as one would write it in OpenCL C (see HAND_KERNEL for V, SEL).
HAND_MULTI_STATEMENT = (
    "const V s = a + b, t = a - b, u = s * t, v = u * c + d, w = v * (T)0.5 - a;"
    " const V x = SEL(w > 0, w, -w), y = x * x + s, z = y - t * c, p = z * (T)0.25 + v, q = x - y * d;")

CASES: tuple[Case, ...] = (
    Case("a + b", "r = a + b", fused=False),
    Case("a*b + c", "r = a*b + c", hand="const V r = a*b + c;"),
    Case("2*a + 3*b - c*d", "r = 2*a + 3*b - c*d", hand="const V r = 2*a + 3*b - c*d;"),
    Case("long (20 terms)", LONG_EXPRESSION),
    # sqrt is correctly rounded in IEEE but OpenCL allows 3 ulp for float sqrt.
    Case("sqrt(a*a + b*b)", "r = sqrt(a*a + b*b)", exact=False),
    Case("exp(-a*a) * b", "r = exp(-a*a) * b", kind="transcendental", exact=False),
    Case("sin(a) + cos(b)", "r = sin(a) + cos(b)", kind="transcendental", exact=False),
    Case("tanh(a)", "r = tanh(a)", kind="transcendental", exact=False, fused=False),
    Case("where", "r = where(a > b, a*c, b - c)", hand="const V r = SEL(a > b, a*c, b - c);"),
    Case("10 statements (2 outputs)", MULTI_STATEMENT, hand=HAND_MULTI_STATEMENT),
)

_NUMPY_NAMES = {"sqrt": np.sqrt, "exp": np.exp, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
                "where": np.where, "log": np.log, "maximum": np.maximum, "minimum": np.minimum}


def numpy_source(case: Case) -> str:
    """The program as a Python function over NumPy arrays: the statements, one after another."""
    body = "".join(f"    {t} = {e}\n" for t, e in case.statements)
    return f"def program({', '.join(case.inputs)}):\n{body}    return ({', '.join(case.outputs)},)\n"


def numpy_function(case: Case) -> Callable:
    namespace = dict(_NUMPY_NAMES)
    exec(numpy_source(case), namespace)  # noqa: S102 - our own program table, not user text
    return namespace["program"]


_FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+)(?![\w.])")


def _typed_literals(expr: str, dtype, names: dict) -> str:
    """Float literals -> named scalars of `dtype`: numexpr would otherwise compute float32 in float64."""
    def name_of(m):
        key = f"k_{len(names)}"
        names[key] = np.dtype(dtype).type(float(m.group(1)))
        return key
    return _FLOAT_LITERAL.sub(name_of, expr)


def inline_expressions(case: Case) -> dict[str, str]:
    """Each output as one expression: every intermediate substituted, in parentheses."""
    env: dict[str, str] = {}
    for target, expr in case.statements:
        env[target] = re.sub(r"\b[A-Za-z_]\w*\b",
                             lambda m: f"({env[m.group(0)]})" if m.group(0) in env else m.group(0), expr)
    return {o: env[o] for o in case.outputs}


def numexpr_function(case: Case, dtype, inline: bool = False):
    """numexpr over the case, per statement (or one inlined string per output); None without numexpr."""
    try:
        import numexpr as ne
    except ImportError:
        return None
    constants: dict = {}
    if inline:
        statements = [(o, _typed_literals(e, dtype, constants)) for o, e in inline_expressions(case).items()]
    else:
        statements = [(t, _typed_literals(e, dtype, constants)) for t, e in case.statements]
    outputs = case.outputs
    evaluate = ne.evaluate

    def run(data, out=None):
        env = dict(data)
        env.update(constants)
        if out is not None and len(statements) == 1:
            return (evaluate(statements[0][1], local_dict=env, out=out),)
        for target, expr in statements:
            env[target] = evaluate(expr, local_dict=env)
        return tuple(env[o] for o in outputs)
    return run


# -- OpenCL peers: the hand-written kernel and the copy kernel ---------------------------------

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


# -- timing and checking ----------------------------------------------------------------------

def measure(peers: dict[str, Callable[[], object]], *, repeats: int, target: float,
            warmup: int = 2) -> dict[str, dict]:
    """Seconds per call of each peer: min and median of `repeats`, interleaved round-robin.

    Each repeat times `number` calls, chosen so that one repeat takes about `target`
    seconds. A peer that raises is reported with its error and left out of the rest.
    """
    live, stats, numbers = {}, {}, {}
    for name, fn in peers.items():
        try:
            for _ in range(warmup):
                fn()
            t0 = time.perf_counter()
            fn()
            once = time.perf_counter() - t0
        except Exception as err:  # noqa: BLE001 - a broken peer is a result, not a crash
            stats[name] = {"error": f"{type(err).__name__}: {err}"}
            continue
        live[name] = fn
        numbers[name] = max(1, min(100_000, int(target / max(once, 1e-7))))
    samples: dict[str, list[float]] = {n: [] for n in live}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, fn in live.items():
                number = numbers[name]
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                samples[name].append((time.perf_counter() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    for name, ts in samples.items():
        stats[name] = {"min": min(ts), "median": statistics.median(ts), "number": numbers[name],
                       "repeats": repeats}
    return {n: stats[n] for n in peers if n in stats}


def _tolerance(dtype):
    return (1e-5, 1e-5) if np.dtype(dtype) == np.float32 else (1e-12, 1e-12)


def compare(got, want, exact: bool) -> dict:
    """symexpr's (or a peer's) outputs against NumPy's: exact, or allclose for transcendentals."""
    if len(got) != len(want):
        return {"ok": False, "mode": "exact" if exact else "allclose",
                "error": f"{len(got)} outputs, NumPy gives {len(want)}"}
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or g.dtype != w.dtype:
            return {"ok": False, "mode": "exact" if exact else "allclose",
                    "error": f"{g.dtype}{list(g.shape)}, NumPy gives {w.dtype}{list(w.shape)}"}
        if g.size:
            with np.errstate(all="ignore"):
                diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
            worst = max(worst, float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0)
    if exact:
        ok = all(np.array_equal(np.asarray(g), np.asarray(w), equal_nan=True) for g, w in zip(got, want))
    else:
        rtol, atol = _tolerance(np.asarray(want[0]).dtype)
        ok = all(np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True) for g, w in zip(got, want))
    return {"ok": bool(ok), "mode": "exact" if exact else "allclose", "max_abs_err": worst}


def _as_tuple(result, n_outputs: int) -> tuple:
    return (result,) if n_outputs == 1 else tuple(result)


def _compile(source: str, backend: str):
    """sx.compile, with its warnings (the fallback to NumPy) recorded rather than printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prog = sx.compile(source, backend=backend)
    return prog, [str(w.message) for w in caught]


# -- the parts of a run -----------------------------------------------------------------------

@dataclass
class Settings:
    mode: str = "full"
    sizes: tuple[int, ...] = FULL_SIZES
    dtypes: tuple[str, ...] = ("float32", "float64")
    repeats: int = 7
    repeats_large: int = 5
    target: float = 0.004
    out_size: int = OUT_SIZE
    compile_tries: int = 3
    programs: tuple[str, ...] = ()
    seed: int = 20261128
    quiet: bool = False

    def repeats_for(self, n: int) -> int:
        if n <= 100_000:
            return self.repeats
        return max(2, min(self.repeats, self.repeats_large, 3 if n >= LARGE_SIZE else self.repeats_large))

    @staticmethod
    def warmup_for(n: int) -> int:
        # Calibrating `number` is one more untimed call, so at large sizes one warm-up is enough.
        return 2 if n < 1_000_000 else 1


@dataclass
class Bench:
    """The state of one run: the programs compiled once, the OpenCL peers, the results so far."""

    settings: Settings
    cases: tuple[Case, ...]
    opencl: OpenCLPeers | None = None
    opencl_error: str | None = None
    programs: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    copy_cache: dict = field(default_factory=dict)

    def log(self, text: str) -> None:
        if not self.settings.quiet:
            print(text, file=sys.stderr, flush=True)

    def program(self, case: Case, backend: str):
        key = (case.name, backend)
        if key not in self.programs:
            try:
                prog, caught = _compile(case.source, backend)
            except Exception as err:  # noqa: BLE001 - recorded in every cell of the program
                prog, caught = _Broken(f"compile failed: {type(err).__name__}: {err}"), []
            self.warnings += [m for m in caught if m not in self.warnings]
            self.programs[key] = prog
        return self.programs[key]

    def copy_peers(self, nbytes: int) -> dict[str, Callable[[], object]]:
        """The memory limit for `nbytes` of traffic: callables timed with the other peers, in the
        same round-robin, so that the machine's noise falls on the limit too."""
        if nbytes not in self.copy_cache:
            self.copy_cache.clear()  # one pair of copy buffers alive at a time: at 5e7 they are GBs
            if self.opencl is not None:
                kernels, copyto, oks = self.opencl.copy(nbytes)
                peers = {}
                for name, fn in kernels.items():
                    # timed as copy_cl_plain / copy_cl_nt; `copy_cl` is then the faster (_copy_reference)
                    peers[COPY_TIMED[name]] = fn if oks[name] else _raiser(f"the {name} kernel's result was wrong")
                peers["copyto"] = copyto
            else:
                src = np.ones(max(1, nbytes // 2 // 4), np.uint32)
                dst = np.zeros_like(src)
                peers = {"copyto": lambda: np.copyto(dst, src)}
            self.copy_cache[nbytes] = peers
        return self.copy_cache[nbytes]


COPY_TIMED = {"copy_cl": "copy_cl_plain", "copy_cl_nt": "copy_cl_nt"}


def _copy_reference(times: dict) -> dict:
    """Adds times["copy_cl"]: the faster (by minimum) of the plain and the non-temporal copy kernels."""
    best = [(times[p]["min"], p) for p in COPY_TIMED.values() if "min" in times.get(p, {})]
    if best:
        _, peer = min(best)
        times["copy_cl"] = dict(times[peer], variant="nontemporal" if peer.endswith("_nt") else "plain")
    return times


def engine_that_ran(prog, values: dict) -> str:
    """Which engine a program runs for these inputs: backend "auto" decides per call signature
    (`_engine.engine_for`, after the first call has measured); otherwise what `prog.backend` says."""
    engine = getattr(prog, "_engine", None)
    engine_for = getattr(engine, "engine_for", None)
    if engine_for is not None:
        try:
            return engine_for(values)
        except Exception:  # noqa: BLE001 - an engine that cannot say: fall back to the backend's name
            pass
    return getattr(prog, "backend", "?")


class _Broken:
    """Stands for a program that did not compile: every call raises the compile error."""

    backend = "error"

    def __init__(self, message: str):
        self.message = message

    def __call__(self, *args, **kwargs):
        raise RuntimeError(self.message)


def _raiser(message: str):
    def fail():
        raise RuntimeError(message)
    return fail


def available_memory() -> int | None:
    """Bytes of memory available now (Linux), or None where that cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_needed(n: int, dtype) -> int:
    """A generous peak for one size: 4 inputs, the 10-statement program's intermediates kept alive by
    NumPy and numexpr, the checked results, and the copy buffers."""
    return 24 * n * np.dtype(dtype).itemsize


def make_data(n: int, dtype, seed: int) -> dict[str, np.ndarray]:
    """Inputs a, b, c, d: uniform in [-2, 2), the same values for every peer."""
    rng = np.random.default_rng(seed + n)
    return {x: rng.uniform(-2.0, 2.0, n).astype(dtype) for x in "abcd"}


def _speedups(times: dict, base: str = "sx") -> dict:
    t = times.get(base, {}).get("min")
    if not t:
        return {}
    return {p: s["min"] / t for p, s in times.items() if p != base and "min" in s}


def _gbps(times: dict, nbytes: int) -> dict:
    return {p: nbytes / s["min"] / 1e9 for p, s in times.items() if "min" in s and s["min"] > 0}


def run_cell(bench: Bench, case: Case, dtype: str, n: int, data: dict) -> dict:
    """One program at one size and dtype: check every peer against NumPy, then time them all."""
    inputs = {x: data[x] for x in case.inputs}
    args = [data[x] for x in case.inputs]
    n_out = len(case.outputs)
    nbytes = (len(case.inputs) + n_out) * n * np.dtype(dtype).itemsize
    prog = bench.program(case, "auto")
    prog_np = bench.program(case, "numpy")
    numpy_fn = numpy_function(case)
    runners = {
        "sx": lambda: _as_tuple(prog(**inputs), n_out),
        "sx_numpy": lambda: _as_tuple(prog_np(**inputs), n_out),
        "numpy": lambda: numpy_fn(*args),
    }
    if bench.opencl is not None:
        prog_cl = bench.program(case, "opencl")
        runners["sx_cl"] = lambda: _as_tuple(prog_cl(**inputs), n_out)
    if n >= LARGE_SIZE:
        del runners["sx_numpy"]  # the slowest peer, and the same story as at 1e7: it would double the time
    ne_fn = numexpr_function(case, dtype)
    if ne_fn is not None:
        runners["numexpr"] = lambda: ne_fn(inputs)
        if len(case.statements) > 1:
            ne_inline = numexpr_function(case, dtype, inline=True)
            runners["numexpr_inline"] = lambda: ne_inline(inputs)
    hand = bench.opencl.hand(case, dtype) if bench.opencl is not None else None
    if hand is not None:
        runners["hand"] = lambda: hand(inputs)

    want = numpy_fn(*args)
    checks, errors = {}, {}
    for peer, fn in runners.items():
        if peer == "numpy":
            continue
        try:
            got = fn()
        except Exception as err:  # noqa: BLE001
            errors[peer] = f"{type(err).__name__}: {err}"
            checks[peer] = {"ok": False, "error": errors[peer]}
            continue
        # numexpr and the hand kernel may round differently (e.g. a fused multiply-add):
        # they are checked with allclose, symexpr with the case's own rule.
        checks[peer] = compare(got, want, case.exact if peer.startswith("sx") else False)
        del got
    backend = prog.backend  # after a first call: what ran, not only what was asked for
    engine = engine_that_ran(prog, inputs) if "sx" not in errors else "error"
    timed = {p: f for p, f in runners.items() if p not in errors}
    timed.update(bench.copy_peers(nbytes))
    times = measure(timed, repeats=bench.settings.repeats_for(n), target=bench.settings.target,
                    warmup=bench.settings.warmup_for(n))
    times.update({p: {"error": e} for p, e in errors.items()})
    _copy_reference(times)
    cell = {"program": case.name, "dtype": dtype, "n": n, "backend": backend, "engine": engine,
            "bytes": nbytes, "times": times, "speedup": _speedups(times),
            "speedup_cl": _speedups(times, "sx_cl"), "gbps": _gbps(times, nbytes), "checks": checks}
    cell["copy_fraction"] = _copy_fraction(times, "sx")
    cell["copy_fraction_cl"] = _copy_fraction(times, "sx_cl")
    return cell


def _sx_checks_ok(cell: dict) -> bool:
    """symexpr's results (the default backend and, where it ran, backend="opencl") agreed with NumPy's."""
    checks = cell["checks"]
    return checks.get("sx", {}).get("ok", False) and checks.get("sx_cl", {"ok": True}).get("ok", False)


def _copy_fraction(times: dict, peer: str):
    t, c = times.get(peer, {}).get("min"), times.get("copy_cl", {}).get("min")
    return c / t if t and c else None


def run_out(bench: Bench, case: Case, dtype: str, n: int, data: dict, cell: dict | None) -> dict:
    """The same program writing into preallocated outputs (`out=`), if the backend supports it."""
    inputs = {x: data[x] for x in case.inputs}
    n_out = len(case.outputs)
    nbytes = (len(case.inputs) + n_out) * n * np.dtype(dtype).itemsize
    prog = bench.program(case, "auto")
    want = numpy_function(case)(*[data[x] for x in case.inputs])
    outs = tuple(np.zeros_like(w) for w in want)
    out_arg = outs[0] if n_out == 1 else outs
    record = {"program": case.name, "dtype": dtype, "n": n, "backend": prog.backend, "bytes": nbytes}
    try:
        got = _as_tuple(prog(**inputs, out=out_arg), n_out)
    except Exception as err:  # noqa: BLE001 - a backend without out= is recorded as such
        record.update(supported=False, error=f"{type(err).__name__}: {err}")
        return record
    same = all(g is o for g, o in zip(got, outs))
    record.update(supported=True, writes_in_place=same, check=compare(outs, want, case.exact),
                  engine=engine_that_ran(prog, inputs))
    runners = {"sx_out": lambda: prog(**inputs, out=out_arg)}
    if bench.opencl is not None:
        # The fused kernel itself (backend="opencl"): what the copy-bandwidth target is about.
        prog_cl = bench.program(case, "opencl")
        outs_cl = tuple(np.zeros_like(w) for w in want)
        out_cl = outs_cl[0] if n_out == 1 else outs_cl
        try:
            prog_cl(**inputs, out=out_cl)
            record["check_cl"] = compare(outs_cl, want, case.exact)
            runners["sx_cl_out"] = lambda: prog_cl(**inputs, out=out_cl)
        except Exception as err:  # noqa: BLE001
            record["check_cl"] = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    ne_fn = numexpr_function(case, dtype)
    if ne_fn is not None and len(case.statements) == 1:
        ne_out = np.empty_like(want[0])
        runners["numexpr_out"] = lambda: ne_fn(inputs, out=ne_out)
    hand = bench.opencl.hand(case, dtype) if bench.opencl is not None else None
    if hand is not None:
        hand_out = tuple(np.empty_like(w) for w in want)
        runners["hand_out"] = lambda: hand(inputs, out=hand_out)
    runners.update(bench.copy_peers(nbytes))
    times = measure(runners, repeats=bench.settings.repeats_for(n), target=bench.settings.target,
                    warmup=bench.settings.warmup_for(n))
    _copy_reference(times)
    if "error" in times.get("sx_cl_out", {}):
        record["check_cl"] = {"ok": False, "error": times["sx_cl_out"]["error"]}
    if cell is not None:
        for peer in ("sx", "sx_cl", "numpy", "numexpr"):
            if "min" in cell["times"].get(peer, {}):
                times[peer] = cell["times"][peer]
    record.update(times=times, speedup=_speedups(times, "sx_out"), gbps=_gbps(times, nbytes),
                  copy_fraction=_copy_fraction(times, "sx_out"),
                  copy_fraction_cl=_copy_fraction(times, "sx_cl_out"),
                  hand_fraction=_hand_fraction(times, "sx_out"),
                  hand_fraction_cl=_hand_fraction(times, "sx_cl_out"))
    return record


def _hand_fraction(times: dict, peer: str):
    """The hand kernel's time (out=) over `peer`'s: symexpr's bandwidth as a fraction of the hand kernel's."""
    return _copy_fraction({peer: times.get(peer, {}), "copy_cl": times.get("hand_out", {})}, peer)


def run_overhead(bench: Bench, case: Case, dtype: str = "float32") -> dict:
    """Per-call fixed cost: every peer at n = 16."""
    data = make_data(OVERHEAD_N, dtype, bench.settings.seed)
    cell = run_cell(bench, case, dtype, OVERHEAD_N, data)
    prog = bench.program(case, "auto")
    inputs = {x: data[x] for x in case.inputs}
    outs = tuple(np.empty(OVERHEAD_N, dtype) for _ in case.outputs)
    out_arg = outs[0] if len(outs) == 1 else outs
    outs_cl = tuple(np.empty(OVERHEAD_N, dtype) for _ in case.outputs)
    out_cl = outs_cl[0] if len(outs_cl) == 1 else outs_cl
    runners = {"sx_out": lambda: prog(**inputs, out=out_arg)}
    if bench.opencl is not None:
        prog_cl = bench.program(case, "opencl")
        runners["sx_cl_out"] = lambda: prog_cl(**inputs, out=out_cl)
    extra = {}
    for name, fn in list(runners.items()):
        try:
            fn()
        except Exception as err:  # noqa: BLE001
            extra[name] = {"error": f"unsupported: {type(err).__name__}: {err}"}
            del runners[name]
    extra.update(measure(runners, repeats=bench.settings.repeats, target=bench.settings.target))
    cell["times"].update(extra)
    return cell


COMPILE_SCRIPT = """\
import json, sys, time
t0 = time.perf_counter()
import warnings
warnings.simplefilter("ignore")
import numpy as np
import symexpr as sx
t1 = time.perf_counter()
src, backend = sys.argv[1], sys.argv[2]
prog = sx.compile(src, backend=backend)
t2 = time.perf_counter()
args = {x: np.linspace(-1, 1, 1000, dtype=np.float32) for x in prog.inputs}
prog(**args)
t3 = time.perf_counter()
prog(**args)
t4 = time.perf_counter()
# Another new program in the same process: compile cost once the parser and device are set up.
other = sx.compile(src.replace("q_", "o_"), backend=backend)
t5 = time.perf_counter()
engine = getattr(getattr(prog, "_engine", None), "engine_for", None)
print(json.dumps({"import": t1 - t0, "compile": t2 - t1, "first_call": t3 - t2, "second_call": t4 - t3,
                  "compile_another": t5 - t4, "backend": prog.backend,
                  "engine": engine(args) if engine else prog.backend}))
"""


def fresh_source(tag: str) -> str:
    """The 10-statement program with names and a constant no earlier run has used: nothing cached."""
    const = 0.25 + int(tag[:6], 16) * 1e-9
    return (MULTI_STATEMENT.replace("p = z * 0.25 + v", f"p_{tag} = z * {const!r} + v")
            .replace("q = ", f"q_{tag} = "))


COMPILE_KEYS = ("new_program_total", "compile", "first_call", "new_signature_first_call", "second_call")


def run_compile(bench: Bench) -> dict:
    """Compile times of the 10-statement program at n = 1000, float32, for the default backend ("auto",
    which at 1000 elements runs the NumPy engine: no kernel is built) and for backend="opencl" forced
    (the kernel build the issue's compile targets are about): in this process, a new program's first
    call and a new signature's; and in two fresh processes, the second finding the disk cache."""
    backends = ["auto"] + (["opencl"] if bench.opencl is not None else [])
    result = {"backends": backends, "n": 1000, "dtype": "float32"}
    for backend in backends:
        result[backend] = _compile_times(bench, backend)
    return result


def _compile_times(bench: Bench, backend: str) -> dict:
    tries = []
    f32 = {x: np.linspace(-1, 1, 1000, dtype=np.float32) for x in "abcd"}
    f64 = {x: v.astype(np.float64) for x, v in f32.items()}
    for _ in range(bench.settings.compile_tries):
        src = fresh_source(uuid.uuid4().hex)
        t0 = time.perf_counter()
        prog, _ = _compile(src, backend)
        t1 = time.perf_counter()
        prog(**f32)
        t2 = time.perf_counter()
        prog(**f32)
        t3 = time.perf_counter()
        prog(**f64)
        t4 = time.perf_counter()
        prog(**f64)
        t5 = time.perf_counter()
        tries.append({"backend": prog.backend, "engine": engine_that_ran(prog, f32), "compile": t1 - t0,
                      "first_call": t2 - t1, "second_call": t3 - t2, "new_signature_first_call": t4 - t3,
                      "new_signature_second_call": t5 - t4, "new_program_total": t2 - t0})
    result = {"in_process": tries}
    for key in COMPILE_KEYS:
        result[key] = {"min": min(t[key] for t in tries), "median": statistics.median(t[key] for t in tries)}
    # A warm process: the same program in two fresh processes; the second finds the disk cache.
    src = fresh_source(uuid.uuid4().hex)
    env = dict(os.environ)
    root = str(Path(sx.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    processes = []
    for _ in range(2):
        try:
            done = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT, src, backend], capture_output=True,
                                  text=True, timeout=120, env=env)
            if done.returncode:
                processes.append({"error": (done.stderr.strip().splitlines() or ["failed"])[-1]})
            else:
                processes.append(json.loads(done.stdout.strip().splitlines()[-1]))
        except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as err:
            processes.append({"error": str(err)})
    for p in processes:
        if "compile" in p:
            p["compile_and_first_call"] = p["compile"] + p["first_call"]
    result["processes"] = processes
    return result


# -- the targets ----------------------------------------------------------------------

def _geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def _target(tid, text, threshold, value, met, detail="", unit="x", uses=""):
    """One target: `value` in `unit` ("x" a ratio, "%" a fraction, "us", "ms"); met is None if not measured;
    `uses`: the column (the symexpr peer) the value comes from."""
    return {"id": tid, "target": text, "threshold": threshold, "value": value, "unit": unit,
            "met": None if value is None else bool(met), "detail": detail, "uses": uses}


def _fmt_value(value, unit: str) -> str:
    if value is None:
        return "–"
    return {"x": f"{value:.3g}×", "%": f"{value:.0%}", "us": f"{value:.1f} µs", "ms": f"{value:.0f} ms"}[unit]


def _engines(cells) -> str:
    """"opencl 12, numpy 3": how many of these cells each engine ran under the default backend."""
    counts: dict[str, int] = {}
    for c in cells:
        e = c.get("engine", c.get("backend", "?"))
        counts[e] = counts.get(e, 0) + 1
    return ", ".join(f"{e} {k}" for e, k in sorted(counts.items(), key=lambda x: -x[1]))


def _engine_of(c) -> str:
    return c.get("engine", c.get("backend", "?"))


DEFAULT = "symexpr (default backend)"
FORCED = 'sx CL (backend="opencl")'


def evaluate_targets(results: dict) -> list[dict]:
    """The issue's targets, each measured in this run: met, not met, or not measured (None).

    Speed-ups over NumPy and numexpr, small sizes and the per-call overhead are what a user gets: the
    default backend ("auto", which picks an engine per call signature). The hand-kernel and
    copy-bandwidth targets are about the fused kernel: symexpr with backend="opencl" forced. So are the
    compile targets (a kernel build): at n = 1000 the default backend runs the NumPy engine, builds nothing.
    """
    cells = results["cells"]
    fused = {c["name"] for c in results["programs"] if c["fused"]}
    transcendental = {c["name"] for c in results["programs"] if c["kind"] == "transcendental"}
    hand = {c["name"] for c in results["programs"] if c["hand"]}
    big = [c for c in cells if c["n"] >= 1_000_000 and c["program"] in fused]
    targets = []

    def sp(c, peer, key="speedup"):
        # Against numexpr, the faster of its two ways (per statement, one inlined string) counts.
        if peer == "numexpr":
            ways = [c.get(key, {}).get(p) for p in ("numexpr", "numexpr_inline") if c.get(key, {}).get(p)]
            return min(ways) if ways else None
        return c.get(key, {}).get(peer)

    for peer, need in (("numpy", 4.0), ("numexpr", 2.5)):
        per = {dt: _geomean(sp(c, peer) for c in big if c["dtype"] == dt) for dt in results["settings"]["dtypes"]}
        g = _geomean(sp(c, peer) for c in big)
        g_cl = _geomean(sp(c, peer, "speedup_cl") for c in big)
        multi = _geomean(sp(c, peer) for c in big if c["program"] == CASES[-1].name)
        detail = ", ".join(f"{dt} {v:.2f}x" for dt, v in per.items() if v) + (
            f"; 10-statement program alone {multi:.2f}x" if multi else "") + (
            f"; engines that ran: {_engines(big)}" if big else "") + (
            f"; sx CL {g_cl:.2f}x" if g_cl else "")
        targets.append(_target(f"fused_vs_{peer}", f"n >= 1e6, multi-op programs: geomean speed-up over {peer}",
                               f">= {need:g}x", g, g is not None and g >= need, detail, uses=DEFAULT))
    ratios = [(c["times"]["sx_cl"]["min"] / c["times"]["hand"]["min"], c) for c in cells
              if c["n"] >= 1_000_000 and c["program"] in hand and "min" in c["times"].get("hand", {})
              and "min" in c["times"].get("sx_cl", {})]
    worst = max(ratios, key=lambda r: r[0]) if ratios else None
    auto_ratios = [c["times"]["sx"]["min"] / c["times"]["hand"]["min"] for _, c in ratios
                   if "min" in c["times"].get("sx", {})]
    targets.append(_target(
        "vs_hand", "n >= 1e6: time over the hand-written vector kernel's (worst)", "<= 1.10x",
        worst[0] if worst else None, worst is not None and worst[0] <= 1.10,
        (f"{worst[1]['program']} {worst[1]['dtype']} n={_fmt_n(worst[1]['n'])}; geomean "
         f"{_geomean(r for r, _ in ratios):.2f}x over {', '.join(sorted(hand))}; default backend: worst "
         f"{max(auto_ratios):.2f}x, geomean {_geomean(auto_ratios):.2f}x" if worst else ""), uses=FORCED))
    outs = [o for o in results["out_runs"] if o.get("supported") and o.get("copy_fraction_cl")]
    worst_out = min(outs, key=lambda o: o["copy_fraction_cl"]) if outs else None
    unsupported = [o for o in results["out_runs"] if not o.get("supported")]
    hand_fracs = [_copy_fraction(o["times"], "hand_out") for o in outs if "min" in o["times"].get("hand_out", {})]
    auto_fracs = [o["copy_fraction"] for o in outs if o.get("copy_fraction")]
    variants = sorted({o["times"].get("copy_cl", {}).get("variant") for o in outs} - {None})
    targets.append(_target(
        "out_bandwidth", f"memory-bound at n={_fmt_n(results['settings']['out_size'])} with out=: "
        "fraction of the copy kernel's bandwidth (worst)", ">= 80%",
        worst_out["copy_fraction_cl"] if worst_out else None,
        worst_out is not None and worst_out["copy_fraction_cl"] >= 0.8,
        (f"{worst_out['program']} {worst_out['dtype']}; geomean "
         f"{_geomean(o['copy_fraction_cl'] for o in outs):.0%}"
         + (f"; default backend worst {min(auto_fracs):.0%} (engines: {_engines(outs)})" if auto_fracs else "")
         + (f"; the hand-written kernels reach {_geomean(hand_fracs):.0%} (geomean)" if hand_fracs else "")
         + (f"; copy reference: {'/'.join(variants)} stores" if variants else "")
         if worst_out else ("out= unsupported" if unsupported else "")), unit="%", uses=FORCED + " out="))
    top = max((c["n"] for c in cells), default=0)
    tr = [(sp(c, "numpy"), c) for c in cells if c["program"] in transcendental and c["n"] == 10_000_000
          and sp(c, "numpy")]
    worst_tr = min(tr, key=lambda r: r[0]) if tr else None
    tr_cl = [sp(c, "numpy", "speedup_cl") for _, c in tr if sp(c, "numpy", "speedup_cl")]
    targets.append(_target(
        "transcendental", "n = 1e7 transcendental programs: speed-up over NumPy (worst)", ">= 1x",
        worst_tr[0] if worst_tr else None, worst_tr is not None and worst_tr[0] >= 1.0,
        (f"{worst_tr[1]['program']} {worst_tr[1]['dtype']} (engine {_engine_of(worst_tr[1])}); engines that "
         f"ran: {_engines(c for _, c in tr)}" + (f"; sx CL worst {min(tr_cl):.3g}x" if tr_cl else "")
         if worst_tr else f"largest n measured: {top}"), uses=DEFAULT))
    small = [c for c in cells if c["n"] <= 10_000] + results.get("overhead", [])
    ne_small = [(sp(c, "numexpr"), c) for c in small if sp(c, "numexpr")]
    w = min(ne_small, key=lambda r: r[0]) if ne_small else None
    targets.append(_target("small_vs_numexpr", "n <= 1e4: speed-up over numexpr (worst)", ">= 1x",
                           w[0] if w else None, w is not None and w[0] >= 1.0,
                           f"{w[1]['program']} {w[1]['dtype']} n={_fmt_n(w[1]['n'])} (engine {_engine_of(w[1])}); "
                           f"engines that ran: {_engines(small)}" if w else "", uses=DEFAULT))
    np_small = [(1 / sp(c, "numpy"), c) for c in small if sp(c, "numpy")]
    w = max(np_small, key=lambda r: r[0]) if np_small else None
    targets.append(_target("small_vs_numpy", "n <= 1e4: time over NumPy's (worst)", "<= 2x",
                           w[0] if w else None, w is not None and w[0] <= 2.0,
                           f"{w[1]['program']} {w[1]['dtype']} n={_fmt_n(w[1]['n'])} (engine {_engine_of(w[1])})"
                           if w else "", uses=DEFAULT))
    fma = [c for c in results.get("overhead", []) if c["program"] == "a*b + c"]
    t16 = fma[0]["times"].get("sx", {}).get("min") if fma else None
    t16_cl = fma[0]["times"].get("sx_cl", {}).get("min") if fma else None
    targets.append(_target("overhead", "fixed per-call overhead (a*b + c, n = 16, float32)", "< 5 us",
                           t16 * 1e6 if t16 else None, t16 is not None and t16 < 5e-6,
                           (f"engine {_engine_of(fma[0])}" + (f"; sx CL {t16_cl * 1e6:.1f} µs" if t16_cl else "")
                            if fma else ""), unit="us", uses=DEFAULT))
    comp = results.get("compile") or {}
    forced, auto = comp.get("opencl") or {}, comp.get("auto") or {}
    first = forced.get("new_program_total", {}).get("median")
    auto_first = auto.get("new_program_total", {}).get("median")
    auto_engine = (auto.get("in_process") or [{}])[0].get("engine")
    targets.append(_target(
        "compile_new", "compile + first call of a new program (median)", "< 200 ms",
        first * 1e3 if first is not None else None, first is not None and first < 0.2,
        (f"10-statement program, n=1000 float32: kernel build "
         f"{forced['first_call']['median'] * 1e3:.0f} ms" if first is not None else "")
        + (f"; default backend (engine {auto_engine}, no kernel built): {auto_first * 1e3:.1f} ms"
           if auto_first is not None else ""), unit="ms", uses=FORCED))
    procs = forced.get("processes") or []
    warm = procs[1].get("compile_and_first_call") if len(procs) > 1 else None
    aprocs = auto.get("processes") or []
    awarm = aprocs[1].get("compile_and_first_call") if len(aprocs) > 1 else None
    targets.append(_target(
        "compile_cached", "compile + first call in a new process, disk cache warm", "< 20 ms",
        warm * 1e3 if warm is not None else None, warm is not None and warm < 0.02,
        (f"compile {procs[1]['compile'] * 1e3:.1f} ms + first call {procs[1]['first_call'] * 1e3:.1f} ms; "
         f"cold process {procs[0]['compile_and_first_call'] * 1e3:.0f} ms; a further new program compiles in "
         f"{procs[1]['compile_another'] * 1e3:.1f} ms" if warm is not None and "compile_and_first_call" in procs[0]
         else "") + (f"; default backend: {awarm * 1e3:.1f} ms" if awarm is not None else ""),
        unit="ms", uses=FORCED))
    return targets


# -- machine, writing -------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args) -> str | None:
    root = Path(sx.__file__).resolve().parent.parent
    if not (root / ".git").exists():  # an installed package, not a checkout
        return None
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def _uncommitted() -> list[str]:
    """symexpr's files that differ from the commit: the figures are of the working tree, not HEAD."""
    status = _git("status", "--porcelain", "--", "symexpr", "grammar")
    return [line[3:] for line in status.splitlines()] if status else []


def machine_info() -> dict:
    versions = {"python": platform.python_version(), "numpy": np.__version__, "symexpr": sx.__version__}
    for mod in ("numexpr", "pyopencl"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    threads = None
    try:
        import numexpr
        threads = numexpr.get_num_threads()
    except ImportError:
        pass
    try:  # which SIMD targets NumPy's ufuncs dispatch to here (AVX-512 sin/exp, for example)
        from numpy._core import _multiarray_umath as umath
        simd = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]
    except (ImportError, AttributeError):
        simd = None
    env = {k: os.environ[k] for k in ("PYOPENCL_CTX", "POCL_DEVICES", "OMP_NUM_THREADS", "NUMEXPR_NUM_THREADS")
           if k in os.environ}
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(), "numpy_simd": simd,
            "versions": versions, "numexpr_threads": threads, "env": env,
            "git_commit": _git("rev-parse", "--short", "HEAD"),
            "uncommitted": _uncommitted()}


def _fmt_time(s) -> str:
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt_peer(times: dict, peer: str) -> str:
    s = times.get(peer)
    if not s:
        return "–"
    if "error" in s:
        return "error"
    return f"{_fmt_time(s['min'])} ({_fmt_time(s['median'])})"


def _fmt_x(x) -> str:
    if x is None:
        return "–"
    return f"{x:.2g}×" if x < 0.1 else f"{x:.2f}×"


def _fmt_n(n: int) -> str:
    """10 -> 1e1, 50_000_000 -> 5e7, 16 -> 16."""
    exp = int(math.floor(math.log10(n))) if n > 0 else 0
    mantissa = n / 10**exp
    return f"{mantissa:g}e{exp}" if n >= 10 and mantissa == int(mantissa) else str(n)


def _header(results: dict) -> list[str]:
    """Where and when the figures come from: date, machine, versions, OpenCL, the engines that ran."""
    m, ocl = results["machine"], results.get("opencl") or {}
    dirty = m.get("uncommitted") or []
    return [f"- date: {results['date']}; commit {m.get('git_commit') or '?'}"
            + (f" plus uncommitted changes to {', '.join(dirty)}" if dirty else "")
            + f"; took {results['elapsed_seconds']:.0f} s",
             f"- machine: {m['cpu']}, {m['cores']} cores; {m['platform']}"
            + ("; environment: " + ", ".join(f"{k}={v}" for k, v in m["env"].items()) if m.get("env") else ""),
             f"- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
             f"- OpenCL: {ocl.get('platform', 'none')} {ocl.get('platform_version', '')}; device "
             f"{ocl.get('device', results.get('opencl_error') or 'none')}",
             f"- symexpr's default backend (`auto`) ran, over the cells: **{_engines(results['cells'])}** "
             f"(backend `{', '.join(sorted({c['backend'] for c in results['cells']}))}`)",
             f"- numexpr threads: {m.get('numexpr_threads')}; NumPy single-threaded, SIMD "
             f"{', '.join(m.get('numpy_simd') or ['?'])}",
             "- every symexpr result (default backend and backend=\"opencl\") checked against NumPy: "
             + ("**all agree**" if results["all_checks_ok"] else "**MISMATCHES, see JSON `checks`**"),
             ""]


def _targets_table(results: dict) -> list[str]:
    lines = ["| target | threshold | measured | status | column | where |",
             "| --- | --- | --- | --- | --- | --- |"]
    for t in results["targets"]:
        v = t["value"]
        status = "not measured" if t["met"] is None else ("**met**" if t["met"] else "**not met**")
        val = _fmt_value(v, t.get("unit", "x"))
        lines.append(f"| {t['target']} | {t['threshold']} | {val} | {status} | {t.get('uses', '')} | {t['detail']} |")
    return lines + [""]


def render_summary(results: dict) -> str:
    """The header and the targets' table: what benchmarks/README.md shows."""
    return "\n".join([f"The {results['mode']} run's summary (every table: `results/{results['mode']}.md`):", ""]
                     + _header(results) + _targets_table(results))


def _frac(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def _check_text(cell: dict) -> str:
    chk = cell["checks"].get("sx", {})
    return ("ok" if _sx_checks_ok(cell) else "**FAIL**") + f" ({chk.get('mode', '?')})"


def render_markdown(results: dict) -> str:
    """The results as markdown: a table per dtype, out=, overhead, compile times, and the targets."""
    lines = [f"# symexpr benchmark ({results['mode']} run)", ""] + _header(results)
    if results.get("skipped"):
        lines += ["Skipped for want of memory: " + "; ".join(results["skipped"]), ""]
    if results.get("warnings"):
        lines += ["Warnings while compiling: " + "; ".join(f"`{w}`" for w in results["warnings"]), ""]
    lines += ["Times are `min (median)` seconds per call. `symexpr` is the default backend (`auto`: the NumPy "
              "engine up to 4096 elements, above that whichever engine was faster at the signature's first call); "
              "`engine` says which one ran. `sx CL` is backend=\"opencl\" forced: the fused kernel. `×peer` is the "
              "peer's time over symexpr's (above 1: symexpr is faster); `sx CL ×hand` is the hand kernel's time "
              "over sx CL's. GB/s counts the bytes of inputs and outputs over symexpr's time; `%copy` is "
              "that bandwidth as a fraction of the OpenCL copy kernel's moving the same bytes (`CL %copy`: sx CL's). "
              "`copy CL` is the faster of a plain and a non-temporal-store copy kernel (the JSON's `variant`).", ""]
    lines += ["## Summary of the targets", "",
              "`column` is the symexpr figure a target uses: the default backend for what a user gets (speed-ups, "
              "small sizes, overhead), backend=\"opencl\" for the targets about the fused kernel (hand kernel, copy "
              "bandwidth, kernel build).", ""] + _targets_table(results)
    peers = [p for p in PEERS if any(p in c["times"] for c in results["cells"])]
    ratio_peers = [p for p in ("numpy", "numexpr", "numexpr_inline") if p in peers]
    has_cl = "sx_cl" in peers
    for dtype in results["settings"]["dtypes"]:
        cells = [c for c in results["cells"] if c["dtype"] == dtype]
        if not cells:
            continue
        extra = ["sx CL ×hand"] if has_cl and "hand" in peers else []
        fracs = ["%copy"] + (["CL %copy"] if has_cl else [])
        heads = ([PEER_TITLES[p] for p in peers] + [f"×{PEER_TITLES[p]}" for p in ratio_peers] + extra
                 + ["GB/s"] + fracs)
        lines += [f"## {dtype}", "",
                  "| program | n | engine | " + " | ".join(heads) + " | check |",
                  "| --- | ---: | --- | " + " | ".join("---:" for _ in heads) + " | --- |"]
        for c in cells:
            row = [c["program"], _fmt_n(c["n"]), c.get("engine", c["backend"])]
            row += [_fmt_peer(c["times"], p) for p in peers]
            row += [_fmt_x(c["speedup"].get(p)) for p in ratio_peers]
            row += [_fmt_x(c.get("speedup_cl", {}).get("hand")) for _ in extra]
            row += [f"{c['gbps'].get('sx', 0):.1f}", _frac(c.get("copy_fraction"))]
            row += [_frac(c.get("copy_fraction_cl"))] if has_cl else []
            row += [_check_text(c)]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if results["out_runs"]:
        lines += ["## Preallocated output (`out=`)", "",
                  "`%copy`: bandwidth over the copy kernel's; `%hand`: over the hand kernel's (all writing into "
                  "preallocated arrays), for symexpr's default backend and for sx CL (backend=\"opencl\"); "
                  "`hand %copy`: the hand kernel's over the copy kernel's. `copy` says which copy kernel was faster.", "",
                  "| program | dtype | n | engine | symexpr out= | sx CL out= | symexpr fresh | hand CL out= | "
                  "numexpr out= | copy CL | copy | GB/s | %copy | CL %copy | %hand | CL %hand | hand %copy |",
                  "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | "
                  "---: | ---: | ---: |"]
        for o in results["out_runs"]:
            if not o.get("supported"):
                lines.append(f"| {o['program']} | {o['dtype']} | {_fmt_n(o['n'])} | {o.get('backend')} | "
                             f"unsupported: {o.get('error', '')[:60]} |" + " |" * 12)
                continue
            t = o["times"]
            lines.append(f"| {o['program']} | {o['dtype']} | {_fmt_n(o['n'])} | {o.get('engine', o['backend'])} | "
                         f"{_fmt_peer(t, 'sx_out')} | {_fmt_peer(t, 'sx_cl_out')} | {_fmt_peer(t, 'sx')} | "
                         f"{_fmt_peer(t, 'hand_out')} | {_fmt_peer(t, 'numexpr_out')} | {_fmt_peer(t, 'copy_cl')} | "
                         f"{t.get('copy_cl', {}).get('variant', '–')} | {o['gbps'].get('sx_out', 0):.1f} | "
                         f"{_frac(o.get('copy_fraction'))} | {_frac(o.get('copy_fraction_cl'))} | "
                         f"{_frac(o.get('hand_fraction'))} | {_frac(o.get('hand_fraction_cl'))} | "
                         f"{_frac(_copy_fraction(t, 'hand_out'))} |")
        lines.append("")
    if results.get("overhead"):
        oh_peers = [p for p in ("sx", "sx_out", "sx_cl", "sx_cl_out", "sx_numpy", "numpy", "numexpr", "hand",
                                "copy_cl", "copyto") if any(p in c["times"] for c in results["overhead"])]
        lines += [f"## Per-call overhead (n = {OVERHEAD_N}, float32), minimum", "",
                  "| program | engine | " + " | ".join(PEER_TITLES[p] for p in oh_peers) + " |",
                  "| --- | --- | " + " | ".join("---:" for _ in oh_peers) + " |"]
        for c in results["overhead"]:
            row = []
            for p in oh_peers:
                st = c["times"].get(p)
                row.append("–" if not st else (st["error"][:40] if "error" in st else _fmt_time(st["min"])))
            lines.append(f"| {c['program']} | {c.get('engine', c['backend'])} | " + " | ".join(row) + " |")
        lines.append("")
    comp = results.get("compile")
    if comp and comp.get("backends"):
        backends = comp["backends"]

        def title(b):
            part = comp[b]
            engine = (part.get("in_process") or [{}])[0].get("engine", "?")
            return ("default (`auto`)" if b == "auto" else f'backend="{b}"') + f", engine {engine}"
        lines += [f"## Compile times (the 10-statement program, float32, n = {comp.get('n', 1000)})", "",
                  "At 1000 elements the default backend runs the NumPy engine: its first call builds no kernel. "
                  "With backend=\"opencl\" forced the first call builds the kernel: that is what the compile "
                  "targets measure. In this process, each try a program never seen before; `min / median`:", "",
                  "| what | " + " | ".join(title(b) for b in backends) + " |",
                  "| --- | " + " | ".join("---:" for _ in backends) + " |"]
        for key, text in (("compile", "`sx.compile` of a new program"), ("first_call", "its first call"),
                          ("new_program_total", "new program: compile + first call"),
                          ("second_call", "second call"),
                          ("new_signature_first_call", "first call with a new signature (float64)")):
            lines.append(f"| {text} | " + " | ".join(
                f"{_fmt_time(comp[b][key]['min'])} / {_fmt_time(comp[b][key]['median'])}" for b in backends) + " |")
        lines += ["", "Two fresh processes running the same new program; the second finds what the first "
                  "left in the on-disk cache:", "",
                  "| backend | process | engine | import | compile | first call | compile + first call | "
                  "another new program's compile |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for b in backends:
            for k, p in enumerate(comp[b].get("processes", [])):
                label = "first (cold)" if k == 0 else "second (disk cache warm)"
                if "error" in p:
                    lines.append(f"| {b} | {label} | error: {p['error']} | | | | | |")
                else:
                    lines.append(f"| {b} | {label} | {p.get('engine', p['backend'])} | {_fmt_time(p['import'])} | "
                                 f"{_fmt_time(p['compile'])} | {_fmt_time(p['first_call'])} | "
                                 f"{_fmt_time(p['compile_and_first_call'])} | {_fmt_time(p.get('compile_another'))} |")
        lines.append("")
    lines += ["## Programs", "", "| program | symexpr source | kind | check | hand kernel |",
              "| --- | --- | --- | --- | --- |"]
    for p in results["programs"]:
        src = p["source"].replace("\n", "; ")
        lines.append(f"| {p['name']} | `{src}` | {p['kind']}{', multi-op' if p['fused'] else ''} | "
                     f"{'exact' if p['exact'] else 'allclose'} | {'`' + p['hand'] + '`' if p['hand'] else '–'} |")
    lines.append("")
    lines.append("numexpr runs one `evaluate` per statement (for one-line programs: the one expression); "
                 "`numexpr 1-expr` inlines every intermediate into one string per output. Float literals "
                 "are passed to numexpr as scalars of the array dtype, since numexpr would otherwise "
                 "compute a float32 program in float64. The hand-written and copy kernels are launched as "
                 "symexpr's: each work-item a contiguous chunk (vectors, then a scalar tail), "
                 f"{GEOMETRY_CHUNKS_PER_UNIT} work-items per compute unit on a CPU, local size (1,); one work-item "
                 f"below {GEOMETRY_SMALL} vectors.")
    return "\n".join(lines) + "\n"


# -- the run ----------------------------------------------------------------------------------

def run(settings: Settings) -> dict:
    """The whole benchmark; returns the results as a JSON-ready dict."""
    started = time.perf_counter()
    cases = tuple(c for c in CASES if not settings.programs or c.name in settings.programs)
    bench = Bench(settings, cases)
    try:
        bench.opencl = OpenCLPeers()
    except Exception as err:  # noqa: BLE001 - no pyopencl, no platform: the OpenCL peers are skipped
        bench.opencl_error = f"{type(err).__name__}: {err}"
    results = {
        "schema": SCHEMA, "mode": settings.mode,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "opencl": bench.opencl.describe() if bench.opencl else None, "opencl_error": bench.opencl_error,
        "settings": {"sizes": list(settings.sizes), "dtypes": list(settings.dtypes), "repeats": settings.repeats,
                     "repeats_large": settings.repeats_large, "target_seconds_per_repeat": settings.target,
                     "out_size": settings.out_size, "seed": settings.seed, "hand_vector_width": HAND_WIDTH},
        "programs": [{"name": c.name, "source": c.source, "inputs": list(c.inputs), "outputs": list(c.outputs),
                      "kind": c.kind, "exact": c.exact, "fused": c.fused, "hand": c.hand,
                      "numexpr": "per statement" if len(c.statements) > 1 else "one expression",
                      "numpy_source": numpy_source(c)} for c in cases],
        "cells": [], "out_runs": [], "overhead": [],
    }
    results["skipped"] = []
    for dtype in settings.dtypes:
        for n in settings.sizes:
            bench.copy_cache.clear()
            free = available_memory()
            if free is not None and memory_needed(n, dtype) > free:
                note = (f"{dtype} n={n}: needs about {memory_needed(n, dtype) / 1e9:.1f} GB, "
                        f"{free / 1e9:.1f} GB available")
                results["skipped"].append(note)
                bench.log("skipped " + note)
                continue
            data = make_data(n, dtype, settings.seed)
            for case in cases:
                cell = run_cell(bench, case, dtype, n, data)
                results["cells"].append(cell)
                bench.log(f"{dtype} n={n:>9} {case.name:<26} {cell['engine']:<7}"
                          f" sx {_fmt_time(cell['times'].get('sx', {}).get('min')):>10}"
                          f" sx CL {_fmt_time(cell['times'].get('sx_cl', {}).get('min')):>10}"
                          f"  ×numpy {_fmt_x(cell['speedup'].get('numpy'))}"
                          f"  ×numexpr {_fmt_x(cell['speedup'].get('numexpr'))}"
                          f"  {'ok' if cell['checks'].get('sx', {}).get('ok') else 'CHECK FAILED'}")
            del data
    out_n = settings.out_size
    by_key = {(c["program"], c["dtype"], c["n"]): c for c in results["cells"]}
    for dtype in settings.dtypes:
        bench.copy_cache.clear()
        data = make_data(out_n, dtype, settings.seed)
        for case in cases:
            if case.kind != "memory":
                continue
            o = run_out(bench, case, dtype, out_n, data, by_key.get((case.name, dtype, out_n)))
            results["out_runs"].append(o)
            bench.log(f"out= {dtype} n={out_n} {case.name:<26} "
                      + (f"{o.get('copy_fraction') or 0:.0%} of copy, sx CL {o.get('copy_fraction_cl') or 0:.0%}"
                         if o.get("supported") else "unsupported"))
        del data
    bench.copy_cache.clear()
    for case in cases:
        if case.name in ("a + b", "a*b + c", CASES[-1].name):
            results["overhead"].append(run_overhead(bench, case))
    bench.log("compile times")
    results["compile"] = run_compile(bench)
    results["warnings"] = bench.warnings
    results["failed_checks"] = [f"{c['program']} {c['dtype']} n={c['n']}" for c in results["cells"] + results["overhead"]
                                if not _sx_checks_ok(c)]
    results["failed_checks"] += [f"{o['program']} {o['dtype']} n={o['n']} out=" for o in results["out_runs"]
                                 if o.get("supported") and not (o["check"]["ok"] and o.get("check_cl", {"ok": True})["ok"])]
    results["all_checks_ok"] = not results["failed_checks"]
    results["targets"] = evaluate_targets(results)
    results["elapsed_seconds"] = time.perf_counter() - started
    return results


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"not JSON: {type(obj).__name__}")


def write(results: dict, directory: Path, stem: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    js, md = directory / f"{stem}.json", directory / f"{stem}.md"
    js.write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    md.write_text(render_markdown(results))
    return js, md


README_MARKER = "<!-- summary: replaced by the latest full run -->"


def update_readme(path: Path, results: dict) -> None:
    """Replace what follows the marker line in `path` by this run's summary."""
    text = path.read_text()
    if README_MARKER not in text:
        raise SystemExit(f"{path} has no line {README_MARKER!r} to put the summary after")
    head = text.split(README_MARKER, 1)[0]
    path.write_text(head + README_MARKER + "\n" + render_summary(results))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="symexpr bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true",
                   help="CI mode: sizes 1e1, 1e3, 1e5; float32; 2 repeats; well under a minute")
    p.add_argument("--large", action="store_true", help=f"also n = {LARGE_SIZE:.0e} (about 2.5 GB of memory)")
    p.add_argument("--sizes", help="comma-separated sizes, instead of the mode's")
    p.add_argument("--dtypes", help="comma-separated dtypes (float32,float64)")
    p.add_argument("--programs", help="comma-separated program names (see the Programs table)")
    p.add_argument("--repeats", type=int, help="timed repeats per cell after warm-up")
    p.add_argument("--out", "--output", dest="output", metavar="DIR",
                   help="write the results (JSON and markdown) into DIR; without it nothing is written")
    p.add_argument("--name", help="file stem of the results (default: 'short' or 'full')")
    p.add_argument("--readme", metavar="PATH",
                   help=f"also put the summary into PATH, after the line `{README_MARKER}`")
    p.add_argument("--from-json", metavar="PATH",
                   help="run nothing: render the markdown (and --readme) again from a results JSON")
    p.add_argument("--no-write", action="store_true", help="write nothing, even with --out")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    if args.short:
        s = Settings(mode="short", sizes=SHORT_SIZES, dtypes=("float32",), repeats=2, repeats_large=2,
                     target=0.001, out_size=SHORT_SIZES[-1], compile_tries=1)
    else:
        s = Settings(sizes=FULL_SIZES + ((LARGE_SIZE,) if args.large else ()))
    if args.sizes:
        s.sizes = tuple(int(float(x)) for x in args.sizes.split(","))
        s.out_size = max(s.sizes) if max(s.sizes) < OUT_SIZE else OUT_SIZE
    if args.dtypes:
        s.dtypes = tuple(args.dtypes.split(","))
    if args.programs:
        s.programs = tuple(x.strip() for x in args.programs.split(","))
        unknown = set(s.programs) - {c.name for c in CASES}
        if unknown:
            raise SystemExit(f"unknown programs {sorted(unknown)}; the programs are: "
                             + "; ".join(c.name for c in CASES))
    if args.repeats:
        s.repeats = s.repeats_large = args.repeats
    s.quiet = args.quiet
    return s


def main(argv=None) -> int:
    """`symexpr bench`: run, write JSON and markdown; exit 1 if a symexpr result disagreed with NumPy."""
    args = parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        results["targets"] = evaluate_targets(results)
    else:
        results = run(settings_from(args))
    # The tables go to standard output; files only where --out and --readme say.
    print(render_markdown(results))
    if args.output and not args.no_write:
        js, md = write(results, Path(args.output), args.name or results["mode"])
        if not args.quiet:
            print(f"wrote {js} and {md}", file=sys.stderr)
    if args.readme and not args.no_write:
        update_readme(Path(args.readme), results)
    if not results["all_checks_ok"]:
        print("symexpr disagreed with NumPy: " + "; ".join(results["failed_checks"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

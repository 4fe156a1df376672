"""Shared tools of the conformance suite: running a program on a backend and comparing with NumPy.

`assert_same` is the one comparison every test uses: same dtype, same shape, same NaN
positions, same signed zeros, and values bit for bit (ulps=0) or within `ulps` units in
the last place. `ulps_for(op, backend)` is the allowance the OpenCL spec gives a
transcendental function; everything else must be exact on every backend.
"""
from __future__ import annotations

import functools
import threading
import warnings

import numpy as np

import symexpr as sx

# Allowances in units in the last place for functions whose OpenCL implementation the
# OpenCL C spec (section 7.4, full profile) lets be inexact. NumPy is not correctly rounded
# either, so the allowance is measured against NumPy's own result. Everything not listed here
# (+ - * / // %, comparisons, sqrt, abs, floor, ceil, trunc, rint, sign, minimum, maximum,
# where, clip, casts, bitwise and logical ops) must be bit-exact on every backend.
OPENCL_ULPS = {
    "sin": 4, "cos": 4, "tan": 5,
    "exp": 4, "exp2": 4, "expm1": 4,
    "log": 4, "log2": 4, "log10": 4, "log1p": 4,
    "arcsin": 4, "arccos": 4, "arctan": 5, "arctan2": 6,
    "sinh": 4, "cosh": 4, "tanh": 5, "arcsinh": 4, "arccosh": 4, "arctanh": 5,
    "power": 16, "cbrt": 2, "hypot": 4, "sigmoid": 8, "angle": 6,
}
TRANSCENDENTAL = frozenset(OPENCL_ULPS)


def ulps_for(op: str, backend: str, dtype=None) -> int:
    """The allowance for `op` on `backend`; 0 (exact) on the NumPy engine and for non-floats."""
    if backend == "numpy":
        return 0
    if dtype is not None and np.dtype(dtype).kind != "f":
        return 0
    return OPENCL_ULPS.get(op, 0)


@functools.lru_cache(maxsize=None)
def program(src: str, backend: str, outputs=None, optimize: bool = True) -> sx.Program:
    """One compiled Program per (source, backend): the OpenCL engine then builds each signature once."""
    return sx.compile(src, backend=backend, outputs=outputs, optimize=optimize)


def run(backend: str, src: str, *args, **kwargs):
    """Compile `src` on `backend` and call it."""
    return program(src, backend)(*args, **kwargs)


def numpy_quiet(fn, *args):
    """`fn(*args)` with NumPy's floating-point warnings silenced, as symexpr's engines run it."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _ordered(bits: np.ndarray, nbits: int) -> np.ndarray:
    """Float bit patterns as integers in the order of the floats, so ulps are differences."""
    ints = bits.view({16: np.int16, 32: np.int32, 64: np.int64}[nbits]).astype(np.int64)
    magnitude = ints & np.int64((1 << (nbits - 1)) - 1)
    return np.where(ints < 0, -magnitude, ints)


def ulp_distance(result: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """How many representable floats lie between result and expected (as float64, non-NaN inputs)."""
    nbits = result.dtype.itemsize * 8
    a = _ordered(np.ascontiguousarray(result), nbits)
    b = _ordered(np.ascontiguousarray(expected), nbits)
    # Same sign: the int64 difference is exact (float64 would round it to a multiple of 512).
    # Opposite signs: far apart anyway, and the int64 difference could overflow.
    with np.errstate(over="ignore"):
        same = np.abs(a - b).astype(np.float64)
    apart = np.abs(a).astype(np.float64) + np.abs(b).astype(np.float64)
    return np.where((a < 0) == (b < 0), same, apart)


def assert_same(result, expected, ulps: int = 0, *, context: str = "") -> None:
    """Same dtype, shape, NaN positions and signed zeros; values bitwise (ulps=0) or within `ulps`."""
    where = f" ({context})" if context else ""
    assert isinstance(result, (np.ndarray, np.generic)), \
        f"result is a {type(result).__name__}, not a NumPy array or scalar{where}"
    r = np.asarray(result)
    e = np.asarray(expected)
    assert r.dtype == e.dtype, f"dtype {r.dtype}, NumPy gives {e.dtype}{where}"
    assert r.shape == e.shape, f"shape {r.shape}, NumPy gives {e.shape}{where}"
    if r.dtype.kind == "c":  # each part as a float (a NaN part where NumPy has one)
        assert_same(r.real, e.real, ulps, context=f"{context}, real part")
        assert_same(r.imag, e.imag, ulps, context=f"{context}, imaginary part")
        return
    if r.dtype.kind != "f":
        bad = r != e
        assert not bad.any(), _mismatch(r, e, bad, where)
        return
    r_nan, e_nan = np.isnan(r), np.isnan(e)
    bad = r_nan != e_nan
    assert not bad.any(), "NaN positions differ: " + _mismatch(r, e, bad, where)
    ok = ~e_nan
    if ulps == 0:
        bits = r.dtype.itemsize * 8
        kind = {16: np.uint16, 32: np.uint32, 64: np.uint64}[bits]
        bad = ok & (np.ascontiguousarray(r).view(kind) != np.ascontiguousarray(e).view(kind))
        assert not bad.any(), "not bit-identical: " + _mismatch(r, e, bad, where)
        return
    zeros = ok & (r == 0) & (e == 0)
    bad = zeros & (np.signbit(r) != np.signbit(e))
    assert not bad.any(), "signed zeros differ: " + _mismatch(r, e, bad, where)
    dist = np.where(ok, ulp_distance(np.where(ok, r, 0), np.where(ok, e, 0)), 0)
    bad = dist > ulps
    assert not bad.any(), f"more than {ulps} ulps apart (max {dist.max():.0f}): " + _mismatch(r, e, bad, where)


def _mismatch(r, e, bad, where) -> str:
    idx = np.argwhere(np.atleast_1d(bad))[:5]
    rr, ee = np.atleast_1d(r), np.atleast_1d(e)
    rows = ", ".join(f"[{','.join(map(str, i))}] got {rr[tuple(i)]!r} expected {ee[tuple(i)]!r}" for i in idx)
    return f"{int(np.sum(bad))} of {e.size} elements differ{where}: {rows}"


# Edge values every op is tried on, per dtype.
def edge_values(dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.array([False, True])
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        vals = [0, 1, 2, 3, 7, 100, 12345, info.max, info.max - 1]
        if dtype.kind == "i":
            vals += [-1, -2, -3, -7, -100, -12345, info.min, info.min + 1]
        return np.array([v for v in vals if info.min <= v <= info.max], dtype)
    info = np.finfo(dtype)
    values = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.0, -3.0, 7.0, -7.0,
              0.1, 100.0, -100.0, 1e-30 if dtype == np.float32 else 1e-300, -1e10, 1e10,
              float(info.max), float(-info.max), float(info.tiny), float(info.smallest_subnormal),
              -float(info.smallest_subnormal), np.pi, -np.e, 88.5, -745.0,
              np.inf, -np.inf, np.nan]
    if dtype == np.float16:  # (1e10 is inf, 1e-300 zero) and the extremes of its own range
        values += [65504.0, 65520.0, 2049.0, 0.00006103515625, 1.0009765625]
    with np.errstate(over="ignore"):
        return np.array(values, dtype)


def pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (x, y) combination, as two flat arrays of equal length."""
    xx, yy = np.meshgrid(x, y, indexing="ij")
    return xx.ravel(), yy.ravel()


def errors_in_threads(work, count: int) -> list[BaseException]:
    """Run work(0) ... work(count - 1) in `count` threads at once; what they raised, in no order."""
    errors: list[BaseException] = []

    def guarded(k):
        try:
            work(k)
        except Exception as err:  # noqa: BLE001 - returned to the test, which asserts on it
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors

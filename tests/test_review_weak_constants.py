"""Weak Python constants beside arrays of every dtype, through the NumPy engine's three paths.

The straight-line path (a signature's second call) passes a weak constant as the NumPy scalar of the
array's dtype where that holds it exactly (backends/numpy.py `_strong_constant`); the general path
(`NumpyEngine.run`, the first call) and `optimize=False` leave it a Python scalar. All three must give
NumPy's own answer (NEP 50), bit for bit, and warn or raise exactly where NumPy's would not: never.
"""
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symexpr as sx

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"]
# Literals as the program spells them, and the Python value NumPy is given.
CONSTANTS = {
    "0": 0, "-1": -1, "3": 3, "127": 127, "128": 128, "255": 255, "256": 256, "-129": -129,
    "2049": 2049, "65504": 65504, "65520": 65520, "100000": 100000, "16777217": 16777217,
    "9007199254740993": 9007199254740993, "9223372036854775807": 9223372036854775807,
    "-9223372036854775807": -9223372036854775807,
    "0.0": 0.0, "-0.0": -0.0, "0.1": 0.1, "1.5": 1.5, "6e-8": 6e-8, "1e-40": 1e-40, "5e-324": 5e-324,
    "3.4028235e38": 3.4028235e38, "3.4028236e38": 3.4028236e38, "1e300": 1e300,
    "inf": float("inf"), "-inf": float("-inf"), "nan": float("nan"), "True": True,
}
# Each with the constant on either side where the op is not symmetric.
OPS = {
    "add": ("x + {c}", lambda x, c: x + c), "radd": ("{c} + x", lambda x, c: c + x),
    "sub": ("x - {c}", lambda x, c: x - c), "rsub": ("{c} - x", lambda x, c: c - x),
    "mul": ("x * {c}", lambda x, c: x * c), "div": ("x / {c}", lambda x, c: x / c),
    "rdiv": ("{c} / x", lambda x, c: c / x),
    "min": ("minimum(x, {c})", np.minimum), "max": ("maximum({c}, x)", lambda x, c: np.maximum(c, x)),
    "lt": ("x < {c}", lambda x, c: x < c), "ge": ("{c} >= x", lambda x, c: c >= x),
    "gt": ("x > {c}", lambda x, c: x > c), "le": ("x <= {c}", lambda x, c: x <= c),
    "eq": ("x == {c}", lambda x, c: x == c), "ne": ("x != {c}", lambda x, c: x != c),
}


def data(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            return np.array([0, -0.0, 1, -1, 0.5, np.inf, -np.inf, np.nan, 3, 6e-8, 65504, 2**24 + 1], dtype)
    info = np.iinfo(dtype)
    return np.array([0, 1, 2, 3, 7, info.max, info.min, info.max - 1], dtype)


def same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert (got.dtype, got.shape) == (want.dtype, want.shape)
    assert got.tobytes() == want.tobytes(), (got, want)


def numpy_answer(fn, x, c):
    """NumPy's result, or None where NumPy refuses (then symexpr must refuse with its own error)."""
    with np.errstate(all="ignore"):
        try:
            return fn(x, c)
        except (OverflowError, TypeError):
            return None


def check(dtype, literal, value, ops=OPS):
    x = data(dtype)
    names = list(ops)
    src = "\n".join(f"y_{name} = {ops[name][0].format(c='(' + literal + ')')}" for name in names)
    want = [numpy_answer(ops[name][1], x, value) for name in names]
    if any(w is None for w in want):  # some op NumPy refuses: each alone, so the others are still checked
        if len(names) > 1:
            for name in names:
                check(dtype, literal, value, {name: ops[name]})
            return
        with pytest.raises(sx.SymExprError):
            sx.compile(src, backend="numpy")(x)
        return
    fast = sx.compile(src, backend="numpy")
    plain = sx.compile(src, backend="numpy", optimize=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing NumPy itself would not say (it says nothing here)
        for run in (fast, fast, fast, plain):  # first call: the general path; then the straight line
            got = run(x)
            got = got if isinstance(got, tuple) else (got,)
            for name, g, w in zip(names, got, want):
                same_bits(g, w)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_weak_constant_beside_every_dtype_is_numpys(dtype):
    for literal, value in CONSTANTS.items():
        check(dtype, literal, value)


@pytest.mark.parametrize("dtype", ["int8", "uint64", "float16", "float32", "float64"])
def test_weak_complex_constants_are_numpys(dtype):
    # (complex has the arithmetic and == / != so far; never made a NumPy scalar of a real dtype)
    for literal in ("2j", "1.5+0j", "-0.0-0.0j", "-inf*1j"):
        check(dtype, literal, eval(literal, {"inf": float("inf")}), {k: OPS[k] for k in ("add", "rsub", "mul", "div", "eq", "ne")})


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(["float16", "float32", "float64"]),
       st.one_of(st.floats(allow_nan=False, width=64), st.integers(-2**63 + 1, 2**63 - 1)))
def test_random_weak_constants_beside_floats_are_numpys(dtype, value):
    check(dtype, repr(value), value, {k: OPS[k] for k in ("rsub", "div", "max", "lt", "eq")})


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(["int8", "uint8", "int32", "uint32", "int64", "uint64"]),
       st.integers(-2**63 + 1, 2**63 - 1))
def test_random_weak_ints_beside_ints_are_numpys(dtype, value):
    check(dtype, str(value), value, {k: OPS[k] for k in ("add", "rsub", "rdiv", "min", "gt", "ne")})


def test_one_constant_shared_by_statements_of_five_dtypes():
    # `100` and `2.5` are one node each (de-duplicated), passed as int8, float16, uint64, float32 and
    # float64 scalars by the statements that read them: each its own NumPy scalar, and NumPy's bits.
    src = ("p = i8 + 100\nq = f16 * 100\nr = u64 - 100\ns = f32 < 100\nt = i8 * 2.5\nu = f16 + 2.5\n"
           "v = maximum(f64, 100) + 2.5")
    values = dict(i8=np.array([1, -128, 127], np.int8), f16=np.array([1, 655, -0.0], np.float16),
                  u64=np.array([100, 2**64 - 1, 0], np.uint64), f32=np.array([99.99, 100, np.nan], np.float32),
                  f64=np.array([1e300, -np.inf, 100.5]))
    v = values
    with np.errstate(all="ignore"):
        want = [v["i8"] + 100, v["f16"] * 100, v["u64"] - 100, v["f32"] < 100, v["i8"] * 2.5, v["f16"] + 2.5,
                np.maximum(v["f64"], 100) + 2.5]
    prog = sx.compile(src, backend="numpy")
    for _ in range(3):
        for got, ref in zip(prog(**values), want):
            same_bits(got, ref)
    source = prog._engine.signature(values).python_source
    chars = {np.dtype(t).char for t in ("int8", "float16", "uint64", "float32", "float64")}
    assert chars <= {m[-1] for m in re.findall(r"\bs\d+_\w\b", source)}, source

"""Random exact programs on both engines, with edge values in every dtype, compared bit for bit.

Every operation here is exact (README: "exact operations give NumPy's bits"), so the OpenCL
engine must give the NumPy engine's bytes: NaN sign and payload, signed zeros, infinities,
integer wrap-around, casts beyond range. A short run is part of the suite; a long one:

    python -m pytest tests/test_fuzz_exact.py --fuzz-long          # 2,000 programs
    SYMEXPR_FUZZ_PROGRAMS=20000 SYMEXPR_FUZZ_SEED=7 python -m pytest tests/test_fuzz_exact.py

A failure names the seed and index of the program, its source and the inputs that differ.
"""
from __future__ import annotations

import os
import random
import warnings

import numpy as np
import pytest

import symexpr as sx

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64")


def _nan(dtype, bits):
    return np.array([bits], "uint32" if dtype == "float32" else "uint64").view(dtype)[0]


def edge_values(dtype: str) -> np.ndarray:
    """The values where engines disagree if they disagree at all."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array([False, True])
    if dt.kind in "iu":
        info = np.iinfo(dt)
        vals = {0, 1, 2, 3, 7, info.max, info.max - 1, info.max // 2 + 1}
        if dt.kind == "i":
            vals |= {-1, -2, -7, info.min, info.min + 1}
        return np.array(sorted(vals), dt)
    info = np.finfo(dt)
    payload = 0x7FC00123 if dtype == "float32" else 0x7FF8000000000123
    vals = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 300.5, -1e10, 2.0 ** 63, info.max, -info.max,
            info.smallest_subnormal, -info.tiny, np.inf, -np.inf]
    return np.concatenate([np.array(vals, dt), [_nan(dt, payload), _nan(dt, payload | (1 << (dt.itemsize * 8 - 1))),
                                                np.array(np.nan, dt), -np.array(np.nan, dt)]])


LITERALS = ("0", "1", "2", "-1", "3", "0.5", "-0.0", "0.0", "2.5", "inf", "-inf", "nan", "1e308 * 10", "255",
            "-128", "True", "False", "300.5")
BINARY = ("+", "-", "*", "/", "//", "%", "&", "|", "^", "<", "<=", ">", ">=", "==", "!=", "and", "or")
UNARY = ("-{}", "abs({})", "sign({})", "floor({})", "ceil({})", "trunc({})", "rint({})", "square({})",
         "sqrt({})", "relu({})", "isnan({})", "isinf({})", "isfinite({})", "not {}", "~{}", "({}) ** 2",
         "({}) ** 0.5", "({}) ** -1", "({}) ** 1", "({}) ** 0")  # (x ** 3 is pow: within ulps)
CASTS = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")
NARY = ("minimum({}, {})", "maximum({}, {})", "where({}, {}, {})", "clip({}, {}, {})")


def random_expression(rng: random.Random, names: list[str], depth: int) -> str:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(names) if rng.random() < 0.75 else f"({rng.choice(LITERALS)})"
    kind = rng.random()
    sub = lambda: random_expression(rng, names, depth - 1)  # noqa: E731
    if kind < 0.45:
        return f"({sub()} {rng.choice(BINARY)} {sub()})"
    if kind < 0.7:
        return "(" + rng.choice(UNARY).format(sub()) + ")"
    if kind < 0.82:
        return f"{rng.choice(CASTS)}({sub()})"
    form = rng.choice(NARY)
    return form.format(*(sub() for _ in range(form.count("{}"))))


def random_case(rng: random.Random):
    """A program of one to three statements over up to three inputs, and its inputs."""
    names = ["a", "b", "c"][: rng.randint(1, 3)]
    lines, readable = [], list(names)
    for k in range(rng.randint(1, 3)):
        target = f"t{k}"
        lines.append(f"{target} = {random_expression(rng, readable, rng.randint(1, 3))}")
        readable.append(target)
    n = rng.choice((1, 5, 13, 67, 130))  # the scalar path, a vector path with and without a tail
    values = {}
    for name in names:
        dtype = rng.choice(DTYPES)
        edges = edge_values(dtype)
        shape_kind = rng.random()
        if shape_kind < 0.1:
            values[name] = edges[rng.randrange(len(edges))]  # a NumPy scalar
        elif shape_kind < 0.15:
            values[name] = rng.choice((0, 1, -1, 2.5, -0.0, float("nan"), float("inf"), True))  # weak
        else:
            values[name] = edges[np.array([rng.randrange(len(edges)) for _ in range(n)])]
    return "\n".join(lines), values


def _outcome(prog, values):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = prog(**values)
        except sx.SymExprError as err:
            return type(err)
    return tuple(np.asarray(r) for r in (out if isinstance(out, tuple) else (out,)))


def _same(x, y) -> bool:
    if isinstance(x, type) or isinstance(y, type):
        return x is y
    return len(x) == len(y) and all(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
                                    for a, b in zip(x, y))


def same_bits(reference, program, values) -> bool:
    """Whether `program` gives `reference`'s results (or error class) bit for bit.

    One allowance, NumPy's own: where both operands of + - * / are NaNs of different bits, NumPy's
    SIMD loops return the first one's in the body of an array and the second one's in some tails
    (float32 a + b, 63 elements: the last 15). Where the results differ only in which NaN, the
    element is compared with NumPy's result for that element alone (the first operand's NaN, as x86).
    """
    expected, got = _outcome(reference, values), _outcome(program, values)
    if _same(expected, got):
        return True
    if isinstance(expected, type) or isinstance(got, type) or len(expected) != len(got):
        return False
    for e, g in zip(expected, got):
        if e.dtype != g.dtype or e.shape != g.shape:
            return False
        if e.tobytes() == g.tobytes():
            continue
        if e.dtype.kind != "f" or e.ndim != 1:
            return False
        u = "uint32" if e.dtype.itemsize == 4 else "uint64"
        for j in np.nonzero(e.view(u) != g.view(u))[0]:
            if not (np.isnan(e[j]) and np.isnan(g[j])):
                return False
            alone = {k: (v[j:j + 1] if isinstance(v, np.ndarray) and v.ndim == 1 else v) for k, v in values.items()}
            single = _outcome(reference, alone)
            if isinstance(single, type) or not any(s.reshape(-1)[:1].tobytes() == g[j:j + 1].tobytes() for s in single):
                return False
    return True


def _programs(request) -> int:
    if os.environ.get("SYMEXPR_FUZZ_PROGRAMS"):
        return int(os.environ["SYMEXPR_FUZZ_PROGRAMS"])
    return 2000 if request.config.getoption("--fuzz-long") else 40


def test_edge_values_cover_every_dtype():
    for dtype in DTYPES:
        vals = edge_values(dtype)
        assert vals.dtype == np.dtype(dtype)
        if vals.dtype.kind == "f":
            bits = {v.tobytes() for v in vals if np.isnan(v)}
            assert len(bits) == 4  # both signs, with and without a payload


def test_random_exact_programs_give_numpy_engine_bits_on_opencl(request):
    seed = int(os.environ.get("SYMEXPR_FUZZ_SEED", "17"))
    rng = random.Random(seed)
    failures = []
    for index in range(_programs(request)):
        src, values = random_case(rng)
        try:
            reference = sx.compile(src, backend="numpy")
        except sx.ParseError:
            continue
        program = sx.compile(src, backend="opencl")
        if not same_bits(reference, program, values):
            failures.append(f"seed {seed} program {index}:\n{src}\ninputs {values!r}\n"
                            f"numpy engine: {_outcome(reference, values)!r}\nopencl engine: {_outcome(program, values)!r}")
            if len(failures) >= 5:
                break
    assert not failures, "\n\n".join(failures)

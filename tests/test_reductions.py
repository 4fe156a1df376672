"""Reductions, matrix products and softmax-style programs, against NumPy, on both engines.

The NumPy engine calls NumPy's own functions: it must give NumPy's results exactly. The OpenCL
engine must give the same results as the NumPy engine: exactly for the order-free reductions
(max, min, argmax, argmin, any, all) and integer sums and products, and for float sums, means and
variances within a few units of rounding of the sum of magnitudes (the summation order differs;
an accuracy test checks that ours is no worse than NumPy's pairwise summation).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import symexpr as sx
from helpers import assert_same, edge_values, program

DTYPES = ["bool", "int8", "int32", "uint64", "float32", "float64"]
AXES = [None, 0, -1, (0, 2), ()]
ORDER_FREE = ("max", "min", "argmax", "argmin", "any", "all")
ROUNDED = ("sum", "prod", "mean", "var", "std", "logsumexp")
SHAPE = (3, 4, 5)


def _quiet(fn, *args, **kw):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def data(dtype, edges: bool, seed=0) -> np.ndarray:
    """3-d test data: edge values (NaN, inf, -0.0, extremes) for the order-free reductions; for
    sums, moderate values with NaN and inf sprinkled in (extremes would overflow in an order
    that depends on the summation)."""
    rng = np.random.default_rng(seed)
    n = math.prod(SHAPE)
    dtype = np.dtype(dtype)
    if edges:
        vals = edge_values(dtype)
        return rng.choice(vals, n).astype(dtype).reshape(SHAPE)
    if dtype.kind == "b":
        return rng.random(n).reshape(SHAPE) > 0.5
    if dtype.kind in "iu":
        return rng.integers(0 if dtype.kind == "u" else -5, 6, n).astype(dtype).reshape(SHAPE)
    x = rng.normal(0, 3, n).astype(dtype)
    x[[7, 23]] = np.nan
    x[41] = np.inf
    x[50] = -0.0
    return x.reshape(SHAPE)


def reference(op: str, x, axis, keepdims):
    if op == "logsumexp":
        from symexpr.ops import OPS
        return _quiet(OPS["logsumexp"].numpy, x, axis=axis, keepdims=keepdims)
    return _quiet(getattr(np, op), x, axis=axis, keepdims=keepdims)


def valid_ops(ops, dtype, axis):
    """The reductions NumPy takes for this dtype and axis (argmax takes one axis; exp of a bool is float16)."""
    out = []
    for op in ops:
        if op in ("argmax", "argmin") and isinstance(axis, tuple):
            continue
        try:
            r = reference(op, data(dtype, False), axis, False)
        except (TypeError, ValueError):
            continue
        if np.asarray(r).dtype in sx.ops.SUPPORTED_DTYPES:
            out.append(op)
    return out


def source(ops, axis, keepdims) -> str:
    kw = f"axis={axis!r}, keepdims={keepdims}"
    return "\n".join(f"r_{op} = {op}(x, {kw})" for op in ops)


def check(result, expected, op, x, backend, context):
    expected = np.asarray(expected)[()] if np.ndim(expected) == 0 else expected
    if backend == "numpy" or op in ORDER_FREE or expected.dtype.kind != "f" and op in ("sum", "prod"):
        if op in ("max", "min") and backend == "opencl" and np.asarray(expected).dtype.kind == "f":
            # NumPy's SIMD maximum returns whichever of +0.0 and -0.0 comes last; the value is the same.
            r, e = np.asarray(result), np.asarray(expected)
            zero = (r == 0) & (e == 0)
            result, expected = np.where(zero, 0.0, r).astype(r.dtype), np.where(zero, 0.0, e).astype(e.dtype)
            result = result[()] if result.ndim == 0 else result
            expected = expected[()] if expected.ndim == 0 else expected
        assert_same(result, expected, context=context)
        return
    r, e = np.asarray(result), np.asarray(expected)
    assert r.dtype == e.dtype and r.shape == e.shape, context
    assert np.array_equal(np.isnan(r), np.isnan(e)), context
    eps = np.finfo(e.dtype).eps
    finite = np.asarray(x, np.float64)[np.isfinite(np.asarray(x, np.float64))]
    scale = _quiet(np.sum, np.abs(finite))
    ok = ~np.isnan(e)
    tol = 16 * eps * (np.abs(np.where(np.isfinite(e), e, 0)) + (scale if op in ("sum", "mean", "var", "std") else 0) + 1)
    tol = np.broadcast_to(tol, e.shape)[ok]
    with np.errstate(invalid="ignore"):
        assert np.all((np.abs(r[ok] - e[ok]) <= tol) | (r[ok] == e[ok])), f"{context}: {r} vs {e}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", AXES, ids=repr)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(backend, dtype, axis, keepdims):
    for edges, ops in ((True, ORDER_FREE), (False, ROUNDED + ORDER_FREE)):
        ops = valid_ops(ops, dtype, axis)
        x = data(dtype, edges)
        results = program(source(ops, axis, keepdims), backend)(x=x)
        results = results if len(ops) > 1 else (results,)
        for op, r in zip(ops, results):
            check(r, reference(op, x, axis, keepdims), op, x, backend,
                  f"{op}(x, axis={axis!r}, keepdims={keepdims}) of {dtype}, edge values {edges}")


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_ddof_and_strided_and_broadcast_inputs(backend, dtype):
    x = data(dtype, False, seed=3)[:, ::2, ::-1]               # strided, reversed
    y = np.broadcast_to(np.arange(5, dtype=dtype), (3, 2, 5))  # broadcast
    prog = program("v = var(x, axis=1, ddof=1)\ns = std(x + y, axis=(0, 1), ddof=2)\nm = max(x * y, axis=2)", backend)
    v, s, m = prog(x=x, y=y)
    expected = _quiet(lambda: (np.var(x, axis=1, ddof=1), np.std(x + y, axis=(0, 1), ddof=2), np.max(x * y, axis=2)))
    for got, exp, op in zip((v, s, m), expected, ("var", "std", "max")):
        check(got, exp, op, x, backend, op)


def test_empty_and_length_one_axes(backend):
    x = np.zeros((2, 0, 3), np.float32)
    prog = program("s = sum(x, axis=1)\np = prod(x, axis=1)\na = any(x, axis=1)\nl = all(x, axis=1)\nm = mean(x, axis=1)", backend)
    for got, exp in zip(prog(x=x), (np.sum(x, 1), np.prod(x, 1), np.any(x, 1), np.all(x, 1), _quiet(np.mean, x, 1))):
        assert_same(got, exp)
    one = np.arange(6, dtype=np.float64).reshape(2, 1, 3) - 2.5
    prog = program("m = max(x, axis=1)\ni = argmin(x, axis=1)\ns = sum(x, axis=1, keepdims=True)", backend)
    for got, exp in zip(prog(x=one), (np.max(one, 1), np.argmin(one, 1), np.sum(one, 1, keepdims=True))):
        assert_same(got, exp)
    assert_same(program("s = sum(x)", backend)(x=np.zeros(0, np.int32)), np.sum(np.zeros(0, np.int32)))


@pytest.mark.parametrize("op", ["max", "min", "argmax", "argmin"])
def test_a_reduction_of_nothing_is_an_evaluation_error_naming_the_line(backend, op):
    prog = program(f"y = x * 2\nr = {op}(y, axis=1)", backend)
    with pytest.raises(sx.EvaluationError) as info:
        prog(x=np.zeros((3, 0)))
    assert info.value.line == 2 and "line 2" in str(info.value)


def test_float_sums_are_at_least_as_accurate_as_numpy():
    # A large value, then many small ones: naive float32 summation loses all of them.
    x = np.full(1_000_003, 1.0, np.float32)
    x[0] = 1e8
    x[-1] = -1e8
    exact = math.fsum(x.astype(np.float64))
    err_numpy = abs(float(np.sum(x)) - exact)
    for backend in ("opencl",):
        for axis in (None, 0):
            got = float(program(f"s = sum(x, axis={axis})", backend)(x=x))
            assert abs(got - exact) <= max(err_numpy, 2 * np.finfo(np.float32).eps * abs(exact)), (axis, got, exact)
    rows = np.tile(x[:4099], (3, 1))
    exact_rows = [math.fsum(r.astype(np.float64)) for r in rows]
    got = program("s = sum(x, axis=1)", "opencl")(x=rows)
    numpy_rows = np.sum(rows, axis=1)
    for g, n, e in zip(got, numpy_rows, exact_rows):
        assert abs(float(g) - e) <= max(abs(float(n) - e), 2 * np.finfo(np.float32).eps * abs(e))


# -- matrix products and transposes -----------------------------------------------------------------

MATMUL_SHAPES = [((4, 3), (3, 5)), ((3,), (3, 5)), ((4, 3), (3,)), ((3,), (3,)), ((2, 1, 4, 3), (5, 3, 2)),
                 ((2, 4, 3), (3, 2))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_matmul_matches_numpy(backend, shapes, dtype):
    rng = np.random.default_rng(1)
    a = (rng.normal(size=shapes[0]) * 4).astype(dtype)
    b = (rng.normal(size=shapes[1]) * 4).astype(dtype)
    got = program("c = a @ b", backend)(a=a, b=b)
    assert_same(got, np.matmul(a, b))
    got = program("c = relu(matmul(a, b) + 1)", backend)(a=a, b=b)
    assert_same(got, np.maximum(np.matmul(a, b) + 1, 0))


def test_transpose(backend):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    prog = program("t = transpose(x)\nu = transpose(x, (1, 0, 2)) * 2\nv = sum(transpose(x, axes=(2, 0, 1)), axis=0)", backend)
    t, u, v = prog(x=x)
    assert_same(t, np.transpose(x).copy())
    assert_same(u, np.transpose(x, (1, 0, 2)) * 2)
    assert_same(v, np.sum(np.transpose(x, (2, 0, 1)), axis=0))


def test_the_dense_layer_and_an_mlp(backend):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 20)).astype(np.float32)
    w1, b1 = rng.normal(size=(20, 16)).astype(np.float32), rng.normal(size=16).astype(np.float32)
    w2, b2 = rng.normal(size=(16, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    prog = program("h = relu(x @ w1 + b1)\np = softmax(h @ w2 + b2)", backend)
    got = prog(x=x, w1=w1, b1=b1, w2=w2, b2=b2)
    h = np.maximum(x @ w1 + b1, 0)
    z = h @ w2 + b2
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(-1, keepdims=True), rtol=2e-6, atol=1e-7)


# -- softmax-style programs ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_log_softmax_logsumexp(backend, dtype):
    x = np.random.default_rng(4).normal(0, 30, (5, 7)).astype(dtype)
    x[1, 2] = np.inf
    x[2, :] = -np.inf
    x[3, 3] = np.nan
    prog = program("s = softmax(x)\nl = log_softmax(x, axis=0)\ne = logsumexp(x, axis=1)\nf = logsumexp(x)", backend)
    from symexpr.ops import OPS
    expected = [_quiet(OPS["softmax"].numpy, x), _quiet(OPS["log_softmax"].numpy, x, axis=0),
                _quiet(OPS["logsumexp"].numpy, x, axis=1), _quiet(OPS["logsumexp"].numpy, x)]
    for got, exp in zip(prog(x=x), expected):
        got, exp = np.asarray(got), np.asarray(exp)
        assert got.dtype == exp.dtype and got.shape == exp.shape
        np.testing.assert_allclose(got, exp, rtol=8 * np.finfo(dtype).eps, atol=8 * np.finfo(dtype).eps)
    # Against an independent formula on finite data.
    y = np.random.default_rng(5).normal(0, 30, (4, 6)).astype(dtype)
    s = program("s = softmax(y)", backend)(y=y)
    np.testing.assert_allclose(s, np.exp(y - np.log(np.sum(np.exp(y.astype(np.float64) - y.max(-1, keepdims=True)),
                                                               -1, keepdims=True)) - y.max(-1, keepdims=True)),
                               rtol=1e-5 if dtype == "float32" else 1e-12, atol=np.finfo(dtype).tiny)


def test_user_written_softmax_and_zscore(backend):
    x = np.random.default_rng(6).normal(size=(33, 70)).astype(np.float32)
    soft = program("m = max(x, axis=-1, keepdims=True)\ne = exp(x - m)\ny = e / sum(e, axis=-1, keepdims=True)", backend)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(soft(x=x), e / e.sum(-1, keepdims=True), rtol=1e-5)
    z = program("z = (x - mean(x, axis=1, keepdims=True)) / std(x, axis=1, keepdims=True)", backend)(x=x)
    np.testing.assert_allclose(z, (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True), rtol=1e-4, atol=1e-5)
    c = program("c = x - mean(x)", backend)(x=x)
    np.testing.assert_allclose(c, x - x.mean(), rtol=1e-5, atol=1e-6)


# -- the language -------------------------------------------------------------------------------

def test_keywords_by_position_and_defaults_share():
    prog = sx.compile("a = sum(x)\nb = sum(x, axis=None)\nc = sum(x, None, keepdims=False)", backend="numpy")
    assert sum(n.op == "sum" for n in prog.graph.nodes) == 1
    assert "sum(x) is computed already" not in prog.explain()  # (shared by structure, reported by line)


@pytest.mark.parametrize("src,line,column,message", [
    ("c = sum(a, axs=1)", 1, 12, "sum() takes no keyword `axs`"),
    ("c = sum(a, axis=b)", 1, 17, "`axis` is an integer, a tuple of integers or None"),
    ("c = sum(a, keepdims=1)", 1, 21, "`keepdims` is True or False"),
    ("c = sum(a, axis=1, 2)", 1, 20, "an argument by position cannot follow a keyword argument"),
    ("c = sum(a, axis=1, axis=2)", 1, 20, "got `axis` twice"),
    ("c = a + None", 1, 9, "`None` is allowed only as a call's keyword"),
    ("c = (1, 2) * a", 1, 5, "a tuple is allowed only as a call's keyword"),
    ("c = exp(a, axis=1)", 1, 12, "exp() takes no keyword `axis` (it takes no keywords)"),
    ("x = 1\nc = sum(a, 1, 2)", 2, 5, "sum() takes 1 to 2 arguments, got 3"),
])
def test_keyword_errors_point_at_the_keyword(src, line, column, message):
    with pytest.raises(sx.ParseError) as info:
        sx.compile(src)
    err = info.value
    assert message in err.message and (err.line, err.column) == (line, column), str(err)


@pytest.mark.parametrize("src,shapes,message", [
    ("c = sum(a, axis=2)", {"a": (3, 4)}, "axis 2 is out of bounds for array of dimension 2"),
    ("c = mean(a, axis=(0, 0))", {"a": (3, 4)}, "repeated axis"),
    ("c = a @ b", {"a": (3, 4), "b": (3, 4)}, "(4) does not match"),
    ("c = a @ b", {"a": (2, 3, 4), "b": (3, 4, 2)}, "batch axes"),
    ("c = transpose(a, (0,))", {"a": (3, 4)}, "do not match an array of 2 dimensions"),
    ("c = argmax(a, axis=(0, 1))", {"a": (3, 4)}, "one axis"),
])
def test_shape_errors_name_the_shapes_and_point_at_the_call(backend, src, shapes, message):
    prog = program("y = 1\n" + src, backend)
    values = {k: np.ones(s, np.float32) for k, s in shapes.items()}
    with pytest.raises(sx.ShapeError) as info:
        prog(**values)
    err = info.value
    assert message in str(err) and err.line == 2 and err.column == 5, str(err)
    for s in shapes.values():
        assert str(s) in str(err)


def test_reductions_fold_and_share():
    prog = sx.compile("s = sum(a) + sum(a)\nt = max(3 * 2)", backend="numpy")
    assert sum(n.op == "sum" for n in prog.graph.nodes) == 1
    assert [n.op for n in prog.graph.nodes if n.op not in ("input", "constant")] == ["sum", "add"]
    assert prog(a=np.arange(4.0)).t == 6


# -- the kernel plan: fusion rules pinned ---------------------------------------------------------

def kernels(src, **values):
    prog = sx.compile(src, backend="opencl")
    prog(**values)
    runner = prog._engine._staged
    return [s.kind for s in runner.last.plan.steps], prog


@pytest.mark.parametrize("src,shapes,expected", [
    ("s = sum(a * b)", {"a": (1000,), "b": (1000,)}, ["reduce"]),
    ("s = sum(a * b + c)", {"a": (100000,), "b": (100000,), "c": (100000,)}, ["reduce"]),
    ("m = mean(x, axis=1)\nv = var(x, axis=1)", {"x": (64, 100)}, ["reduce"]),
    ("z = (x - mean(x, axis=1, keepdims=True)) / std(x, axis=1, keepdims=True)", {"x": (64, 100)}, ["reduce"]),
    ("m = max(x, axis=-1, keepdims=True)\ne = exp(x - m)\ny = e / sum(e, axis=-1, keepdims=True)", {"x": (64, 100)},
     ["reduce"]),
    ("y = softmax(x)", {"x": (64, 100)}, ["reduce"]),
    ("c = x - mean(x)", {"x": (100, 1000)}, ["reduce", "elementwise"]),
    ("y = relu(x @ w + b)", {"x": (8, 5), "w": (5, 3), "b": (3,)}, ["matmul", "elementwise"]),
    ("y = relu((x * 2) @ w + b)", {"x": (8, 5), "w": (5, 3), "b": (3,)}, ["elementwise", "matmul", "elementwise"]),
])
def test_fusion_rules(src, shapes, expected):
    values = {k: np.random.default_rng(0).random(s).astype(np.float32) for k, s in shapes.items()}
    steps, prog = kernels(src, **values)
    assert steps == expected
    text = prog.explain(**values)
    assert "# kernels" in text
    np_prog = sx.compile(src, backend="numpy")
    for got, exp in zip(np.atleast_1d(prog(**values)), np.atleast_1d(np_prog(**values))):
        np.testing.assert_allclose(got, exp, rtol=1e-4, atol=1e-5)


def test_kernel_source_shows_every_kernel():
    x = np.random.default_rng(0).random((100, 1000)).astype(np.float32)
    steps, prog = kernels("c = x - mean(x)", x=x)
    src = prog.kernel_source
    assert src.count("__kernel void") == len(steps) == 2
    assert "line 1: c = x - mean(x)" in src


# -- hybridize --------------------------------------------------------------------------------------

def test_a_hybridized_network_of_dense_layers(backend):
    rng = np.random.default_rng(7)
    params = [rng.normal(size=s).astype(np.float32) for s in ((20, 16), (16,), (16, 4), (4,))]

    @sx.hybridize(backend=backend)
    def net(x, w1, b1, w2, b2):
        h = sx.relu(x @ w1 + b1)
        z = h @ w2 + b2
        z = z - z.max(axis=1, keepdims=True)
        p = sx.exp(z) / sx.sum(sx.exp(z), axis=1, keepdims=True)
        return p, h.T.mean(axis=1), sx.argmax(p, 1), (h * h).sum()

    x = rng.normal(size=(32, 20)).astype(np.float32)
    imperative = net(x, *params)
    net.hybridize()
    traced = net(x, *params)
    assert "x @ w1" in net.program.source and "max(" in net.program.source
    for got, exp in zip(traced, imperative):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)
    assert_same(traced[2], imperative[2])


@pytest.mark.parametrize("call,hint", [("np.sum(x)", "sx.sum"), ("np.dot(x, x)", "`a @ b`"), ("np.mean(x)", "x.mean")])
def test_numpy_reductions_in_a_traced_function_name_the_sx_spelling(call, hint):
    f = eval(f"lambda x: {call}", {"np": np})
    g = sx.hybridize(f)
    g.hybridize()
    with pytest.raises(sx.SymExprError) as info:
        g(np.ones((3, 3), np.float32))
    assert hint in str(info.value)


# -- generated programs ------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_REDUCE = ["sum", "max", "min", "mean", "any", "prod", "argmax", "std"]
_ELEMENTWISE = ["{} + {}", "{} * {}", "{} - {}", "maximum({}, {})", "where({} > 0, {}, 0.5)"]


@st.composite
def mixed_programs(draw):
    """Element-wise work around reductions over the rows, columns or all of a (6, 9) float64 array."""
    names = ["x", "y"]
    lines = []
    for k in range(draw(st.integers(1, 5))):
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        if draw(st.booleans()):
            op = draw(st.sampled_from(_REDUCE))
            axis = draw(st.sampled_from(["None", "0", "1", "-1"]))
            keep = "True" if axis == "None" or draw(st.booleans()) else "False"
            if axis != "None" and keep == "False":
                keep = "True"  # keep shapes broadcastable against the (6, 9) values
            expr = f"{op}({a}, axis={axis}, keepdims={keep})"
            if op in ("any", "argmax"):
                expr = f"float64({expr})"
        else:
            expr = draw(st.sampled_from(_ELEMENTWISE)).format(a, b, a)
        lines.append(f"t{k} = {expr}")
        names.append(f"t{k}")
    lines.append(f"out = {names[-1]} + x * 0 + y * 0")
    return "\n".join(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(src=mixed_programs(), seed=st.integers(0, 2**16))
def test_generated_programs_agree_on_both_engines_and_unoptimized(src, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(6, 9)), rng.normal(size=(6, 9))
    x[rng.random((6, 9)) < 0.05] = np.nan
    want = program(src, "numpy", outputs="out", optimize=False)(x=x, y=y)
    for backend, optimize in (("numpy", True), ("opencl", True), ("opencl", False)):
        got = program(src, backend, outputs="out", optimize=optimize)(x=x, y=y)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"{backend} optimize={optimize}\n{src}")


def test_arrays_beyond_the_largest_buffer_still_give_the_results():
    prog = sx.compile("s = sum(a * b)\nz = softmax(a, axis=1)", backend="opencl")
    rng = np.random.default_rng(8)
    a, b = rng.random((64, 100)), rng.random((64, 100))
    expected = sx.compile("s = sum(a * b)\nz = softmax(a, axis=1)", backend="numpy")(a=a, b=b)
    prog._engine.info.max_alloc, before = 4096, prog._engine.info.max_alloc
    try:
        got = prog(a=a, b=b)
    finally:
        prog._engine.info.max_alloc = before
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reductions_over_leading_axes_as_vector_lanes(dtype):
    """A last axis of whole vectors kept: each row of the reduction is a vector lane."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(37, 3, 64)).astype(dtype)
    x[5, 1, 7] = np.nan
    x[2, 0, 9] = np.inf
    m = x > 0.5
    src = ("s = sum(x, axis=0)\nmx = max(x, axis=(0, 1))\nmn = min(x * 2, axis=1, keepdims=True)\n"
           "p = prod(x, axis=0)\na = any(m, axis=0)\nl = all(x > -3, axis=0)\n"
           "c = x - mean(x, axis=0)\nv = var(x, axis=(0, 1))\nz = where(m, sum(x, axis=0, keepdims=True), 0.0)\n"
           "r = sum(x, axis=-1)\nq = softmax(x)\nk = any(m, axis=-1)")
    got = program(src, "opencl")(x=x, m=m)
    kernels = program(src, "opencl").kernel_source
    import re
    assert "across rows" in kernels and re.search(r"\d-wide vectors(?! across)", kernels)  # lanes, and along rows
    want = program(src, "numpy")(x=x, m=m)
    for name, g, w in zip(got.names(), got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=64 * np.finfo(dtype).eps, atol=64 * np.finfo(dtype).eps, err_msg=name)


def test_small_steps_run_on_the_host_with_numpy(monkeypatch):
    # With the default limits (the suite turns them off in conftest.py), small steps of a kernel plan
    # are NumPy's calls on the host: the same results as the NumPy engine, and explain() says so.
    from symexpr.backends.opencl import plan

    monkeypatch.setattr(plan, "HOST_ELEMENTS", 1 << 14)
    monkeypatch.setattr(plan, "HOST_ELEMENTS_ACROSS_ROWS", 1 << 17)
    src = "h = relu(x @ w + b)\nm = mean(h, axis=0)\ns = softmax(h, axis=-1)\nt = sum(h * h)"
    rng = np.random.default_rng(5)
    args = dict(x=rng.standard_normal((200, 30)).astype(np.float32), w=rng.standard_normal((30, 8)).astype(np.float32),
                b=rng.standard_normal(8).astype(np.float32))
    prog = sx.compile(src, backend="opencl")
    got = prog(**args)
    expect = sx.compile(src, backend="numpy")(**args)
    for g, e in zip(got, expect):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)
    kernels = prog.explain(**args).split("# kernels")[1]
    assert "on the host with NumPy" in kernels and "matrix product" in kernels
    assert "no kernel: NumPy on the host" in prog.kernel_source

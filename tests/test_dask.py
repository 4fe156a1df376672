"""Programs on Dask arrays (symexpr/dask/): equal to NumPy chunk by chunk, on Dask's threaded scheduler
and on a two-process LocalCluster; reductions combined by dask.array.reduction; clear errors before
any task runs; a worker killed mid-computation."""
import copy
import os
import pickle
import signal
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import symexpr as sx
from symexpr.ops import OPS

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

RNG = np.random.default_rng(15)
CHUNKS = ((7, 20, 13), (5, 30, 2))   # uneven, both axes


def _data(dtype=np.float32, shape=(40, 37)):
    x = (RNG.standard_normal(shape) * 3).astype(dtype)
    if x.dtype.kind == "f":
        special = [k % x.size for k in (3, 50, 77, 300)]
        x.flat[special] = [np.nan, np.inf, -np.inf, -0.0]
    return x


@pytest.fixture(autouse=True)
def threaded():
    with dask.config.set(scheduler="threads"):
        yield


@pytest.fixture(scope="module")
def prog2():
    """Two outputs of one shape: one task per chunk gives both."""
    return sx.compile("c = sin(a) * b + 2.0\nd = where(c > 0, c, -c) / (1 + b)", outputs=["c", "d"])


def _reference2(a, b):
    with np.errstate(all="ignore"):
        c = np.sin(a) * b + 2.0
        return c, np.where(c > 0, c, -c) / (1 + b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_equals_numpy_on_uneven_chunks_with_numpy_array(prog2, dtype):
    a, b = _data(dtype), _data(dtype, (37,))
    res = prog2(a=da.from_array(a, chunks=CHUNKS), b=b)
    assert isinstance(res.c, da.Array) and isinstance(res.d, da.Array)
    assert res.c.chunks == CHUNKS and res.c.dtype == dtype
    c, d = dask.compute(res.c, res.d)
    rc, rd = _reference2(a, b)
    np.testing.assert_array_equal(c, rc)
    np.testing.assert_array_equal(d, rd)
    assert c.dtype == rc.dtype and d.dtype == rd.dtype


def test_two_dask_inputs_with_different_chunks_are_aligned(prog2):
    a, b = _data(), _data()
    A = da.from_array(a, chunks=CHUNKS)
    B = da.from_array(b, chunks=((10, 30), (37,)))
    res = prog2(a=A, b=B)
    np.testing.assert_array_equal(res.c.compute(), _reference2(a, b)[0])
    np.testing.assert_array_equal(res.d.compute(), _reference2(a, b)[1])


def test_weak_scalar_keeps_the_array_dtype_and_a_numpy_scalar_promotes():
    prog = sx.compile("y = a * k + 1")
    a = _data(np.float32)
    A = da.from_array(a, chunks=CHUNKS)
    y = prog(a=A, k=0.1)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.compute(), a * 0.1 + 1)
    y64 = prog(a=A, k=np.float64(0.1))
    assert y64.dtype == np.float64
    np.testing.assert_array_equal(y64.compute(), a * np.float64(0.1) + 1)


def test_broadcasting_a_column_and_ints_and_bools():
    prog = sx.compile("m = (i % 7) * j + 3 > k\nn = i // 3 + j", outputs=["m", "n"])
    i = RNG.integers(-50, 50, (40, 37)).astype(np.int32)
    j = RNG.integers(-5, 5, (40, 1)).astype(np.int64)
    res = prog(i=da.from_array(i, chunks=CHUNKS), j=j, k=4)
    np.testing.assert_array_equal(res.m.compute(), (i % 7) * j + 3 > 4)
    np.testing.assert_array_equal(res.n.compute(), i // 3 + j)
    assert res.n.dtype == np.int64


def test_constants_and_operators_survive_the_stage_source():
    # Each stage is rendered back to symexpr source: strong and weak constants, NaN, -inf, -0.0, the
    # unary and logical operators must come back as the same values and dtypes.
    src = ("c = a * float32(0.1) + (-0.0) - int8(3) * uint8(2) + where(a > 2, nan, -inf) + 2.0 ** -1\n"
           "d = (not (a > 1)) | ~(a < 0) & True\n"
           "e = -a ** 2 + float64(1e300) * 0.0 + exp(float32(-1.5)) + -(-3) + copysign(1.0, a)")
    prog = sx.compile(src, outputs=["c", "d", "e"])
    a = np.array([-1, 0, -0.0, 1.5, 3, np.nan, np.inf, -np.inf], np.float32)
    whole = prog(a=a)
    for got, want in zip(dask.compute(*prog(a=da.from_array(a, chunks=3))), whole):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    from symexpr.dask import stage_programs

    (stage,) = stage_programs(prog, a=da.from_array(a, chunks=3))
    assert "float32(0.10000000149011612)" in stage.source and "where(_t3, nan, (-inf))" in stage.source


def test_inputs_named_like_the_stage_s_own_names():
    prog = sx.compile("x = _t0 * 2 + _t1\ny = sin(x) + _r0\ns = sum(y * _o0)", outputs=["y", "s"])
    A = da.from_array(np.linspace(-3, 3, 50), chunks=7)
    y, s = dask.compute(*prog(_t0=A, _t1=A, _r0=1.0, _o0=A))
    want = prog(_t0=A.compute(), _t1=A.compute(), _r0=1.0, _o0=A.compute())
    np.testing.assert_array_equal(y, want.y)
    np.testing.assert_allclose(s, want.s, rtol=1e-12)


def test_one_task_per_chunk_gives_every_output(prog2, monkeypatch):
    from symexpr import dask as sxd

    calls = []
    real = sxd.ChunkTask.__call__
    monkeypatch.setattr(sxd.ChunkTask, "__call__", lambda self, *c: calls.append(1) or real(self, *c))
    A = da.from_array(_data(), chunks=CHUNKS)
    res = prog2(a=A, b=1.5)
    dask.compute(res.c, res.d)
    assert len(calls) == A.npartitions == 9


@st.composite
def _chunked(draw):
    """An array of 1..3 dimensions with NaN, inf and -0.0 among its values, cut into random chunks."""
    shape = draw(st.lists(st.integers(1, 9), min_size=1, max_size=3))
    values = st.one_of(st.floats(-50, 50, width=32), st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.0]))
    data = np.array(draw(st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                    np.float32).reshape(shape)
    chunks = []
    for n in shape:
        cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=3))) if n > 1 else []
        chunks.append(tuple(np.diff([0, *cuts, n]).tolist()))
    return data, tuple(chunks)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_chunked(), st.sampled_from([0.5, -2.0, np.float32(3.0)]))
def test_any_chunking_gives_the_program_s_own_result(prog2, chunked, k):
    a, chunks = chunked
    res = prog2(a=da.from_array(a, chunks=chunks), b=k)
    whole = prog2(a=a, b=k)
    c, d = dask.compute(res.c, res.d)
    np.testing.assert_array_equal(c, whole.c)
    np.testing.assert_array_equal(d, whole.d)
    assert c.dtype == whole.c.dtype and d.dtype == whole.d.dtype
    rc, rd = _reference2(a, k)
    np.testing.assert_array_equal(c, rc)
    np.testing.assert_array_equal(d, rd)
    # And a reduction over the first axis, whatever its chunks.
    s = sx.compile("s = max(a * k, axis=0)\nm = mean(a * k, axis=0)", outputs=["s", "m"])(
        a=da.from_array(a, chunks=chunks), k=k)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(s.s.compute(), np.max(a * k, axis=0))
        np.testing.assert_allclose(s.m.compute(), np.mean(a * k, axis=0), rtol=1e-5, atol=1e-5)


def test_an_output_and_its_reduction_come_from_one_program_call(monkeypatch):
    from symexpr import dask as sxd

    calls = []
    real = sxd.ChunkTask.results
    monkeypatch.setattr(sxd.ChunkTask, "results", lambda self, *c: calls.append(1) or real(self, *c))
    a = np.nan_to_num(_data(np.float64), nan=0, posinf=1, neginf=-1)
    A = da.from_array(a, chunks=CHUNKS)
    prog = sx.compile("z = sqrt(abs(a)) * 2\nrows = var(z, axis=1, keepdims=True)\nc = (z - rows) * 3",
                      outputs=["z", "rows", "c"])
    z, rows, c = dask.compute(*prog(a=A))
    zr = np.sqrt(np.abs(a)) * 2
    np.testing.assert_array_equal(z, zr)
    np.testing.assert_allclose(rows, zr.var(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(c, (zr - zr.var(axis=1, keepdims=True)) * 3, rtol=1e-12)
    # One call per chunk gives z and the partial; `c` reads z's chunks and the reduced rows.
    assert len(calls) == 2 * A.npartitions
    assert "(the partial, and z)" in prog.explain(a=A)


def _ref_reduce(op, x, axis, keepdims, ddof=0):
    with np.errstate(all="ignore"):
        if op in ("var", "std"):
            return getattr(np, op)(x, axis=axis, keepdims=keepdims, ddof=ddof)
        return OPS[op].numpy(x, axis=axis, keepdims=keepdims)


REDUCTIONS = ["sum", "prod", "mean", "max", "min", "any", "all", "var", "std", "logsumexp", "argmax", "argmin"]


@pytest.mark.parametrize("op", REDUCTIONS)
def test_reductions_of_an_expression_over_chunked_axes(op):
    a, b = _data(np.float32), _data(np.float32, (37,))
    a_clean = np.nan_to_num(a, nan=0.5, posinf=2.0, neginf=-2.0)
    A, Aclean = da.from_array(a, chunks=CHUNKS), da.from_array(a_clean, chunks=CHUNKS)
    axes = [None, 0, 1, -1] + ([] if op.startswith("arg") else [(0, 1)])
    for axis in axes:
        for keepdims in (False, True):
            prog = sx.compile(f"x = sin(a) * b\ns = {op}(x, axis={axis!r}, keepdims={keepdims})\nt = s * 2",
                              outputs=["s", "t"])
            for data, darr in ((a, A), (a_clean, Aclean)):
                res = prog(a=darr, b=b)
                with np.errstate(all="ignore"):
                    x = np.sin(data) * b
                    ref = _ref_reduce(op, x, axis, keepdims)
                    # Float32 sums in another order than NumPy's: a few ulps of the sum of magnitudes
                    # (cancellation makes that far more than a few ulps of the result).
                    scale = {"sum": np.abs(x), "mean": np.abs(x), "var": x * x, "std": x * x}.get(op)
                    atol = 1e-6 if scale is None else 8 * np.finfo(np.float32).eps * _ref_reduce(
                        "sum" if op == "sum" else "mean", scale, axis, keepdims)
                    if op == "std":
                        atol = np.sqrt(atol)
                got, got2 = dask.compute(res.s, res.t)
                assert got.dtype == ref.dtype and got.shape == ref.shape, (op, axis, keepdims)
                if op in ("max", "min", "any", "all", "argmax", "argmin"):
                    np.testing.assert_array_equal(got, ref)
                else:
                    for value, want, tol in ((got, ref, atol), (got2, ref * 2, 2 * atol)):
                        with np.errstate(all="ignore"):  # an inf tolerance where the data has inf
                            ok = np.isclose(value, want, rtol=2e-5, atol=tol, equal_nan=True)
                        assert np.all(ok), (op, axis, keepdims, np.asarray(value)[~ok], np.asarray(want)[~ok])


def test_arg_reductions_break_ties_and_pick_nans_in_c_order():
    # Small integers make ties; NaNs are where argmax and argmin stop. Over every axis of a grid of
    # blocks, the first in C order wins, as in NumPy (Dask's own argmax of a grid takes block order).
    rng = np.random.default_rng(3)
    progs = {(f, axis): sx.compile(f"s = {f}(a * 1, axis={axis})") for f in ("argmax", "argmin") for axis in (None, 0, 1)}
    for _ in range(10):
        y = rng.integers(0, 3, (5, 6)).astype(np.float32)
        y[rng.random(y.shape) < 0.15] = np.nan
        for chunks in ((2, 2), (1, 4), (3, 1), ((1, 4), (2, 3, 1))):
            for (f, axis), prog in progs.items():
                np.testing.assert_array_equal(prog(a=da.from_array(y, chunks=chunks)).compute(),
                                              getattr(np, f)(y, axis=axis))


def test_reductions_over_empty_chunks():
    # Slicing makes empty chunks: a maximum has none to give there, Dask's arg reduction refuses them.
    x = RNG.standard_normal((10, 3))
    for op in ("sum", "var", "max", "logsumexp", "argmin"):
        prog = sx.compile(f"z = x * 2\ns = {op}(z, axis=0)\nt = {op}(z)", outputs=["z", "s", "t"])
        want = prog(x=x)
        for chunks in (((0, 4, 0, 6), (2, 1)), ((0, 10), (0, 3))):
            z, s, t = dask.compute(*prog(x=da.from_array(x, chunks=chunks)))
            np.testing.assert_array_equal(z, want.z)
            np.testing.assert_allclose(s, want.s, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(t, want.t, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_integer_sums_are_exact_and_means_are_float64(dtype):
    x = RNG.integers(0, 2 if dtype is np.bool_ else 1000, (40, 37)).astype(dtype)
    X = da.from_array(x, chunks=CHUNKS)
    prog = sx.compile("s = sum(x, axis=0)\nm = mean(x)\nv = var(x, axis=1, ddof=1)", outputs=["s", "m", "v"])
    s, m, v = dask.compute(*prog(x=X))
    np.testing.assert_array_equal(s, np.sum(x, axis=0))
    assert s.dtype == np.sum(x, axis=0).dtype
    np.testing.assert_allclose(m, np.mean(x), rtol=1e-12)
    np.testing.assert_allclose(v, np.var(x, axis=1, ddof=1), rtol=1e-10)
    assert m.dtype == np.float64 and v.dtype == np.float64


def test_variance_is_stable_far_from_zero():
    # A naive sum of squares minus the squared sum loses every digit here; merging counts, means
    # and M2 (Chan) keeps them.
    x = 1e9 + RNG.standard_normal(10_000)
    X = da.from_array(x, chunks=777)
    got = sx.compile("v = var(x)")(x=X).compute()
    np.testing.assert_allclose(got, np.var(x), rtol=1e-6)


def test_work_after_a_reduction_reads_the_full_array_again():
    # Centering: a later stage takes the reduced Dask array as an input beside `a`.
    a = _data(np.float64)
    a = np.nan_to_num(a, nan=0, posinf=1, neginf=-1)
    prog = sx.compile("m = mean(a, axis=0)\nz = (a - m) / std(a - m, axis=0, keepdims=True)\n"
                      "top = max(z)", outputs=["z", "top"])
    z, top = dask.compute(*prog(a=da.from_array(a, chunks=CHUNKS)))
    m = a.mean(axis=0)
    ref = (a - m) / np.std(a - m, axis=0, keepdims=True)
    np.testing.assert_allclose(z, ref, rtol=1e-10)
    np.testing.assert_allclose(top, ref.max(), rtol=1e-10)


def test_softmax_needs_its_axis_whole():
    prog = sx.compile("x = a * 2\ny = softmax(x, axis=1)")
    a = np.nan_to_num(_data(np.float64), nan=0, posinf=1, neginf=-1)
    with pytest.raises(sx.ShapeError, match=r"line 2.*softmax.*needs its axis whole.*3 chunks along axis 1") as err:
        prog(a=da.from_array(a, chunks=CHUNKS))
    assert err.value.line == 2
    ref = OPS["softmax"].numpy(a * 2, axis=1)
    # Whole rows in each chunk: as it is; else rechunked when asked, as apply_gufunc's allow_rechunk.
    rows = da.from_array(a, chunks=((7, 20, 13), -1))
    np.testing.assert_allclose(prog(a=rows).compute(), ref, rtol=1e-12)
    from symexpr.dask import apply

    got = apply(prog, a=da.from_array(a, chunks=CHUNKS), allow_rechunk=True)
    np.testing.assert_allclose(got.compute(), ref, rtol=1e-12)
    # Inside a reduction's stage too: the column sums of the softmax of rows.
    cols = sx.compile("s = sum(softmax(a, axis=1), axis=0)")
    with pytest.raises(sx.ShapeError, match=r"line 1.*softmax.*needs its axis whole"):
        cols(a=da.from_array(a, chunks=CHUNKS))
    got = apply(cols, a=da.from_array(a, chunks=CHUNKS), allow_rechunk=True).compute()
    np.testing.assert_allclose(got, OPS["softmax"].numpy(a, axis=1).sum(axis=0), rtol=1e-12)
    # Along axis 0, the chunked rows are fine: softmax over columns needs axis 0 whole instead.
    with pytest.raises(sx.ShapeError, match="axis 0"):
        sx.compile("y = softmax(a, axis=0)")(a=rows)


def test_errors_come_before_any_task_runs(monkeypatch):
    from symexpr import dask as sxd

    monkeypatch.setattr(sxd.ChunkTask, "__call__", lambda *a: pytest.fail("a task ran"))
    A = da.from_array(_data(), chunks=CHUNKS)
    with pytest.raises(sx.ShapeError, match=r"line 2, column 5: matmul: the last axis of \(40, 37\)"):
        sx.compile("b = a * 2\nc = b @ w")(a=A, w=np.ones((36, 3), np.float32))
    with pytest.raises(sx.ShapeError, match="cannot broadcast"):
        sx.compile("c = a + b")(a=A, b=da.ones(36, chunks=10))
    unknown = A[A[:, 0] > 0]   # boolean indexing: chunk sizes Dask does not know
    with pytest.raises(sx.ShapeError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        sx.compile("c = a + 1")(a=unknown)
    with pytest.raises(sx.SymExprError, match=r"line 2, `g = grad\(y, a\)`: gradients on Dask arrays are not supported"):
        sx.compile("y = sum(a * a)\ng = grad(y, a)")(a=A)
    with pytest.raises(sx.CallError, match="out= is not taken"):
        sx.compile("c = a + 1")(a=A, out=np.empty(A.shape, A.dtype))


def test_matrix_product_then_epilogue_and_transpose():
    # Dask's blocked product of operands computed by a stage; the bias and relu after it, and the
    # reduction of them, fused in later stages.
    x, w, b = _data(np.float64), RNG.standard_normal((37, 20)), RNG.standard_normal(20)
    x = np.nan_to_num(x, nan=0, posinf=1, neginf=-1)
    prog = sx.compile("h = relu((x * 2) @ w + b)\ns = sum(h, axis=1)\nt = transpose(h) * 3", outputs=["h", "s", "t"])
    res = prog(x=da.from_array(x, chunks=CHUNKS), w=da.from_array(w, chunks=(11, 8)), b=b)
    h, s, t = dask.compute(res.h, res.s, res.t)
    ref = np.maximum((x * 2) @ w + b, 0)
    np.testing.assert_allclose(h, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s, ref.sum(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t, ref.T * 3, rtol=1e-12, atol=1e-12)
    assert h.dtype == s.dtype == t.dtype == np.float64
    text = prog.explain(x=da.from_array(x, chunks=CHUNKS), w=w, b=b)
    assert "`matmul` on line 1, `h = relu((x * 2) @ w + b)`: dask.array.matmul" in text
    # A new axis too, and then a reduction over it.
    prog = sx.compile("e = expand_dims(x + 1, 0)\ns = sum(e * 2, axis=1)", outputs=["e", "s"])
    e, s = dask.compute(*prog(x=da.from_array(x, chunks=CHUNKS)))
    np.testing.assert_array_equal(e, np.expand_dims(x + 1, 0))
    np.testing.assert_allclose(s, np.sum(np.expand_dims(x + 1, 0) * 2, axis=1), rtol=1e-12)


def test_an_error_in_a_task_names_the_user_s_line():
    # The stage's program is rendered source of its own; what goes wrong in a task is told at the
    # user's statement.
    with pytest.raises(sx.EvaluationError, match=r"^line 2, `y = x \*\* -1`: Integers to negative") as err:
        sx.compile("x = a * 2\ny = x ** -1")(a=da.arange(6, chunks=2)).compute()
    assert err.value.line == 2
    with pytest.raises(sx.EvaluationError, match=r"^line 2, `s = max\(x, axis=0\)`: zero-size array"):
        sx.compile("x = a * 2\ns = max(x, axis=0)")(a=da.ones((0, 5), chunks=2)).compute()


def test_explain_says_how_the_program_maps_onto_the_task_graph():
    prog = sx.compile("x = sin(a) * b\nm = mean(x, axis=0)\nc = x - m", outputs=["c", "m"])
    text = prog.explain(a=da.from_array(_data(), chunks=CHUNKS), b=2.0)
    assert "# on Dask" in text and "9 chunks" in text
    assert "`mean` on line 2" in text and "dask.array.reduction combines the partials: totals and counts summed" in text
    assert "stage 2: blockwise, one task per output chunk runs the program below once and gives c" in text


def test_a_pickled_program_runs_on_dask(prog2):
    a = _data()
    for clone in (pickle.loads(pickle.dumps(prog2)), copy.deepcopy(prog2)):
        res = clone(a=da.from_array(a, chunks=CHUNKS), b=0.5)
        np.testing.assert_array_equal(res.c.compute(), _reference2(a, 0.5)[0])


def test_unpickled_twins_share_one_compiled_engine(prog2):
    # A Dask worker unpickles a program once per task (xarray's dask="parallelized" ships the
    # program itself): the second and later copies in a process reuse the first one's engine.
    blob = pickle.dumps(prog2)
    first, second = pickle.loads(blob), pickle.loads(blob)
    assert first is not second and first._engine is second._engine
    assert first._engine is not prog2._engine   # the original keeps its own
    a = _data()
    np.testing.assert_array_equal(second(a=a, b=2.0).c, _reference2(a, 2.0)[0])


def test_xarray_apply_ufunc_parallelized_and_allowed(prog2):
    xr = pytest.importorskip("xarray")
    a, b = _data(), _data(np.float32, (37,))
    xa = xr.DataArray(a, dims=("time", "x")).chunk({"time": 10})
    xb = xr.DataArray(b, dims=("x",))
    c, d = xr.apply_ufunc(prog2, xa, xb, dask="parallelized", output_dtypes=[np.float32, np.float32],
                          output_core_dims=[[], []])
    assert c.chunks is not None
    np.testing.assert_array_equal(c.values, _reference2(a, b)[0])
    np.testing.assert_array_equal(d.values, _reference2(a, b)[1])
    c2, _ = xr.apply_ufunc(prog2, xa, xb, dask="allowed", output_core_dims=[[], []])
    np.testing.assert_array_equal(c2.values, _reference2(a, b)[0])


def test_the_readme_example_runs_and_matches_numpy(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "import dask.array" in b)
    namespace = {}
    exec(block, namespace)  # noqa: S102 - our own README
    a, b = namespace["a"].compute(), np.linspace(0, 1, 1_000, dtype=np.float32)
    with np.errstate(all="ignore"):
        z = np.sqrt(np.abs(np.sin(a) * b + np.cos(b) * a)) * np.exp(-0.5 * a * a)
    np.testing.assert_allclose(namespace["rows"].compute(), z.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(namespace["z"].compute(), z, rtol=1e-5)
    assert "# on Dask" in capsys.readouterr().out


def test_importing_symexpr_does_not_import_dask():
    import subprocess
    import sys

    code = "import sys, symexpr; print('dask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


# -- a LocalCluster of two worker processes ----------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, worker_dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_on_a_local_cluster_elementwise_and_reductions(client, prog2):
    # Chunks of 12,000 elements: past the NumPy engine's small-size threshold, so the workers build
    # and run OpenCL kernels.
    a, b = _data(np.float32, (400, 300)), _data(np.float32, (300,))
    A = da.from_array(a, chunks=((40, 160, 200), (100, 200)))
    res = prog2(a=A, b=b)
    c, d = client.compute([res.c, res.d], sync=True)
    rc, rd = _reference2(a, b)
    np.testing.assert_array_equal(c, rc)
    np.testing.assert_array_equal(d, rd)
    s = sx.compile("s = var(sin(a) * b, axis=0)")(a=A, b=b)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(client.compute(s, sync=True), np.var(np.sin(a) * b, axis=0), rtol=1e-5)
    # Each worker process compiled each stage once, and kept it.
    counts = client.run(lambda: len(__import__("symexpr.dask.tasks").dask.tasks._PROGRAMS))
    assert len(counts) == 2 and all(n >= 1 for n in counts.values())


def test_xarray_parallelized_on_the_cluster_builds_the_program_once_per_worker(client, prog2):
    xr = pytest.importorskip("xarray")
    a, b = _data(np.float32, (400, 300)), _data(np.float32, (300,))
    xa = xr.DataArray(a, dims=("time", "x")).chunk({"time": 25})   # 16 tasks, each unpickling prog2
    c, d = xr.apply_ufunc(prog2, xa, xr.DataArray(b, dims=("x",)), dask="parallelized",
                          output_dtypes=[np.float32, np.float32], output_core_dims=[[], []])
    c, d = client.compute([c.data, d.data], sync=True)
    np.testing.assert_array_equal(c, _reference2(a, b)[0])
    np.testing.assert_array_equal(d, _reference2(a, b)[1])

    source = prog2.source   # (the closure must not carry the program itself: that would unpickle it)

    def built():
        from symexpr import program
        return sum(key[0] == source for key in program._UNPICKLED)

    assert set(client.run(built).values()) <= {0, 1} and 1 in client.run(built).values()


def test_a_worker_killed_mid_computation_is_retried(client):
    prog = sx.compile("y = sqrt(abs(sin(a) * 3.0 + a * a))\ns = sum(y, axis=1)")
    # Generated on the workers (never on the client), in 40 tasks of 250,000 elements.
    A = da.random.default_rng(7).standard_normal((1000, 10_000), chunks=(25, 10_000))
    future = client.compute(prog(a=A))
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 60
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    victim = next(iter(pids.values()))
    os.kill(victim, signal.SIGKILL)
    got = future.result(timeout=120)
    a = A.compute(scheduler="threads")
    np.testing.assert_allclose(got, np.sum(np.sqrt(np.abs(np.sin(a) * 3.0 + a * a)), axis=1), rtol=1e-6)
    assert future.status == "finished"
    assert victim not in client.run(os.getpid).values()   # it did die; its tasks ran elsewhere

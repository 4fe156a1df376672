"""The public API: binding arguments, tables, results, the graph, out=, on every backend."""
import io
import os

import numpy as np
import pytest

import symexpr as sx
from helpers import assert_same

A = np.array([1.0, -2.0, 3.5, 0.0])
B = np.array([0.5, 4.0, -1.0, 2.0])
SRC = "d = a * b\nc = d + a\ne = d - b"


def prog_for(backend, src=SRC, **kwargs):
    return sx.compile(src, backend=backend, **kwargs)


def expected_c_e(a, b):
    d = a * b
    return d + a, d - b


# -- binding -------------------------------------------------------------------------------

def test_inputs_and_outputs(backend):
    prog = prog_for(backend)
    assert prog.inputs == ("a", "b")
    assert prog.outputs == ("c", "e")
    assert isinstance(prog, sx.Program)
    assert prog.backend == backend


@pytest.mark.parametrize("call", ["positional", "keyword", "mixed", "keyword_reversed"])
def test_positional_and_keyword_binding(backend, call):
    prog = prog_for(backend)
    args, kwargs = {"positional": ((A, B), {}), "keyword": ((), {"a": A, "b": B}),
                    "mixed": ((A,), {"b": B}), "keyword_reversed": ((), {"b": B, "a": A})}[call]
    c, e = prog(*args, **kwargs)
    ec, ee = expected_c_e(A, B)
    assert_same(c, ec)
    assert_same(e, ee)


def test_positional_order_is_first_appearance(backend):
    prog = prog_for(backend, "c = y - x")
    assert prog.inputs == ("y", "x")
    assert_same(prog(A, B), A - B)


def test_values_np_asarray_takes(backend):
    prog = prog_for(backend, "c = a * 2 + b")
    assert_same(prog([1.0, 2.0], (3.0, 4.0)), np.array([1.0, 2.0]) * 2 + np.array([3.0, 4.0]))
    assert_same(prog([[1, 2], [3, 4]], 1), np.array([[1, 2], [3, 4]]) * 2 + 1)
    assert_same(prog(np.float32(1.5), 2), np.float32(1.5) * 2 + 2)
    assert_same(prog(np.array(1.5), np.array(2, np.int8)), np.array(1.5) * 2 + np.array(2, np.int8))
    assert_same(prog(True, False), np.asarray(True * 2 + False)[()])


@pytest.mark.parametrize("kind", ["dict", "dataframe", "structured", "npz", "recarray"])
def test_a_table_binds_by_name(backend, kind, tmp_path):
    import pandas as pd

    a = A.astype(np.float32)
    b = B.astype(np.int32)
    extra = np.arange(4.0)
    if kind == "dict":
        table = {"b": b, "zzz": extra, "a": a}
    elif kind == "dataframe":
        table = pd.DataFrame({"zzz": extra, "b": b, "a": a})
    elif kind in ("structured", "recarray"):
        table = np.zeros(4, dtype=[("b", "i4"), ("q", "f8"), ("a", "f4")])
        table["a"], table["b"], table["q"] = a, b, extra
        if kind == "recarray":
            table = table.view(np.recarray)
    else:
        path = tmp_path / "data.npz"
        np.savez(path, a=a, b=b, zzz=extra)
        table = np.load(path)
    prog = prog_for(backend)
    c, e = prog(table)
    ec, ee = expected_c_e(a, b)
    assert_same(c, ec)
    assert_same(e, ee)


def test_a_table_missing_a_column(backend):
    import pandas as pd

    prog = prog_for(backend)
    with pytest.raises(sx.CallError, match="missing input `b`"):
        prog(pd.DataFrame({"a": A}))
    with pytest.raises(sx.CallError, match="missing input `b`"):
        prog({"a": A})


def test_single_input_program_with_a_plain_array(backend):
    """A one-input program called with one plain array binds it positionally, not as a table."""
    prog = prog_for(backend, "c = a * 2")
    assert_same(prog(A), A * 2)
    s = np.zeros(3, dtype=[("a", "f8"), ("b", "f8")])
    s["a"] = [1, 2, 3]
    assert_same(prog(s), np.array([1.0, 2.0, 3.0]) * 2)


def test_dataframe_column_dtypes_follow_numpy(backend):
    import pandas as pd

    df = pd.DataFrame({"a": np.array([1, 2, 3], np.int32), "b": np.array([0.5, 1.5, 2.5], np.float32)})
    c, e = prog_for(backend)(df)
    ec, ee = expected_c_e(df["a"].to_numpy(), df["b"].to_numpy())
    assert_same(c, ec)
    assert_same(e, ee)


def test_run_with_a_mapping(backend):
    prog = prog_for(backend)
    c, e = prog.run({"a": A, "b": B})
    assert_same(c, expected_c_e(A, B)[0])


# -- results -------------------------------------------------------------------------------

def test_one_output_returns_the_array(backend):
    r = prog_for(backend, "c = a + 1")(A)
    assert type(r) is np.ndarray
    assert_same(r, A + 1)


def test_0d_result_is_a_numpy_scalar(backend):
    r = prog_for(backend, "c = a + 1")(np.float32(2))
    assert isinstance(r, np.generic) and not isinstance(r, np.ndarray)
    assert_same(r, np.float32(2) + 1)


def test_several_outputs_return_results(backend):
    res = prog_for(backend)(A, B)
    ec, ee = expected_c_e(A, B)
    assert isinstance(res, sx.Results) and isinstance(res, tuple)
    assert len(res) == 2
    c, e = res
    assert_same(c, ec)
    assert_same(res.c, ec)
    assert_same(res["e"], ee)
    assert_same(res[0], ec)
    assert_same(res[-1], ee)
    assert_same(res[1], ee)
    assert "c=" in repr(res)
    with pytest.raises(KeyError):
        res["zz"]
    with pytest.raises(AttributeError):
        res.zz


@pytest.mark.parametrize("names", [("count", "index"), ("_names", "names"), ("__len__", "real"),
                                   ("keys", "values"), ("c", "_0"), ("__class__", "__doc__")])
def test_results_for_any_output_name(backend, names):
    first, second = names
    prog = prog_for(backend, f"{first} = a + 1\n{second} = a * 2")
    assert prog.outputs == names
    res = prog(A)
    assert_same(getattr(res, first), A + 1)
    assert_same(getattr(res, second), A * 2)
    assert_same(res[first], A + 1)
    assert_same(res[second], A * 2)
    x, y = res
    assert_same(x, A + 1)
    assert_same(y, A * 2)
    assert len(res) == 2


def test_results_are_not_the_inputs(backend):
    """An output that is an input, or the same value twice, never returns the caller's array itself."""
    a = A.copy()
    res = prog_for(backend, "c = a\nd = a", outputs=["c", "d"])(a)
    assert not np.shares_memory(res.c, a) and not np.shares_memory(res.d, a)
    res.c[0] = 99
    assert a[0] == A[0]


def test_same_value_under_two_names(backend):
    res = prog_for(backend, "c = a + 1\nd = c", outputs=["c", "d"])(A)
    assert_same(res.c, A + 1)
    assert_same(res.d, A + 1)


# -- the graph -----------------------------------------------------------------------------

def test_graph_nodes_in_topological_order(backend):
    prog = prog_for(backend, "d = a * b\ne = sin(d) + a\nc = where(e > 0, e, 0)", optimize=False)
    nodes = list(prog.graph.nodes)
    position = {id(n): k for k, n in enumerate(nodes)}
    for k, n in enumerate(nodes):
        for i in n.inputs:
            assert position[id(i)] < k
    ops = [n.op for n in nodes]
    for op in ("input", "constant", "multiply", "sin", "add", "greater", "where"):
        assert op in ops
    for n in nodes:
        if n.op not in ("input", "constant"):
            assert isinstance(getattr(np, n.op), np.ufunc) or n.op == "where"
    inputs = [n for n in nodes if n.op == "input"]
    assert [n.input_name for n in inputs] == ["a", "b"]
    where = [n for n in nodes if n.op == "where"][0]
    assert [i.op for i in where.inputs] == ["greater", "add", "constant"]


@pytest.mark.parametrize("src,ops", [
    ("c = a + b", ["add"]), ("c = a - b", ["subtract"]), ("c = a * b", ["multiply"]), ("c = a / b", ["divide"]),
    ("c = a // b", ["floor_divide"]), ("c = a % b", ["remainder"]), ("c = a ** b", ["power"]),
    ("c = -a", ["negative"]), ("c = abs(a)", ["absolute"]), ("c = a < b", ["less"]),
    ("c = a != b", ["not_equal"]), ("c = a & b", ["bitwise_and"]), ("c = a | b", ["bitwise_or"]),
    ("c = ~a", ["invert"]), ("c = a and b", ["logical_and"]), ("c = not a", ["logical_not"]),
    ("c = a < b < a", ["less", "less", "logical_and"]), ("c = atan2(a, b)", ["arctan2"]),
])
def test_graph_ops_are_numpy_ufunc_names(backend, src, ops):
    prog = prog_for(backend, src, optimize=False)
    got = [n.op for n in prog.graph.nodes if n.op not in ("input", "constant")]
    assert got == ops
    for op in got:
        assert isinstance(getattr(np, op), np.ufunc)


def test_print_graph_shows_source_lines(backend, capsys):
    src = "d = a * b\n\ne = sin(d) + a   # comment\nc = where(e > 0, e, 0)"
    prog = prog_for(backend, src)
    print(prog.graph)
    text = capsys.readouterr().out
    lines = text.strip().splitlines()
    assert any("multiply" in l and "line 1" in l and "d = a * b" in l for l in lines), text
    assert any("sin" in l and "line 3" in l and "e = sin(d) + a" in l for l in lines), text
    assert any("where" in l and "line 4" in l for l in lines), text
    assert "comment" not in text
    assert "c" in lines[-1]


def test_print_graph_of_a_long_line_stays_small(backend):
    """Each node shows its statement; a statement of 5,000 terms must not make printing quadratic."""
    prog = prog_for(backend, "c = " + " + ".join(["a"] * 5000), optimize=False)
    text = str(prog.graph)
    assert len(text) < 2_000_000


def test_repr_and_explain(backend):
    prog = prog_for(backend)
    assert "a, b" in repr(prog) and "c, e" in repr(prog)
    assert "multiply" in prog.explain()


# -- out= ------------------------------------------------------------------------------------

def test_out_one_array(backend):
    prog = prog_for(backend, "c = a * 2")
    out = np.empty_like(A)
    r = prog(A, out=out)
    assert r is out
    assert_same(out, A * 2)


def test_out_tuple_and_dict(backend):
    prog = prog_for(backend)
    ec, ee = expected_c_e(A, B)
    oc, oe = np.empty_like(A), np.empty_like(A)
    res = prog(A, B, out=(oc, oe))
    assert res.c is oc and res.e is oe
    assert_same(oc, ec)
    assert_same(oe, ee)
    oe2 = np.zeros_like(A)
    res = prog(A, B, out={"e": oe2})
    assert res.e is oe2
    assert_same(oe2, ee)
    assert_same(res.c, ec)


def test_out_mismatch_is_an_error(backend):
    prog = prog_for(backend, "c = a * 2")
    with pytest.raises(sx.SymExprError):
        prog(A, out=np.empty(3))
    with pytest.raises(sx.DTypeError):  # NumPy's same_kind rule: float64 into float32 is allowed, not into int
        prog(A, out=np.empty(4, np.int64))
    with pytest.raises(sx.SymExprError):
        prog_for(backend)(A, B, out=np.empty(4))
    with pytest.raises(sx.SymExprError):
        prog_for(backend)(A, B, out={"zz": np.empty(4)})


def test_an_input_named_out(backend):
    prog = prog_for(backend, "c = out + 1")
    assert prog.inputs == ("out",)
    assert_same(prog(out=A), A + 1)


def test_optimize_false_gives_the_same_results(backend):
    src = "x = a * 2\nunused = a - 1\ny = x + b\nc = y * y"
    p1 = prog_for(backend, src)
    p0 = prog_for(backend, src, optimize=False)
    assert p0.outputs == ("unused", "c")
    assert p1.outputs == ("unused", "c")
    for a in p0(A, B), p1(A, B):
        assert_same(a.c, (A * 2 + B) * (A * 2 + B))
        assert_same(a.unused, A - 1)


def test_explicit_outputs_drop_unneeded_inputs(backend):
    prog = prog_for(backend, "c = a + 1\nd = b * 2", outputs=["c"])
    assert prog.outputs == ("c",)
    assert_same(prog(a=A), A + 1)


def test_many_calls_reuse_the_program(backend):
    prog = prog_for(backend, "c = a * b + 1")
    for dtype in ("float32", "float64", "int32", "int64", "float32"):
        for shape in ((5,), (2, 3), ()):
            a = np.ones(shape, dtype) * 3
            assert_same(prog(a, a), a * a + 1)


def test_outputs_that_are_constants_or_inputs_among_others(backend):
    """Outputs need not be computed: a literal and an input are outputs like any other."""
    res = prog_for(backend, "t = 0\nu = a\nv = a * 2\nw = 1.5")(A)
    assert_same(res.t, np.int64(0))
    assert_same(res.u, A)
    assert_same(res.v, A * 2)
    assert_same(res.w, np.float64(1.5))


def test_outputs_of_weak_scalars_only_among_others(backend):
    """An output computed from Python scalars alone, next to an array output."""
    res = prog_for(backend, "t = a > b\nu = sqrt(s) + 1")(A, B, s=4.0)
    assert_same(res.t, A > B)
    assert_same(res.u, np.asarray(np.sqrt(4.0) + 1)[()])


def test_auto_backend_picks_one_and_gives_the_same_results():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "no OpenCL device": a fallback is allowed
        prog = sx.compile("c = a * 2 + 1")
    assert prog.backend in ("numpy", "opencl")
    assert_same(prog(A), A * 2 + 1)
    if sx.devices():
        assert prog.backend == "opencl"


@pytest.mark.parametrize("names", [("c", "e"), ("names", "count")])
def test_results_pickle_and_copy(backend, names):
    import copy
    import pickle

    src = f"d = a * b\n{names[0]} = d + a\n{names[1]} = d - b"
    res = prog_for(backend, src)(A, B)
    ec, ee = expected_c_e(A, B)
    for clone in (pickle.loads(pickle.dumps(res)), copy.copy(res), copy.deepcopy(res)):
        assert isinstance(clone, sx.Results)
        assert_same(getattr(clone, names[0]), ec)
        assert_same(clone[names[1]], ee)
        x, y = clone
        assert_same(y, ee)


def test_run_takes_a_mapping_or_a_table(backend):
    import pandas as pd

    prog = prog_for(backend, "c = a + 1")
    assert_same(prog.run(pd.DataFrame({"a": A, "z": B})), A + 1)
    for bad in ("abc", 5, [A]):
        with pytest.raises(sx.CallError):
            prog.run(bad)


def test_outputs_must_be_names(backend):
    for bad in (5, 3.5, [1], [None]):
        with pytest.raises(sx.ParseError):
            sx.compile("c = a + 1", outputs=bad, backend=backend)


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">i4", ">i8", ">u2"])
def test_non_native_byte_order(backend, dtype):
    """Big-endian arrays compute as NumPy computes them: same values, native result dtype."""
    a = np.array([1.5, -2.0, 3.0, 0.0]).astype(dtype)
    b = np.array([2, 3, 4, 5]).astype(dtype)
    assert_same(prog_for(backend, "c = a * b + 1")(a, b), a * b + 1)


def test_out_non_contiguous_views(backend):
    """out= may be any writeable view of the right shape and dtype: a strided slice, a transpose."""
    prog = prog_for(backend, "c = a * 2 + b")
    a = np.arange(12.0).reshape(3, 4)
    b = np.linspace(-1, 1, 4)
    big = np.zeros((6, 8))
    view = big[::2, ::2]
    r = prog(a, b, out=view)
    assert r is view
    assert_same(view, a * 2 + b)
    assert np.all(big[1::2] == 0) and np.all(big[:, 1::2] == 0)
    fortran = np.zeros((3, 4), order="F")
    prog(a, b, out=fortran)
    assert_same(fortran, a * 2 + b)
    readonly = np.zeros((3, 4))
    readonly.flags.writeable = False
    with pytest.raises(sx.SymExprError):
        prog(a, b, out=readonly)


def test_results_of_earlier_calls_stay_valid(backend):
    """Each call returns fresh arrays: a later call (same signature, reused buffers) must not overwrite them."""
    prog = prog_for(backend, "c = a * 2\nd = a + b")
    a1, a2 = np.arange(5.0), np.arange(5.0) * -3
    first = prog(a1, 1.0)
    snapshot = [np.array(x, copy=True) for x in first]
    second = prog(a2, 2.0)
    for x, s in zip(first, snapshot):
        assert_same(x, s)
    assert_same(second.c, a2 * 2)
    assert not np.shares_memory(first.c, second.c)
    for x in first:
        assert x.flags.writeable
        x[...] = 0  # the caller owns it
    assert_same(prog(a1, 1.0).c, a1 * 2)


def test_parser_tables_are_cached_on_disk_and_a_broken_cache_is_rebuilt(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, SYMEXPR_CACHE_DIR=str(tmp_path))
    script = "import symexpr as sx; print(sx.compile('c = a + 1', backend='numpy')(2.0))"
    for damage in (None, b"not a lark cache\n", b""):
        if damage is not None:
            for f in (tmp_path / "parser").iterdir():
                f.write_bytes(damage)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "3.0"
        assert len(list((tmp_path / "parser").glob("lark-*.cache"))) == 1

"""Each optimizer pass on its own: golden text for small examples, and the contract of a pass.

A pass never mutates its input, returns the very same graph when it has nothing to do,
and says what it did in `Rewrite` records that carry the source line.
"""
import numpy as np
import pytest

import symexpr as sx
from symexpr.graph import render_graph
from symexpr.infer import Kind
from symexpr.parse import parse
from symexpr.passes import PIPELINE, optimize, specialize
from symexpr.passes.common_subexpressions import eliminate_common_subexpressions
from symexpr.passes.dead_code import eliminate_dead_code
from symexpr.passes.fold_constants import fold_constants
from symexpr.passes.simplify import simplify

F64, F32, I32, I64, U8, B = (Kind(np.dtype(t)) for t in ("float64", "float32", "int32", "int64", "uint8", "bool"))
WEAK_INT, WEAK_FLOAT = Kind(np.dtype("int64"), True), Kind(np.dtype("float64"), True)


def ops_of(graph):
    return [n.op for n in graph.nodes if n.op not in ("input", "constant")]


def run_pass(p, src, outputs=None):
    graph = parse(src, outputs)
    before = render_graph(graph)
    records = []
    after = p(graph, records)
    assert render_graph(graph) == before, "a pass must not mutate its input"
    return graph, after, records


# -- dead code --------------------------------------------------------------------------------

def test_dead_code_golden():
    graph, after, records = run_pass(eliminate_dead_code, "c = a + b\nd = a * b", ["c"])
    assert "multiply" not in ops_of(after)
    assert str(after) == "a = input\nb = input\nc = add(a, b)   # line 1: c = a + b\noutputs: c"
    assert [(r.pass_name, r.line, r.message) for r in records] == [
        ("eliminate_dead_code", 2, "`d = a * b` is never used by outputs c: removed")]


def test_dead_code_shrinks_inputs_and_ignores_them_when_given():
    prog = sx.compile("c = a + 1\nd = a * b", outputs=["c"], backend="numpy")
    assert prog.inputs == ("a",)
    assert any("input `b` is only read by dead code" in r.message for r in prog.rewrites)
    assert prog(a=np.arange(3.0), b=np.zeros(3)).tolist() == [1.0, 2.0, 3.0]


def test_dead_code_returns_same_graph_when_nothing_is_dead():
    graph, after, records = run_pass(eliminate_dead_code, "c = a + b")
    assert after is graph and records == []


# -- constant folding -------------------------------------------------------------------------

def test_fold_golden():
    graph, after, records = run_pass(fold_constants, "c = a * (2 + 3)")
    assert str(after) == "a = input\nc = multiply(a, 5)   # line 1: c = a * (2 + 3)\noutputs: c"
    (const,) = [n for n in after.nodes if n.op == "constant"]
    assert type(const.value) is int and const.value == 5 and const.is_weak
    assert [(r.line, r.message) for r in records] == [(1, "`2 + 3` folded to 5")]


def test_fold_whole_chain_gives_one_message_and_one_constant():
    graph, after, records = run_pass(fold_constants, "c = a * (2 * 3 + 1.5)")
    consts = [n.value for n in after.nodes if n.op == "constant"]
    assert consts == [7.5] and type(consts[0]) is float
    assert [r.message for r in records] == ["`2 * 3 + 1.5` folded to 7.5"]


def test_fold_follows_numpy_dtypes():
    # A cast makes a strong constant; a strong constant then decides the dtype as NumPy does.
    graph, after, _ = run_pass(fold_constants, "c = a * (float32(2) * 3)")
    (const,) = [n for n in after.nodes if n.op == "constant"]
    assert type(const.value) is np.float32 and const.value == 6 and not const.is_weak
    prog = sx.compile("c = a * (float32(2) * 3)", backend="numpy")
    assert prog(a=np.ones(2, np.float32)).dtype == np.float32
    assert prog(a=np.ones(2, np.int16)).dtype == np.float32
    # Weak stays weak: int8 + (100 + 20) is int8, as NumPy gives for int8 + 120.
    assert sx.compile("c = a + (100 + 20)", backend="numpy")(a=np.ones(2, np.int8)).dtype == np.int8


def test_fold_leaves_errors_to_run_time():
    graph, after, records = run_pass(fold_constants, "c = a + 2 ** -1")
    assert ops_of(after) == ["power", "add"]            # `-1` folds; `2 ** -1` raises, so it stays
    assert [r.message for r in records] == ["`-1` folded to -1"]
    prog = sx.compile("c = a + 2 ** -1", backend="numpy")
    with pytest.raises(sx.EvaluationError, match="line 1"):
        prog(a=np.ones(2))


def test_fold_nan_inf_and_division_by_zero_as_numpy():
    prog = sx.compile("c = a + (1 / 0) * 0\nd = a + -0.0 * 1", backend="numpy")
    assert all(n.op != "divide" for n in prog.graph.nodes)
    c, d = prog(a=np.array([1.0]))
    assert np.isnan(c[0]) and d[0] == 1.0
    (z,) = [n.value for n in sx.compile("c = -0.0 * 1", backend="numpy").graph.nodes]
    assert z == 0 and np.signbit(z)


def test_fold_named_constant_statement():
    prog = sx.compile("k = 2 * pi\nc = a * k", backend="numpy")
    assert ops_of(prog.graph) == ["multiply"]
    assert prog(a=np.array([1.0]))[0] == 2 * np.pi


# -- common subexpressions --------------------------------------------------------------------

def test_cse_sin_golden():
    graph, after, records = run_pass(eliminate_common_subexpressions, "c = sin(a) + sin(a)")
    assert ops_of(after) == ["sin", "add"]
    assert str(after) == ("a  = input\n%1 = sin(a)        # line 1: c = sin(a) + sin(a)\n"
                          "c  = add(%1, %1)   # line 1: c = sin(a) + sin(a)\noutputs: c")
    assert [(r.line, r.message) for r in records] == [
        (1, "`sin(a)` is computed already (line 1, `c = sin(a) + sin(a)`): shared")]


def test_cse_commutative_either_order_for_bool_results():
    graph, after, _ = run_pass(eliminate_common_subexpressions,
                               "c = (a == b) | (b == a)\nd = (a & b) + (b & a)\ne = c + d")
    assert ops_of(after) == ["equal", "bitwise_or", "bitwise_and", "add", "add"]
    bor = next(n for n in after.nodes if n.op == "bitwise_or")
    assert bor.inputs[0] is bor.inputs[1]
    # The first node keeps its name and position.
    assert bor.inputs[0].statement.line == 1 and bor.inputs[0].span.text(after.source) == "a == b"


def test_cse_commutative_arithmetic_waits_for_the_dtype():
    src = "c = a * b\nd = b * a\ne = c + d"
    graph, after, records = run_pass(eliminate_common_subexpressions, src)
    assert after is graph and records == []  # dtype unknown at compile time
    # Integers: b * a is a * b, bit for bit, so the signature shares them.
    shared, records = specialize(graph, {"a": I32, "b": I64})
    assert ops_of(shared) == ["multiply", "add"]
    add = shared.nodes[-1]
    assert add.inputs[0] is add.inputs[1] and add.inputs[0].name == "c"
    assert [r.message for r in records] == ["`b * a` is computed already (line 1, `c = a * b`): shared"]
    # Floats: not shared, because the NaN that comes out is the first operand's.
    assert specialize(graph, {"a": F64, "b": F64})[0] is graph
    fast, _ = specialize(graph, {"a": F64, "b": F64}, fast_math=True)
    assert ops_of(fast) == ["multiply", "add"]


@pytest.mark.parametrize("op", ["+", "*"])
def test_float_nan_sign_is_the_first_operands(op):
    """Why a float `a + b` and `b + a` are not shared: with NaNs of both signs they differ in sign."""
    a, b = np.array([np.nan]), np.array([-np.nan])
    prog = sx.compile(f"c = a {op} b\nd = b {op} a", backend="numpy")
    c, d = prog(a=a, b=b)
    ref_c, ref_d = (a + b, b + a) if op == "+" else (a * b, b * a)
    assert np.signbit(ref_c[0]) != np.signbit(ref_d[0])  # NumPy on this machine: the first operand's NaN
    assert c.tobytes() == ref_c.tobytes() and d.tobytes() == ref_d.tobytes()


@pytest.mark.parametrize("fn", ["maximum", "minimum", "arctan2"])
def test_cse_not_commutative(fn):
    graph, after, records = run_pass(eliminate_common_subexpressions, f"c = {fn}(a, b) - {fn}(b, a)")
    assert after is graph and records == []
    # maximum(0.0, -0.0) and maximum(-0.0, 0.0) differ in sign: sharing them would change a bit.
    prog = sx.compile(f"c = {fn}(a, b)\nd = {fn}(b, a)", backend="numpy")
    c, d = prog(a=np.array([0.0]), b=np.array([-0.0]))
    ref_c, ref_d = getattr(np, fn)(0.0, -0.0), getattr(np, fn)(-0.0, 0.0)
    assert np.signbit(c[0]) == np.signbit(ref_c) and np.signbit(d[0]) == np.signbit(ref_d)


def test_cse_constants_only_when_bit_identical():
    graph, after, _ = run_pass(eliminate_common_subexpressions, "c = a * 0.0 + a * -0.0\nd = a * 1 + a * 1.0")
    assert ops_of(after).count("multiply") == 4
    graph, after, _ = run_pass(eliminate_common_subexpressions, "c = a * 2.5 + a * 2.5")
    assert ops_of(after) == ["multiply", "add"]  # the same order: shared whatever the dtype


def test_cse_two_outputs_one_node_are_two_arrays():
    prog = sx.compile("c = a + b\nd = a + b", backend="numpy")
    assert ops_of(prog.graph) == ["add"]
    c, d = prog(a=np.ones(3), b=np.ones(3))
    assert c is not d and not np.shares_memory(c, d)
    c[0] = 5
    assert d[0] == 2


def test_cse_deep_chain_is_not_recursive():
    src = "\n".join(["x0 = a"] + [f"x{k} = x{k-1} * 2 + sin(a)" for k in range(1, 3000)])
    prog = sx.compile(src, backend="numpy")
    assert ops_of(prog.graph).count("sin") == 1


# -- pipeline ---------------------------------------------------------------------------------

def test_pipeline_is_a_visible_tuple_and_returns_same_graph():
    assert [p.__name__ for p in PIPELINE] == ["eliminate_dead_code", "fold_constants",
                                             "eliminate_common_subexpressions", "eliminate_dead_code"]
    graph = parse("c = a + b")
    after, records = optimize(graph)
    assert after is graph and records == []


def test_fold_then_share():
    prog = sx.compile("c = a * (2 + 3)\nd = a * 5\ne = c - d", backend="numpy")
    assert len(prog.rewrites) == 2
    assert ops_of(prog.graph) == ["multiply", "subtract"]


# -- simplification (per signature) -----------------------------------------------------------

def spec(src, **kinds):
    graph, _ = optimize(parse(src))
    return specialize(graph, kinds)


@pytest.mark.parametrize("src", ["c = a * 1", "c = 1 * a", "c = a / 1", "c = a ** 1", "c = a - 0",
                                 "c = --a", "c = a * 1.0", "c = +a", "c = float64(a)"])
def test_simplify_to_x_for_float64(src):
    after, records = spec(src, a=F64)
    assert ops_of(after) == [] and after.outputs[0][1].op == "input"
    assert len(records) >= 1 and records[0].pass_name == "simplify" and records[0].line == 1


def test_simplify_golden_message():
    after, records = spec("c = a * 1", a=F32)
    assert [r.message for r in records] == ["`a * 1`: x * 1 -> x for float32"]


@pytest.mark.parametrize("src, kind", [
    ("c = a * 1", B),          # bool * 1 is int64
    ("c = a * 1.0", I32),      # int32 * 1.0 is float64
    ("c = a / 1", I64),        # int / 1 is float64
    ("c = a + 0", F64),        # -0.0 + 0 is +0.0
    ("c = a + 0.0", F32),
    ("c = a - -0.0", F64),     # -0.0 - -0.0 is +0.0
    ("c = a * 0", F64),        # NaN * 0 is NaN, inf * 0 is NaN
    ("c = a - a", F64),
    ("c = a / a", F64),
    ("c = a * 0", I64),
    ("c = a ** 1", B),         # bool ** 1 is int64
    ("c = not not a", F64),    # not not x is bool(x)
    ("c = a and True", I32),
    ("c = float32(a)", F64),
    ("c = float64(a)", WEAK_FLOAT),  # a cast of a Python float is a strong np.float64
    ("c = a * float64(1)", F32),     # float32 * np.float64(1) is float64
])
def test_simplify_refuses(src, kind):
    graph, _ = optimize(parse(src))
    after, records = specialize(graph, {"a": kind})
    assert after is graph and records == []


@pytest.mark.parametrize("src, kind", [
    ("c = a + 0", I32), ("c = 0 + a", U8), ("c = a | 0", I64), ("c = a ^ 0", U8), ("c = a * 1", U8),
    ("c = a * True", B), ("c = a + False", B), ("c = a and True", B), ("c = a or False", B),
    ("c = not not a", B), ("c = ~~a", I32), ("c = ~~a", B), ("c = --a", U8), ("c = a - 0", WEAK_INT),
    ("c = a * 1", WEAK_FLOAT), ("c = int32(a)", I32),
])
def test_simplify_accepts(src, kind):
    after, records = spec(src, a=kind)
    assert ops_of(after) == [] and records


@pytest.mark.parametrize("kind", [F64, F32, I32, U8])
def test_simplify_square(kind):
    after, records = spec("c = a ** 2", a=kind)
    assert ops_of(after) == ["multiply"]
    node = after.outputs[0][1]
    assert node.inputs[0] is node.inputs[1] and node.name == "c" and node.statement.line == 1
    assert [r.message for r in records] == [f"`a ** 2`: x ** 2 -> x * x for {kind}"]


def test_simplify_square_refused_for_bool():
    graph, _ = optimize(parse("c = a ** 2"))
    assert specialize(graph, {"a": B})[0] is graph  # bool ** 2 is int64, bool * bool is bool


def test_simplify_chain_and_dead_operands_dropped():
    after, records = spec("t = a * 1\nu = --t\nv = u ** 2\nw = v / 1 - 0", a=F64)
    assert str(after) == "a = input\nv = multiply(a, a)   # line 3: v = u ** 2\noutputs: w = v"
    assert [r.line for r in records] == [1, 2, 3, 4, 4]


def test_simplify_is_per_signature_on_the_engine():
    prog = sx.compile("c = a * 1", backend="numpy")
    assert prog(a=np.array([True])).dtype == np.int64
    assert prog(a=np.array([1.5], np.float32)).dtype == np.float32
    assert prog.specialized(a=np.array([True]))[1] == []
    assert len(prog.specialized(a=np.array([1.5]))[1]) == 1


def test_simplify_fast_math_adds_float_x_plus_0():
    graph, _ = optimize(parse("c = a + 0"))
    assert specialize(graph, {"a": F64})[0] is graph
    after, records = specialize(graph, {"a": F64}, fast_math=True)
    assert ops_of(after) == [] and "fast math" in records[0].message
    prog = sx.compile("c = a + 0", backend="numpy", fast_math=True)
    assert np.signbit(prog(a=np.array([-0.0]))[0])                   # documented: -0.0 stays -0.0
    assert not np.signbit(sx.compile("c = a + 0", backend="numpy")(a=np.array([-0.0]))[0])


def test_simplify_direct_call_returns_same_graph():
    graph = parse("c = a + b")
    records = []
    assert simplify(graph, {"a": F64, "b": F64}, records) is graph and records == []


# -- explain ----------------------------------------------------------------------------------

def test_explain_names_every_rewrite_with_its_line():
    prog = sx.compile("c = a + b\nd = a * b\ne = sin(a) + sin(a) * (2 + 3)", outputs=["c", "e"], backend="numpy")
    text = prog.explain()
    assert "# as written" in text and "# optimized" in text
    assert "line 2: `d = a * b` is never used by outputs c, e: removed" in text
    assert "line 3: `2 + 3` folded to 5" in text
    assert "line 3: `sin(a)` is computed already (line 3, `e = sin(a) + sin(a) * (2 + 3)`): shared" in text
    assert [r.pass_name for r in prog.rewrites] == ["eliminate_dead_code", "fold_constants",
                                                   "eliminate_common_subexpressions"]


def test_explain_with_inputs_shows_signature_rewrites_and_plan():
    prog = sx.compile("t = a * 1\nc = t * b + 1", backend="numpy")
    text = prog.explain(a=np.zeros(1000), b=np.zeros(1000))
    assert "# for a: float64[1000], b: float64[1000]" in text
    assert "line 1: `a * 1`: x * 1 -> x for float64" in text
    assert "# memory plan" in text
    assert "c        buffer 0   float64[1000] in place of %" in text
    assert "peak 8000 B planned, 16000 B unplanned" in text
    # A spec with .dtype and .shape is enough: no data needed.
    class Spec:
        dtype, shape = np.dtype("float32"), (10, 10)
    assert "float32[10, 10]" in prog.explain(a=Spec(), b=Spec())


def test_optimize_false_runs_as_written():
    prog = sx.compile("c = a * 1\nd = a * b", outputs=["c"], optimize=False, backend="numpy")
    assert prog.rewrites == [] and prog.inputs == ("a", "b") and prog.graph is prog.parsed
    assert "# rewrites" not in prog.explain()


@pytest.mark.parametrize("dtype, bits", [(np.float32, np.uint32), (np.float64, np.uint64)])
def test_numpy_float_square_is_x_times_x_bit_for_bit(dtype, bits):
    """The premise of `x ** 2 -> x * x`: NumPy's power computes x*x for an exponent of 2 (every bit pattern)."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, np.iinfo(bits).max, 200_000, dtype=bits, endpoint=True).view(dtype)
    finfo = np.finfo(dtype)
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0], dtype)
    x = np.concatenate([x, edges, np.array([finfo.smallest_subnormal, finfo.tiny, finfo.max], dtype)])
    with np.errstate(all="ignore"):
        for exponent in (2, 2.0, dtype(2)):
            assert np.power(x, exponent).view(bits).tobytes() == (x * x).view(bits).tobytes()


def test_infer_kinds_reuses_known_kinds_and_still_sees_literal_values():
    from symexpr.errors import DTypeError
    from symexpr.infer import infer_kinds

    graph = parse("y = 2 - 3\nc = a * y")
    y = next(n for n in graph.nodes if n.name == "y")
    assert infer_kinds(graph, {"a": I32}, infer_kinds(graph, {"a": I32})) == infer_kinds(graph, {"a": I32})
    # y's kind comes from `known`; its value (-1) must still reach `a * y`, which NumPy refuses for uint8.
    with pytest.raises(DTypeError, match="multiply"):
        infer_kinds(graph, {"a": U8}, {y: Kind(np.dtype("int64"), True)})
    with pytest.raises(DTypeError, match="multiply"):
        infer_kinds(graph, {"a": U8})


def test_specialize_leaves_a_float_graph_alone_and_shares_int_operands_in_either_order():
    from symexpr.passes.common_subexpressions import shares_more_with_kinds
    from symexpr.infer import infer_kinds

    graph, _ = optimize(parse("c = a + b\nd = b + a\ne = c * d"))
    floats = infer_kinds(graph, {"a": F64, "b": F64})
    assert not shares_more_with_kinds(graph, floats)
    assert specialize(graph, {"a": F64, "b": F64}, known=floats)[0] is graph
    ints = infer_kinds(graph, {"a": I32, "b": I32})
    assert shares_more_with_kinds(graph, ints)
    shared, records = specialize(graph, {"a": I32, "b": I32}, known=ints)
    assert sum(n.op == "add" for n in shared.nodes) == 1 and records


def test_a_strong_float64_constant_is_not_shared_with_a_weak_literal():
    # np.float64 is a subclass of float: cos(0.0) folds to a strong np.float64(1.0), which must stay
    # apart from the weak literal 1.0 (x * 1.0 is float32 for a float32 x; x * cos(0.0) is float64).
    x = np.array([1.0, 2.0], np.float32)
    prog = sx.compile("y = x * cos(0.0)\nz = x * 1.0", backend="numpy")
    y, z = prog(x=x)
    assert y.dtype == (x * np.cos(0.0)).dtype == np.float64 and z.dtype == np.float32

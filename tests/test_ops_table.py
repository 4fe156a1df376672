"""The op table is complete, and every name the grammar or FUNCTIONS exposes resolves to an op."""
import re
from pathlib import Path

import numpy as np
import pytest

import symexpr as sx
from symexpr import ops, parse

GRAMMAR = Path(__file__).resolve().parent.parent / "grammar" / "symexpr.lark"
# Tree aliases that are structure, not operations.
STRUCTURAL = {"assign", "bare_expression", "call", "name", "number", "true", "false", "compare", "none", "tuple",
              "keyword"}
KINDS = {"elementwise", "reduction", "rowwise", "matmul", "view", "gradient"}


def grammar_aliases():
    rules = "\n".join(line.split("//")[0] for line in GRAMMAR.read_text().splitlines())
    return sorted(set(re.findall(r"->\s*([a-z_][a-z0-9_]*)", rules)))


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_every_op_is_complete(name):
    op = ops.OPS[name]
    assert op.name == name
    assert isinstance(op.arity, int) and 1 <= op.arity <= 3
    assert callable(op.numpy)
    assert op.functions or op.symbol or op.internal, f"{name} has no function name and no symbol: unreachable"
    assert not (op.internal and (op.functions or op.symbol)), f"{name}: internal, yet the language names it"
    assert op.kind in KINDS
    if op.kind == "gradient":
        # Made by differentiation from operands of related shapes: tests/test_grad.py checks them.
        assert op.shape is not None
        return
    if op.kind != "elementwise":
        # Its shape rule agrees with NumPy's own function on a few shapes and keywords, and refuses
        # where NumPy does (expand_dims without an axis).
        assert op.shape is not None
        x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
        cases = [dict(op.keywords)]
        if "axis" in dict(op.keywords):
            cases += [{**dict(op.keywords), "axis": a} for a in (0, -1, 1)]
            if "keepdims" in dict(op.keywords):
                cases += [{**dict(op.keywords), "axis": 1, "keepdims": True}]
        for kw in cases:
            operands = [x] if op.arity == 1 else [x, np.swapaxes(x, -1, -2)]
            try:
                out = np.asarray(op.numpy(*operands, **kw))
            except (TypeError, ValueError):
                with pytest.raises(ValueError):
                    op.shape(tuple(o.shape for o in operands), kw)
                continue
            assert op.shape(tuple(o.shape for o in operands), kw) == out.shape, (name, kw)
        return
    assert op.shape is None
    # An element-wise op's keywords (round's decimals) have defaults its NumPy implementation takes.
    if op.keywords:
        assert op.numpy(*[np.ones(2)] * op.arity, **dict(op.keywords)).shape == (2,)
    # The NumPy implementation takes `arity` operands and follows NumPy's dtype rules.
    args = [np.array([1.0, 0.5], np.float64)] * op.arity
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(op.numpy(*args))
    except TypeError:  # bitwise ops: integers only
        args = [np.array([3, 5], np.int64)] * op.arity
        out = np.asarray(op.numpy(*args))
    assert out.shape == (2,)
    # Where NumPy has a ufunc of that name, the op is that ufunc (the graph's .op is NumPy's name).
    ufunc = getattr(np, name, None)
    if isinstance(ufunc, np.ufunc):
        assert ufunc.nin == op.arity
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(out, ufunc(*args))


@pytest.mark.parametrize("name", sorted(ops.OPS))
def test_commutative_ops_commute_bitwise(name):
    op = ops.OPS[name]
    if not op.commutative:
        return
    assert op.arity == 2
    vals = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 3.0], np.float64)
    x, y = np.meshgrid(vals, vals)
    for dt in ("float64", "int32", "bool"):
        a, b = (v.astype(dt) if dt == "float64" else np.nan_to_num(v, posinf=7, neginf=-7).astype(dt) for v in (x, y))
        try:
            with np.errstate(all="ignore"):
                ab, ba = np.asarray(op.numpy(a, b)), np.asarray(op.numpy(b, a))
        except TypeError:
            continue
        assert ab.dtype == ba.dtype
        assert ab.tobytes() == ba.tobytes(), f"{name} is marked commutative but f(a, b) != f(b, a) on {dt}"


def test_maximum_minimum_are_not_commutative():
    # maximum(-0.0, 0.0) and maximum(0.0, -0.0) differ in sign: CSE must not swap them.
    assert not ops.OPS["maximum"].commutative
    assert not ops.OPS["minimum"].commutative


@pytest.mark.parametrize("fname", sorted(ops.FUNCTIONS))
def test_every_function_name_resolves_and_compiles(fname):
    op = ops.FUNCTIONS[fname]
    assert op.name in ops.OPS
    assert fname in op.functions
    args = ", ".join("abc"[: op.arity])
    prog = sx.compile(f"r = {fname}({args})", backend="numpy", optimize=False)
    if op.kind == "gradient":  # grad(a, b): expanded into its graph when compiled (a does not read b: zeros)
        assert [n.op for n in prog.graph.nodes if n.op not in ops.LEAVES] == ["sum_to"]
        return
    assert [n.op for n in prog.graph.nodes if n.op not in ops.LEAVES] == [op.name]


def test_functions_table_matches_the_ops():
    listed = {f for op in ops.OPS.values() for f in op.functions}
    assert listed == set(ops.FUNCTIONS)


@pytest.mark.parametrize("alias", grammar_aliases())
def test_every_grammar_alias_is_an_op(alias):
    if alias in STRUCTURAL:
        return
    name = parse._ALIAS_OPS.get(alias, alias)
    assert name in ops.OPS, f"grammar alias `{alias}` has no op"


def test_grammar_aliases_found():
    found = set(grammar_aliases())
    assert {"add", "power", "negative", "logical_or", "bitwise_xor"} <= found


@pytest.mark.parametrize("symbol,name", [(op.symbol, op.name) for op in ops.OPS.values() if op.symbol])
def test_every_symbol_spells_its_op(symbol, name):
    arity = ops.OPS[name].arity
    src = f"r = a {symbol} b" if arity == 2 else f"r = {symbol} a" if symbol.isalpha() else f"r = {symbol}a"
    prog = sx.compile(src, backend="numpy", optimize=False)
    assert [n.op for n in prog.graph.nodes if n.op not in ops.LEAVES] == [name]


def test_required_functions_exist():
    required = ["abs", "sqrt", "exp", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "arcsin",
                "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "floor", "ceil", "sign", "square",
                "minimum", "maximum", "where", "clip", "sigmoid", "relu", "float32", "float64", "int32", "int64",
                "bool"]
    missing = [f for f in required if f not in ops.FUNCTIONS]
    assert not missing


def test_casts_are_ops_and_supported_dtypes():
    for name in ops.CASTS:
        assert name in ops.OPS and name in ops.FUNCTIONS
        assert np.dtype(name) in ops.SUPPORTED_DTYPES


def test_constants():
    assert ops.CONSTANTS["pi"] == np.pi
    assert ops.CONSTANTS["inf"] == np.inf
    assert np.isnan(ops.CONSTANTS["nan"])
    for name in ops.CONSTANTS:
        assert name not in ops.FUNCTIONS

"""Hypothesis-generated programs and data, compared with a direct NumPy evaluation.

The generator builds a small program as data (statements of named intermediates,
random ops from the table, literals, SSA reassignment, several outputs), renders
it to source text, and evaluates the same data structure with NumPy calls, without
symexpr. Data covers every dtype, broadcasting shapes, NaN, +-inf and -0.0.
Failures shrink to a minimal program, printed with its inputs.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symexpr as sx
from helpers import OPENCL_ULPS, assert_same

# The backend fixture is a plain string: nothing to reset between examples.
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture],
                derandomize=True)

SUPPORTED = set(sx.ops.SUPPORTED_DTYPES)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(np.greater_equal(x, 0), 1 / (1 + e), e / (1 + e))


def _cast(t):
    def cast(x):
        x = np.asarray(x)
        if x.dtype.kind == "f" and np.dtype(t).kind in "iu":
            # The language's rule where NumPy's is undefined: NaN -> 0, beyond the range -> min/max.
            info = np.iinfo(t)
            with np.errstate(invalid="ignore"):
                inside = np.where(np.isnan(x) | (x >= 2.0 ** info.bits) | (x <= -(2.0 ** info.bits)), 0, x)
                clipped = np.clip(np.trunc(inside), info.min, info.max)
            out = np.where(x >= float(info.max), info.max, np.where(x <= float(info.min), info.min,
                                                                    clipped.astype(np.float64).astype(t)))
            return out.astype(t)
        return x.astype(t)
    return cast


# Exact ops: bit-identical on every backend. name -> (arity, render, numpy function)
EXACT_BINARY = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "//": np.floor_divide, "%": np.remainder,
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
    "!=": np.not_equal, "&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor,
    "and": np.logical_and, "or": np.logical_or,
}
EXACT_UNARY_OPERATORS = {"-": np.negative, "~": np.invert, "not ": np.logical_not, "+": np.positive}
EXACT_FUNCTIONS = {
    "abs": (1, np.absolute), "floor": (1, np.floor), "ceil": (1, np.ceil), "trunc": (1, np.trunc),
    "rint": (1, np.rint), "sign": (1, np.sign), "square": (1, np.square), "sqrt": (1, np.sqrt),
    "relu": (1, lambda x: np.maximum(x, 0)), "isnan": (1, np.isnan), "isinf": (1, np.isinf),
    "isfinite": (1, np.isfinite), "minimum": (2, np.minimum), "maximum": (2, np.maximum),
    "where": (3, np.where), "clip": (3, np.clip),
    "float32": (1, _cast("float32")), "float64": (1, _cast("float64")), "bool": (1, _cast("bool")),
    "int32": (1, _cast("int32")), "int64": (1, _cast("int64")),
}
TRANSCENDENTAL_FUNCTIONS = {
    "sin": (1, np.sin), "cos": (1, np.cos), "exp": (1, np.exp), "log": (1, np.log), "tanh": (1, np.tanh),
    "arctan": (1, np.arctan), "log1p": (1, np.log1p), "sigmoid": (1, _sigmoid), "arctan2": (2, np.arctan2),
    "hypot": (2, np.hypot), "pow": (2, np.power),
}
ULP_NAMES = {"pow": "power"}
CASTS = {"float16", "float32", "float64", "bool", "int32", "int64"}

INPUT_NAMES = ["a", "b", "kernel", "i"]
TEMP_NAMES = ["t", "u", "float", "out", "n", "global", "half", "v"]
LITERALS = [("0", 0), ("1", 1), ("2", 2), ("3", 3), ("0.5", 0.5), (".25", 0.25), ("1e-3", 1e-3), ("2.5E+3", 2.5e3),
            ("True", True), ("False", False), ("pi", float(np.pi)), ("inf", float("inf")), ("nan", float("nan")),
            ("(-1)", -1), ("(-2.5)", -2.5)]


# -- programs as data ---------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    """A value: an input (by name) or the result of statement `index`."""
    name: str
    index: int | None  # None for an input


@dataclass(frozen=True)
class Lit:
    text: str
    value: object


@dataclass(frozen=True)
class Apply:
    kind: str          # "binary", "unary", "call"
    op: str
    args: tuple


@dataclass
class Generated:
    statements: list      # (target name, expression)
    outputs: list         # (name, statement index)
    inputs: list          # input names read

    def source(self) -> str:
        return "\n".join(f"{name} = {render(expr)}" for name, expr in self.statements)


def render(e) -> str:
    if isinstance(e, Ref):
        return e.name
    if isinstance(e, Lit):
        return e.text
    if e.kind == "binary":
        return f"({render(e.args[0])} {e.op} {render(e.args[1])})"
    if e.kind == "unary":
        return f"({e.op}{render(e.args[0])})"
    return f"{e.op}({', '.join(render(a) for a in e.args)})"


def expressions(draw, visible, depth, functions, allow_transcendental_top=False):
    """One expression over the visible values."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if visible and draw(st.integers(0, 4)) > 0:
            return draw(st.sampled_from(visible))
        text, value = draw(st.sampled_from(LITERALS))
        return Lit(text, value)
    kind = draw(st.sampled_from(["binary", "binary", "unary", "call", "call"]))
    if kind == "binary":
        op = draw(st.sampled_from(sorted(EXACT_BINARY)))
        return Apply("binary", op, (expressions(draw, visible, depth - 1, functions),
                                    expressions(draw, visible, depth - 1, functions)))
    if kind == "unary":
        op = draw(st.sampled_from(sorted(EXACT_UNARY_OPERATORS)))
        return Apply("unary", op, (expressions(draw, visible, depth - 1, functions),))
    name = draw(st.sampled_from(sorted(functions)))
    arity = functions[name][0]
    return Apply("call", name, tuple(expressions(draw, visible, depth - 1, functions) for _ in range(arity)))


@st.composite
def programs(draw, transcendental=False):
    n_inputs = draw(st.integers(1, 3))
    inputs = INPUT_NAMES[:n_inputs]
    visible = {n: Ref(n, None) for n in inputs}
    statements = []
    for k in range(draw(st.integers(1, 5))):
        expr = expressions(draw, list(visible.values()), draw(st.integers(1, 3)), EXACT_FUNCTIONS)
        used = [n for n, _ in statements]
        fresh = [n for n in TEMP_NAMES if n not in used]
        if transcendental and fresh and draw(st.booleans()):
            # A transcendental at the top of a statement, over exact operands, into a fresh name that
            # nothing reads: an output whose only inexact step is the last one, so its ulps are bounded.
            name = draw(st.sampled_from(sorted(TRANSCENDENTAL_FUNCTIONS)))
            arity = TRANSCENDENTAL_FUNCTIONS[name][0]
            extra = [expressions(draw, list(visible.values()), 1, EXACT_FUNCTIONS) for _ in range(arity - 1)]
            statements.append((fresh[0], Apply("call", name, (expr, *extra))))
            continue
        # Mostly fresh names; sometimes reassign an existing intermediate (SSA).
        target = draw(st.sampled_from(used)) if used and (not fresh or draw(st.integers(0, 4)) == 0) \
            else fresh[0]
        statements.append((target, expr))
        visible[target] = Ref(target, k)
    # Default outputs: each name's newest value, if no later statement reads it, in source order.
    read = set()
    for _, expr in statements:
        stack = [expr]
        while stack:
            e = stack.pop()
            if isinstance(e, Ref) and e.index is not None:
                read.add(e.index)
            elif isinstance(e, Apply):
                stack.extend(e.args)
    last = {}
    for k, (name, _) in enumerate(statements):
        last[name] = k
    outputs = sorted(((name, k) for name, k in last.items() if k not in read), key=lambda p: p[1])
    return Generated(statements, outputs, inputs)


# -- data --------------------------------------------------------------------------------

DTYPES = ["float16", "float32", "float64", "int32", "int64", "bool", "weak_float", "weak_int", "int8", "uint8"]
BASE_SHAPES = [(), (4,), (2, 3), (0,), (3, 1, 2)]


def shapes_like(draw, base):
    """A shape that broadcasts with `base`: some leading dims dropped, some dims set to 1."""
    drop = draw(st.integers(0, len(base)))
    dims = list(base[drop:])
    return tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in dims)


def float_elements(dtype):
    width = 32 if dtype == "float32" else 64
    return st.one_of(st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True),
                     st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.0, np.inf, -np.inf, np.nan]))


@st.composite
def datasets(draw, names):
    base = draw(st.sampled_from(BASE_SHAPES))
    data = {}
    for name in names:
        dtype = draw(st.sampled_from(DTYPES))
        if dtype == "weak_float":
            data[name] = draw(st.sampled_from([0.5, -0.0, 2.0, float("nan"), float("inf"), -3.25]))
            continue
        if dtype == "weak_int":
            data[name] = draw(st.sampled_from([0, 1, -2, 7, True, False]))
            continue
        shape = shapes_like(draw, base)
        if dtype.startswith("float"):
            elements = float_elements(dtype)
        elif dtype == "bool":
            elements = st.booleans()
        else:
            info = np.iinfo(dtype)
            elements = st.one_of(st.integers(-9, 9).filter(lambda v, i=info: i.min <= v <= i.max),
                                 st.integers(int(info.min), int(info.max)))
        data[name] = draw(hnp.arrays(dtype, shape, elements=elements))
    return data


# -- the reference: the same program, evaluated with NumPy --------------------------------

class Evaluation:
    """Notes taken while evaluating: `undefined` when a float NumPy leaves undefined
    (NaN, inf or out of range) was cast to an int; NumPy's value is kept, but only
    the NumPy engine is bound to reproduce it."""

    undefined = False


def _weak(value):
    return type(value) in (bool, int, float)


def _literal_only(e) -> bool:
    """An expression without names: the parser's literals alone."""
    if isinstance(e, Lit):
        return True
    if isinstance(e, Ref):
        return False
    return all(_literal_only(a) for a in e.args)


def _apply(fn, args, notes, *, cast_to=None, strong=False):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cast_to is not None and np.dtype(cast_to).kind in "iu":
            x = np.asarray(args[0])
            if x.dtype.kind == "f":
                info = np.iinfo(cast_to)
                finite = np.isfinite(x)
                t = np.trunc(np.where(finite, x, 0))
                if not np.all(finite & (t >= info.min) & (t < float(info.max))):
                    notes.undefined = True
        out = fn(*args)
    if cast_to is not None or strong:
        return np.asarray(out)[()]  # a cast or a NumPy function is strong, whatever its operands
    if all(_weak(a) for a in args):
        arr = np.asarray(out)
        return {"b": bool, "i": int, "u": int, "f": float}[arr.dtype.kind](arr[()])
    return out


def evaluate(prog: Generated, data: dict, notes: Evaluation | None = None):
    """The outputs by name, evaluated lazily from the outputs (dead statements never run, as in symexpr)."""
    cache = {}
    notes = notes if notes is not None else Evaluation()

    def value(e):
        if isinstance(e, Lit):
            return e.value
        if isinstance(e, Ref):
            if e.index is None:
                return data[e.name]
            if e.index not in cache:
                cache[e.index] = value(prog.statements[e.index][1])
            return cache[e.index]
        args = [value(a) for a in e.args]
        if e.kind == "binary":
            fn = EXACT_BINARY[e.op]
        elif e.kind == "unary":
            fn = EXACT_UNARY_OPERATORS[e.op]
        else:
            fn = (EXACT_FUNCTIONS.get(e.op) or TRANSCENDENTAL_FUNCTIONS[e.op])[1]
        # A function of Python scalars is NumPy's scalar (np.cos(0) is a float64), an operator's is
        # Python's (weak); `pow` is the op of `**`: strong only on literals alone (see the README).
        strong = e.kind == "call" and (e.op != "pow" or _literal_only(e))
        result = _apply(fn, args, notes, cast_to=e.op if e.kind == "call" and e.op in CASTS else None,
                        strong=strong)
        dtype = np.asarray(result).dtype
        if dtype not in SUPPORTED:
            raise TypeError(f"{dtype} is not a symexpr dtype")
        return result

    return {name: np.asarray(value(Ref(name, k)))[()] for name, k in prog.outputs}


def top_ops(prog: Generated) -> dict:
    """For each output, the op at the top of its statement (the one whose ulps are allowed)."""
    tops = {}
    for name, k in prog.outputs:
        expr = prog.statements[k][1]
        tops[name] = expr.op if isinstance(expr, Apply) else None
    return tops


def run_symexpr(src, backend, data):
    """Compile and call twice: the second call of a signature takes the fast path (on the NumPy
    engine, the signature's straight-line Python), which must give the first call's bits."""
    prog = sx.compile(src, backend=backend)
    result = prog(**{n: data[n] for n in prog.inputs})
    again = prog(**{n: data[n] for n in prog.inputs})
    results = result if len(prog.outputs) > 1 else (result,)
    for r, s in zip(results, again if len(prog.outputs) > 1 else (again,)):
        assert type(r) is type(s) and np.shape(r) == np.shape(s)
        assert np.asarray(r).dtype == np.asarray(s).dtype
        assert np.asarray(r).tobytes() == np.asarray(s).tobytes()
    return prog, results


def check(backend, generated, data, transcendental):
    src = generated.source()
    note(f"program:\n{src}")
    note(f"data: { {k: (v.dtype, v.shape, v.tolist()) if isinstance(v, np.ndarray) else v for k, v in data.items()} }")
    notes = Evaluation()
    try:
        expected = evaluate(generated, data, notes)
    except (TypeError, OverflowError, ValueError):
        with pytest.raises((sx.DTypeError, sx.EvaluationError)):
            run_symexpr(src, backend, data)
        return
    prog, results = run_symexpr(src, backend, data)
    if notes.undefined and backend != "numpy":
        return  # only NumPy's engine must reproduce NumPy's value for an undefined cast
    assert prog.outputs == tuple(name for name, _ in generated.outputs)
    assert set(prog.inputs) <= set(generated.inputs)
    tops = top_ops(generated)
    for name, r in zip(prog.outputs, results):
        op = tops[name]
        ulps = 0
        if backend != "numpy" and transcendental and op in TRANSCENDENTAL_FUNCTIONS:
            ulps = OPENCL_ULPS[ULP_NAMES.get(op, op)]
        assert_same(r, expected[name], ulps, context=f"output {name}")


@st.composite
def program_and_data(draw, transcendental=False):
    generated = draw(programs(transcendental))
    data = draw(datasets(generated.inputs))
    return generated, data


@settings(max_examples=150, **SETTINGS)
@given(case=program_and_data())
def test_exact_programs_match_numpy(backend, case):
    check(backend, *case, transcendental=False)


@settings(max_examples=80, **SETTINGS)
@given(case=program_and_data(transcendental=True))
def test_transcendental_programs_match_numpy(backend, case):
    check(backend, *case, transcendental=True)


@settings(max_examples=60, **SETTINGS)
@given(case=program_and_data(transcendental=True))
def test_opencl_agrees_with_the_numpy_engine(case):
    """The OpenCL engine against the NumPy engine on the same program and data."""
    generated, data = case
    src = generated.source()
    note(f"program:\n{src}")
    try:
        _, reference = run_symexpr(src, "numpy", data)
    except sx.SymExprError as err:
        with pytest.raises(type(err)):
            run_symexpr(src, "opencl", data)
        return
    notes = Evaluation()
    try:
        evaluate(generated, data, notes)
    except (TypeError, OverflowError, ValueError):
        pass
    if notes.undefined:
        return  # a float -> int cast NumPy leaves undefined
    prog, results = run_symexpr(src, "opencl", data)
    tops = top_ops(generated)
    for name, r, e in zip(prog.outputs, results, reference):
        op = tops[name]
        ulps = OPENCL_ULPS.get(ULP_NAMES.get(op, op), 0) if op in TRANSCENDENTAL_FUNCTIONS else 0
        assert_same(r, e, ulps, context=f"output {name}")


@st.composite
def program_data_and_outputs(draw):
    """A program, its data, and an explicit `outputs=`: any assigned names, in any order."""
    generated, data = draw(program_and_data())
    last = {}
    for k, (name, _) in enumerate(generated.statements):
        last[name] = k
    names = draw(st.lists(st.sampled_from(sorted(last)), min_size=1, max_size=len(last), unique=True))
    chosen = Generated(generated.statements, [(n, last[n]) for n in names], generated.inputs)
    return chosen, data


@settings(max_examples=80, **SETTINGS)
@given(case=program_data_and_outputs())
def test_explicit_outputs_match_numpy(backend, case):
    """outputs= picks each name's newest value; everything else is dead code and may be dropped."""
    generated, data = case
    names = [n for n, _ in generated.outputs]
    src = generated.source()
    note(f"program:\n{src}\noutputs={names}")
    notes = Evaluation()
    try:
        expected = evaluate(generated, data, notes)
    except (TypeError, OverflowError, ValueError):
        with pytest.raises((sx.DTypeError, sx.EvaluationError)):
            prog = sx.compile(src, backend=backend, outputs=names)
            prog(**{n: data[n] for n in prog.inputs})
        return
    prog = sx.compile(src, backend=backend, outputs=names)
    assert prog.outputs == tuple(names)
    result = prog(**{n: data[n] for n in prog.inputs})
    results = result if len(names) > 1 else (result,)
    if notes.undefined and backend != "numpy":
        return
    for name, r in zip(names, results):
        assert_same(r, expected[name], context=f"output {name}")


def test_generator_covers_the_language():
    """The generator reaches every op kind, reassignment and several outputs (so the properties mean something)."""
    seen_ops, reassigned, multi = set(), False, False

    @settings(max_examples=300, derandomize=True, deadline=None)
    @given(programs(transcendental=True))
    def collect(g):
        nonlocal reassigned, multi
        names = [n for n, _ in g.statements]
        reassigned |= len(set(names)) < len(names)
        multi |= len(g.outputs) > 1
        for _, expr in g.statements:
            stack = [expr]
            while stack:
                e = stack.pop()
                if isinstance(e, Apply):
                    seen_ops.add(e.op)
                    stack.extend(e.args)

    collect()
    assert reassigned and multi
    everything = set(EXACT_BINARY) | set(EXACT_UNARY_OPERATORS) | set(EXACT_FUNCTIONS) | set(TRANSCENDENTAL_FUNCTIONS)
    missing = everything - seen_ops
    assert not missing, missing

"""The optimizer changes no bit: generated programs give identical results with and without it.

Programs are built from templates that the passes act on (identities such as `x * 1`,
`x - 0`, `--x`, `x ** 2`; near misses that must be left alone such as `x + 0`, `x - -0.0`,
`bool * 1`; repeated and swapped subexpressions; literal arithmetic to fold, including
`1 / 0` and `2 ** -1`), over every kind of operand: float32/float64 arrays holding NaN,
+-inf, -0.0 and denormals, int and uint arrays at their limits, bool arrays, and weak
Python scalars. Each program runs with `optimize=True` and `optimize=False`; results must
agree in dtype, shape and every byte, and errors must agree in class and line. Failures
shrink to a minimal program.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import symexpr as sx

BACKENDS = ["numpy", "opencl"]

# {x} and {y} are operands: inputs, earlier statements, or literals.
TEMPLATES = [
    # identities the simplifier applies where the dtype allows
    "{x} * 1", "1 * {x}", "{x} * 1.0", "{x} / 1", "{x} ** 1", "{x} - 0", "{x} - 0.0", "--{x}", "-(-{x})",
    "{x} ** 2", "{x} ** 2.0", "+{x}", "~~{x}", "not not {x}", "{x} | 0", "{x} ^ 0", "{x} + 0", "0 + {x}",
    "{x} and True", "{x} or False", "float64({x})", "float32({x})", "int32({x})", "{x} * True",
    # near misses that must stay
    "{x} + 0.0", "{x} - -0.0", "{x} * 0", "{x} - {x}", "{x} / {x}", "{x} * -1", "{x} ** 3", "{x} ** -1",
    # shared subexpressions, commutative or not
    "{x} * {y} + {y} * {x}", "{x} + {y} - ({y} + {x})", "maximum({x}, {y}) - maximum({y}, {x})",
    "minimum({x}, {y}) * minimum({y}, {x})", "sin({x}) + sin({x})", "({x} == {y}) != ({y} == {x})",
    "hypot({x}, {y}) - hypot({y}, {x})", "{x} - {y} + ({y} - {x})", "where({x} > {y}, {x}, {y})",
    # literal arithmetic to fold
    "{x} * (2 + 3)", "{x} + (1 / 0)", "{x} * (-0.0 * 1)", "{x} + float32(0.1) * 3",
    "{x} * (0.1 + 0.2)", "{x} - (nan * 0)", "{x} + (7 // 2) % 3", "{x} * -(-1)", "({x} + 1) * 1 - 0",
    # plain operations
    "{x} + {y}", "{x} * {y}", "{x} - {y}", "{x} / {y}", "{x} > {y}", "abs({x})", "sqrt({x})", "{x} // {y}",
]
# Always an EvaluationError (an int to a negative power): checked once, not in every generated program.
RAISING = ["{x} + 2 ** -1"]

_special = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 5e-324, -5e-324, 1e-310, 1e308, -1e308,
            1e-45, 3.4e38, 2.0, 0.5, -7.25]


with np.errstate(over="ignore"):
    F32_SPECIAL = np.array(_special, np.float64).astype(np.float32)  # 1e308 -> inf, 5e-324 -> 0


@st.composite
def values(draw, shape: tuple):
    """One input: an array of a random dtype and the given shape with edge values, or a weak Python scalar."""
    # Floats half the time: most templates are about them, and fewer programs end in a dtype error.
    choice = draw(st.sampled_from(["float64", "float32"] * 3 + ["int32", "int64", "uint8", "int8", "bool", "weak"]))
    if choice == "weak":
        return draw(st.one_of(st.sampled_from(_special), st.integers(-5, 5), st.booleans()))
    dtype = np.dtype(choice)
    size = int(np.prod(shape))
    if dtype.kind == "f":
        elems = st.one_of(st.sampled_from(_special), st.floats(allow_nan=True, allow_infinity=True))
    elif dtype.kind == "b":
        elems = st.booleans()
    else:
        info = np.iinfo(dtype)
        elems = st.one_of(st.sampled_from([0, 1, -1 if info.min < 0 else 2, info.min, info.max, 2]),
                          st.integers(int(info.min), int(info.max)))
    with np.errstate(all="ignore"):
        return np.array(draw(st.lists(elems, min_size=size, max_size=size)), dtype=dtype).reshape(shape)


@st.composite
def programs(draw):
    """(source, outputs, inputs): 1 to 6 statements over inputs a, b, s, which broadcast together."""
    n = draw(st.integers(1, 4))
    inputs = {"a": draw(values((n,))),
              "b": draw(values(draw(st.sampled_from([(n,), (n,), (2, n), (1,)])))),
              "s": draw(values(draw(st.sampled_from([(n,), (), (3, 1, n)]))))}
    names = list(inputs)
    lines = []
    for k in range(draw(st.integers(1, 6))):
        template = draw(st.sampled_from(TEMPLATES))
        pick = st.one_of(st.sampled_from(names), st.sampled_from(["2", "0.5", "-0.0", "3"]))
        x, y = draw(st.sampled_from(names)), draw(pick)
        target = f"t{k}"
        lines.append(f"{target} = {template.format(x=x, y=y)}")
        names.append(target)
    source = "\n".join(lines)
    k = len(lines)
    outputs = sorted(set(draw(st.lists(st.sampled_from([f"t{j}" for j in range(k)]), min_size=1, max_size=3))))
    return source, outputs, inputs


def outcome(prog, inputs):
    """The results as (dtype, shape, bytes) each, or the error as (class, line).

    On the NumPy engine every bit counts, NaN sign and payload included. On OpenCL, NaNs are
    compared as NaN: IEEE 754 leaves a NaN's sign and payload unspecified for arithmetic and the
    OpenCL compiler uses that (it compiles `x * -1.0` as `-x`, which flips a NaN's sign bit),
    so a constant the optimizer folds can change them there.
    """
    inputs = {k: v for k, v in inputs.items() if k in prog.parsed.input_names}
    try:
        result = prog(**inputs)
    except sx.SymExprError as err:
        return ("error", type(err).__name__, err.line)
    results = result if isinstance(result, tuple) else (result,)
    return tuple(("value", np.asarray(r).dtype.str, np.shape(r), _bytes(np.asarray(r), prog.backend)) for r in results)


def _bytes(r: np.ndarray, backend: str) -> bytes:
    if backend != "numpy" and r.dtype.kind == "f":
        r = np.where(np.isnan(r), np.array(np.nan, r.dtype), r)
    return r.tobytes()


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=programs())
def test_optimized_is_bit_identical(backend, case):
    source, outputs, inputs = case
    note(f"program:\n{source}\noutputs: {outputs}\ninputs: {inputs!r}")
    try:
        unoptimized = sx.compile(source, outputs=outputs, backend=backend, optimize=False)
    except sx.ParseError:
        return  # e.g. `not not` of a literal that parses differently: nothing to compare
    optimized = sx.compile(source, outputs=outputs, backend=backend)
    note(optimized.explain())
    expected = outcome(unoptimized, inputs)
    got = outcome(optimized, inputs)
    if got != expected and (expected[0] == "error" or got[0] == "error"):
        # Dead code goes, and an error only dead code raised goes with it; the live code must
        # then behave exactly as written: the same error at the same line, or the same values.
        assert got == live_outcome(source, outputs, backend, inputs), f"optimized {got[:3]}, as written {expected[:3]}"
        return
    assert got == expected
    if expected[0] == "error":
        return
    # Twice on one signature: the cached plan and reused buffers give the same bytes again.
    assert outcome(optimized, inputs) == expected
    # Into out= arrays (written directly by the last ufunc where that is safe): the same bytes.
    if all(len(shape) for _, _, shape, _ in expected):
        targets = [np.empty(shape, dtype) for _, dtype, shape, _ in expected]
        optimized.run({k: v for k, v in inputs.items() if k in optimized.inputs}, out=targets)
        assert [_bytes(t, backend) for t in targets] == [data for *_, data in expected]


def live_outcome(source, outputs, backend, inputs):
    """The outcome of the as-written program without the statements its outputs do not need."""
    from symexpr.passes.dead_code import eliminate_dead_code

    graph = eliminate_dead_code(sx.compile(source, outputs=outputs, optimize=False).parsed, [])
    keep = sorted({n.statement.line for n in graph.nodes if n.statement is not None and n.op != "input"})
    lines = source.splitlines()
    pruned = sx.compile("\n".join(lines[k - 1] for k in keep), outputs=outputs, backend=backend, optimize=False)
    result = outcome(pruned, inputs)
    if result[0] == "error" and result[2] is not None:
        return result[:2] + (keep[result[2] - 1],)  # its line in the original program
    return result


@pytest.mark.parametrize("backend", BACKENDS)
def test_identities_on_edge_values(backend):
    """Every template against the as-written program, on every edge value of each dtype at once."""
    data = {
        "f64": np.array(_special, np.float64),
        "f32": F32_SPECIAL,
        "i32": np.array([0, 1, -1, 2**31 - 1, -2**31, 7, -7, 3] * 2 + [0, 0], np.int32),
        "u8": np.array([0, 1, 255, 128, 2, 3, 254, 7] * 2 + [0, 0], np.uint8),
        "b": np.array([True, False] * 9),
        "weak float": -0.0,
        "weak int": 3,
    }
    checked = 0
    for name, x in data.items():
        y = data["f64"][::-1].copy() if np.asarray(x).dtype.kind == "f" else data["i32"]
        for template in TEMPLATES + RAISING:
            src = f"c = {template.format(x='x', y='y')}"
            ref = sx.compile(src, backend=backend, optimize=False)
            opt = sx.compile(src, backend=backend)
            inputs = {k: v for k, v in {"x": x, "y": y}.items() if k in ref.inputs}
            assert outcome(opt, inputs) == outcome(ref, inputs), f"{src} on {name}:\n{opt.explain(**inputs)}"
            checked += 1
    assert checked == len(data) * len(TEMPLATES + RAISING)


def test_simplifications_actually_fire():
    """The equivalence above is not vacuous: on float64 the simplifier rewrites these templates."""
    fired = []
    for template in ("{x} * 1", "{x} / 1", "{x} ** 1", "{x} - 0", "--{x}", "{x} ** 2", "({x} + 1) * 1 - 0"):
        prog = sx.compile(f"c = {template.format(x='x')}", backend="numpy")
        _, rewrites = prog.specialized(x=np.zeros(3))
        fired.append(bool(rewrites))
    assert all(fired)


@pytest.mark.parametrize("backend", BACKENDS)
def test_swapped_operands_keep_their_bits(backend):
    """`a OP b` and `b OP a` as two outputs, on NaNs of both signs and zeros of both signs."""
    from symexpr.ops import OPS

    f = np.array([np.nan, -np.nan, 0.0, -0.0, np.inf, 1.0, np.nan, -0.0])
    g = np.array([-np.nan, np.nan, -0.0, 0.0, np.nan, -np.nan, 2.0, -0.0])
    data = [(f, g), (f.astype(np.float32), g.astype(np.float32)),
            (np.array([1, -2, 3, 0, 7, -8, 2**31 - 1, 5], np.int32), np.array([3, 2, 1, 0, -1, -2, 2, 9], np.int32)),
            (np.array([True, False] * 4), np.array([True, True, False, False] * 2))]
    for name, op in OPS.items():
        if not op.commutative:
            continue
        call = f"{op.symbol}" if op.symbol else None
        src = (f"c = a {call} b\nd = b {call} a" if call else f"c = {op.functions[0]}(a, b)\nd = {op.functions[0]}(b, a)")
        for a, b in data:
            ref = sx.compile(src, backend=backend, optimize=False)
            opt = sx.compile(src, backend=backend)
            assert outcome(opt, {"a": a, "b": b}) == outcome(ref, {"a": a, "b": b}), f"{src} on {a.dtype}"

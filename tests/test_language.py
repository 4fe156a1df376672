"""The surface language: statements, names, literals, precedence, on every backend.

Expectations are the same expressions evaluated by Python/NumPy directly.
"""
import textwrap

import numpy as np
import pytest

import symexpr as sx
from helpers import assert_same, numpy_quiet, run

A = np.array([1.5, -2.0, 0.0, 3.0, -0.5], np.float64)
B = np.array([2.0, 0.5, -1.0, -3.0, 4.0], np.float64)
C = np.array([-1.0, 2.0, 3.0, 0.25, 1.0], np.float64)


def run_named(backend, src, **values):
    """Run with the inputs the program actually reads, by name."""
    prog = sx.compile(src, backend=backend)
    return prog(**{n: values[n] for n in prog.inputs})


# -- statements --------------------------------------------------------------------------

@pytest.mark.parametrize("src", [
    "d = a * b; c = d + a",
    "d = a * b\nc = d + a",
    "d = a * b;\nc = d + a;",
    "\n\n d = a * b ;; \n\n c = d + a\n\n",
    "d = a * b  # product\n# a comment line\n\nc = d + a # sum",
    "d = a * b\r\nc = d + a\r\n",
    "d = (a *\n     b)\nc = (d\n  + a)",
    "d = a * b \\\n  ; c = d + a",
])
def test_statement_separators(backend, src):
    prog = sx.compile(src, backend=backend)
    assert prog.inputs == ("a", "b")
    assert prog.outputs == ("c",)
    assert_same(prog(A, B), A * B + A)


def test_triple_quoted_indentation(backend):
    src = """
        d = a * b          # comments run to the end of the line
        e = d + sin(a)

        c = where(e > 0, e, 0)
    """
    prog = sx.compile(src, backend=backend)
    a = A.astype(np.float32)
    b = np.float32(2.0)
    e = a * b + np.sin(a)
    expected = np.where(e > 0, e, 0)
    r = prog(a=a, b=b)
    assert r.dtype == np.float32
    # sin is within 4 ulps on OpenCL; the where on top of it keeps the same values.
    np.testing.assert_allclose(r, expected, rtol=1e-6)
    assert prog(a=a, b=b).shape == (5,)
    assert sx.compile(textwrap.dedent(src), backend=backend).outputs == prog.outputs


def test_tabs_and_mixed_indentation(backend):
    r = run(backend, "\td = a + 1\n\tc = d * 2\n", A)
    assert_same(r, (A + 1) * 2)


def test_reassignment_is_ssa(backend):
    prog = sx.compile("x = a + 1\nx = x * 2\ny = x - a\nx = y / 2", backend=backend)
    assert prog.inputs == ("a",)
    assert prog.outputs == ("x",)
    x = (A + 1) * 2
    y = x - A
    assert_same(prog(A), y / 2)


def test_reassigned_value_read_before_is_kept(backend):
    prog = sx.compile("x = a + 1; y = x; x = a * 3", backend=backend)
    assert prog.outputs == ("y", "x")
    y, x = prog(A)
    assert_same(y, A + 1)
    assert_same(x, A * 3)


def test_input_read_then_assigned(backend):
    # `a` is an input until it is assigned; later statements see the new value.
    prog = sx.compile("b2 = a * 2\na = a + 1\nc = a + b2", backend=backend)
    assert prog.inputs == ("a",)
    assert prog.outputs == ("c",)
    assert_same(prog(A), (A + 1) + A * 2)


def test_inputs_in_order_of_first_appearance(backend):
    prog = sx.compile("t = z * y\nu = t + x + y\nv = w - z", backend=backend)
    assert prog.inputs == ("z", "y", "x", "w")
    u, v = prog(1.0, 2.0, 3.0, 4.0)
    assert_same(u, np.float64(1.0 * 2.0 + 3.0 + 2.0))
    assert_same(v, np.float64(4.0 - 1.0))


def test_default_outputs_are_unread_assignments_in_source_order(backend):
    prog = sx.compile("p = a + 1\nq = p * 2\nr = a - 1\ns = q + r\nt = a * a", backend=backend)
    assert prog.outputs == ("s", "t")
    s, t = prog(A)
    assert_same(s, (A + 1) * 2 + (A - 1))
    assert_same(t, A * A)


def test_default_outputs_with_reassignment(backend):
    # The first x is read, the last x is not: x is an output, once, at the place of its last assignment.
    prog = sx.compile("x = a + 1\ny = x * 2\nx = a - 1", backend=backend)
    assert prog.outputs == ("y", "x")


def test_explicit_outputs(backend):
    prog = sx.compile("p = a + 1\nq = p * 2", outputs=["q", "p"], backend=backend)
    assert prog.outputs == ("q", "p")
    q, p = prog(A)
    assert_same(q, (A + 1) * 2)
    assert_same(p, A + 1)
    prog = sx.compile("p = a + 1\nq = p * 2", outputs="p", backend=backend)
    assert prog.outputs == ("p",)
    assert_same(prog(A), A + 1)


def test_output_that_is_an_input_or_constant(backend):
    r = run(backend, "c = a", A)
    assert_same(r, A)
    assert not np.shares_memory(r, A)
    r = run(backend, "c = 3")
    assert_same(r, np.asarray(3)[()])
    r = run(backend, "c = 2.5")
    assert_same(r, np.asarray(2.5)[()])


# -- literals ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("1", 1), ("0", 0), ("1.5", 1.5), (".5", 0.5), ("5.", 5.0), ("1e-3", 1e-3), ("2.5E+3", 2.5e3),
    ("1E3", 1e3), ("3e0", 3.0), ("True", True), ("False", False), ("pi", float(np.pi)),
    ("inf", float("inf")), ("nan", float("nan")), ("9223372036854775807", 2**63 - 1),
    ("007", 7), ("1_0", None),
])
def test_literal_forms(backend, text, value):
    if value is None:
        with pytest.raises(sx.ParseError):
            sx.compile(f"c = a * {text}", backend=backend)
        return
    for a in (np.array([1.0, -2.0], np.float32), np.array([1, -2], np.int32), np.array([True, False])):
        try:
            expected = numpy_quiet(np.multiply, a, value)
        except (TypeError, OverflowError):
            with pytest.raises(sx.DTypeError):
                run(backend, f"c = a * {text}", a)
            continue
        assert_same(run(backend, f"c = a * {text}", a), expected, context=text)
    # Alone, a literal is a Python scalar in NumPy: the result is its default dtype.
    assert_same(run(backend, f"c = {text}"), np.asarray(value)[()])


def test_negative_literals_and_int64_bounds(backend):
    a = np.array([0, 1], np.int64)
    assert_same(run(backend, "c = a + -9223372036854775807", a), a + -9223372036854775807)
    assert_same(run(backend, "c = a - 9223372036854775807", a), a - 9223372036854775807)
    # INT64_MIN is written as in Python: minus applied to 2**63, which alone does not fit.
    assert_same(run(backend, "c = a + -9223372036854775808", a), a + -9223372036854775808)
    assert_same(run(backend, "c = -9223372036854775808"), np.int64(-9223372036854775808))
    with pytest.raises(sx.ParseError, match="does not fit in int64"):
        sx.compile("c = a + 9223372036854775808", backend=backend)
    with pytest.raises(sx.ParseError, match="does not fit in int64"):
        sx.compile("c = -9223372036854775808 ** 1", backend=backend)  # -(2**63 ** 1)


@pytest.mark.parametrize("optimize", [True, False])
def test_literal_arithmetic_beyond_int64_is_an_error_not_a_wrapped_value(backend, optimize):
    # An operator on integer literals is Python's arithmetic; symexpr computes it in int64, so a result
    # beyond int64 (2**64, which NumPy would take as the float 1.8e19 beside a float array) is refused,
    # never wrapped (it gave `a + 2**64 == a`, and 0 for 2**200).
    a = np.array([1.0, -2.0])
    for src in ["c = a + 2**64", "c = a * 2**200", "c = a * (2**62 + 2**62)", "c = 2**62 * 4",
                "c = a - (-9223372036854775807 - 2)", "c = a * -(-9223372036854775807 - 1)", "c = a * 3**41"]:
        with pytest.raises(sx.SymExprError, match="int64"):
            prog = sx.compile(src, backend=backend, optimize=optimize)
            prog(**{"a": a for _ in prog.inputs})
    # Up to the bounds, exact: as NumPy computes the same Python ints
    for src, want in [("c = a * (2**62 + (2**62 - 1))", a * (2**63 - 1)), ("c = a * (-2)**63", a * (-2)**63),
                      ("c = a + 3**39 * -1", a + -3**39), ("c = a * (1 ** 1000 + 0 ** 99)", a * 1)]:
        assert_same(sx.compile(src, backend=backend, optimize=optimize)(a=a), want, context=src)


# -- precedence and associativity ---------------------------------------------------------

PRECEDENCE = [
    "-a**2", "-a ** -b", "a ** -b", "a ** b ** c", "2 ** -a", "a - b - c", "a / b / c", "a // b * c",
    "a - b + c", "a * b + c * a", "a + b * c", "(a + b) * c", "a % b * c", "-a % b", "+a - -b",
    "a * -b", "a - -b ** 2", "--a", "-(-a)", "a ** 2 * b", "a ** b * c ** a",
]


@pytest.mark.parametrize("expr", PRECEDENCE)
def test_arithmetic_precedence(backend, expr):
    a, b, c = np.abs(A) + 0.5, np.abs(B) * 0.5 + 0.25, C
    # Python's own parser and NumPy's operators give the reference.
    expected = numpy_quiet(lambda: eval(expr, {}, {"a": a, "b": b, "c": c}))
    r = run_named(backend, f"r = {expr}", a=a, b=b, c=c)
    tolerance = 16 if backend != "numpy" and "**" in expr else 0
    assert_same(r, expected, tolerance, context=expr)


LOGIC = [
    ("a < b < c", lambda a, b, c: (a < b) & (b < c)),
    ("a < b > c", lambda a, b, c: (a < b) & (b > c)),
    ("a == b == c", lambda a, b, c: (a == b) & (b == c)),
    ("a <= b != c", lambda a, b, c: (a <= b) & (b != c)),
    ("a < b and b < c or a > c", lambda a, b, c: ((a < b) & (b < c)) | (a > c)),
    ("not a < b", lambda a, b, c: ~(a < b)),
    ("not a < b and c > 0", lambda a, b, c: (~(a < b)) & (c > 0)),
    ("a > 0 or b > 0 and c > 0", lambda a, b, c: (a > 0) | ((b > 0) & (c > 0))),
    ("(a > 0) & (b > 0) | (c > 0)", lambda a, b, c: ((a > 0) & (b > 0)) | (c > 0)),
    ("~(a > 0) ^ (b > 0)", lambda a, b, c: (~(a > 0)) ^ (b > 0)),
    ("a + b > c * 2", lambda a, b, c: (a + b) > (c * 2)),
    ("not not (a > b)", lambda a, b, c: a > b),
]


@pytest.mark.parametrize("expr", [e for e, _ in LOGIC])
def test_logic_and_comparisons(backend, expr):
    fn = dict(LOGIC)[expr]
    assert_same(run_named(backend, f"r = {expr}", a=A, b=B, c=C), fn(A, B, C), context=expr)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_bitwise_operators_precedence(backend, dtype):
    """& | ^ ~ bind as in Python: ~ tightest, then arithmetic, then &, then ^, then |."""
    rng = np.random.default_rng(5)
    a, b, c = (rng.integers(-50, 50, 20).astype(dtype) for _ in range(3))
    for expr in ["a & b | c", "a | b & c", "a ^ b & c", "a | b ^ c", "~a & b", "a & ~b | c ^ a"]:
        expected = numpy_quiet(lambda: eval(expr, {}, {"a": a, "b": b, "c": c}))
        assert_same(run_named(backend, f"r = {expr}", a=a, b=b, c=c), expected, context=expr)
    if dtype != "bool":
        for expr in ["a + b & c", "a & b + c", "a * 2 | b"]:
            expected = numpy_quiet(lambda: eval(expr, {}, {"a": a, "b": b, "c": c}))
            assert_same(run_named(backend, f"r = {expr}", a=a, b=b, c=c), expected, context=expr)


def test_and_or_not_are_elementwise(backend):
    a = np.array([0, 1, 2, 0])
    b = np.array([0.0, 0.0, 3.5, np.nan])
    assert_same(run(backend, "r = a and b", a, b), np.logical_and(a, b))
    assert_same(run(backend, "r = a or b", a, b), np.logical_or(a, b))
    assert_same(run(backend, "r = not b", b), np.logical_not(b))


def test_newlines_inside_parentheses_and_calls(backend):
    src = "c = where(\n  a > 0,\n  a,\n\n  (b\n   * 2)\n)\nd = maximum(a,\n b,)"
    prog = sx.compile(src, backend=backend)
    c, d = prog(A, B)
    assert_same(c, np.where(A > 0, A, B * 2))
    assert_same(d, np.maximum(A, B))


# -- names ---------------------------------------------------------------------------------

KEYWORD_NAMES = [
    "kernel", "__kernel", "global", "__global", "local", "private", "constant", "float", "double", "int",
    "long", "short", "char", "uint", "half", "bool_", "void", "restrict", "const", "volatile", "inline",
    "static", "struct", "union", "enum", "return", "if", "else", "for", "while", "do", "switch", "case",
    "break", "continue", "goto", "sizeof", "typedef", "signed", "unsigned", "auto", "register", "extern",
    "i", "n", "out", "idx", "gid", "size_t", "get_global_id", "barrier", "float4", "mad", "fma", "select",
    "printf", "NULL", "null", "self", "lambda", "def", "class", "import", "in", "is", "elif",
    "if_", "_", "__", "_0", "x0", "M_PI", "FLT_MAX", "INFINITY", "NAN", "main", "result", "input",
    "output", "args", "kwargs", "np", "numpy", "sx", "nan_", "pi2", "inf_", "Inf", "NaN", "PI", "true",
    "false", "TRUE", "nothing", "andy", "order", "notx", "print", "exec", "eval", "open", "__import__",
    "_names", "count", "index", "graph", "inputs", "outputs", "source", "names",
]


@pytest.mark.parametrize("name", KEYWORD_NAMES)
def test_any_name_works_as_a_variable(backend, name):
    src = f"{name} = a * 2\nc = {name} + {name}"
    assert_same(run(backend, src, A), A * 2 + A * 2)
    # As an input, and as an output, too.
    prog = sx.compile(f"r = {name} + 1\nq = r * {name}", backend=backend)
    assert prog.inputs == (name,)
    assert_same(prog(**{name: A}), (A + 1) * A)
    prog = sx.compile(f"{name} = a - 1", backend=backend)
    assert prog.outputs == (name,)
    assert_same(prog(A), A - 1)


def test_many_keyword_names_in_one_program(backend):
    names = KEYWORD_NAMES[:40]
    lines = [f"{n} = a + {k}" for k, n in enumerate(names)]
    lines.append("total = " + " + ".join(names))
    prog = sx.compile("\n".join(lines), backend=backend)
    assert prog.outputs == ("total",)
    expected = A + 0
    for k in range(1, len(names)):
        expected = expected + (A + k)
    assert_same(prog(A), expected)


@pytest.mark.parametrize("fname", ["sin", "exp", "where", "float32", "abs", "maximum", "bool", "int64", "relu"])
def test_a_variable_cannot_shadow_a_function(backend, fname):
    with pytest.raises(sx.ParseError, match=f"`{fname}`") as info:
        sx.compile(f"x = a + 1\n{fname} = x * 2", backend=backend)
    assert info.value.line == 2 and info.value.column == 1
    with pytest.raises(sx.ParseError, match=f"`{fname}`"):
        sx.compile(f"c = {fname} + 1", backend=backend)


@pytest.mark.parametrize("const", ["pi", "inf", "nan", "True", "False"])
def test_constants_cannot_be_assigned(backend, const):
    with pytest.raises(sx.ParseError):
        sx.compile(f"{const} = a + 1", backend=backend)


def test_function_aliases(backend):
    x = np.array([0.5, -0.25, 0.0], np.float64)
    y = np.array([1.0, -2.0, 3.0], np.float64)
    for alias, name in [("asin", "arcsin"), ("acos", "arccos"), ("atan", "arctan"), ("abs", "absolute"),
                        ("asinh", "arcsinh"), ("atanh", "arctanh")]:
        assert_same(run(backend, f"c = {alias}(a)", x), run(backend, f"c = {name}(a)", x))
    assert_same(run(backend, "c = atan2(a, b)", x, y), run(backend, "c = arctan2(a, b)", x, y))
    assert_same(run(backend, "c = pow(a, b)", x, y), run(backend, "c = a ** b", x, y))


def test_call_spacing_and_trailing_comma(backend):
    assert_same(run(backend, "c = maximum ( a , b , )", A, B), np.maximum(A, B))
    assert_same(run(backend, "c=a*b;d=c+1", A, B), A * B + 1)


def test_a_name_can_be_input_and_output(backend):
    prog = sx.compile("a = a + 1\na = a * 3", backend=backend)
    assert prog.inputs == ("a",)
    assert prog.outputs == ("a",)
    assert_same(prog(A), (A + 1) * 3)


def test_comments_may_hold_any_text(backend):
    src = "# héllo, ünïcode, (unbalanced [ and 'quotes\nc = a + 1  # → ∞ ; d = a\n#"
    prog = sx.compile(src, backend=backend)
    assert prog.outputs == ("c",)
    assert_same(prog(A), A + 1)


def test_function_names_programs_use_for_values_are_variables_where_not_called():
    prog = sx.compile("theta = angle * 2\nreal = theta + 1\nround = real * 1j\nc = angle(round) + imag(round)",
                      backend="numpy")
    assert prog.inputs == ("angle",)
    a = np.array([0.5, -1.0])
    np.testing.assert_array_equal(prog(a), np.angle((a * 2 + 1) * 1j) + (a * 2 + 1))
    with pytest.raises(sx.ParseError, match="`sin` is a function"):
        sx.compile("c = sin * 2")

"""Every error of the language and the API: its class, its message, its place and its caret line.

Compile-time errors do not depend on the backend, but they are raised through
`sx.compile(..., backend=...)`, so they run on both; call-time errors are checked
on every backend, which must raise them before running anything.
"""
import re

import numpy as np
import pytest

import symexpr as sx


def compile_error(src, backend, cls=sx.ParseError, **kwargs):
    with pytest.raises(cls) as info:
        sx.compile(src, backend=backend, **kwargs)
    return info.value


def check_caret(err, src, line, column):
    """The error names line and column, and shows the source line with a caret under the column."""
    assert isinstance(err, sx.SymExprError)
    assert (err.line, err.column) == (line, column), (err.line, err.column, str(err))
    text = str(err)
    rows = text.split("\n")
    assert rows[0].startswith(f"line {line}, column {column}: "), text
    source_line = src.splitlines()[line - 1] if src.splitlines() else ""
    assert rows[1].strip() == source_line.strip(), text
    caret = rows[2]
    assert caret.strip() and set(caret.strip()) == {"^"}, text
    # The caret sits under the column: same indentation as the quoted line plus column - 1.
    indent = len(rows[1]) - len(rows[1].lstrip()) if rows[1].strip() else len(rows[1])
    lead = len(rows[1]) - len(source_line) if source_line else indent
    assert caret.index("^") == lead + column - 1, text


# -- syntax errors -----------------------------------------------------------------------

SYNTAX = [
    # source, line, column, a piece of the message
    ("c = a +", 1, 8, "end of the program"),
    ("c = (a + b", 1, 11, "end of the program"),
    ("c = a b", 1, 7, "unexpected `b`"),
    ("c = a + * b", 1, 9, "unexpected `*`"),
    ("x = a\nc = a +* b", 2, 8, "unexpected `*`"),
    ("x = 1\n\ny = a )", 3, 7, "unexpected `)`"),
    ("c = a $ b", 1, 7, "unexpected character `$`"),
    ("c = a ? b", 1, 7, "unexpected character `?`"),
    ("c = 'a'", 1, 5, "unexpected character"),
    ("c = a[0]", 1, 6, "unexpected character `[`"),
    ("c = 1.5.5", 1, 8, "unexpected `.5`"),
    ("= a", 1, 1, "unexpected `=`"),
    ("c = = a", 1, 5, "unexpected `=`"),
    ("c = a = b", 1, 7, "unexpected `=`"),
    ("c = sin(a,, b)", 1, 11, "unexpected `,`"),
    ("c = a ** ** b", 1, 10, "unexpected `**`"),
    ("c = a < > b", 1, 9, "unexpected"),
    ("    c = a +\n", 1, 12, "end of the program"),
    ("c = a; d = ", 1, 11, "end of the program"),
    ("c = a\n  d = (b\n", 2, 9, "end of the program"),
    ("c = a if b else d", 1, 7, "is written `where(c, x, y)`"),
    ("c = lambda: a", 1, 11, "unexpected"),
    ("c = a.b", 1, 6, "`a.b`: a program has no methods or attributes"),
    ("c = a $ b", 1, 7, "unexpected character `$`"),
    ("1 = a", 1, 1, "cannot assign to `1`"),
    ("c = 2\na + 1 = c", 2, 1, "cannot assign to `a + 1`"),
    ("c = 2; sin(a) = c", 1, 8, "cannot assign to `sin(a)`"),
]


# Exact messages: what was found, and only what could have come instead at that place.
SYNTAX_MESSAGES = [
    ("c = a +\n b", 1, 8, "unexpected end of the line; expected a value, a name or `(`"),
    ("c = sin a", 1, 9, "unexpected `a`; expected an operator or the end of the statement"),
    ("c = sin(a b)", 1, 11, "unexpected `b`; expected an operator, `)` or `,`"),
    ("c = (a b", 1, 8, "unexpected `b`; expected an operator, `)` or `,`"),
    ("c = a b  # (", 1, 7, "unexpected `b`; expected an operator or the end of the statement"),
    ("c = (1 +\n 2) d", 2, 5, "unexpected `d`; expected an operator or the end of the statement"),
    ("c = a)", 1, 6, "unexpected `)`; expected an operator or the end of the statement"),
    ("c = a +", 1, 8, "unexpected end of the program; expected a value, a name or `(`"),
    ("c = (a + b", 1, 11, "unexpected end of the program; expected an operator, `)` or `,`"),
]


@pytest.mark.parametrize("src,line,column,message", SYNTAX_MESSAGES)
def test_syntax_error_message(backend, src, line, column, message):
    err = compile_error(src, backend)
    assert err.message == message
    check_caret(err, src, line, column)


@pytest.mark.parametrize("src,line,column,message", SYNTAX)
def test_syntax_error(backend, src, line, column, message):
    err = compile_error(src, backend)
    assert isinstance(err, SyntaxError)
    assert message in err.message, err.message
    check_caret(err, src, line, column)
    # SyntaxError's own attributes, for tools that know SyntaxError.
    assert err.lineno == line and err.offset == column


def test_unknown_function(backend):
    src = "x = a + 1\nc = sine(x) + 1"
    err = compile_error(src, backend)
    assert "`sine`" in err.message and "not a function" in err.message
    assert "did you mean `sin`?" in err.message
    check_caret(err, src, 2, 5)


def test_calling_a_variable_or_constant(backend):
    err = compile_error("x = a + 1\nc = x(a)", backend)
    assert "`x`" in err.message and "variable" in err.message
    check_caret(err, "x = a + 1\nc = x(a)", 2, 5)
    err = compile_error("c = pi(2)", backend)
    assert "constant" in err.message


@pytest.mark.parametrize("src,fname,arity,got", [
    ("c = sin(a, b)", "sin", 1, 2),
    ("c = where(a, b)", "where", 3, 2),
    ("c = maximum(a)", "maximum", 2, 1),
    ("c = clip(a, b, c, d)", "clip", 3, 4),
    ("c = exp()", "exp", 1, 0),
    ("c = float32(a, b)", "float32", 1, 2),
])
def test_wrong_arity(backend, src, fname, arity, got):
    err = compile_error(src, backend)
    assert err.message == f"{fname}() takes {arity} argument{'s' if arity != 1 else ''}, got {got}"
    check_caret(err, src, 1, 5)


@pytest.mark.parametrize("name", ["sin", "where", "float32", "bool", "maximum", "abs"])
def test_assigning_to_a_function(backend, name):
    src = f"x = a\n  {name} = x + 1"
    err = compile_error(src, backend)
    assert err.message == f"cannot assign to `{name}`: it is a function"
    check_caret(err, src, 2, 3)


@pytest.mark.parametrize("name", ["pi", "inf", "nan"])
def test_assigning_to_a_constant(backend, name):
    src = f"{name} = a + 1"
    err = compile_error(src, backend)
    assert err.message == f"cannot assign to `{name}`: it is a constant"
    check_caret(err, src, 1, 1)


@pytest.mark.parametrize("name,what", [("True", "a constant"), ("False", "a constant"), ("and", "a keyword"),
                                       ("or", "a keyword"), ("not", "a keyword")])
def test_assigning_to_a_keyword(backend, name, what):
    src = f"x = a\n{name} = a + 1"
    err = compile_error(src, backend)
    assert err.message == f"cannot assign to `{name}`: it is {what}"
    check_caret(err, src, 2, 1)


def test_function_used_as_a_value(backend):
    src = "c = a + sin"
    err = compile_error(src, backend)
    assert "`sin` is a function" in err.message
    check_caret(err, src, 1, 9)


@pytest.mark.parametrize("src", ["", "   ", "\n\n\n", "# only a comment", "  # c\n\n  # d\n", ";", ";;\n;"])
def test_empty_program(backend, src):
    err = compile_error(src, backend)
    assert "empty" in err.message
    assert err.line == 1 and err.column == 1


@pytest.mark.parametrize("src,line,column", [
    ("a + b", 1, 1),
    ("c = a\nsin(c)", 2, 1),
    ("c = a\n   a * 2  # no name", 2, 4),
    ("c = a; a", 1, 8),
    ("c == a", 1, 1),
])
def test_statement_without_assignment(backend, src, line, column):
    err = compile_error(src, backend)
    assert err.message == "a statement must assign its value to a name, as in `c = a + b`"
    check_caret(err, src, line, column)


@pytest.mark.parametrize("depth", [600, 10_000])
def test_deep_nesting_is_a_parse_error(backend, depth):
    src = "c = " + "(" * depth + "a" + ")" * depth
    err = compile_error(src, backend)
    assert not isinstance(err, RecursionError)
    assert "nested" in err.message
    assert err.line == 1 and 5 <= err.column <= depth + 5
    src = "c = " + "sin(" * depth + "a" + ")" * depth
    err = compile_error(src, backend)
    assert "nested" in err.message


def test_deep_nesting_inside_the_limit_works(backend):
    depth = 200
    x = np.array([1.0, -2.0])
    r = sx.compile("c = " + "(" * depth + "a + 1" + ")" * depth, backend=backend)(x)
    np.testing.assert_array_equal(r, x + 1)


@pytest.mark.parametrize("src", [
    "c = " + "-" * 10_000 + "a",
    "c = " + "not " * 5_000 + "a",
    "c = " + " + ".join(["a"] * 5_000),
    "\n".join(f"x{k + 1} = x{k} + 1" for k in range(3_000)),
])
def test_long_programs_do_not_hit_the_recursion_limit(backend, src):
    """Long operator chains and long programs either work or raise a SymExprError, never RecursionError."""
    try:
        prog = sx.compile(src, backend=backend)
    except RecursionError:  # pragma: no cover - the failure this test exists for
        pytest.fail("RecursionError")
    except sx.SymExprError:
        return
    x = np.array([0.5, 2.0])
    r = prog(x)
    assert np.asarray(r).shape == (2,)


@pytest.mark.parametrize("literal", ["9223372036854775808", "99999999999999999999", "1" + "0" * 400])
def test_int_literal_beyond_int64(backend, literal):
    src = f"x = a\nc = a + {literal}"
    err = compile_error(src, backend)
    assert err.message == f"integer literal {literal} does not fit in int64"
    check_caret(err, src, 2, 9)


@pytest.mark.parametrize("src,column,char", [
    ("c = é + 1", 5, "é"),
    ("c = a + αβ", 9, "α"),
    ("naïve = a", 3, "ï"),
    ("c = a × b", 7, "×"),
    ("c = a\u00a0+ b", 6, "\u00a0"),
    ("c = ａ", 5, "ａ"),
])
def test_non_ascii_identifiers(backend, src, column, char):
    err = compile_error(src, backend)
    assert f"`{char}`" in err.message and "ASCII" in err.message
    check_caret(err, src, 1, column)


def test_source_must_be_a_string(backend):
    with pytest.raises(sx.ParseError):
        sx.compile(b"c = a + 1", backend=backend)
    with pytest.raises(sx.ParseError):
        sx.compile(None, backend=backend)


# -- outputs= ----------------------------------------------------------------------------

def test_outputs_naming_something_never_assigned(backend):
    err = compile_error("d = a * 2\nc = d + 1", backend, outputs=["c", "e"])
    assert "`e`" in err.message and "never assigned" in err.message
    err = compile_error("d = a * 2\nc = d + 1", backend, outputs="a")
    assert "`a`" in err.message and "never assigned" in err.message
    err = compile_error("d = a * 2\nc = d + 1", backend, outputs=["cc"])
    assert "did you mean `c`?" in err.message


def test_outputs_empty_or_repeated(backend):
    compile_error("c = a + 1", backend, outputs=[])
    compile_error("c = a + 1", backend, outputs=["c", "c"])


# -- call-time errors --------------------------------------------------------------------

def test_missing_input(backend):
    prog = sx.compile("x = a + 1\nc = x * b", backend=backend)
    with pytest.raises(sx.CallError) as info:
        prog(np.ones(3))
    assert info.value.message == "missing input `b` (read on line 2, `c = x * b`)"
    with pytest.raises(sx.CallError, match="missing input `a`"):
        prog(b=np.ones(3))
    with pytest.raises(sx.CallError, match="missing input `b`"):
        prog({"a": np.ones(3)})


def test_unknown_input(backend):
    prog = sx.compile("c = alpha + beta", backend=backend)
    with pytest.raises(sx.CallError) as info:
        prog(alpha=1.0, beta=2.0, gamma=3.0)
    assert info.value.message.startswith("unknown input `gamma`: the inputs are alpha, beta")
    with pytest.raises(sx.CallError, match="did you mean `alpha`"):
        prog(1.0, alpah=2.0)


def test_too_many_positional_arguments(backend):
    prog = sx.compile("c = a + b", backend=backend)
    with pytest.raises(sx.CallError) as info:
        prog(1.0, 2.0, 3.0)
    assert info.value.message == "too many positional arguments: the program takes 2 (a, b), got 3"
    prog = sx.compile("c = 1 + 2", backend=backend)
    with pytest.raises(sx.CallError, match="takes 0"):
        prog(1.0)


def test_input_given_twice(backend):
    prog = sx.compile("c = a + b", backend=backend)
    with pytest.raises(sx.CallError, match="`a` given twice"):
        prog(1.0, a=2.0)


def test_call_errors_are_type_errors_too(backend):
    prog = sx.compile("c = a + b", backend=backend)
    with pytest.raises(TypeError):
        prog(1.0)


@pytest.mark.parametrize("shape_a,shape_b", [((3,), (4,)), ((2, 3), (3, 2)), ((5, 2), (4, 5, 3))])
def test_shape_error_message(backend, shape_a, shape_b):
    prog = sx.compile("x = a * 2\nc = a + b", backend=backend)
    with pytest.raises(sx.ShapeError) as info:
        prog(np.ones(shape_a), np.ones(shape_b))
    expected = f"line 2, `c = a + b`: cannot broadcast a {shape_a} with b {shape_b}"
    assert info.value.message == expected
    assert str(info.value) == expected
    assert info.value.line == 2
    assert isinstance(info.value, ValueError)


def test_shape_error_names_intermediates(backend):
    prog = sx.compile("d = a * 2\ne = b + 1\n\nc = d - e", backend=backend)
    with pytest.raises(sx.ShapeError) as info:
        prog(np.ones((2, 3)), np.ones(4))
    assert info.value.message == "line 4, `c = d - e`: cannot broadcast d (2, 3) with e (4,)"
    assert info.value.line == 4


def test_shape_error_in_a_call(backend):
    prog = sx.compile("c = where(m, a, b)", backend=backend)
    with pytest.raises(sx.ShapeError) as info:
        prog(np.ones(3, bool), np.ones(3), np.ones(2))
    assert info.value.message == "line 1, `c = where(m, a, b)`: cannot broadcast m (3,) with a (3,) with b (2,)"


@pytest.mark.parametrize("value,dtype_name", [
    (np.array([1 + 2j], np.clongdouble), "complex256"),
    (np.array([object()], dtype=object), "object"),
    (np.array(["x"]), "<U1"),
    (np.array([b"x"]), "|S1"),
    (np.array([1.0], np.longdouble), "float128"),
    (np.array(["2020-01-01"], "datetime64[D]"), "datetime64[D]"),
    ("text", "<U4"),
])
def test_unsupported_input_dtype(backend, value, dtype_name):
    prog = sx.compile("c = a + b", backend=backend)
    with pytest.raises(sx.DTypeError) as info:
        prog(np.ones(1), value) if not isinstance(value, str) else prog(np.ones(1), b=value)
    assert "input `b`" in info.value.message
    assert dtype_name in info.value.message
    assert info.value.message.endswith("(read on line 1, `c = a + b`)")
    assert info.value.line == 1


def test_unconvertible_input(backend):
    prog = sx.compile("c = a + 1", backend=backend)
    with pytest.raises(sx.DTypeError, match="input `a`"):
        prog([[1.0, 2.0], [3.0]])
    with pytest.raises(sx.DTypeError, match="input `a`"):
        prog({1, 2})


def test_op_refused_by_numpy_is_a_dtype_error_with_its_statement(backend):
    prog = sx.compile("x = a + 1\nc = ~x", backend=backend)
    with pytest.raises(sx.DTypeError) as info:
        prog(np.ones(3))
    assert info.value.message.startswith("line 2, `c = ~x`: NumPy refuses invert of `x` (float64)")
    assert info.value.line == 2
    prog = sx.compile("c = a - b", backend=backend)
    with pytest.raises(sx.DTypeError, match=re.escape("line 1, `c = a - b`: NumPy refuses subtract")):
        prog(np.ones(2, bool), np.ones(2, bool))


def test_integer_negative_power_names_the_statement(backend):
    prog = sx.compile("x = a + 1\nc = x ** b", backend=backend)
    with pytest.raises(sx.EvaluationError, match=re.escape("line 2, `c = x ** b`")):
        prog(np.array([1, 2]), np.array([1, -1]))


def test_python_int_input_beyond_int64(backend):
    prog = sx.compile("c = a + 1", backend=backend)
    with pytest.raises(sx.DTypeError, match="input `a`"):
        prog(2**63)
    with pytest.raises(sx.DTypeError, match="input `a`"):
        prog(-(2**63) - 1)


def test_unknown_backend():
    with pytest.raises(sx.SymExprError, match="backend"):
        sx.compile("c = a", backend="cuda")


def test_every_error_is_a_symexpr_error(backend):
    """A battery of bad inputs: each raises a SymExprError subclass, never a bare Python exception."""
    bad_sources = ["", "c = ", "c = a +", "c = (", ")", "c = sin(", "c = 1e", "c = 1e+", "c = .", "c = a..b",
                   "c = \\", "c = a\\b", "c = a;\\\n", "c = \x00", "c = a\tb", "\ufeffc = a", "c = 0x10", "c = 1j",
                   "c = a\n\td = b", "c = 'x'", "c = \"x\""]
    for src in bad_sources:
        try:
            sx.compile(src, backend=backend)
        except sx.SymExprError:
            pass
        except Exception as err:  # pragma: no cover - what the test exists to find
            pytest.fail(f"{src!r} raised {type(err).__name__}: {err}")


_PIECES = list("abc =+-*/%()<>!&|^~,;.#\n\t\\_019eE") + [
    "sin(", "where(", "**", "//", "and", "or", "not", "True", "pi", "1e5", "é", "\r\n", "  ", "99999999999999999999"]


def test_random_text_raises_only_symexpr_errors(backend):
    """Whatever the text, compiling it succeeds or raises a SymExprError: never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
    def compile_it(src):
        try:
            sx.compile(src, backend=backend)
        except sx.SymExprError as err:
            assert err.message
            if isinstance(err, sx.ParseError) and err.line is not None:
                assert 1 <= err.line <= max(1, len(src.splitlines()) + 1)

    compile_it()


@pytest.mark.parametrize("value", [None, "abc", [1, "a"], [[1, 2], [3]], object(), {"a": 1}, b"xy", [None]])
def test_unusable_values_raise_symexpr_errors(backend, value):
    prog = sx.compile("c = a * 2 + b", backend=backend)
    with pytest.raises(sx.SymExprError):
        prog(value, 1.0)


@pytest.mark.parametrize("src,expected,line", [
    ("x = a * 2; c = a + b", "line 1, `c = a + b`: cannot broadcast a (3,) with b (4,)", 1),
    ("x = a * 2\nc = (a +\n     b)", "line 2, `c = (a + b)`: cannot broadcast a (3,) with b (4,)", 2),
    ("c = a + b  # sum", "line 1, `c = a + b`: cannot broadcast a (3,) with b (4,)", 1),
])
def test_shape_error_statement_text(backend, src, expected, line):
    prog = sx.compile(src, backend=backend)
    with pytest.raises(sx.ShapeError) as info:
        prog(a=np.ones(3), b=np.ones(4))
    assert info.value.message == expected
    assert info.value.line == line


# -- Python spellings get the language's spelling, not the nearest name -----------------------
PYTHON_SPELLINGS = [
    ("y = np.sin(a)", 1, 7, "`np.sin` is written `sin` in a program"),
    ("y = numpy.pi * a", 1, 10, "`numpy.pi` is written `pi`"),
    ("y = np.frobnicate(a)", 1, 7, "`frobnicate` is not one of them"),
    ("y = a.sum(axis=0)", 1, 6, "write `sum(a, ...)`"),
    ("y = a\ny += 1", 2, 1, "`y += ...` is not in the language: write `y = y + ...`"),
    ("y = a\ny //= 2", 2, 1, "write `y = y // ...`"),
    ("y = x if c else z", 1, 7, "`x if c else y` is written `where(c, x, y)`"),
    ("y = min(a, b)", 1, 12, "element-wise minimum of two values write `minimum(a, b)`"),
    ("y = max(a, b + 1)", 1, 12, "element-wise maximum of two values write `maximum(a, b)`"),
]


@pytest.mark.parametrize("src, line, column, message", PYTHON_SPELLINGS)
def test_python_spellings_get_the_language_spelling(src, line, column, message):
    err = compile_error(src, "numpy")
    check_caret(err, src, line, column)
    assert message in str(err)
    assert "did you mean" not in str(err) or "frobnicate" in src

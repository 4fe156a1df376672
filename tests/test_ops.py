"""Every function and operator against NumPy itself, on every backend.

Each test writes a one-statement program, runs it, and compares with the NumPy
expression evaluated directly (`c = a // b` against `np.floor_divide(a, b)`),
over float32, float64, int32, int64 and bool and their edge values: NaN, +-inf,
-0.0, negative operands of // and %, division by zero, INT_MIN, huge and tiny
values. Where NumPy refuses a dtype, symexpr must raise DTypeError.
"""
import numpy as np
import pytest

import symexpr as sx
from helpers import assert_same, edge_values, numpy_quiet, pairs, run, ulps_for

DTYPES = ["float16", "float32", "float64", "int32", "int64", "bool"]
SUPPORTED = set(sx.ops.SUPPORTED_DTYPES)


def _sigmoid(x):
    # The documented meaning, 1 / (1 + exp(-x)), written so that exp never overflows.
    e = np.exp(-np.abs(x))
    return np.where(np.greater_equal(x, 0), 1 / (1 + e), e / (1 + e))


# function name in the language -> (op name for the ulp table, the NumPy expression)
UNARY_FUNCTIONS = {
    "abs": ("absolute", np.absolute), "absolute": ("absolute", np.absolute),
    "sqrt": ("sqrt", np.sqrt), "cbrt": ("cbrt", np.cbrt), "square": ("square", np.square),
    "exp": ("exp", np.exp), "exp2": ("exp2", np.exp2), "expm1": ("expm1", np.expm1),
    "log": ("log", np.log), "log2": ("log2", np.log2), "log10": ("log10", np.log10),
    "log1p": ("log1p", np.log1p),
    "sin": ("sin", np.sin), "cos": ("cos", np.cos), "tan": ("tan", np.tan),
    "arcsin": ("arcsin", np.arcsin), "arccos": ("arccos", np.arccos), "arctan": ("arctan", np.arctan),
    "asin": ("arcsin", np.arcsin), "acos": ("arccos", np.arccos), "atan": ("arctan", np.arctan),
    "sinh": ("sinh", np.sinh), "cosh": ("cosh", np.cosh), "tanh": ("tanh", np.tanh),
    "arcsinh": ("arcsinh", np.arcsinh), "arccosh": ("arccosh", np.arccosh),
    "arctanh": ("arctanh", np.arctanh),
    "floor": ("floor", np.floor), "ceil": ("ceil", np.ceil), "trunc": ("trunc", np.trunc),
    "rint": ("rint", np.rint), "round": ("round", np.round), "around": ("round", np.round),
    "sign": ("sign", np.sign),
    "isnan": ("isnan", np.isnan), "isinf": ("isinf", np.isinf), "isfinite": ("isfinite", np.isfinite),
    "sigmoid": ("sigmoid", _sigmoid), "relu": ("relu", lambda x: np.maximum(x, 0)),
}

UNARY_OPERATORS = {
    "-a": ("negative", np.negative), "+a": ("positive", np.positive),
    "~a": ("invert", np.invert), "not a": ("logical_not", np.logical_not),
}

BINARY = {
    "a + b": ("add", np.add), "a - b": ("subtract", np.subtract), "a * b": ("multiply", np.multiply),
    "a / b": ("divide", np.divide), "a // b": ("floor_divide", np.floor_divide),
    "a % b": ("remainder", np.remainder), "a ** b": ("power", np.power),
    "a & b": ("bitwise_and", np.bitwise_and), "a | b": ("bitwise_or", np.bitwise_or),
    "a ^ b": ("bitwise_xor", np.bitwise_xor),
    "a < b": ("less", np.less), "a <= b": ("less_equal", np.less_equal),
    "a > b": ("greater", np.greater), "a >= b": ("greater_equal", np.greater_equal),
    "a == b": ("equal", np.equal), "a != b": ("not_equal", np.not_equal),
    "a and b": ("logical_and", np.logical_and), "a or b": ("logical_or", np.logical_or),
    "minimum(a, b)": ("minimum", np.minimum), "maximum(a, b)": ("maximum", np.maximum),
    "arctan2(a, b)": ("arctan2", np.arctan2), "atan2(a, b)": ("arctan2", np.arctan2),
    "hypot(a, b)": ("hypot", np.hypot), "pow(a, b)": ("power", np.power),
}

CASTS = ["float16", "float32", "float64", "int32", "int64", "bool", "int8", "uint8", "int16", "uint16", "uint32", "uint64"]


def expect(backend, src, fn, args, ulps=0, **kwargs):
    """Run `src` on args and check against fn(*args); DTypeError where NumPy refuses or leaves symexpr's dtypes."""
    try:
        expected = numpy_quiet(fn, *args)
    except TypeError:
        with pytest.raises(sx.DTypeError):
            run(backend, src, *args, **kwargs)
        return None
    if np.asarray(expected).dtype not in SUPPORTED:
        with pytest.raises(sx.DTypeError):
            run(backend, src, *args, **kwargs)
        return None
    result = run(backend, src, *args, **kwargs)
    assert_same(result, expected, ulps, context=src)
    return result


def _ulps(op, dtype_or_value, backend):
    return ulps_for(op, backend, np.asarray(dtype_or_value).dtype)


# -- unary ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fname", sorted(UNARY_FUNCTIONS))
def test_unary_function(backend, fname, dtype):
    op, fn = UNARY_FUNCTIONS[fname]
    a = edge_values(dtype)
    expected_dtype = None
    try:
        expected_dtype = numpy_quiet(fn, a).dtype
    except TypeError:
        pass
    ulps = ulps_for(op, backend, expected_dtype) if expected_dtype is not None else 0
    expect(backend, f"c = {fname}(a)", fn, (a,), ulps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("src", sorted(UNARY_OPERATORS))
def test_unary_operator(backend, src, dtype):
    _, fn = UNARY_OPERATORS[src]
    expect(backend, f"c = {src}", fn, (edge_values(dtype),))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fname", ["sin", "cos", "tan", "exp", "log", "sqrt", "arctan", "tanh", "sigmoid", "expm1", "log1p"])
def test_unary_function_dense_range(backend, fname, dtype):
    """Many ordinary values, not only edge cases: the bulk of the range must be within the allowance too."""
    op, fn = UNARY_FUNCTIONS[fname]
    rng = np.random.default_rng(7)
    a = np.concatenate([rng.uniform(-10, 10, 2000), rng.standard_normal(500) * 1e3,
                        np.exp(rng.uniform(-80, 80, 500))]).astype(dtype)
    expect(backend, f"c = {fname}(a)", fn, (a,), ulps_for(op, backend, dtype))


@pytest.mark.parametrize("fname", ["sin", "cos", "tan"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_trig_of_small_values_next_to_huge_ones(backend, fname, dtype):
    """Each element is computed on its own: a huge argument (slow range reduction) next to a small
    one in the same vector of a vectorized loop must not change the small one's result."""
    op, fn = UNARY_FUNCTIONS[fname]
    a = np.tile(np.array([0.001, 1e10, -2.5e-7, 3e30, 0.5, -1e20, 1e-30, 7.0], dtype), 128)
    expect(backend, f"c = {fname}(a)", fn, (a,), ulps_for(op, backend, dtype))


def test_sigmoid_over_the_whole_range(backend):
    """sigmoid never overflows: 0 <= sigmoid(x) <= 1 and it is exactly 0.5 at 0, for huge |x| too."""
    for dtype in ("float32", "float64"):
        x = np.array([-1e30, -1000, -100, -30, 0, -0.0, 30, 100, 1000, 1e30, np.inf, -np.inf], dtype)
        r = run(backend, "c = sigmoid(a)", x)
        assert r.dtype == dtype
        assert np.all((r >= 0) & (r <= 1))
        assert r[4] == 0.5 and r[5] == 0.5
        assert r[-2] == 1 and r[-1] == 0
        # Far from zero, sigmoid(-x) is exp(-x) to within rounding: not flushed to 0 early.
        tiny = run(backend, "c = sigmoid(a)", np.array([-50.0], dtype))
        np.testing.assert_allclose(tiny, np.exp(np.array([-50.0], dtype)), rtol=1e-5)


# -- binary --------------------------------------------------------------------------------

def _binary_operands(src, dtype):
    a, b = pairs(edge_values(dtype), edge_values(dtype))
    if np.dtype(dtype).kind in "iu" and ("**" in src or "pow" in src):
        # NumPy refuses negative integer exponents (tested below); keep the rest.
        keep = b >= 0
        a, b = a[keep], b[keep]
    return a, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("src", sorted(BINARY))
def test_binary(backend, src, dtype):
    op, fn = BINARY[src]
    a, b = _binary_operands(src, dtype)
    try:
        out_dtype = numpy_quiet(fn, a[:1], b[:1]).dtype
    except TypeError:
        out_dtype = None
    ulps = ulps_for(op, backend, out_dtype) if out_dtype is not None else 0
    expect(backend, f"c = {src}", fn, (a, b), ulps)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_floor_divide_and_remainder_follow_python(backend, dtype):
    """// and % round toward -inf and take the divisor's sign, as Python's; int // 0 and int % 0 are 0."""
    a = np.array([7, -7, 7, -7, 0, 5, -5, 1, -1], dtype)
    b = np.array([2, 2, -2, -2, 3, 0, 0, -1, 0], dtype)
    q = run(backend, "c = a // b", a, b)
    r = run(backend, "c = a % b", a, b)
    py_q = [x // y if y else 0 for x, y in zip(a.tolist(), b.tolist())]
    py_r = [x % y if y else 0 for x, y in zip(a.tolist(), b.tolist())]
    assert_same(q, np.array(py_q, dtype))
    assert_same(r, np.array(py_r, dtype))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_int_min_division(backend, dtype):
    """INT_MIN // -1 and INT_MIN % -1 are what NumPy gives (wrap to INT_MIN, 0), not a crash."""
    lo = np.iinfo(dtype).min
    a = np.array([lo, lo, lo, lo + 1], dtype)
    b = np.array([-1, 1, 2, -1], dtype)
    expect(backend, "c = a // b", np.floor_divide, (a, b))
    expect(backend, "c = a % b", np.remainder, (a, b))
    expect(backend, "c = abs(a)", np.absolute, (a,))
    expect(backend, "c = -a", np.negative, (a,))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_floor_divide_and_remainder(backend, dtype):
    """Float // and % with signs, zero divisors, infinities and NaN exactly as NumPy's."""
    a, b = pairs(np.array([7.5, -7.5, 0.0, -0.0, 1.0, -1.0, 1e30, 3.0, np.inf, -np.inf, np.nan], dtype),
                 np.array([2.0, -2.0, 0.0, -0.0, 0.1, 3.0, 1e-30, np.inf, -np.inf, np.nan], dtype))
    expect(backend, "c = a // b", np.floor_divide, (a, b))
    expect(backend, "c = a % b", np.remainder, (a, b))
    expect(backend, "c = a / b", np.divide, (a, b))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_power(backend, dtype):
    """Integer ** as NumPy: wraps on overflow, 0**0 is 1, (-1)**k alternates."""
    a, b = pairs(np.array([0, 1, -1, 2, -2, 3, 10, -7], dtype), np.array([0, 1, 2, 3, 7, 31, 62, 63, 64], dtype))
    expect(backend, "c = a ** b", np.power, (a, b))


def test_integer_negative_power_is_an_error(backend):
    with pytest.raises(sx.EvaluationError):
        run(backend, "c = a ** b", np.array([2, 3], np.int32), np.array([1, -1], np.int32))
    with pytest.raises(sx.EvaluationError):
        run(backend, "c = a ** -1", np.array([2, 3], np.int64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_minimum_maximum_propagate_nan_and_signed_zero(backend, dtype):
    a, b = pairs(edge_values(dtype), edge_values(dtype))
    expect(backend, "c = minimum(a, b)", np.minimum, (a, b))
    expect(backend, "c = maximum(a, b)", np.maximum, (a, b))


# -- ternary -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_where(backend, dtype):
    x = edge_values(dtype)
    y = x[::-1].copy()
    for cond in (x > x[x.size // 2], np.arange(x.size) % 2 == 0, x.astype(bool)):
        expect(backend, "c = where(m, x, y)", np.where, (cond, x, y))
    # A non-bool condition means "non-zero", as in NumPy.
    expect(backend, "c = where(m, x, y)", np.where, (x, y, x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip(backend, dtype):
    x = edge_values(dtype)
    lo = np.resize(edge_values(dtype), x.size)[::-1].copy()
    hi = np.resize(edge_values(dtype)[1:], x.size)
    expect(backend, "c = clip(x, lo, hi)", np.clip, (x, lo, hi))


# -- casts ---------------------------------------------------------------------------------

def _in_range(values, target):
    """The values a cast to `target` is defined for (NumPy leaves out-of-range float->int undefined)."""
    target = np.dtype(target)
    if values.dtype.kind != "f" or target.kind not in "iu":
        return values
    info = np.iinfo(target)
    finite = np.isfinite(values)
    v = np.where(finite, values, 0).astype(np.float64)  # (float16 cannot hold int32's bounds)
    ok = finite & (np.trunc(v) >= info.min) & (np.trunc(v) < float(info.max))
    return values[ok]


@pytest.mark.parametrize("source", DTYPES)
@pytest.mark.parametrize("target", CASTS)
def test_cast(backend, source, target):
    x = _in_range(edge_values(source), target)
    if x.dtype.kind == "f":
        # Fractions of both signs truncate toward zero, as astype does.
        x = np.concatenate([x, _in_range(np.array([0.9, -0.9, 1.99, -1.99, 255.5, 127.7, -128.5], source), target)])
    expect(backend, f"c = {target}(x)", lambda v: v.astype(target), (x,))


def test_cast_float64_to_float32_rounds_and_overflows(backend):
    x = np.array([1e300, -1e300, 1e-300, -1e-300, 0.1, 1 / 3, 3.4028235677973366e38, np.nan], np.float64)
    expect(backend, "c = float32(x)", lambda v: v.astype(np.float32), (x,))


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "bool"])
def test_cast_of_literal_is_a_strong_scalar(backend, dtype):
    """`float32(2)` is np.float32(2), not a weak 2: it takes part in promotion like a NumPy scalar."""
    a = edge_values(dtype)
    cases = {
        "c = a + float32(2)": lambda x: x + np.asarray(2).astype(np.float32)[()],
        "c = a + int8(-1)": lambda x: x + np.asarray(-1).astype(np.int8)[()],
        "c = a * float64(0.5)": lambda x: x * np.float64(0.5),
        "c = a + int16(2 + 3)": lambda x: x + np.int16(5),
        "c = int32(2.7) + a": lambda x: np.asarray(2.7).astype(np.int32)[()] + x,
    }
    for src, fn in cases.items():
        expect(backend, src, fn, (a,))


def test_cast_of_weak_input(backend):
    """A cast of a Python scalar input is a NumPy scalar of the cast's dtype, as np.asarray(x).astype does."""
    r = run(backend, "c = int32(a)", 2.7)
    assert_same(r, np.asarray(2.7).astype(np.int32)[()])
    r = run(backend, "c = float32(a) + b", 1.5, np.array([1, 2], np.uint8))
    assert_same(r, np.asarray(1.5).astype(np.float32)[()] + np.array([1, 2], np.uint8))


# -- mixed dtypes --------------------------------------------------------------------------

MIXED = ["a + b", "a - b", "a * b", "a / b", "a // b", "a % b", "a < b", "a == b", "minimum(a, b)",
         "maximum(a, b)", "a & b", "a and b"]


@pytest.mark.parametrize("dtype_b", DTYPES + ["int8", "uint8", "uint32"])
@pytest.mark.parametrize("dtype_a", DTYPES)
def test_mixed_dtypes(backend, dtype_a, dtype_b):
    """All binary ops on two dtypes at once in one program: NumPy 2's promotion decides every result dtype."""
    a, b = pairs(edge_values(dtype_a), edge_values(dtype_b))
    allowed, refused = [], []
    for src in MIXED:
        _, fn = BINARY[src]
        try:
            dt = numpy_quiet(fn, a[:1], b[:1]).dtype
        except TypeError:
            refused.append(src)
            continue
        (allowed if dt in SUPPORTED else refused).append(src)
    names = [f"r{k}" for k in range(len(allowed))]
    if allowed:
        prog_src = "\n".join(f"{n} = {s}" for n, s in zip(names, allowed))
        results = run(backend, prog_src, a, b)
        results = results if len(allowed) > 1 else (results,)
        for src, r in zip(allowed, results):
            assert_same(r, numpy_quiet(BINARY[src][1], a, b), context=f"{src} with {dtype_a}, {dtype_b}")
    for src in refused:
        with pytest.raises(sx.DTypeError):
            run(backend, f"c = {src}", a, b)


def test_int32_true_divide_is_float64(backend):
    a = np.array([1, -7, 0, 5], np.int32)
    b = np.array([2, 2, 0, 0], np.int32)
    r = expect(backend, "c = a / b", np.divide, (a, b))
    assert r.dtype == np.float64


def test_int32_plus_float32_is_float64(backend):
    a = np.array([16777217, -3, 0], np.int32)
    b = np.array([0.5, 0.25, -0.0], np.float32)
    r = expect(backend, "c = a + b", np.add, (a, b))
    assert r.dtype == np.float64


# -- weak literals and weak inputs ---------------------------------------------------------

WEAK_EXPRESSIONS = {
    "c = a * 2": lambda a: a * 2,
    "c = clip(a, -1, 2)": lambda a: np.clip(a, -1, 2),
    "c = a * (2 + 3)": lambda a: a * 5,
    "c = a + 1.5": lambda a: a + 1.5,
    "c = a - -1": lambda a: a - (-1),
    "c = a / 2": lambda a: a / 2,
    "c = a // 2": lambda a: a // 2,
    "c = a % 3": lambda a: a % 3,
    "c = a ** 2": lambda a: np.power(a, 2),  # not `a ** 2`: NumPy turns that into square()
    "c = a > 0": lambda a: a > 0,
    "c = where(a > 0, a, 0)": lambda a: np.where(a > 0, a, 0),
    "c = maximum(a, 0.5)": lambda a: np.maximum(a, 0.5),
    "c = a * pi": lambda a: a * np.pi,
    "c = a + inf": lambda a: a + np.inf,
    "c = a * nan": lambda a: a * np.nan,
    "c = a & True": lambda a: a & True,
    "c = a * 2 ** 0.5": lambda a: a * 2 ** 0.5,
    "c = a + True": lambda a: a + True,
    "c = a * -1": lambda a: a * -1,
    "c = 1 - a": lambda a: 1 - a,
    "c = 2.5E+3 * a": lambda a: 2.5e3 * a,
    "c = relu(a)": lambda a: np.maximum(a, 0),
}


@pytest.mark.parametrize("dtype", DTYPES + ["int8", "uint8"])
@pytest.mark.parametrize("src", sorted(WEAK_EXPRESSIONS))
def test_weak_literals_keep_the_array_dtype(backend, src, dtype):
    a = edge_values(dtype)
    fn = WEAK_EXPRESSIONS[src]
    try:
        numpy_quiet(fn, a)
    except (OverflowError, ValueError):
        # A literal NumPy cannot represent in a's dtype (a * -1 for uint8) is refused: a DTypeError.
        with pytest.raises(sx.DTypeError):
            run(backend, src, a)
        return
    except TypeError:
        with pytest.raises(sx.DTypeError):
            run(backend, src, a)
        return
    expect(backend, src, fn, (a,))


def test_literal_out_of_range_for_small_int_is_dtype_error(backend):
    with pytest.raises(sx.DTypeError):
        run(backend, "c = a + 300", np.array([1, 2], np.int8))


@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalar_inputs_are_weak(backend, dtype):
    a = edge_values(dtype)
    for b in (2, 0.5, True):
        expect(backend, "c = a * b", np.multiply, (a, b))
    assert run(backend, "c = a * b", np.ones(3, np.float32), 2.0).dtype == np.float32


@pytest.mark.parametrize("dtype", ["float32", "int32", "int8", "bool"])
def test_numpy_scalars_and_0d_arrays_are_not_weak(backend, dtype):
    a = edge_values(dtype)
    for b in (np.float64(2.0), np.int64(2), np.array(2.0), np.array(2), np.array(True), np.float32(0.5)):
        r = expect(backend, "c = a * b", np.multiply, (a, b))
        if r is not None:
            assert r.dtype == np.result_type(a, b)


def test_weak_only_arithmetic(backend):
    """Literal-only arithmetic follows Python scalar arithmetic in NumPy, and stays weak."""
    r = run(backend, "c = 2 ** 0.5")
    assert_same(r, np.float64(2 ** 0.5))
    r = run(backend, "c = a * (2 ** 0.5)", np.ones(2, np.float32))
    assert_same(r, np.ones(2, np.float32) * (2 ** 0.5))
    r = run(backend, "c = a * (7 // 2) + (7 % -2)", np.ones(2, np.int16))
    assert_same(r, np.ones(2, np.int16) * 3 + (-1))


def test_weak_literal_negative_power_is_an_error(backend):
    # NumPy refuses 2 ** -1 on (weak) integers, as it refuses it on int arrays.
    with pytest.raises(sx.EvaluationError):
        run(backend, "c = a * 2 ** -1", np.ones(2))


def test_weak_python_int_input_out_of_range(backend):
    with pytest.raises((sx.DTypeError, sx.EvaluationError)):
        run(backend, "c = a * b", np.array([1, 2], np.int8), 300)
    with pytest.raises(sx.DTypeError):
        run(backend, "c = a * b", np.array([1, 2]), 2**64)


# -- broadcasting, scalars, empty and non-contiguous inputs --------------------------------

PROGRAM = "d = a * b - a\nc = where(d > 0, d, b / 2)"


def _reference(a, b):
    # Operators, not ufunc calls, so that a Python scalar b stays weak in `b / 2` as it does in symexpr.
    d = a * b - a
    return np.where(d > 0, d, b / 2)


SHAPES = [
    ((3, 1), (1, 4)), ((3,), (3,)), ((4,), ()), ((), (4,)), ((), ()), ((2, 3, 4), (3, 1)), ((2, 3, 4), (4,)),
    ((1, 3, 1), (2, 1, 5)), ((0,), (0,)), ((0,), ()), ((0, 3), (1, 3)), ((2, 0), (2, 1)), ((1,), (5,)),
    ((5, 1, 1), (1,)), ((1, 1), (1,)), ((1,), ()),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
@pytest.mark.parametrize("shape_a,shape_b", SHAPES, ids=[f"{a}-{b}".replace(" ", "") for a, b in SHAPES])
def test_broadcasting(backend, shape_a, shape_b, dtype):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal(shape_a) * 10).astype(dtype)
    b = (rng.standard_normal(shape_b) * 10).astype(dtype)
    expect(backend, PROGRAM, _reference, (a, b))


def test_scalar_inputs_of_every_kind(backend):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    for b in (3, 3.5, np.float32(3.5), np.float64(3.5), np.array(3.5), np.array(3, np.int32), True):
        expect(backend, PROGRAM, _reference, (a, b))
    # Scalars only: a NumPy scalar result, as NumPy returns.
    r = run(backend, PROGRAM, np.float32(2), np.float32(3))
    assert isinstance(r, np.generic)
    assert_same(r, _reference(np.float32(2), np.float32(3)))


def test_empty_arrays(backend):
    for shape in [(0,), (0, 4), (3, 0), (0, 0)]:
        a = np.empty(shape, np.float32)
        expect(backend, "c = sin(a) + a * 2", lambda x: np.sin(x) + x * 2, (a,))
        res = run(backend, "c = a < 1; d = a + b", a, np.float64(1))
        assert_same(res.c, a < 1)
        assert_same(res.d, a + np.float64(1))


def _non_contiguous():
    rng = np.random.default_rng(3)
    base = (rng.standard_normal((8, 12)) * 10).astype(np.float64)
    base.ravel()[::7] = np.nan
    base.ravel()[::11] = -0.0
    return {
        "step": (base[::2, ::3], base[1::2, 1::3]),
        "transpose": (base[:4, :4].T, base[4:, :4]),
        "negative_stride": (base[::-1, ::-2], base[:, ::2]),
        "column": (base[:, 5], base[:, 0]),
        "fortran": (np.asfortranarray(base), base),
        "broadcast_view": (np.broadcast_to(base[0], (8, 12)), base),
        "3d_transpose": (base.reshape(2, 4, 12).transpose(2, 0, 1), base.reshape(2, 4, 12).transpose(2, 0, 1)[::-1]),
        "float32_step": (base.astype(np.float32)[:, ::4], base.astype(np.float32)[::1, 1::4]),
        "int_step": (np.nan_to_num(base).astype(np.int32)[::3], np.nan_to_num(base).astype(np.int64)[1::3] % 5),
    }


@pytest.mark.parametrize("case", sorted(_non_contiguous()))
def test_non_contiguous_inputs(backend, case):
    a, b = _non_contiguous()[case]
    expect(backend, PROGRAM, _reference, (a, b))
    r = run(backend, "q = a // b\nr = a % b", a, b)
    assert_same(r.q, numpy_quiet(np.floor_divide, a, b))
    assert_same(r.r, numpy_quiet(np.remainder, a, b))


def test_inputs_are_not_modified(backend):
    a = np.array([1.0, -2.0, np.nan], np.float32)
    b = np.array([3.0, 0.0, 1.0], np.float32)
    a0, b0 = a.copy(), b.copy()
    run(backend, "a2 = a * 2\nc = a2 / b\nd = -a", a, b)
    assert_same(a, a0)
    assert_same(b, b0)


def test_large_values_of_every_op_in_one_program(backend):
    """A whole program over huge and tiny floats, exact ops only: bit-identical to NumPy."""
    x = np.array([3.4e38, -3.4e38, 1e-38, -1e-45, 1e20, 65504.0], np.float32)
    y = np.array([2.0, 0.5, -1e38, 1e-45, -0.0, 3.0], np.float32)
    src = "s = x * y\nd = x / y\nm = minimum(x, y) + maximum(x, y)\nf = floor(x / 3) - ceil(y)\nr = x % y"
    res = run(backend, src, x, y)
    with np.errstate(all="ignore"):
        assert_same(res.s, x * y)
        assert_same(res.d, x / y)
        assert_same(res.m, np.minimum(x, y) + np.maximum(x, y))
        assert_same(res.f, np.floor(x / 3) - np.ceil(y))
        assert_same(res.r, np.remainder(x, y))


def _one_program(backend, exprs, args):
    """Run every expression NumPy allows as one multi-output program; the rest must be DTypeErrors."""
    allowed, refused = [], []
    for src, fn in exprs:
        try:
            expected = numpy_quiet(fn, *args)
        except (TypeError, OverflowError):
            refused.append(src)
            continue
        if np.asarray(expected).dtype in SUPPORTED:
            allowed.append((src, expected))
        else:
            refused.append(src)
    if allowed:
        prog_src = "\n".join(f"r{k} = {src}" for k, (src, _) in enumerate(allowed))
        results = run(backend, prog_src, *args)
        results = results if len(allowed) > 1 else (results,)
        for (src, expected), r in zip(allowed, results):
            assert_same(r, expected, context=src)
    for src in refused:
        with pytest.raises(sx.DTypeError):
            run(backend, f"c = {src}", *args)


SMALL_INTS = ["int8", "int16", "uint8", "uint16", "uint32", "uint64"]
EXACT_UNARY = ["abs", "square", "sign", "floor", "ceil", "trunc", "rint", "round", "sqrt", "relu", "isnan", "isfinite"]


@pytest.mark.parametrize("dtype", SMALL_INTS)
def test_small_integer_dtypes(backend, dtype):
    """The other integer dtypes symexpr supports: every exact op in one program, NumPy's wrap-around included."""
    a, b = pairs(edge_values(dtype), edge_values(dtype))
    binary = [(src, fn) for src, (op, fn) in BINARY.items()
              if op not in ("power", "arctan2", "hypot") and "atan2" not in src]
    _one_program(backend, binary, (a, b))
    unary = [(f"{f}(a)", UNARY_FUNCTIONS[f][1]) for f in EXACT_UNARY]
    unary += [(src, fn) for src, (_, fn) in UNARY_OPERATORS.items()]
    unary += [(f"{t}(a)", (lambda t: lambda x: x.astype(t))(t)) for t in CASTS]
    _one_program(backend, unary, (a,))
    small = np.array([0, 1, 2, 3, 5], dtype)
    expect(backend, "c = a ** b", np.power, pairs(small, small))


# -- complex numbers -------------------------------------------------------------------------------
COMPLEX_DTYPES = ["complex64", "complex128"]
COMPLEX_BINARY = {"a + b": np.add, "a - b": np.subtract, "a * b": np.multiply, "a / b": np.divide,
                  "a == b": np.equal, "a != b": np.not_equal, "where(a == b, a, b)": lambda a, b: np.where(a == b, a, b)}
COMPLEX_UNARY = {"abs(a)": ("absolute", np.absolute), "real(a)": ("real", np.real), "imag(a)": ("imag", np.imag),
                 "conj(a)": ("conjugate", np.conjugate), "conjugate(a)": ("conjugate", np.conjugate),
                 "angle(a)": ("angle", np.angle), "-a": ("negative", np.negative), "+a": ("positive", np.positive)}


def complex_values(dtype, n=300, seed=11) -> np.ndarray:
    """Every pair of real edge parts (0, -0.0, 1, inf, NaN, the largest, the smallest subnormal, ...)
    and random values over many magnitudes."""
    part = np.dtype(dtype).type(0).real.dtype
    info = np.finfo(part)
    edges = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -0.5, np.inf, -np.inf, np.nan, float(info.max), float(info.tiny),
                      float(info.smallest_subnormal), 3e-5], part)
    re, im = pairs(edges, edges)
    rng = np.random.default_rng(seed)
    rand = rng.standard_normal((2, n)) * 10.0 ** rng.integers(-30, 30, (2, n))
    z = np.empty(len(re) + n, dtype)
    z.real = np.concatenate([re, rand[0].astype(part)])
    z.imag = np.concatenate([im, rand[1].astype(part)])
    return z


@pytest.mark.parametrize("dtype", COMPLEX_DTYPES)
@pytest.mark.parametrize("src", sorted(COMPLEX_BINARY))
def test_complex_binary(backend, src, dtype):
    """NumPy's complex arithmetic, infinities and NaNs included: its multiply formula (one fused
    multiply-add per part, as its loop on CPUs with FMA), Smith's division, == and != of both parts."""
    z = complex_values(dtype)
    a, b = z[np.repeat(np.arange(0, len(z), 7), 40)], z[np.tile(np.arange(0, len(z), 7)[:40], len(z[::7]))]
    n = min(len(a), len(b))
    expect(backend, f"c = {src}", COMPLEX_BINARY[src], (a[:n], b[:n]))


@pytest.mark.parametrize("dtype", COMPLEX_DTYPES)
@pytest.mark.parametrize("src", sorted(COMPLEX_UNARY))
def test_complex_unary(backend, src, dtype):
    op, fn = COMPLEX_UNARY[src]
    expect(backend, f"c = {src}", fn, (complex_values(dtype),), ulps_for(op, backend, "float32"))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int64", "bool"])
@pytest.mark.parametrize("src", ["real(a)", "imag(a)", "conj(a)", "angle(a)"])
def test_complex_parts_of_real_numbers(backend, src, dtype):
    op, fn = COMPLEX_UNARY[src]
    expect(backend, f"c = {src}", fn, (edge_values(dtype),), ulps_for(op, backend, "float32"))


@pytest.mark.parametrize("other", ["float32", "float64", "int8", "int32", "bool", "complex64", "complex128"])
@pytest.mark.parametrize("dtype", COMPLEX_DTYPES)
def test_complex_promotion(backend, dtype, other):
    """complex64 with float64 is complex128, with int32 complex128, with float32 complex64: NumPy's."""
    z = complex_values(dtype, 40)[-60:]
    x = np.resize(edge_values(other) if other[0] != "c" else complex_values(other, 40), len(z))
    src = "s = a + b\nm = a * b\nq = b / a\ne = a == b"
    got = run(backend, src, z, x)
    want = numpy_quiet(lambda: (z + x, z * x, x / z, z == x))
    for g, w, what in zip(got, want, "smqe"):
        assert_same(g, w, context=what)


def test_imaginary_literals_and_python_complex_inputs(backend):
    a = np.array([1.0, -2.0, np.inf, np.nan], np.float32)
    got = run(backend, "c = a * 2j + (1 - 0.5j)", a)
    assert got.dtype == np.complex64  # a weak literal, as NumPy 2's Python complex
    assert_same(got, numpy_quiet(lambda: a * 2j + (1 - 0.5j)))
    got = run(backend, "c = a * k + 1J * 1j", a, 1.5 - 2j)
    assert_same(got, numpy_quiet(lambda: a * (1.5 - 2j) + 1j * 1j))
    assert run(backend, "c = a + complex128(a)", a).dtype == np.complex128
    assert_same(run(backend, "c = complex64(a) * 1.5e-3j", a), numpy_quiet(lambda: a.astype(np.complex64) * 1.5e-3j))


@pytest.mark.parametrize("src, op", [("c = arcsin(z)", "arcsin"), ("c = cbrt(z)", "cbrt"), ("c = z // 2", "floor_divide"),
                                     ("c = max(z)", "max"), ("c = z < 1", "less"), ("c = float32(z)", "float32"),
                                     ("c = arctanh(z) + 1", "arctanh"), ("c = z @ z", "matmul"), ("c = transpose(z)", "transpose"),
                                     ("y = 1\nc = maximum(z, y)", "maximum")])
def test_complex_operations_not_yet_computed_are_refused_by_name(backend, src, op):
    with pytest.raises(sx.DTypeError) as err:
        run(backend, src, np.ones((2, 2), np.complex64))
    assert f"{op} of complex64" in str(err.value) and "line" in str(err.value)
    assert "real(z) and imag(z)" in str(err.value)

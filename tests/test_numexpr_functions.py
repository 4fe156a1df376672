"""The functions numexpr has (fmod, copysign, nextafter, signbit, round) and the shifts `<<` and `>>`,
against NumPy on both engines: every dtype pair NumPy accepts, with NaN, inf, -0.0, subnormals,
INT_MIN, and shift counts beyond the bit width and negative (where C is undefined). All of them
are exact: bit for bit on every backend."""
import numpy as np
import pytest

import symexpr as sx
from helpers import assert_same, edge_values, numpy_quiet, pairs, run
from symexpr.ops import OPS, SUPPORTED_DTYPES

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"]

BINARY = {"c = fmod(a, b)": np.fmod, "c = copysign(a, b)": np.copysign, "c = nextafter(a, b)": np.nextafter,
          "c = a << b": np.left_shift, "c = a >> b": np.right_shift}


def _values(dtype) -> np.ndarray:
    v = edge_values(dtype)
    if np.dtype(dtype).kind in "iu":
        # Shift counts: the bit width and around it, beyond it, negative.
        bits = 8 * np.dtype(dtype).itemsize
        extra = [c for c in (bits - 1, bits, bits + 1, 2 * bits, 31, 32, 33, 63, 64, 65, -64, -8)
                 if np.iinfo(dtype).min <= c <= np.iinfo(dtype).max]
        v = np.unique(np.concatenate([v, np.array(extra, dtype)]))
    if np.dtype(dtype).kind == "f":
        v = np.concatenate([v, np.array([-np.nan], dtype)])  # a NaN with the sign bit set
    return v


def _expect(backend, src, fn, args):
    try:
        expected = numpy_quiet(fn, *args)
    except TypeError:
        with pytest.raises(sx.DTypeError):
            run(backend, src, *args)
        return
    if np.asarray(expected).dtype not in SUPPORTED_DTYPES:  # float16 of small ints
        with pytest.raises(sx.DTypeError):
            run(backend, src, *args)
        return
    assert_same(run(backend, src, *args), expected, 0, context=f"{src} on {[a.dtype for a in args]}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("src", sorted(BINARY))
def test_binary_same_dtype(backend, src, dtype):
    a, b = pairs(_values(dtype), _values(dtype))
    _expect(backend, src, BINARY[src], (a, b))


@pytest.mark.parametrize("pair", [("int8", "int64"), ("uint8", "int8"), ("int32", "float32"), ("uint64", "int64"),
                                  ("float32", "float64"), ("bool", "int16"), ("uint16", "uint32")])
@pytest.mark.parametrize("src", sorted(BINARY))
def test_binary_mixed_dtypes(backend, src, pair):
    a, b = pairs(_values(pair[0]), _values(pair[1]))
    _expect(backend, src, BINARY[src], (a, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_signbit(backend, dtype):
    _expect(backend, "c = signbit(a)", np.signbit, (_values(dtype),))


def test_signbit_of_signed_zero_and_nan(backend):
    a = np.array([0.0, -0.0, np.nan, -np.nan, -np.inf, np.inf, -1e-310], np.float64)
    assert run(backend, "c = signbit(a)", a).tolist() == [False, True, False, True, True, False, True]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_functions_in_vector_code(backend, dtype):
    """Large contiguous float arrays: the OpenCL engine's vector path, lanes of every edge value."""
    a, b = pairs(_values(dtype), _values(dtype))
    a, b = np.tile(a, 8), np.tile(b, 8)
    src = "c = fmod(a, b)\nd = copysign(a, b)\ne = nextafter(a, b)\nf = signbit(a) | signbit(b)"
    got = sx.compile(src, backend=backend)(a, b)
    for r, e in zip(got, numpy_quiet(lambda: (np.fmod(a, b), np.copysign(a, b), np.nextafter(a, b),
                                              np.signbit(a) | np.signbit(b)))):
        assert_same(r, e)


@pytest.mark.parametrize("src,fn", [
    ("c = a << 3", lambda a: a << 3), ("c = a >> 1", lambda a: a >> 1), ("c = 1 << a", lambda a: 1 << a),
    ("c = a << 100", lambda a: a << 100), ("c = fmod(a, 3)", lambda a: np.fmod(a, 3)),
    ("c = fmod(a, -2.5)", lambda a: np.fmod(a, -2.5)), ("c = copysign(a, -1)", lambda a: np.copysign(a, -1)),
    ("c = nextafter(a, inf)", lambda a: np.nextafter(a, np.inf)),
])
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "uint64", "int64", "float32", "float64", "bool"])
def test_weak_literal_operands(backend, src, fn, dtype):
    a = _values(dtype)
    try:
        expected = numpy_quiet(fn, a)
    except (TypeError, OverflowError):
        with pytest.raises(sx.DTypeError):
            run(backend, src, a)
        return
    if expected.dtype not in SUPPORTED_DTYPES:
        with pytest.raises(sx.DTypeError):
            run(backend, src, a)
        return
    assert_same(run(backend, src, a), expected, context=src)


def test_python_int_count_input(backend):
    a = np.arange(-5, 5, dtype=np.int16)
    for n in (0, 3, 15, 16, 40, -1):
        assert_same(run(backend, "c = a << n", a, n), a << n)
        assert_same(run(backend, "c = a >> n", a, n), a >> n)


def test_shift_precedence_is_pythons():
    """Between `&` and `+`: `a << b + 1 & c` is `(a << (b + 1)) & c`; `a >> 1 < b` compares."""
    a, b, c = np.array([1, 6, -9]), np.array([1, 2, 3]), np.array([7, 12, -1])
    for src, want in [("r = a << b + 1 & c", (a << b + 1) & c), ("r = a >> 1 < b", (a >> 1) < b),
                      ("r = a | b << 2", a | (b << 2)), ("r = a ^ b >> 1", a ^ (b >> 1)),
                      ("r = a << b << c % 4", (a << b) << (c % 4)), ("r = a * 2 >> b - 1", (a * 2) >> (b - 1)),
                      ("r = -a << 2", (-a) << 2), ("r = ~a >> 1", (~a) >> 1), ("r = a<<b>>1", (a << b) >> 1)]:
        assert_same(sx.compile(src, backend="numpy")(*(x for x, n in ((a, "a"), (b, "b"), (c, "c")) if n in src[3:])),
                    want, context=src)


def test_shift_of_floats_is_refused_as_numpy_does():
    with pytest.raises(sx.DTypeError, match="left_shift"):
        sx.compile("c = a << 1", backend="numpy")(np.ones(3))
    with pytest.raises(sx.DTypeError):
        sx.compile("c = a << b", backend="numpy")(np.ones(3, np.int32), np.ones(3))


def test_shift_of_literals_is_weak_as_in_python():
    assert run("numpy", "c = a + (1 << 3)", np.ones(2, np.int8)).dtype == np.int8
    assert run("numpy", "c = a + (1 << 3)", np.ones(2, np.int8)).tolist() == [9, 9]


def test_half_a_shift_is_a_positioned_syntax_error():
    with pytest.raises(sx.ParseError) as err:
        sx.compile("c = a < < b")
    assert err.value.span.column == 9  # the second `<`
    with pytest.raises(sx.ParseError, match="unexpected end"):
        sx.compile("c = a >>")


def test_the_new_names_are_in_the_op_table_and_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in ("fmod", "copysign", "nextafter", "signbit", "left_shift", "right_shift"):
        assert name in OPS
        assert f"`{name}`" in readme
    assert "`<< >>`" in readme


# -- round(x, decimals): np.round, half to even, decimals of either sign --------------------------
ROUND_DECIMALS = [0, 1, 2, 3, 7, 15, 30, 39, 300, 400, -1, -2, -3, -5, -10, -19, -20, -300]


def _round_values(dtype) -> np.ndarray:
    v = edge_values(dtype)
    if np.dtype(dtype).kind == "f":
        halves = [0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 1.005, 2.675, 15.0, 25.0, -35.0, 1234.5, 56294995342131.5, 1e-7]
        v = np.concatenate([v, np.array(halves + [-np.nan], dtype)])
    elif np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        more = [5, 15, 25, 45, 149, 150, 250, 1234, 98765, info.max - 4, info.min + 5, 10**9 + 5, 2**53 + 1]
        v = np.concatenate([v, np.array([m for m in more if info.min <= m <= info.max], dtype)])
    return v


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_against_numpy(backend, dtype):
    """Every decimals in one program: NumPy's three steps in the float's dtype, ints through float64
    (results beyond an int's range wrap as NumPy's cast does), NaN keeping its bits."""
    a = _round_values(dtype)
    decimals = [d for d in ROUND_DECIMALS if np.dtype(dtype).kind == "f" or d > -309]  # ints: see README
    if dtype == "bool":
        decimals = [0]  # NumPy refuses negative decimals of bools; round(bool) is float16
    expected = [numpy_quiet(lambda x, d=d: np.round(x, d), a) for d in decimals]
    if np.asarray(expected[0]).dtype not in SUPPORTED_DTYPES:
        with pytest.raises(sx.DTypeError):
            run(backend, "c = round(a)", a)
        return
    src = "\n".join(f"r{k} = round(a, {d})" for k, d in enumerate(decimals))
    got = run(backend, src, a)
    got = got if len(decimals) > 1 else (got,)
    for d, r, e in zip(decimals, got, expected):
        assert_same(r, e, 0, context=f"round(a, {d}) of {dtype}")


def test_round_spellings_and_refusals(backend):
    a = np.array([0.5, 1.5, 2.5, -2.5, 2.675], np.float64)
    assert_same(run(backend, "c = round(a, decimals=2) + around(a) + round(a, -1)", a),
                np.round(a, 2) + np.around(a) + np.round(a, -1))
    assert run(backend, "c = a * round(2.5)", np.ones(2, np.float32)).dtype == np.float64  # np.round(2.5) is strong
    with pytest.raises(sx.ParseError, match="`decimals` is an integer written in the program"):
        sx.compile("c = round(a, b)", backend=backend)
    with pytest.raises(sx.ParseError, match="`decimals` is an integer"):
        sx.compile("c = round(a, 1.5)", backend=backend)
    with pytest.raises(sx.DTypeError, match="NumPy refuses round"):
        run(backend, "c = round(a, -1)", np.array([True, False]))

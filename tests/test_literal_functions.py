"""A function of literals (`cos(3)`, `sqrt(4)`, `abs(-2)`) is a strong NumPy scalar, as `np.cos(3)` is;
an operator on literals (`2 + 3`, `-1`, `2 ** 0.5`) is Python's arithmetic and stays weak. NumPy is
asked for every expected dtype: each case is written once, as symexpr and as NumPy."""
import numpy as np
import pytest

import symexpr as sx
from helpers import assert_same, numpy_quiet, run

# symexpr source -> the same with NumPy, `a` the array.
CASES = {
    "c = a * cos(0)": lambda a: a * np.cos(0),
    "c = a * cos(3)": lambda a: a * np.cos(3),
    "c = a * sqrt(4)": lambda a: a * np.sqrt(4),
    "c = a * sqrt(4.0)": lambda a: a * np.sqrt(4.0),
    "c = a * abs(-2)": lambda a: a * np.abs(-2),
    "c = a + sign(-2)": lambda a: a + np.sign(-2),
    "c = a + floor(2.5)": lambda a: a + np.floor(2.5),
    "c = a * exp(1)": lambda a: a * np.exp(1),
    "c = a * pow(2, 0.5)": lambda a: a * np.pow(2, 0.5),
    "c = a * maximum(1, 2)": lambda a: a * np.maximum(1, 2),
    "c = a * where(True, 1, 2)": lambda a: a * np.where(True, 1, 2),
    "c = a * clip(5, 0, 3)": lambda a: a * np.clip(5, 0, 3),
    "c = a * fmod(7, 2)": lambda a: a * np.fmod(7, 2),
    "c = a & isnan(1.0)": lambda a: a & np.isnan(1.0),
    "c = a * cos(cos(0))": lambda a: a * np.cos(np.cos(0)),
    "c = a * (cos(0) + 1)": lambda a: a * (np.cos(0) + 1),
    "c = a * -cos(0)": lambda a: a * -np.cos(0),
    "c = a * float32(cos(0))": lambda a: a * np.float32(np.cos(0)),
    # operators on literals stay weak
    "c = a * (2 + 3)": lambda a: a * (2 + 3),
    "c = a * -1": lambda a: a * -1,
    "c = a * 2 ** 0.5": lambda a: a * 2 ** 0.5,
    "c = a + (1 << 2)": lambda a: a + (1 << 2),
    "c = a * (7 // 2)": lambda a: a * (7 // 2),
}


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int32", "uint8", "bool"])
@pytest.mark.parametrize("src", sorted(CASES))
def test_literal_functions_against_numpy(backend, src, dtype):
    a = np.array([0, 1, 2, 3], dtype)
    try:
        expected = numpy_quiet(CASES[src], a)
    except (TypeError, OverflowError):
        with pytest.raises(sx.DTypeError):
            run(backend, src, a)
        return
    assert_same(run(backend, src, a), expected, context=src)


def test_float32_times_cos_0_is_float64_as_in_numpy(backend):
    assert (np.float32(1) * np.cos(0)).dtype == np.float64  # NumPy's rule, checked
    assert run(backend, "c = a * cos(0)", np.ones(3, np.float32)).dtype == np.float64
    assert run(backend, "c = a * (2 + 3)", np.ones(3, np.float32)).dtype == np.float32


@pytest.mark.parametrize("src,value", [("c = cos(3)", np.cos(3)), ("c = sqrt(4)", np.sqrt(4)),
                                       ("c = abs(-2)", np.abs(-2)), ("c = pow(2, 3)", np.pow(2, 3)),
                                       ("c = 2 + 3", np.int64(5)), ("c = 2 ** 0.5", np.float64(2 ** 0.5))])
def test_a_literal_result_is_numpys_scalar(backend, src, value):
    assert_same(run(backend, src), value)


def test_function_of_a_python_scalar_input_is_strong_too(backend):
    """`sqrt(n)` for a Python float n is NumPy's np.sqrt(n), a float64; `n ** 2` stays weak."""
    a = np.arange(4, dtype=np.float32)
    assert_same(run(backend, "c = a * sqrt(n)", a, 2.0), a * np.sqrt(2.0))
    assert_same(run(backend, "c = a * n ** 2", a, 2.0), a * 2.0 ** 2)
    assert_same(run(backend, "c = a + abs(n)", a.astype(np.int8), -3), a.astype(np.int8) + np.abs(-3))


def test_unoptimized_programs_agree(backend):
    a = np.ones(3, np.float32)
    for src in ("c = a * cos(0)", "c = a * (2 + 3)", "c = a * pow(2, 0.5)"):
        prog = sx.compile(src, backend=backend, optimize=False)
        assert_same(prog(a), CASES[src](a), context=src)


def test_pow_of_literals_refused_by_numpy_still_raises_at_run_time():
    prog = sx.compile("c = a * pow(2, -1)", backend="numpy")
    with pytest.raises(sx.EvaluationError):
        prog(np.ones(2))

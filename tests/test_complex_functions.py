"""Complex exp, log, log10, log2, sqrt, square, sin, cos, tan, sinh, cosh, tanh, sign, ** and the reductions,
against NumPy on both engines.

One program computes every function (a kernel build costs most of a second), called once per dtype
on every pair of special real and imaginary parts (0, -0.0, inf, -inf, NaN, large, tiny, subnormal,
...) and on random values over many magnitudes. The NumPy engine must give NumPy's bits; the OpenCL
kernel the same NaN positions and signed zeros, and each part within the ulps the OpenCL spec gives
the real function (tests/helpers.py OPENCL_ULPS).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symexpr as sx
from helpers import OPENCL_ULPS, assert_same, numpy_quiet, pairs, program, ulp_distance

FUNCTIONS = ("exp", "log", "log10", "log2", "sqrt", "square", "sin", "cos", "tan", "sinh", "cosh", "tanh", "sign")
# The powers, as NumPy's np.power computes them (name -> (source, NumPy)).
POWERS = {
    "zw": ("z ** w", lambda z, w, x, n: np.power(z, w)),
    "z2": ("z ** 2", lambda z, w, x, n: np.power(z, 2)),
    "zm3": ("pow(z, -3)", lambda z, w, x, n: np.power(z, -3)),
    "z99": ("z ** 99", lambda z, w, x, n: np.power(z, 99)),
    "zhalf": ("z ** 2.5", lambda z, w, x, n: np.power(z, 2.5)),
    "real_z": ("x ** z", lambda z, w, x, n: np.power(x, z)),
    "z_real": ("z ** x", lambda z, w, x, n: np.power(z, x)),
    "z_int": ("z ** n", lambda z, w, x, n: np.power(z, n)),
}
SOURCE = "\n".join([f"{f}_ = {f}(z)" for f in FUNCTIONS] + [f"{k} = {src}" for k, (src, _) in POWERS.items()])
NAMES = [f"{f}_" for f in FUNCTIONS] + list(POWERS)
PART = {"complex64": np.float32, "complex128": np.float64}
# Complex sqrt is not one correctly rounded operation as the real one is: it takes hypot's allowance.
# square is exact (NumPy's multiply of z by itself); sign is z / hypot(z), within hypot's; tan of a
# huge real part (7e22, 1e10 in complex64) came out 6 ulps from NumPy's on 4 of 400,000 random values,
# where both sides' sin and cos of the reduced argument round differently.
ULPS = {**OPENCL_ULPS, "sqrt": OPENCL_ULPS["hypot"], "square": 0, "sign": OPENCL_ULPS["hypot"],
        "tan": OPENCL_ULPS["tan"] + 1}


def special_values(dtype) -> np.ndarray:
    """Every pair of special real and imaginary parts."""
    part = PART[dtype]
    info = np.finfo(part)
    with np.errstate(over="ignore"):  # (1e300 is inf in float32)
        edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -2.5, np.pi / 2, np.pi, 20.0, -30.0,
                          88.5, 710.0, -800.0, 1500.0, 1e30, -1e300, float(info.max), float(info.tiny),
                          float(info.smallest_subnormal), -3e-5], part)
    re, im = pairs(edges, edges)
    z = np.empty(len(re), dtype)
    z.real, z.imag = re, im
    return z


def random_values(dtype, n=400, seed=3) -> np.ndarray:
    """Random parts from 1e-30 to 1e30 in magnitude, and near the unit circle (log's hard case)."""
    rng = np.random.default_rng(seed)
    z = np.empty(n, dtype)
    z.real = rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
    z.imag = rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
    angle = rng.uniform(-np.pi, np.pi, n // 4)
    z[: n // 4] = (np.cos(angle) + 1j * np.sin(angle)) * (1 + rng.standard_normal(n // 4) * 1e-6)
    return z


def operands(z):
    """The other operands of the powers: a complex exponent, a real array of the part's dtype, integers."""
    w = np.roll(z, 7)
    x = np.roll(z.real, 3).copy()
    n = np.resize(np.array([0, 1, 2, 3, -1, -2, 5, 100, -7], np.int32), len(z))
    return w, x, n


def expected(z):
    w, x, n = operands(z)
    want = [numpy_quiet(getattr(np, f), z) for f in FUNCTIONS]
    return want + [numpy_quiet(fn, z, w, x, n) for _, fn in POWERS.values()]


@pytest.fixture(scope="module", params=["numpy", "opencl"])
def results(request):
    """Each engine's results, per dtype and set of values: one program, one call each."""
    prog = program(SOURCE, request.param)
    out = {}
    for dtype in PART:
        for what, z in (("special", special_values(dtype)), ("random", random_values(dtype))):
            out[dtype, what] = (z, prog(z=z, w=operands(z)[0], x=operands(z)[1], n=operands(z)[2]))
    return request.param, out


def normwise_ulps(r, e):
    """Each part's distance from NumPy's in ulps of the larger part of NumPy's result: a power's parts
    carry the rounding of the exponent times the logarithm (as NumPy's own do), relative to |z|."""
    scale = np.maximum(np.abs(e.real), np.abs(e.imag))
    with np.errstate(over="ignore"):  # (the spacing of inf: not compared)
        ulp = np.spacing(scale.astype(r.real.dtype))
    finite = np.isfinite(r.real) & np.isfinite(e.real) & np.isfinite(r.imag) & np.isfinite(e.imag) & (ulp > 0)
    with np.errstate(all="ignore"):
        d = np.maximum(np.abs(r.real.astype(float) - e.real), np.abs(r.imag.astype(float) - e.imag)) / ulp
    return np.where(finite, d, 0)


def assert_normwise(r, e, ulps, context=""):
    """Same dtype, shape, NaN positions and infinities; finite parts within `ulps` of the larger part."""
    assert r.dtype == e.dtype and r.shape == e.shape, context
    for part in ("real", "imag"):
        rp, ep = getattr(r, part), getattr(e, part)
        assert np.array_equal(np.isnan(rp), np.isnan(ep)), f"{context}: NaN positions differ in the {part} part"
        assert np.array_equal(rp[np.isinf(ep)], ep[np.isinf(ep)]), f"{context}: infinities differ"
    d = normwise_ulps(r, e)
    assert d.max() <= ulps, f"{context}: {d.max():.0f} ulps of the larger part"


@pytest.mark.parametrize("what", ["special", "random"])
@pytest.mark.parametrize("dtype", sorted(PART))
@pytest.mark.parametrize("name", NAMES)
def test_against_numpy(results, name, dtype, what):
    backend, out = results
    z, got = out[dtype, what]
    k = NAMES.index(name)
    want = expected(z)[k]
    op = name.rstrip("_") if name.endswith("_") else "power"
    if backend == "numpy":
        assert_same(got[k], want, context=name)
        return
    if op != "power":
        assert_same(got[k], want, ULPS[op], context=name)
        return
    # Powers: the special values (NaN positions, signed zeros) exactly as NumPy; the finite ones within
    # the spec's ulps for pow, counted in the larger part's ulps (see normwise_ulps).
    r, e = got[k], want
    assert r.dtype == e.dtype
    # a ** b is exp(b * log(a)): the rounding of b * log(a), NumPy's own as much as the kernel's,
    # grows its error by |b * log(a)| (the condition number), which the allowance follows. Where
    # that is beyond 1e3 the angle of the result is noise on both sides (so are the signs of its
    # infinities and zeros).
    w, x, n = operands(z)
    a, b = {"zw": (z, w), "zhalf": (z, 2.5), "real_z": (x, z), "z_real": (z, x), "z_int": (z, n)}.get(name, (z, 1))
    cond = numpy_quiet(lambda: np.minimum(np.abs(np.asarray(b, np.complex128) * np.log(np.asarray(a, np.complex128))),
                                          1e300))
    defined = ~(np.isfinite(cond) & (cond > 1e3))
    for part in ("real", "imag"):
        rp, ep = getattr(r, part), getattr(e, part)
        assert np.array_equal(np.isnan(rp), np.isnan(ep)), f"{name}: NaN positions differ in the {part} part"
        both_inf = np.isinf(ep) & defined
        off = both_inf & (rp != ep)
        assert not off.any(), f"{name}: infinities differ in the {part} part: {z[off][:4]}, {r[off][:4]} vs {e[off][:4]}"
        zero = (rp == 0) & (ep == 0) & defined
        sz = zero & (np.signbit(rp) != np.signbit(ep))
        assert not sz.any(), f"{name}: signed zeros differ: {z[sz][:4]} {r[sz][:4]} vs {e[sz][:4]}"
    d = normwise_ulps(r, e)
    over = d > OPENCL_ULPS["power"] * np.maximum(1, np.nan_to_num(cond, nan=1, posinf=1e300, neginf=1))
    assert not over.any(), f"{name}: {d[over][:3]} ulps at {z[over][:3]}: {r[over][:3]} vs {e[over][:3]}"


def test_integer_powers_are_numpys_bits(results):
    """Integer exponents below 100 take NumPy's repeated squaring: plain multiplies and Smith's
    division, the same bits on both engines (infinities and NaNs as NumPy's, no fused multiply-add)."""
    _, out = results
    for dtype in PART:
        for what in ("special", "random"):
            z, got = out[dtype, what]
            want = expected(z)
            for name in ("z2", "zm3", "z99"):
                k = NAMES.index(name)
                assert_same(got[k], want[k], context=f"{name} {dtype} {what}")


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
@settings(max_examples=30, deadline=None)
@given(st.lists(st.complex_numbers(max_magnitude=1e6) | st.sampled_from(
    [complex(np.inf, 1), complex(1, np.nan), complex(-np.inf, np.inf), complex(-0.0, 0.0)]), min_size=1, max_size=8))
def test_drawn_values(backend, values):
    z = np.array(values, np.complex128)
    got = program(SOURCE, backend)(z=z, w=operands(z)[0], x=operands(z)[1], n=operands(z)[2])
    for k, f in enumerate(FUNCTIONS):
        assert_same(got[k], expected(z)[k], 0 if backend == "numpy" else ULPS[f], context=f)


REDUCTIONS = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "var": np.var, "std": np.std}


def reduction_values(dtype, shape, seed=5):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    z.flat[3] = complex(np.inf, 1)
    z.flat[-2] = complex(0.5, np.nan)
    return z


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
@pytest.mark.parametrize("dtype", sorted(PART))
def test_reductions(backend, dtype):
    """sum, prod, mean, var and std of complex values, over every axis and one, with work around
    them in the same kernel: NumPy's (var and std are real). The kernel sums each part compensated,
    as float sums are, and multiplies in order (NumPy's bits for a whole array; over an axis NumPy
    multiplies with its element-wise loop's fused multiply-adds): within a few ulps."""
    z = reduction_values(dtype, (6, 5))
    src = "\n".join(f"{k}_all = {k}(z)\n{k}_rows = {k}(exp(z) * 2, axis=1)\n{k}_cols = {k}(z, axis=0, keepdims=True) * z"
                    for k in REDUCTIONS)
    got = program(src, backend)(z=z)
    want = []
    for fn in REDUCTIONS.values():
        want += [numpy_quiet(fn, z), numpy_quiet(lambda: fn(np.exp(z) * 2, axis=1)),
                 numpy_quiet(lambda: fn(z, axis=0, keepdims=True) * z)]
    names = [f"{k} {a}" for k in REDUCTIONS for a in ("all", "rows", "cols")]
    for g, w, name in zip(got, want, names):
        if backend == "numpy" or name == "prod all" or w.dtype.kind != "c":
            assert_same(g, w, 0 if backend == "numpy" or name == "prod all" else 8, context=name)
        else:  # a sum one ulp apart, multiplied by z: the parts cancel, so ulps of the larger part
            assert_normwise(g, w, 8, context=name)


@pytest.mark.parametrize("dtype", sorted(PART))
def test_long_complex_sums_in_the_kernel(dtype):
    """Rows long enough that several work-items share one (partials combined on the host), and one
    whole-array sum: within a few ulps of the sum of magnitudes, as float sums are."""
    z = reduction_values(dtype, (4, 100_000))[:, :]
    z.flat[3] = z.flat[-2] = 0
    prog = program("s = sum(z, axis=1)\nm = mean(z)\nv = var(z, axis=1)", "opencl")
    got = prog(z=z)
    want = (np.sum(z, axis=1), np.mean(z), np.var(z, axis=1))
    eps = np.finfo(PART[dtype]).eps
    assert "the NumPy engine" not in prog.explain(z=z)
    for g, w, scale in zip(got, want, (np.sum(np.abs(z), axis=1), np.mean(np.abs(z)), np.var(z, axis=1))):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.all(np.abs(g - w) <= 8 * eps * scale)


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
@pytest.mark.parametrize("src, op", [("c = arcsin(z)", "arcsin"), ("c = log1p(z)", "log1p"), ("c = arccos(z)", "arccos"),
                                     ("c = max(z)", "max"), ("c = expm1(z)", "expm1")])
def test_functions_not_computed_are_refused_by_name(backend, src, op):
    with pytest.raises(sx.DTypeError) as err:
        program(src, backend)(z=np.ones(3, np.complex64))
    assert f"{op} of complex64" in str(err.value) and "line 1" in str(err.value)


@pytest.mark.parametrize("src", ["y = sum(real(exp(z)))", "y = sum(abs(z ** 2))", "y = real(sum(sqrt(z) * 2))"])
def test_gradients_stay_refused(src):
    with pytest.raises(sx.DTypeError, match="cannot differentiate through complex values"):
        sx.grad(src, wrt="z")(z=np.ones(3, np.complex128))


def test_kernel_names_the_helpers():
    """The kernel calls one helper per function, complex64 computed in double and rounded once."""
    prog = program("e = exp(z)\np = z ** w", "opencl")
    z = np.ones(4, np.complex64)
    prog(z=z, w=z)
    source = prog.kernel_source
    assert "sx_cexp(convert_double2(" in source and "sx_cpow_float2(" in source


def test_distances_are_measured():
    """The ulp allowance is not vacuous: the kernel's exp differs from NumPy's somewhere, within it."""
    z = random_values("complex128")
    got = program(SOURCE, "opencl")(z=z, w=operands(z)[0], x=operands(z)[1], n=operands(z)[2])
    e = expected(z)[0]
    ok = np.isfinite(e.real) & np.isfinite(got[0].real)
    d = ulp_distance(got[0].real[ok], e.real[ok])
    assert 0 < d.max() <= OPENCL_ULPS["exp"]


@pytest.mark.parametrize("dtype", sorted(PART))
def test_dask_arrays(dtype):
    """On Dask arrays the functions run per block, and the reductions combine the blocks' partials
    (mean, var and std by their moments, a complex mean and a real sum of squares)."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(2)
    z = (rng.standard_normal((90, 4)) + 1j * rng.standard_normal((90, 4))).astype(dtype)
    src = ("s = sum(exp(z) ** 2.5)\np = prod(z / abs(z), axis=0)\nm = mean(z, axis=0)\nv = var(z)\n"
           "d = std(z * 3, axis=0, ddof=1)")
    got = program(src, "numpy")(z=da.from_array(z, chunks=(40, 4)))
    want = numpy_quiet(lambda: (np.sum(np.exp(z) ** 2.5), np.prod(z / np.abs(z), axis=0), np.mean(z, axis=0),
                                np.var(z), np.std(z * 3, axis=0, ddof=1)))
    rtol = 50 * np.finfo(PART[dtype]).eps
    for g, w, name in zip(got, want, "spmvd"):
        g = np.asarray(g.compute() if hasattr(g, "compute") else g)
        assert g.dtype == w.dtype and g.shape == w.shape, name
        assert np.allclose(g, w, rtol=rtol, atol=0), name


def test_broadcast_and_strided_operands(backend):
    """The strided kernel path: a column of bases against a row of exponents, a strided view."""
    rng = np.random.default_rng(4)
    big = (rng.standard_normal((12, 6)) + 1j * rng.standard_normal((12, 6))).astype(np.complex64)
    z, w = big[:, :1], (big[:4, 2] * 0.5)[None, :]
    got = program("p = z ** w\nq = exp(v) * w", backend)(z=z, w=w, v=big[:, 3:4])
    want = numpy_quiet(lambda: (np.power(z, w), np.exp(big[:, 3:4]) * w))
    if backend == "numpy":
        assert_same(got[0], want[0])
        assert_same(got[1], want[1])
        return
    assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
    assert normwise_ulps(got[0], want[0]).max() <= OPENCL_ULPS["power"]
    assert normwise_ulps(got[1], want[1]).max() <= OPENCL_ULPS["exp"]


def test_real_operands_and_literals(backend):
    """Real arrays meeting complex literals take NumPy's dtypes (float32 with 1j is complex64), and
    a function of literals alone is a strong NumPy scalar (complex128), as np.sqrt(-4 + 0j) is."""
    x = np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 1e-40, 3e38], np.float32)
    src = "e = exp(x * 1j)\ns = sqrt(x + 0j)\np = x ** (0.5 + 1j)\nc = x + sqrt(-4 + 0j)\nt = tan(1j * x) ** 2"
    got = program(src, backend)(x=x)
    want = numpy_quiet(lambda: (np.exp(x * 1j), np.sqrt(x + 0j), np.power(x, 0.5 + 1j), x + np.sqrt(-4 + 0j),
                                np.power(np.tan(1j * x), 2)))
    assert [g.dtype for g in got] == [np.complex64, np.complex64, np.complex64, np.complex128, np.complex64]
    for g, w, name, ulps in zip(got, want, "espct", (4, 4, 16, 0, 10)):
        assert_same(g, w, 0 if backend == "numpy" else ulps, context=name)


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
@settings(max_examples=30, deadline=None)
@given(st.lists(st.builds(complex, st.floats(width=32), st.floats(width=32)), min_size=1, max_size=8),
       st.integers(-99, 99))
def test_drawn_complex64_values_and_powers(backend, values, n):
    z = np.array(values, np.complex64)
    prog = program(SOURCE, backend)
    got = prog(z=z, w=operands(z)[0], x=operands(z)[1], n=np.full(len(z), n, np.int32))
    want = expected(z)
    for k, f in enumerate(FUNCTIONS):
        assert_same(got[k], want[k], 0 if backend == "numpy" else ULPS[f], context=f)
    k = NAMES.index("z_int")
    assert_same(got[k], numpy_quiet(np.power, z, np.full(len(z), n, np.int32)), context=f"z ** {n}")

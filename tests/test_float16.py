"""float16 as NumPy has it: each operation computed in float32 and rounded to float16, on both engines.

The per-op conformance (every function and operator on float16 edge values) runs in test_ops.py;
here: the roundings that differ from float32's (a float64 rounded once, not twice), weak literals
and Python floats rounded to float16 first, the kernel's other paths (a 0-d input as a kernel
argument, strided inputs, out=), reductions, and hybridize."""
import numpy as np
import pytest

import symexpr as sx
from helpers import assert_same, numpy_quiet, run, ulps_for

H = np.float16


def test_sin_of_float16_is_float16(backend):
    x = np.linspace(-10, 10, 1001).astype(H)
    got = run(backend, "y = sin(x)", x)
    assert got.dtype == H
    assert_same(got, np.sin(x), ulps_for("sin", backend, H))


@pytest.mark.parametrize("fname", ["sin", "cos", "tan", "exp", "log", "sqrt", "arctan", "tanh", "sigmoid", "expm1",
                                   "log1p", "cbrt", "exp2", "log2", "arcsinh"])
def test_functions_over_every_float16(backend, fname):
    """All 63,488 finite float16 values and the specials, in one call."""
    x = np.arange(2**16, dtype=np.uint16).view(H)
    if fname == "sigmoid":
        e = numpy_quiet(np.exp, -np.abs(x))
        want = numpy_quiet(lambda: np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(H))
    else:
        want = numpy_quiet(getattr(np, fname), x)
    assert_same(run(backend, f"y = {fname}(x)", x), want, ulps_for(fname, backend, H), context=fname)


def test_exact_arithmetic_over_float16_pairs(backend):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**16, 20000, dtype=np.uint16).view(H)
    b = rng.integers(0, 2**16, 20000, dtype=np.uint16).view(H)
    src = "s = a + b\nd = a - b\np = a * b\nq = a / b\nf = a // b\nm = a % b\nx = maximum(a, b)\nn = nextafter(a, b)"
    want = numpy_quiet(lambda: (a + b, a - b, a * b, a / b, a // b, a % b, np.maximum(a, b), np.nextafter(a, b)))
    for g, w, name in zip(run(backend, src, a, b), want, "sdpqfmxn"):
        assert_same(g, w, context=name)


def test_a_float64_is_rounded_to_float16_once(backend):
    # 1 + 2**-11 + 2**-40: above the midpoint of 1 and the next float16, so float16 rounds it up;
    # through float32 it would first become the midpoint and round to even, down to 1.
    v = np.array([1 + 2**-11 + 2**-40, -(1 + 2**-11 + 2**-40), 65519.99, 65520.0, 2**-25 + 2**-60, np.nan])
    want = numpy_quiet(lambda: v.astype(H))
    assert want[0] != np.float32(v[0]).astype(H)  # the case is a real one
    assert_same(run(backend, "y = float16(x)", v), want)
    # A Python float meeting a float16 array is rounded to float16 once too, as NumPy does.
    x = np.ones(4, H)
    assert_same(run(backend, "y = x * k", x, float(v[0])), x * float(v[0]))
    assert_same(run(backend, "y = x * 1.00048828125000090949", x), x * 1.00048828125000090949)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "uint8", "int16", "int32", "uint64", "bool"])
def test_casts_to_and_from_float16(backend, dtype):
    rng = np.random.default_rng(5)
    if np.dtype(dtype).kind == "f":
        v = np.concatenate([rng.standard_normal(500) * 10.0 ** rng.integers(-9, 6, 500),
                            [np.inf, -np.inf, np.nan, -0.0, 65504, 65520, 1e-8]]).astype(dtype)
    elif dtype == "bool":
        v = np.array([True, False])
    else:
        info = np.iinfo(dtype)
        v = np.concatenate([rng.integers(info.min, info.max, 500, dtype=dtype, endpoint=True),
                            np.array([m for m in (0, 1, info.max, info.min, 2049, 2051) if info.min <= m <= info.max],
                                     dtype=dtype)])
    assert_same(run(backend, "y = float16(x)", v), numpy_quiet(lambda: v.astype(H)))
    back = numpy_quiet(lambda: v.astype(H))
    if np.dtype(dtype).kind in "iu":  # in range only: beyond it NumPy is undefined, symexpr saturates
        wide = back.astype(np.float64)
        back = back[np.isfinite(wide) & (wide >= np.iinfo(dtype).min) & (wide <= np.iinfo(dtype).max)]
    assert_same(run(backend, f"y = {dtype}(x)", back), numpy_quiet(lambda: back.astype(dtype)))


def test_promotion_with_other_dtypes(backend):
    h = np.array([1.5, -2.25, 65504, np.nan], H)
    for other, dtype in [(np.array([3, -4, 5, 6], np.int8), H), (np.array([3, 4, 5, 6], np.uint8), H),
                         (np.array([3, 4, 5, 6], np.int16), np.float32), (np.ones(4, np.float32), np.float32),
                         (np.ones(4, np.float64), np.float64), (np.array([True, False] * 2), H)]:
        got = run(backend, "y = h * o + 1", h, other)
        assert got.dtype == dtype
        assert_same(got, numpy_quiet(lambda: h * other + 1))


def test_kernel_paths_scalar_strided_and_out(backend):
    h = (np.arange(24).reshape(4, 6) / 7).astype(H)
    assert_same(run(backend, "y = a * b", h[:, ::2], np.array(0.1, H)), h[:, ::2] * np.array(0.1, H))
    assert_same(run(backend, "y = a + b", h, h[0]), h + h[0])
    out = np.empty((4, 6), H)
    prog = sx.compile("y = sqrt(a) * 3", backend=backend)
    assert prog(h, out=out) is out
    assert_same(out, np.sqrt(h) * 3)
    if backend == "opencl":
        src = prog.kernel_source
        assert "sx_from_half(sx_in0[i])" in src and "sx_to_half(" in src and "__global const ushort*" in src


def test_reductions_of_float16(backend):
    x = (np.random.default_rng(1).standard_normal((30, 40)) * 4).astype(H)
    src = "s = sum(x, axis=1)\nm = max(x)\nk = mean(x, axis=0)\np = softmax(x)\nv = var(x)"
    prog = sx.compile(src, backend=backend)
    got = prog(x)
    want = [numpy_quiet(f) for f in (lambda: np.sum(x, axis=1), lambda: np.max(x), lambda: np.mean(x, axis=0),
                                     lambda: sx.ops.OPS["softmax"].numpy(x), lambda: np.var(x))]
    for g, w in zip(got, want):
        assert_same(g, w)
    if backend == "opencl":
        assert "float16 reductions run on the NumPy engine" in prog.explain(x=x)
        # Matrix products and element-wise work stay on the OpenCL path.
        assert_same(run(backend, "y = sin(x) @ transpose(x) + 1", x), np.sin(x) @ x.T + 1)


def test_hybridize_float16(backend):
    @sx.hybridize(active=True, backend=backend)
    def f(x, y):
        z = np.sin(x) * y
        return z.astype(np.float16), z.dtype == np.float32

    x, y = np.linspace(0, 3, 50).astype(H), np.linspace(1, 2, 50).astype(np.float32)
    got, is_f32 = f(x, y)
    want, _ = f.fn(x, y)
    assert got.dtype == H and bool(is_f32)
    assert_same(got, want, ulps_for("sin", backend, H))

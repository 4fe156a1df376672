"""float32 sin and cos in the OpenCL kernels' vector loops: a polynomial within SINCOS_BOUND
(backends/opencl/c_math.py), the built-in beyond it. Against NumPy within the README's ulp bound
(helpers.OPENCL_ULPS), on large samples where the reduction is hardest, at the bound, beyond it,
and with NaN, inf, -0.0 and tiny values, alone in a vector and mixed with ordinary lanes."""
import numpy as np
import pytest

import symexpr as sx
from symexpr.backends.opencl.c_math import SINCOS_BOUND

from helpers import OPENCL_ULPS, assert_same

pytest.importorskip("pyopencl")

F = np.float32


@pytest.fixture(scope="module")
def progs():
    return {name: sx.compile(f"r = {name}(x)", backend="opencl") for name in ("sin", "cos")}


def near_multiples_of_half_pi(limit: float) -> np.ndarray:
    """The floats nearest k*pi/2 up to `limit`, and three on either side of each."""
    k = np.arange(-int(limit / (np.pi / 2)), int(limit / (np.pi / 2)) + 1)
    x = (k * (np.pi / 2)).astype(F)
    out, up, down = [x], x, x
    for _ in range(3):
        up, down = np.nextafter(up, F(np.inf)), np.nextafter(down, F(-np.inf))
        out += [up, down]
    got = np.concatenate(out)
    return got[np.abs(got) <= limit]


def samples():
    rng = np.random.default_rng(16)
    n = 1 << 20
    yield "within pi/4", rng.uniform(-np.pi / 4, np.pi / 4, n).astype(F)
    yield "within 10", rng.uniform(-10, 10, n).astype(F)
    yield "up to the bound", rng.uniform(-SINCOS_BOUND, SINCOS_BOUND, n).astype(F)
    yield "the bound's neighbours", np.array([SINCOS_BOUND, -SINCOS_BOUND, np.nextafter(F(SINCOS_BOUND), F(0)),
                                              np.nextafter(F(SINCOS_BOUND), F(np.inf))] * 16, F)
    yield "near multiples of pi/2", near_multiples_of_half_pi(SINCOS_BOUND)
    yield "beyond the bound", rng.uniform(-1e6, 1e6, n).astype(F)
    yield "huge", rng.uniform(-3e38, 3e38, 4096).astype(F)
    yield "tiny and signed zeros", np.tile(np.array([-0.0, 0.0, 1e-30, -1e-37, 1e-5, -3e-4, 2.0 ** -12,
                                                     -(2.0 ** -12) * 1.5], F), 64)
    lanes = rng.uniform(-10, 10, 4096).astype(F)
    lanes[::7] = np.nan
    lanes[3::11] = np.inf
    lanes[5::13] = -np.inf
    lanes[6::17] = -0.0
    yield "NaN, inf and -0.0 among ordinary lanes", lanes
    mixed = rng.uniform(-10, 10, 4096).astype(F)
    mixed[::9] = F(2e5)  # a lane beyond the bound in most vectors
    yield "one large lane per vector", mixed


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_and_cos_agree_with_numpy_within_the_ulp_bound(progs, name):
    ref = getattr(np, name)
    for label, x in samples():
        with np.errstate(invalid="ignore"):
            want = ref(x)
        assert_same(progs[name](x), want, OPENCL_ULPS[name], context=f"{name}, {label}")


def test_the_polynomial_is_in_the_kernel_for_float32_vectors(progs):
    x = np.linspace(-3, 3, 256, dtype=F)
    progs["sin"](x)
    assert "sx_sincos_poly_float" in progs["sin"]._engine.kernel_source


def test_float64_sin_and_cos_keep_the_built_in():
    prog = sx.compile("r = sin(x)\ns = cos(x)", outputs=["r", "s"], backend="opencl")
    x = np.linspace(-50, 50, 1000)
    r, s = prog(x)
    assert_same(r, np.sin(x), OPENCL_ULPS["sin"])
    assert_same(s, np.cos(x), OPENCL_ULPS["cos"])
    assert "sx_sincos_poly" not in prog._engine.kernel_source


def test_minus_zero_keeps_its_sign_in_a_vector_of_ordinary_lanes(progs):
    x = np.full(64, -0.0, F)
    x[1::2] = 0.5
    got = progs["sin"](x)
    assert np.signbit(got[::2]).all() and (got[::2] == 0).all()

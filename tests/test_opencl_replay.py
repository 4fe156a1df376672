"""The OpenCL engine's replayed launches (backends/opencl/replay.py): every call's results are the
caller's own arrays, and whatever the fast path cannot take goes to the general path, with NumPy's
answer either way."""
import numpy as np
import pytest

import symexpr as sx
from symexpr.backends import pool

pytest.importorskip("pyopencl")


@pytest.fixture(scope="module")
def two_outputs():
    return sx.compile("c = a * b + 1\nd = c - a", outputs=["c", "d"], backend="opencl")


@pytest.mark.parametrize("n", [16, 1000, pool.MIN_BYTES // 8 + 512])  # the last: results from the pool
def test_results_of_later_calls_never_alias_earlier_ones(two_outputs, n):
    rng = np.random.default_rng(n)
    kept = []
    for k in range(4):
        a, b = rng.standard_normal(n), rng.standard_normal(n)
        c, d = two_outputs(a, b)
        kept.append((a, b, c, d))
    assert len(two_outputs._engine._launches) >= 1  # the later calls were replays
    arrays = [x for _, _, c, d in kept for x in (c, d)]
    for i, x in enumerate(arrays):
        for y in arrays[i + 1:]:
            assert not np.may_share_memory(x, y)
    for a, b, c, d in kept:  # each result still holds its own call's values
        assert np.array_equal(c, a * b + 1) and np.array_equal(d, (a * b + 1) - a)


def test_a_result_dropped_and_reused_by_the_pool_is_not_written_under_a_kept_one(two_outputs):
    n = pool.MIN_BYTES // 8 + 512
    a, b = np.full(n, 2.0), np.full(n, 3.0)
    c, _ = two_outputs(a, b)            # kept
    two_outputs(a + 1, b)               # dropped at once: its blocks go back to the pool
    c2, d2 = two_outputs(a - 1, b)      # may take those blocks, never c's
    assert np.all(c == 7.0) and np.all(c2 == 4.0) and np.all(d2 == 3.0)


def test_an_input_changed_in_place_is_read_afresh(two_outputs):
    a, b = np.arange(64.0), np.ones(64)
    first, _ = two_outputs(a, b)
    a *= -2
    second, _ = two_outputs(a, b)
    assert np.array_equal(first, np.arange(64.0) + 1) and np.array_equal(second, a + 1)


def test_complex_inputs_at_half_their_size_take_the_general_path():
    prog = sx.compile("r = z * w + z", backend="opencl")
    rng = np.random.default_rng(3)
    z = (rng.standard_normal(300) + 1j * rng.standard_normal(300)).astype(np.complex64)
    w = (rng.standard_normal(300) + 1j * rng.standard_normal(300)).astype(np.complex64)
    np.testing.assert_allclose(prog(z, w), z * w + z, rtol=1e-6)
    assert prog._engine._launches  # recorded from the aligned call
    raw = np.zeros(z.nbytes + 4, np.uint8)[4:].view(np.complex64)  # NumPy calls it aligned; 4 bytes off 8
    raw[...] = z
    assert raw.flags.aligned and raw.ctypes.data % 8
    np.testing.assert_allclose(prog(raw, w), z * w + z, rtol=1e-6)


def test_misaligned_and_strided_inputs_still_agree_with_numpy(two_outputs):
    base = np.arange(2 * 300 + 1, dtype=np.float64)
    a, b = base[:300].copy(), base[300:600].copy()
    two_outputs(a, b)
    raw = np.zeros(300 * 8 + 1, np.uint8)[1:].view(np.float64)
    raw[...] = a
    assert not raw.flags.aligned
    c, d = two_outputs(raw, b)
    assert np.array_equal(c, a * b + 1) and np.array_equal(d, a * b + 1 - a)
    c, d = two_outputs(base[:600:2], b)
    assert np.array_equal(c, base[:600:2] * b + 1)

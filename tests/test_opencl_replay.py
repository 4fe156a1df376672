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


# -- out= arrays just after an input in the page (memory.py, ALIAS_WINDOW) ------------------------

def _at_page_offset(like: np.ndarray, rel: int) -> np.ndarray:
    """An array of `like`'s shape and dtype starting `rel` bytes after `like`, modulo 4 KiB."""
    raw = np.empty(like.nbytes + 8192, np.uint8)
    start = (like.ctypes.data + rel - raw.ctypes.data) % 4096
    return raw[start:start + like.nbytes].view(like.dtype).reshape(like.shape)


def test_which_targets_count_as_just_after_an_input():
    from symexpr.backends.opencl.memory import ALIAS_MIN_BYTES, ALIAS_WINDOW, _aliases_loads
    a = np.ones(ALIAS_MIN_BYTES // 4, np.float32)
    for rel in (0, 16, ALIAS_WINDOW - 4):
        assert _aliases_loads(_at_page_offset(a, rel), [a])
    for rel in (ALIAS_WINDOW, 2048, -16):
        assert not _aliases_loads(_at_page_offset(a, rel), [a])
    small = np.ones(64, np.float32)
    assert not _aliases_loads(_at_page_offset(small, 0), [small])  # small arrays: no copy


@pytest.mark.parametrize("rel", [0, 16, 64, 256, -16])
def test_out_just_after_an_input_still_writes_the_callers_array(two_outputs, rel):
    n = (1 << 20) // 8 + 100
    rng = np.random.default_rng(abs(rel) + 7)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    for _ in range(3):  # the first call takes the general path, the later ones the replay
        c, d = _at_page_offset(a, rel), _at_page_offset(b, rel)
        got = two_outputs(a, b, out=(c, d))
        assert got[0] is c and got[1] is d
        assert np.array_equal(c, a * b + 1) and np.array_equal(d, (a * b + 1) - a)


def test_out_in_place_over_an_input_is_computed_from_the_inputs_first():
    prog = sx.compile("r = a * 2 + b", backend="opencl")
    n = (1 << 20) // 8 + 100
    for _ in range(3):
        a, b = np.arange(n, dtype=np.float64), np.ones(n)
        want = a * 2 + b
        got = prog(a, b, out=a)
        assert got is a and np.array_equal(a, want)

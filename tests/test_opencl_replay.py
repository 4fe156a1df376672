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
    for k in range(5):  # from the third call on, the replay reuses a's and b's buffers (Launch.held)
        a[...] = np.arange(64.0) * (k - 2)
        b[::2] = k
        c, d = two_outputs(a, b)
        assert np.array_equal(c, a * b + 1) and np.array_equal(d, a * b + 1 - a)
    assert any(launch.held for launch in two_outputs._engine._launches.values())


def test_another_array_at_the_held_arrays_place_gets_its_own_buffer(two_outputs):
    for k in range(4):
        a, b = np.full(32, float(k)), np.full(32, 2.0)  # new objects each call (maybe the same memory)
        c, _ = two_outputs(a, b)
        assert np.array_equal(c, np.full(32, 2.0 * k + 1))


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


def test_which_outputs_count_as_crowded():
    from symexpr.backends.opencl.memory import ALIAS_MIN_BYTES, ALIAS_WINDOW, _crowded
    a = np.ones(ALIAS_MIN_BYTES // 4, np.float32)
    inputs = [_at_page_offset(a, 0) for _ in range(4)]
    # Six large arrays within a window: the first target moves, then the second is among five.
    for rel in (0, 16, ALIAS_WINDOW - 4):
        assert _crowded([_at_page_offset(a, rel), _at_page_offset(a, rel)], inputs) == {0}
    assert _crowded([_at_page_offset(a, 0), _at_page_offset(a, 2048)], inputs) == set()
    assert _crowded([_at_page_offset(a, 0), _at_page_offset(a, -16)], inputs[:3]) == set()  # five arrays
    small = [np.ones(64, np.float32) for _ in range(6)]
    assert _crowded(small[:2], small[2:]) == set()


@pytest.fixture(scope="module")
def six_streams():
    return sx.compile("s = a + b\nt = c - d\nu = s * t + a\nv = u - d", outputs=["u", "v"], backend="opencl")


@pytest.mark.parametrize("rel", [0, 16, 64, 256, -16])
def test_crowded_out_targets_are_written_with_plain_stores(six_streams, rel):
    from symexpr.backends.opencl.memory import ALIAS_WINDOW, _crowded
    n = 6 * (1 << 20) // 8  # six arrays of 6 MiB: more than the caches, so fresh results stream
    rng = np.random.default_rng(abs(rel) + 5)
    ref = np.empty(n)
    a, b, c, d = (_at_page_offset(ref, 0) for _ in range(4))  # four inputs at one page offset
    a[...], b[...], c[...], d[...] = (rng.standard_normal(n) for _ in range(4))
    want_u = (a + b) * (c - d) + a
    for _ in range(3):  # the first call takes the general path, the later ones try the replay
        u, v = _at_page_offset(a, rel), _at_page_offset(a, rel)
        assert bool(_crowded((u, v), (a, b, c, d))) == (0 <= rel < ALIAS_WINDOW)
        got = six_streams(a, b, c, d, out=(u, v))
        assert got[0] is u and got[1] is v
        assert np.array_equal(u, want_u) and np.array_equal(v, want_u - d)
        # The general path, whose kernel is the one `kernel_source` shows (a replay leaves it as it was).
        six_streams.run(dict(a=a, b=b, c=c, d=d), out=(u, v))
        assert np.array_equal(u, want_u) and np.array_equal(v, want_u - d)
        streamed = "nontemporal" in six_streams._engine.kernel_source
        cache = six_streams._engine.info.cache_bytes
        if cache and 6 * a.nbytes > cache:
            assert streamed == (not 0 <= rel < ALIAS_WINDOW)
        fresh_u, fresh_v = six_streams(a, b, c, d)  # fresh results: back to the recorded launch
        assert np.array_equal(fresh_u, want_u) and np.array_equal(fresh_v, want_u - d)


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

"""The result pool (backends/pool.py): large results reuse memory their predecessors let go of."""

import numpy as np
import pytest

import symexpr as sx
from symexpr.backends import pool
from helpers import errors_in_threads

N = pool.MIN_BYTES // 4 + 1000  # float32 results large enough to come from the pool


@pytest.fixture(autouse=True)
def empty_pool():
    pool.clear()
    yield
    pool.clear()


def test_pooled_array_is_an_ordinary_array():
    a = pool.empty((N // 10, 10), np.float32)
    assert a.shape == (N // 10, 10) and a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable and a.ctypes.data % pool.ALIGN == 0
    a[...] = 3
    assert float(a.sum()) == 3 * a.size
    small = pool.empty((10,), np.float64)
    assert small.base is None  # small arrays are plain np.empty


def test_memory_returns_only_when_every_view_is_gone():
    a = pool.empty((N,), np.float32)
    address = a.ctypes.data
    view = a[10:20]
    del a
    assert pool.held_bytes() == 0  # the view still holds the block
    b = pool.empty((N,), np.float32)
    assert b.ctypes.data != address and not np.shares_memory(b, view)
    del view
    assert pool.held_bytes() == N * 4
    c = pool.empty((N,), np.float32)
    assert c.ctypes.data == address and pool.held_bytes() == 0
    assert not np.shares_memory(b, c)


def test_pool_never_holds_more_than_its_limit(monkeypatch):
    monkeypatch.setattr(pool, "LIMIT", 3 * N * 4)
    arrays = [pool.empty((N,), np.float32) for _ in range(5)]
    del arrays
    assert pool.held_bytes() <= 3 * N * 4
    other = pool.empty((N + 8,), np.float32)  # a size not waiting: room is made
    assert pool.held_bytes() <= 3 * N * 4
    del other


def test_live_results_of_the_fused_kernel_never_share_memory():
    prog = sx.compile("c = a * 2 + b", backend="opencl")
    a = np.arange(N, dtype=np.float32)
    first = prog(a, a)
    second = prog(a, a)
    assert not np.shares_memory(first, second)
    del first
    third = prog(a + 1, a)  # may reuse the first result's memory
    np.testing.assert_array_equal(second, a * 2 + a)
    np.testing.assert_array_equal(third, (a + 1) * 2 + a)


def test_pool_under_threads():
    def work(k):
        for _ in range(20):
            x = pool.empty((N,), np.float32)
            x[...] = k
            assert float(x[0]) == k and float(x[-1]) == k

    assert not errors_in_threads(work, 4)
    assert pool.held_bytes() <= pool.LIMIT


def test_many_sizes_leave_nothing_behind_once_cleared():
    for k in range(50):
        a = pool.empty((N + 16 * k,), np.float32)
        del a
    pool.clear()
    assert pool.held_bytes() == 0 and not pool._free

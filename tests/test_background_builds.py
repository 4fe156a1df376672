"""backend="auto" builds kernels in a background process: no call waits for a build.

Every test here runs with a disk cache of its own (so that no kernel is found built) and a builder
of its own (conftest.py's `own_builder`), whose worker command may be wrapped: held at a gate until
the test opens it, made to fail, or made to fail its builds.
"""
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import symexpr as sx
from symexpr.backends import background
from symexpr.backends.auto import SMALL, AutoEngine
from helpers import errors_in_threads

pytestmark = pytest.mark.skipif(not sx.devices(), reason="no OpenCL device: auto is the NumPy engine")

SRC = "c = sin(a) * b + a\nd = c * c - b"
N = 64 * SMALL


def wrap_worker(monkeypatch, before: str) -> None:
    """Run `before` (Python) in the worker before it serves."""
    code = textwrap.dedent(before) + "\nimport runpy\nrunpy.run_module('symexpr.backends.background', run_name='__main__')\n"
    monkeypatch.setattr(background, "COMMAND", [sys.executable, "-c", code])


def gate(monkeypatch, path) -> None:
    wrap_worker(monkeypatch, f"""
        import os, time
        while not os.path.exists({str(path)!r}):
            time.sleep(0.01)
    """)


def data(n=N, dtype=np.float32):
    a = np.linspace(-3, 3, n, dtype=dtype)
    return a, (a * 0.5 + 2).astype(dtype)


def reference(src, *args, **kw):
    return sx.compile(src, backend="numpy")(*args, **kw)


def settle(prog, *args, timeout=300):
    """Wait for the program's one background build to end (and the OpenCL engine to be made)."""
    (job,) = prog._engine.pending.values()
    assert prog._engine.wait(dict(zip(prog.inputs, args)), timeout), "the background build did not end"
    return job


def close(x, y):
    np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-5)


def test_a_call_returns_before_a_slow_build_ends_then_moves_to_the_engine_chosen(own_builder, monkeypatch):
    gate(monkeypatch, own_builder / "open")
    prog = sx.compile(SRC)
    a, b = data()
    first = prog(a, b)
    engine = prog._engine
    assert isinstance(engine, AutoEngine)
    (job,) = engine.pending.values()
    assert job.state == "building" and not engine.decisions  # the call returned with the worker held
    np.testing.assert_array_equal(first, reference(SRC, a, b))  # the NumPy engine's own result
    assert "built in a background process" in engine.describe({"a": a, "b": b})
    for _ in range(3):  # later calls too run while the build is held
        np.testing.assert_array_equal(prog(a, b), first)
    assert job.state == "building" and job.calls >= 4
    (own_builder / "open").touch()
    settle(prog, a, b)
    assert job.state == "done" and job.seconds > 0, job.error
    close(prog(a, b), first)
    key = engine._size_and_key({"a": a, "b": b})[1]
    assert list(engine.decisions) == [key] and not engine.pending
    assert background.builder().count == 1  # one build: what the worker built is what the call needed
    if engine.decisions[key] == "opencl":
        assert prog._engine.opencl._specs  # loaded from the disk cache, not built again


def test_the_fast_path_moves_to_the_engine_chosen(own_builder):
    prog = sx.compile(SRC)
    a, b = data()
    expect = reference(SRC, a, b)
    np.testing.assert_array_equal(prog(a, b), expect)
    settle(prog, a, b)
    for _ in range(3):
        close(prog(a, b), expect)
    assert prog._engine.decisions and not prog._engine.pending


def test_kernels_the_worker_timed_far_slower_are_not_tried_and_explain_says_why(own_builder, monkeypatch):
    from symexpr.backends import auto_background

    monkeypatch.setattr(auto_background, "WORKER_MARGIN", 0)  # any kernel is "far slower" than the NumPy engine
    prog = sx.compile(SRC)
    a, b = data()
    expect = reference(SRC, a, b)
    np.testing.assert_array_equal(prog(a, b), expect)
    settle(prog, a, b)
    np.testing.assert_array_equal(prog(a, b), expect)  # the NumPy engine's own result, again
    assert list(prog._engine.decisions.values()) == ["numpy"]
    assert "the background build timed its kernels at" in prog.explain(a=a, b=b)


def test_a_worker_that_dies_leaves_the_numpy_engine_in_charge_and_says_so_once(own_builder, monkeypatch):
    wrap_worker(monkeypatch, "raise SystemExit(3)")
    prog = sx.compile(SRC)
    a, b = data()
    expect = reference(SRC, a, b)
    np.testing.assert_array_equal(prog(a, b), expect)
    (job,) = prog._engine.pending.values()
    assert background.builder().wait(job, 60) and job.state == "failed"
    assert "stopped" in job.error
    with pytest.warns(RuntimeWarning, match="could not be built in the background"):
        np.testing.assert_array_equal(prog(a, b), expect)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(prog(a, b), expect)  # said once
    assert set(prog._engine.decisions.values()) == {"numpy"}


def test_a_build_that_fails_in_the_worker_is_reported_with_its_error(own_builder, monkeypatch):
    wrap_worker(monkeypatch, """
        from symexpr.backends.opencl import runtime
        from symexpr.errors import BackendError
        def refuse(*args, **kwargs):
            raise BackendError("the compiler says no")
        runtime.build_program = refuse
        import symexpr.backends.opencl.engine as engine
        engine.build_program = refuse
    """)
    prog = sx.compile(SRC)
    a, b = data()
    prog(a, b)
    (job,) = prog._engine.pending.values()
    assert background.builder().wait(job, 120) and job.state == "failed"
    assert "the compiler says no" in job.error
    with pytest.warns(RuntimeWarning, match="the compiler says no"):
        np.testing.assert_array_equal(prog(a, b), reference(SRC, a, b))
    assert background.builder().broken is None  # the worker itself is fine: later builds go to it


def test_strided_inputs_scalars_and_reductions_are_built_as_the_call_needs_them(own_builder):
    src = "m = mean(a * s + b, axis=1)\nz = sum(a * b, axis=0) + s"
    prog = sx.compile(src)
    base = np.linspace(0, 1, 2 * 256 * 300, dtype=np.float64).reshape(256, 600)
    a = base[:, ::2]  # strided
    b = np.linspace(1, 2, 300)
    values = dict(a=a, s=3.0, b=b)
    expect = reference(src, **values)
    first = prog(**values)
    for x, y in zip(first, expect):
        np.testing.assert_array_equal(x, y)
    (job,) = prog._engine.pending.values()
    assert job.inputs["a"][3] == a.strides and job.inputs["s"] == ("weak", "float")
    assert prog._engine.wait(values, 300) and job.state == "done", job.error
    for x, y in zip(prog(**values), expect):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    assert prog._engine.decisions and not prog._engine.pending
    assert background.builder().count == 1


def test_calls_from_many_threads_while_building(own_builder, monkeypatch):
    gate(monkeypatch, own_builder / "open")
    prog = sx.compile(SRC)
    a, b = data()
    expect = reference(SRC, a, b)

    def work(k):
        for i in range(12):
            if k == 0 and i == 4:
                (own_builder / "open").touch()
            close(prog(a, b), expect)

    errors = errors_in_threads(work, 4)
    assert not errors, errors
    assert background.builder().count == 1  # one build for the one signature
    assert prog._engine.wait({"a": a, "b": b}, 300)
    close(prog(a, b), expect)
    assert len(prog._engine.decisions) == 1


def test_without_a_disk_cache_the_call_builds_as_before(own_builder, monkeypatch):
    monkeypatch.setenv("SYMEXPR_NO_CACHE", "1")
    prog = sx.compile(SRC)
    a, b = data()
    close(prog(a, b), reference(SRC, a, b))
    assert prog._engine.decisions and not prog._engine.pending
    assert background._builder is None  # no worker was started


def test_small_calls_start_no_worker(own_builder):
    prog = sx.compile(SRC)
    a, b = data(SMALL)
    prog(a, b)
    assert background._builder is None and not prog._engine.pending


def test_a_new_process_runs_its_first_large_call_without_pyopencl(tmp_path):
    code = textwrap.dedent("""
        import sys, numpy as np, symexpr as sx
        p = sx.compile("c = sin(a) * b + a\\nd = c * c - b")
        a = np.linspace(-3, 3, 1_000_000, dtype=np.float32)
        r = p(a, a + 1)
        assert 'pyopencl' not in sys.modules, 'pyopencl imported'
        assert p._engine.pending, 'no background build'
        ref = sx.compile("c = sin(a) * b + a\\nd = c * c - b", backend="numpy")(a, a + 1)
        assert (r == ref).all()
        print("ok")
    """)
    env = dict(os.environ, SYMEXPR_CACHE_DIR=str(tmp_path), SYMEXPR_BACKGROUND_BUILDS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"  # and it exited, its worker with it


def test_warm_up_waits_for_the_build_and_chooses(own_builder, monkeypatch):
    gate(monkeypatch, own_builder / "open")
    prog = sx.compile(SRC)
    a, b = data()
    threading.Timer(0.5, (own_builder / "open").touch).start()
    chosen = prog.warm_up(a, b)
    key = prog._engine._size_and_key({"a": a, "b": b})[1]
    assert chosen == prog._engine.decisions[key] and not prog._engine.pending
    assert sx.compile(SRC, backend="numpy").warm_up(a, b) == "numpy"
    close(prog(a, b), reference(SRC, a, b))


def test_a_signature_whose_kernels_another_build_made_does_not_wait_for_its_own(own_builder, monkeypatch):
    # The worker builds the first job, then sleeps on any other: the second signature (another size of
    # an element-wise program, the same kernel) is settled from the first one's kernels.
    monkeypatch.setattr(background, "COMMAND", [sys.executable, "-c", textwrap.dedent("""
        import time
        import symexpr.backends.background as bg
        build, seen = bg._build, []
        def slow(*args):
            seen.append(1)
            if len(seen) > 1:
                time.sleep(60)
            return build(*args)
        bg._build = slow
        bg._serve()
    """)])
    prog = sx.compile(SRC)
    assert prog.backend == "opencl"  # (the OpenCL engine made now, not when the first build ends)
    one, two = data(N), data(N // 2)
    prog(*one)
    prog(*two)
    engine = prog._engine
    assert len(engine.pending) == 2
    assert engine.wait(dict(zip("ab", one)), 300)
    close(prog(*one), reference(SRC, *one))
    key_two = engine._size_and_key(dict(zip("ab", two)))[1]
    job_two = engine.pending[key_two]
    close(prog(*two), reference(SRC, *two))
    assert key_two in engine.decisions and key_two not in engine.pending
    assert job_two.state in ("building", "cancelled")  # its own build had not ended


@pytest.mark.parametrize("make", [
    lambda: np.arange(24.0).reshape(4, 6),
    lambda: np.arange(24, dtype=np.int16).reshape(4, 6)[:, ::2],
    lambda: np.arange(24.0, dtype=np.float32)[::-3],
    lambda: np.arange(24.0).reshape(4, 6).T,
    lambda: np.broadcast_to(np.arange(6.0), (4, 6)),
    lambda: np.zeros((0, 3)),
    lambda: np.float32(2.5),
    lambda: np.array(3, np.uint8),
    lambda: 2, lambda: 2.5, lambda: True, lambda: 1j,
])
def test_the_worker_gets_arrays_of_the_callers_layout(make):
    value = make()
    made = background.make_value(background.describe_value(value))
    assert type(made) is type(value)
    if isinstance(value, np.ndarray):
        assert (made.dtype, made.shape, made.strides) == (value.dtype, value.shape, value.strides)
    elif isinstance(value, np.generic):
        assert made.dtype == value.dtype


def test_small_calls_on_the_low_latency_device_where_the_process_has_one(tmp_path):
    # With POCL_DEVICES naming PoCL's single-threaded `basic` device, small calls run on the NumPy engine
    # while their kernels are built for that device, then on whichever of the two is timed faster (the
    # timing is made to favour the devices here, both the call's and the background build's, to check the
    # results they then give); large calls keep the multi-threaded default device.
    code = textwrap.dedent("""
        import numpy as np, symexpr as sx
        from symexpr.backends import auto, auto_background
        timed = auto._best
        def favour_the_device(engine, values, repeats):
            seconds, result = timed(engine, values, repeats)
            return (0.0 if engine.name != "numpy" else seconds), result
        auto._best = favour_the_device
        auto_background.WORKER_MARGIN = float("inf")  # (a busy machine may time the worker's launches far slower)
        src = "s = a + b\\nt = a - b\\nq = where(s * t > 0, s * t, -s) + b * 0.5"
        prog = sx.compile(src)
        ref = sx.compile(src, backend="numpy")
        a = np.linspace(-1, 1, 16, dtype=np.float32)
        b = (a * 0.5 + 0.25).astype(np.float32)
        assert (prog(a, b) == ref(a, b)).all()
        assert prog._engine.engine_for({"a": a, "b": b}) == "numpy" and prog._engine.pending
        assert prog.warm_up(a, b) == "opencl-basic", prog._engine.describe({"a": a, "b": b})
        for _ in range(3):
            np.testing.assert_allclose(prog(a, b), ref(a, b), rtol=1e-6)
        assert "OpenCL engine on the low-latency device" in prog.explain(a=a, b=b)
        assert "__kernel" in prog.kernel_source
        big = np.linspace(-1, 1, 1 << 16, dtype=np.float32)
        assert prog.warm_up(big, big) == "opencl"
        assert prog._engine.opencl.device.name.startswith("pthread"), prog._engine.opencl.device.name
        np.testing.assert_allclose(prog(big, big), ref(big, big), rtol=1e-6)
        print("ok")
    """)
    env = dict(os.environ, SYMEXPR_CACHE_DIR=str(tmp_path), SYMEXPR_BACKGROUND_BUILDS="1",
               POCL_DEVICES="pthread basic")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_an_executable_that_is_not_python_builds_in_the_call_and_says_so(own_builder, monkeypatch):
    # An application embedding Python (uWSGI, a frozen app): `sys.executable -m ...` would not run the worker.
    monkeypatch.setattr(sys, "executable", "/usr/bin/uwsgi")
    monkeypatch.setattr(background, "COMMAND", ["/usr/bin/uwsgi", "-m", "symexpr.backends.background"])
    prog = sx.compile(SRC)
    a, b = data()
    with pytest.warns(RuntimeWarning, match="does not run Python scripts; kernels are built in the call"):
        close(prog(a, b), reference(SRC, a, b))
    assert prog._engine.decisions and not prog._engine.pending and background.builder().proc is None

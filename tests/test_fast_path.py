"""The per-call fast path and backend="auto"'s choice of engine.

A call whose inputs are all NumPy arrays, with a signature (dtypes and shapes) seen before, skips
argument binding and checking; on the NumPy engine it runs the signature's straight-line Python
(backends/numpy.py `straight_line`). Everything here compares it with the general path.
"""
import re
import sys
import warnings

import numpy as np
import pytest

import symexpr as sx
from symexpr.backends.auto import SMALL, AutoEngine

CHAIN = "d = a * b\ne = d + a\nf = e * e - b\ng = sqrt(abs(f)) / (b + 1)"


def same_bits(x, y):
    assert type(x) is type(y)
    assert np.asarray(x).dtype == np.asarray(y).dtype and np.shape(x) == np.shape(y)
    assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def test_second_call_takes_the_straight_line_path():
    prog = sx.compile(CHAIN, backend="numpy")
    a, b = np.linspace(-3, 3, 50), np.linspace(1, 2, 50)
    first = prog(a, b)
    assert len(prog._fast) == 1
    second = prog(a=a, b=b)  # by name too
    same_bits(first, second)
    reference = sx.compile(CHAIN, backend="numpy", optimize=False)(a, b)
    same_bits(first, reference)
    sig = prog._engine.signature({"a": a, "b": b})
    # The memory plan's buffer reuse, in the generated code: a ufunc writing into a buffer (by position).
    assert re.search(r"= f\d+\(v\d+, v\d+, b\d+\)\n", sig.python_source), sig.python_source


def test_weak_constants_run_as_the_numpy_scalars_numpy_makes_of_them_where_exact():
    # The straight-line path passes `2.5` as float32(2.5) beside float32 arrays (faster, the same bits);
    # a constant the dtype cannot hold exactly (0.1 in float32, 2**40 in int32), NaN, or one beside
    # operands of two dtypes stays a Python scalar, which NumPy converts as it always does.
    src = "c = a * 2.5 + 0.1\nd = (i + 7) * (i < 2**40)\ne = where(a > 0.5, a - nan, a + i * 3)"
    prog = sx.compile(src, backend="numpy")
    a = np.array([-0.0, 0.1, 0.5, 1e38, np.inf, np.nan, -3.25], np.float32)
    i = np.array([0, 1, -7, 2**31 - 8, -2**31, 5, 3], np.int32)
    want = sx.compile(src, backend="numpy", optimize=False)(a, i)  # (the general path: weak scalars)
    for _ in range(3):
        for got, ref in zip(prog(a, i), want):
            same_bits(got, ref)
    source = prog._engine.signature({"a": a, "i": i}).python_source
    assert re.search(r"\bs\d+_f\b", source) and re.search(r"\bs\d+_i\b", source), source
    scope = prog._engine.signature({"a": a, "i": i}).straight_line.__wrapped__.__globals__
    strong = {type(v) for k, v in scope.items() if re.fullmatch(r"s\d+_\w", k)}
    assert strong == {np.float32, np.int32}
    assert 0.1 in [v for k, v in scope.items() if re.fullmatch(r"v\d+", k)]  # inexact in float32: weak


def test_fast_path_errors_are_the_general_paths():
    prog = sx.compile("c = a ** b", backend="numpy")
    a = np.array([2, 3], np.int64)
    prog(a, np.array([1, 2], np.int64))
    with pytest.raises(sx.EvaluationError, match=r"line 1, `c = a \*\* b`"):
        prog(a, np.array([1, -2], np.int64))  # same signature: the fast path hands over to the general one


def test_fast_path_raises_no_warnings():
    prog = sx.compile("c = a / b + log(a)", backend="numpy")
    a = np.array([0.0, -1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = prog(a, np.zeros(3))
        second = prog(a, np.zeros(3))
    same_bits(first, second)


def test_every_ufunc_written_into_a_planned_buffer_warns_nothing():
    # The straight line passes a planned buffer by position; NumPy 2.4 deprecates a third positional
    # argument of maximum and minimum (it may become an operand), so those keep `out=`.
    from symexpr.backends.numpy import INTO
    from symexpr.ops import OPS
    from symexpr.parse import FUNCTIONS

    binary = sorted(name for name, op in OPS.items() if isinstance(op.numpy, np.ufunc) and op.numpy.nin == 2
                    and op.numpy.nout == 1 and name not in INTO and name in FUNCTIONS and op.kind == "elementwise")
    assert {"maximum", "minimum", "arctan2", "hypot"} <= set(binary)
    # t{k} dies at y{k}, so y{k} is written into t{k}'s buffer
    src = "\n".join(f"t{k} = a * {k + 2}\ny{k} = {name}(t{k}, a)" for k, name in enumerate(binary))
    prog = sx.compile(src, backend="numpy")
    a = np.linspace(-3, 3, 7)
    want = sx.compile(src, backend="numpy", optimize=False)(a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            for got, ref in zip(prog(a), want):
                same_bits(got, ref)
    source = prog._engine.signature({"a": a}).python_source
    assert len(re.findall(r"\(v\d+, v\d+, (?:out=)?b\d+\)", source)) == len(binary), source  # into buffers


def test_buffer_reused_at_another_shape_from_a_fortran_ordered_result():
    # x is (4, 3) and dies; y, (3, 4) of the same bytes, reuses its buffer through a reshape, which
    # a Fortran-ordered x cannot give without a copy: the fast path must notice and hand over.
    prog = sx.compile("x = a * 2\nw = float32(x)\ny = b + c", backend="numpy")
    b, c = np.arange(3.0).reshape(3, 1), np.arange(4.0).reshape(1, 4)
    for a in (np.arange(12.0).reshape(4, 3), np.asfortranarray(np.arange(12.0).reshape(4, 3))):
        sig = prog._engine.signature({"a": a, "b": b, "c": c})
        for _ in range(2):
            w, y = prog(a, b, c)
            same_bits(w, (a * 2).astype(np.float32))
            same_bits(y, b + c)
        assert "reshape((3, 4), copy=False)" in sig.python_source


def test_outputs_that_are_inputs_or_repeated_are_new_arrays():
    prog = sx.compile("c = a * 1\nd = a", outputs=["c", "d", "c"][:2], backend="numpy")
    a = np.arange(4.0)
    for _ in range(2):
        c, d = prog(a)
        assert c is not a and d is not a
        c[0] = 99
        assert a[0] == 0


def test_new_signature_takes_the_general_path_then_its_own_fast_path():
    prog = sx.compile("c = a + 1", backend="numpy")
    prog(np.arange(3.0))
    prog(np.arange(3, dtype=np.int32))
    assert len(prog._fast) == 2
    same_bits(prog(np.arange(3, dtype=np.int32)), np.arange(3, dtype=np.int32) + 1)


def test_big_endian_and_table_inputs_never_enter_the_fast_path():
    prog = sx.compile("c = a * 2", backend="numpy")
    be = np.arange(3.0).astype(">f8")
    for _ in range(2):
        same_bits(prog(be), np.arange(3.0) * 2)
    assert not prog._fast
    table = np.zeros(3, [("a", "f8"), ("b", "f8")])
    for _ in range(2):
        same_bits(prog(table), np.zeros(3) * 2)


# -- backend="auto" --------------------------------------------------------------------------

def auto_program(src):
    prog = sx.compile(src)
    if not isinstance(prog._engine, AutoEngine):
        pytest.skip("no OpenCL device: backend='auto' is the NumPy engine")  # pragma: no cover
    return prog


def test_auto_runs_small_calls_on_the_numpy_engine():
    prog = auto_program("c = a * b + a")
    a = np.arange(SMALL, dtype=np.float32)
    assert prog._engine.engine_for({"a": a, "b": a}) == "numpy"
    same_bits(prog(a, a), a * a + a)
    assert not prog._engine.decisions  # nothing measured


def test_auto_measures_a_larger_signature_once_and_keeps_the_choice():
    prog = auto_program("c = a * b + a\nd = where(c > 1, c, -c)")
    a = np.linspace(-2, 2, 4 * SMALL)
    assert "engine: not chosen yet" in prog.explain(a=a, b=a)
    reference = sx.compile("c = a * b + a\nd = where(c > 1, c, -c)", backend="numpy")(a, a)
    for _ in range(3):
        result = prog(a, a)
        same_bits(result, reference)
    assert len(prog._engine.decisions) == 1
    (choice,) = prog._engine.decisions.values()
    assert choice in ("numpy", "opencl")
    assert prog._engine.engine_for({"a": a, "b": a}) == choice
    said = {"numpy": "the NumPy engine: it was faster", "opencl": "the OpenCL engine: it was faster"}[choice]
    assert said in prog.explain(a=a, b=a)
    assert "engine: the NumPy engine: 3 elements" in prog.explain(a=a[:3], b=a[:3])


def test_auto_with_out_and_device_arrays_still_works():
    cl_array = pytest.importorskip("pyopencl.array")
    prog = auto_program("c = a + b")
    a = np.arange(4 * SMALL, dtype=np.float32)
    out = np.empty_like(a)
    assert prog(a, a, out=out) is out
    same_bits(out, a + a)
    d = cl_array.to_device(prog._engine.queue, a)
    got = prog(d, d)
    assert isinstance(got, cl_array.Array)
    same_bits(got.get(), a + a)


# -- the OpenCL engine's replayed launches ---------------------------------------------------

def opencl_program(src, **options):
    pytest.importorskip("pyopencl")
    return sx.compile(src, backend="opencl", **options)


def test_replayed_launch_reads_each_calls_data():
    prog = opencl_program("c = a * b + k")
    a = np.arange(100, dtype=np.float32)
    for k in (1.0, 2.0, -3.5):
        # k is a one-element array: passed to the kernel by value, read afresh at every call
        got = prog(a, a[::-1].copy(), np.array([k], np.float32))
        same_bits(got, a * a[::-1] + np.float32(k))
    assert len(prog._engine._launches) == 1


def test_replay_hands_strided_and_misaligned_inputs_to_the_general_path():
    prog = opencl_program("c = a - b")
    base = np.arange(400, dtype=np.float64)
    a, b = base[:200].copy(), base[200:].copy()
    same_bits(prog(a, b), a - b)
    strided = base[::2]  # same dtype and shape as a, not contiguous
    same_bits(prog(strided, b), strided - b)
    raw = np.zeros(200 * 8 + 1, np.uint8)[1:].view(np.float64)  # not aligned to its itemsize
    raw[...] = a
    same_bits(prog(raw, b), a - b)


def test_replay_of_zero_d_and_broadcast_calls():
    prog = opencl_program("c = a * b\nd = c + 1", outputs=["c", "d"])
    for a, b in [(np.float64(2.5), np.array(3.0)),
                 (np.arange(6.0).reshape(2, 3), np.arange(3.0)),
                 (np.arange(3.0).reshape(3, 1), np.arange(4.0).reshape(1, 4))]:
        a, b = np.asarray(a), np.asarray(b)
        for _ in range(3):
            c, d = prog(a, b)
            same_bits(c, a * b if (a * b).ndim else (a * b)[()])
            same_bits(d, a * b + 1 if (a * b).ndim else (a * b + 1)[()])


def test_auto_measures_with_inputs_given_by_name_in_any_order():
    prog = auto_program("c = a - b * 2")
    a = np.linspace(0, 1, SMALL)
    b = np.linspace(5, 6, 4 * SMALL).reshape(4, SMALL)  # other shapes: a mix-up would not go unnoticed
    for _ in range(3):
        same_bits(prog(b=b, a=a), a - b * 2)


# -- out= on the fast path -------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_out_on_the_fast_path_writes_where_the_general_path_would(backend):
    prog = sx.compile("c = a * b + 1\nd = c - a", outputs=["c", "d"], backend=backend)
    a, b = np.linspace(-1, 1, 300), np.linspace(2, 3, 300)
    want_c, want_d = a * b + 1, a * b + 1 - a
    for _ in range(3):  # the first call learns the signature; the others take the fast path
        c, d = np.empty(300), np.empty(300)
        got = prog(a, b, out=(c, d))
        assert got.c is c and got.d is d
        same_bits(c, want_c)
        same_bits(d, want_d)
        only_d = np.empty(300)
        got = prog(a=a, b=b, out={"d": only_d})
        assert got.d is only_d
        same_bits(got.c, want_c)
        same_bits(only_d, want_d)


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_out_that_overlaps_an_input_or_is_strided_on_the_fast_path(backend):
    prog = sx.compile("c = a * 2 + b", backend=backend)
    for _ in range(3):
        a, b = np.arange(50.0), np.arange(50.0, 100.0)
        want = a * 2 + b
        assert prog(a, b, out=a) is a  # in place of an input
        same_bits(a, want)
        a = np.arange(50.0)
        wide = np.zeros(100)
        got = prog(a, b, out=wide[::2])  # strided
        same_bits(got, want)
        same_bits(wide[::2], want)
        assert not wide[1::2].any()


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_wrong_out_on_the_fast_path_is_the_general_paths_error(backend):
    prog = sx.compile("c = a + b", backend=backend)
    a = np.arange(8.0)
    prog(a, a)
    with pytest.raises(sx.SymExprError, match="out= for `c` is int64"):  # (float32 is allowed: same_kind)
        prog(a, a, out=np.empty(8, np.int64))
    into = np.empty(8, np.float32)
    assert prog(a, a, out=into) is into and into[3] == 6
    with pytest.raises(sx.SymExprError, match="out= for `c`"):
        prog(a, a, out=np.empty(9))
    with pytest.raises(sx.SymExprError, match="out= has 2 arrays for 1 outputs"):
        prog(a, a, out=(np.empty(8), np.empty(8)))


# -- found in review -------------------------------------------------------------------------

def test_a_table_given_by_keyword_is_a_value_not_the_calls_table():
    prog = sx.compile("c = a * 2", backend="numpy")
    for value in ({"a": np.arange(3.0)}, np.zeros(3, dtype=[("a", "f8")])):
        for _ in range(2):
            with pytest.raises(sx.DTypeError, match="input `a` has dtype"):
                prog(a=value)
    table = np.zeros(3, dtype=[("a", "f8")])
    for _ in range(2):
        same_bits(prog(table), np.zeros(3))  # positionally, it is the table


def test_auto_gives_the_same_bits_on_the_first_call_as_later():
    prog = auto_program("c = sin(a) * exp(a / 100) + tanh(a)")
    a = np.linspace(-20, 20, 4 * SMALL, dtype=np.float32)
    first = prog(a)
    for _ in range(2):
        same_bits(prog(a), first)


def test_auto_engine_copies_without_error():
    import copy

    prog = auto_program("c = a + 1")
    assert copy.copy(prog._engine).opencl is prog._engine.opencl
    assert not hasattr(AutoEngine.__new__(AutoEngine), "kernel_source")


def test_opencl_launch_recorded_from_a_call_with_out():
    prog = opencl_program("c = a * b")
    a = np.arange(64, dtype=np.float32)
    out = np.empty_like(a)
    prog(a, a, out=out)
    assert prog._engine._launches  # replayable from the first call on
    same_bits(prog(a, a), a * a)
    assert prog(a, a, out=out) is out


def test_auto_imports_pyopencl_only_when_a_call_needs_it():
    # import, compile and small calls stay on the NumPy engine without touching OpenCL at all.
    import subprocess

    code = ("import sys, numpy as np, symexpr as sx\n"
            "p = sx.compile('c = a * b + 1\\nd = sum(c)')\n"
            "r = p(a=np.arange(100.0), b=2.0)\n"
            "assert 'pyopencl' not in sys.modules, 'pyopencl imported'\n"
            "p(a=np.arange(100000.0), b=2.0)\n"
            "print('pyopencl' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(bool(sx.devices()))


def test_auto_without_a_device_runs_the_numpy_engine_and_says_so_once(monkeypatch):
    import warnings

    from symexpr import program

    def no_device(self, device):
        raise sx.BackendError("no OpenCL platform (a test)")

    monkeypatch.setattr(program.Program, "_opencl_engine", no_device)
    monkeypatch.setattr(program, "_warned", False)
    prog = sx.compile("c = a * 2 + 1")
    a = np.arange(4 * SMALL, dtype=np.float32)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        same_bits(prog(a), a * 2 + 1)
        same_bits(prog(a), a * 2 + 1)
        assert prog.backend == "numpy" and prog.kernel_source is None
    assert [str(w.message) for w in seen if "no OpenCL device" in str(w.message)] == [
        "symexpr: no OpenCL device (no OpenCL platform (a test)); using the NumPy engine"]


@pytest.mark.parametrize("background", ["1", "0"])
def test_auto_without_a_device_explains_every_signatures_choice(monkeypatch, own_builder, background):
    # Once the device is known not to be there, a new signature runs on the NumPy engine for good, and
    # explain() says why, rather than that the device will be timed once its kernels are built.
    from symexpr import program

    def no_device(self, device):
        raise sx.BackendError("no OpenCL platform (a test)")

    monkeypatch.setattr(program.Program, "_opencl_engine", no_device)
    monkeypatch.setattr(program, "_warned", True)
    monkeypatch.setenv("SYMEXPR_BACKGROUND_BUILDS", background)
    prog = sx.compile("c = a * 2 + 1")
    for dtype in ("float32", "float64"):  # the first finds the device missing; the second comes after
        a = np.arange(4 * SMALL, dtype=dtype)
        for _ in range(2):
            same_bits(prog(a), a * 2 + 1)
        assert prog._engine.wait({"a": a}, timeout=120)
        same_bits(prog(a), a * 2 + 1)
        engine = next(line for line in prog.explain(a=a).splitlines() if line.startswith("engine:"))
        assert engine == f"engine: the NumPy engine ({4 * SMALL} elements): the OpenCL engine could not be set up", dtype


def test_cost_model_fits_a_fixed_cost_and_a_cost_per_element():
    from symexpr.backends.cost_model import CostModel

    model = CostModel()
    assert model.predict(10**6) is None  # nothing timed
    model.add(10_000, 1e-5 + 1e-9 * 10_000, 6e-5 + 1e-10 * 10_000)
    assert model.predict(15_000) is None  # one size is not a line
    model.add(200_000, 1e-5 + 1e-9 * 200_000, 6e-5 + 1e-10 * 200_000)
    t_np, t_cl = model.predict(400_000)  # (within twice the sizes timed: it does not extrapolate further)
    assert t_np == pytest.approx(1e-5 + 4e-4, rel=1e-6) and t_cl == pytest.approx(6e-5 + 4e-5, rel=1e-6)
    model.add(50_000, 5e-3, 5e-3)  # noise never makes a cost negative
    assert min(model.predict(5_000)) > 0


def test_auto_chooses_a_new_shape_by_the_cost_model_without_measuring(monkeypatch):
    from symexpr.backends import auto
    from symexpr.backends.cost_model import CostModel

    prog = auto_program("c = a * b + a")
    a = np.ones(8 * SMALL, dtype=np.float32)
    family = ((np.dtype(np.float32), 1), (np.dtype(np.float32), 1))
    model = CostModel()  # as if two sizes had been measured: OpenCL's line far below at large sizes
    model.add(10_000, 1e-5, 6e-5)
    model.add(1_000_000, 1e-3, 1.6e-4)
    prog._engine.models[family] = model
    timed = []
    monkeypatch.setattr(auto, "_best", lambda *args: timed.append(args) or (_ for _ in ()).throw(AssertionError))
    assert "the cost model predicts" in prog.explain(a=a, b=a)
    same_bits(prog(a, a), a * a + a)
    assert not timed and prog._engine.decisions  # chosen, nothing timed
    (choice,) = prog._engine.decisions.values()
    assert choice == ("opencl" if model.predict(a.size)[1] < model.predict(a.size)[0] else "numpy")
    assert "the cost model predicted" in prog.explain(a=a, b=a)


def test_auto_takes_a_close_prediction_without_measuring_and_learns_from_the_call(monkeypatch):
    from symexpr.backends import auto
    from symexpr.backends.cost_model import CostModel

    prog = auto_program("c = a * b + a")
    assert prog.backend == "opencl"  # the OpenCL engine made
    a = np.ones(8 * SMALL, dtype=np.float32)
    prog(a, a)  # the kernel built (measured: one point of each line)
    family = ((np.dtype(np.float32), 1), (np.dtype(np.float32), 1))
    model = CostModel()  # lines 1.2x apart: NumPy's below
    for n in (10_000, 1_000_000):
        model.add(n, 1e-9 * n, 1.2e-9 * n)
    prog._engine.models[family] = model
    monkeypatch.setattr(auto, "_best", lambda *args: (_ for _ in ()).throw(AssertionError("timed")))
    b = np.ones(16 * SMALL, dtype=np.float32)
    same_bits(prog(b, b), b * b + b)
    key = prog._engine._size_and_key({"a": b, "b": b})[1]
    assert prog._engine.decisions[key] == "numpy" and key in prog._engine.predicted
    assert b.size in [n for n, _ in model.points["numpy"]]  # the call's own time, a point of the line
    assert len(model.points["opencl"]) == 2


def test_the_straight_line_path_ignores_float_errors_and_restores_the_callers_state():
    prog = sx.compile("c = a / b\nd = c * 1e38 * 1e38", outputs=["c", "d"], backend="numpy")
    a, zero = np.ones(8, np.float32), np.zeros(8, np.float32)
    with np.errstate(all="raise"):  # the caller's own state: NumPy would raise here
        for _ in range(3):  # the general path, then the straight line
            c, d = prog(a, zero)
        assert np.isinf(c).all() and np.isinf(d).all()
        assert np.geterr() == {"divide": "raise", "over": "raise", "under": "raise", "invalid": "raise"}
        with pytest.raises(FloatingPointError):
            a / zero
    power = sx.compile("c = a ** b", backend="numpy")
    i = np.arange(4)
    power(i, i)
    power(i, i)
    with pytest.raises(sx.EvaluationError):  # raised inside the straight line: the general path reports it
        power(i, -i)
    assert np.geterr()["divide"] == "warn"


def test_the_cost_model_does_not_extrapolate_far_beyond_the_sizes_it_timed():
    # Lines through 1e5 and 1e6 do not see the cache the arrays outgrow at 1e7: no prediction there.
    from symexpr.backends.cost_model import REACH, CostModel

    model = CostModel()
    model.add(100_000, 2e-5, 1.6e-4)
    model.add(1_000_000, 2.2e-4, 8e-4)
    assert model.predict(500_000) is not None and model.predict(REACH * 1_000_000) is not None
    assert model.predict(10_000_000) is None and model.predict(100_000 // (2 * REACH)) is None

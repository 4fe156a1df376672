"""Liveness, the memory plan, and the NumPy engine following it: buffers reused, dead ones freed."""
import tracemalloc

import numpy as np
import pytest

import symexpr as sx
from symexpr.infer import infer_kinds, infer_shapes, kind_of_value
from symexpr.parse import parse
from symexpr.passes.liveness import Lifetime, liveness
from symexpr.passes.memory_plan import MemoryPlan, plan_memory
from helpers import errors_in_threads

N = 1 << 20                       # 8 MB of float64
MB8 = 8 * N


def plan_for(src, **values):
    graph = parse(src)
    kinds = infer_kinds(graph, {n: kind_of_value(v) for n, v in values.items()})
    shapes = infer_shapes(graph, {n: np.shape(v) for n, v in values.items()})
    return graph, plan_memory(graph, kinds, shapes)


def test_liveness_golden():
    graph = parse("d = a * b\ne = d + a\nc = e * d")
    lives = {graph.labels()[n]: life for n, life in liveness(graph).items() if n.op != "constant"}
    # Steps: 0 a, 1 b, 2 d, 3 e, 4 c; c is an output, read after the last step.
    assert lives == {"a": Lifetime(0, 3), "b": Lifetime(1, 2), "d": Lifetime(2, 4), "e": Lifetime(3, 4),
                     "c": Lifetime(4, 5)}


def test_plan_in_place_and_reuse_golden():
    x = np.zeros(100)
    graph, plan = plan_for("t1 = a * b\nt2 = t1 + 1\nt3 = sin(a)\nt4 = t2 * t3\nc = t4 - b", a=x, b=x)
    assert isinstance(plan, MemoryPlan)
    assert str(plan) == "\n".join([
        "t1       buffer 0   float64[100] new, steps 2..4",
        "t2       buffer 0   float64[100] in place of t1, steps 4..6",
        "t3       buffer 1   float64[100] new, steps 5..6",
        "t4       buffer 0   float64[100] in place of t2, steps 6..7",
        "c        buffer 0   float64[100] in place of t4, steps 7..end",
        "buffers: 2; peak 1600 B planned, 4000 B unplanned (inputs not counted)",
    ])
    assert plan.peak_bytes == 1600 and plan.peak_bytes_unplanned == 4000
    assert len(plan.buffers) == 2 and plan.free_after == {6: (1,), 8: (0,)}  # step 3 is the constant 1


def test_plan_never_in_place_into_inputs_or_scalars_or_other_dtypes():
    graph, plan = plan_for("c = a + 1\nd = (a > 0) * 2.5\ne = s * 2", a=np.zeros(10), s=3.0)
    labels = graph.labels()
    planned = {labels[n] for n in plan.buffer_of}
    assert "a" not in planned and "e" not in planned     # an input; a weak scalar result
    assert plan.in_place == {}                            # a > 0 is bool: d (float64) cannot overwrite it


def test_plan_reuses_dead_buffer_of_equal_size_and_dtype_only():
    # u dies at v (bool: not in place); w has u's dtype and byte size in another shape: it reuses
    # u's buffer. k is int64, the same byte size but another dtype: a new buffer.
    graph, plan = plan_for("u = a * 2\nv = u > 0\nw = m * 3\nk = i + 1\nc = where(v, 1.0, 0.0)",
                           a=np.zeros(12), m=np.zeros((3, 4)), i=np.zeros(12, np.int64))
    by_label = {graph.labels()[n]: b for n, b in plan.buffer_of.items()}
    assert by_label["w"] == by_label["u"]
    assert by_label["k"] not in (by_label["u"], by_label["v"])
    assert plan.buffers[by_label["w"]].shape == (12,)
    assert "w        buffer 0   float64[12] reused" in str(plan)
    # The engine runs the reshaped view correctly.
    prog = sx.compile("u = a * 2\nv = u > 0\nw = m * 3\nk = i + 1\nc = where(v, 1.0, 0.0)", backend="numpy")
    m = np.arange(12.0).reshape(3, 4)
    w, k, c = prog(a=np.arange(12.0) - 5, m=m, i=np.arange(12))
    assert np.array_equal(w, m * 3) and w.shape == (3, 4)


def test_plan_non_ufunc_gets_new_buffer_that_later_steps_reuse():
    x = np.zeros(100)
    graph, plan = plan_for("w = sigmoid(a)\nu = w * 2\nv = sigmoid(u)\nc = v + 1", a=x)
    by_label = {graph.labels()[n]: b for n, b in plan.buffer_of.items()}
    assert by_label["u"] == by_label["w"]                 # a ufunc, in place of the dying sigmoid
    assert by_label["v"] != by_label["u"]                 # sigmoid takes no out=: a new buffer
    assert by_label["c"] == by_label["v"]


def test_plan_where_only_in_place_of_y():
    x = np.zeros(100)
    # where(c, x, y) copies y, then x where c: it may overwrite y's buffer, never x's.
    graph, plan = plan_for("t = a * 2\nv = where(a > 0, a, t)", a=x)
    labels = graph.labels()
    assert {labels[n]: labels[o] for n, o in plan.in_place.items()} == {"v": "t"}
    graph, plan = plan_for("t = a * 2\nv = where(a > 0, t, a)", a=x)
    assert plan.in_place == {}
    # A weak int into an int result: np.where wraps it, copyto would refuse: a new array instead.
    graph, plan = plan_for("t = i * 2\nv = where(i > 0, t, s)", i=np.zeros(10, np.int8), s=300)
    assert plan.in_place == {} and len(set(plan.buffer_of.values())) == 3  # t, i > 0, v: all new
    a = np.array([-1.0, 2.0, np.nan, -0.0])
    prog = sx.compile("t = a * 2\nv = where(a > 0, a, t)\nw = where(a < 1, v, -0.0)", backend="numpy")
    expected = np.where(a < 1, np.where(a > 0, a, a * 2), -0.0)
    assert prog(a=a).tobytes() == expected.tobytes()


@pytest.mark.parametrize("backend", ["numpy"])
def test_engine_never_writes_into_inputs(backend):
    a = np.arange(5.0)
    b = np.arange(5.0) + 1
    keep_a, keep_b = a.copy(), b.copy()
    prog = sx.compile("t = a * b\nu = t + a\nc = u - b", backend=backend)
    c = prog(a=a, b=b)
    assert np.array_equal(a, keep_a) and np.array_equal(b, keep_b)
    assert not np.shares_memory(c, a) and not np.shares_memory(c, b)
    assert np.array_equal(c, keep_a * keep_b + keep_a - keep_b)


def test_engine_results_do_not_alias_each_other_or_reused_buffers():
    prog = sx.compile("t = a * 2\nc = t + 1\nu = exp(a)\nd = u * 3", backend="numpy")
    a = np.linspace(0, 1, 7)
    c1, d1 = prog(a=a)
    c2, d2 = prog(a=a)
    assert not np.shares_memory(c1, d1) and not np.shares_memory(c1, c2)
    assert np.array_equal(c1, a * 2 + 1) and np.array_equal(d1, np.exp(a) * 3)


def test_out_is_written_directly_and_aliasing_is_safe():
    prog = sx.compile("t = a * 2\nc = t + 1", backend="numpy")
    a = np.arange(4.0)
    out = np.empty(4)
    r = prog(a=a, out=out)
    assert r is out and out.tolist() == [1.0, 3.0, 5.0, 7.0]
    # out= the input itself: the result must be as if computed first, then copied.
    prog2 = sx.compile("c = a * 2\nd = c + a", outputs=["c", "d"], backend="numpy")
    a = np.arange(4.0)
    d_out = np.empty(4)
    c, d = prog2(a=a, out=(a, d_out))
    assert c is a and d is d_out
    assert c.tolist() == [0.0, 2.0, 4.0, 6.0] and d.tolist() == [0.0, 3.0, 6.0, 9.0]
    # A wrong target is still refused.
    with pytest.raises(sx.SymExprError, match="int64"):  # (float32 is allowed: NumPy's same_kind rule)
        prog(a=np.arange(4.0), out=np.empty(4, np.int64))


def test_out_written_directly_uses_no_extra_array():
    prog = sx.compile("c = a * b", backend="numpy")
    a = np.ones(N)
    out = np.empty(N)
    prog(a=a, b=a, out=out)
    tracemalloc.start()
    prog(a=a, b=a, out=out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < MB8 / 4, f"{peak} bytes: the result was not written straight into out="


def chain_source(length: int = 20) -> str:
    """A 20-statement chain: each statement reads the previous one, and sometimes the one before."""
    lines = ["t0 = a * b"]
    for k in range(1, length - 1):
        prev = f"t{k - 1}"
        lines.append([f"t{k} = {prev} + a", f"t{k} = sin({prev})", f"t{k} = {prev} * t{max(k - 2, 0)}",
                      f"t{k} = sqrt(abs({prev})) - b"][k % 4])
    lines.append(f"c = t{length - 2} * 0.5")
    return "\n".join(lines)


def peak_of(prog, **inputs) -> int:
    prog(**inputs)  # the signature's plan is made once; measure a steady call
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = prog(**inputs)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del result
    return peak


def test_chain_peak_memory():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(N), rng.standard_normal(N)
    src = chain_source()
    assert src.count("\n") == 19
    planned = sx.compile(src, backend="numpy")
    unplanned = sx.compile(src, backend="numpy", optimize=False)
    peak = peak_of(planned, a=a, b=b)
    peak_all = peak_of(unplanned, a=a, b=b)
    # Inputs are allocated by the caller, outside the measurement: the output and two working buffers.
    slack = 64 * 1024
    assert peak <= 3 * MB8 + slack, f"planned peak {peak / MB8:.2f} arrays"
    assert peak_all >= 15 * MB8, f"optimize=False peak {peak_all / MB8:.2f} arrays"
    plan = planned.memory_plan(a=a, b=b)
    assert plan.peak_bytes <= 3 * MB8 and plan.peak_bytes_unplanned >= 20 * MB8
    assert np.array_equal(planned(a=a, b=b), unplanned(a=a, b=b))


def test_peak_measured_matches_plan():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(N), rng.standard_normal(N)
    prog = sx.compile("t = a * b\nu = t + a\nv = exp(a)\nw = u * v\nc = w - t", backend="numpy")
    plan = prog.memory_plan(a=a, b=b)
    assert plan.peak_bytes == 3 * MB8
    assert abs(peak_of(prog, a=a, b=b) - plan.peak_bytes) < 64 * 1024


def test_memory_plan_for_optimize_false_is_still_data():
    prog = sx.compile("t = a * 2\nc = t + 1", backend="numpy", optimize=False)
    plan = prog.memory_plan(a=np.zeros(10))
    assert plan.peak_bytes_unplanned == 160 and plan.peak_bytes == 80
    assert "optimize=False: every value kept to the end, 160 bytes" in prog.explain(a=np.zeros(10))


def test_threads_calling_one_program_do_not_share_buffers():
    """Buffers belong to a call: eight threads over many shapes (signatures made and evicted) agree with NumPy."""
    prog = sx.compile("t = a * 2\nu = where(t > 0, t, b)\nc = u + 1", backend="numpy")
    prog._engine.max_signatures = 4  # evictions while other threads look signatures up
    wrong = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(150):
            n = int(rng.integers(1, 40))
            a, b = rng.standard_normal(n), rng.standard_normal(n)
            if not np.array_equal(prog(a=a, b=b), np.where(a * 2 > 0, a * 2, b) + 1):
                wrong.append(seed)

    errors = errors_in_threads(work, 8)
    assert not errors, errors
    assert wrong == []


def test_where_into_a_buffer_is_a_select_of_bits():
    # The NumPy engine's `where` into a planned buffer selects bits: exact for NaN payloads and -0.0,
    # for every dtype, with the condition broadcast.
    from symexpr.ops import where_into as _where_into

    rng = np.random.default_rng(3)
    for dt in (np.float32, np.float64, np.int8, np.uint64, np.bool_):
        x = (rng.standard_normal((16, 9)) * 50).astype(dt)
        if np.dtype(dt).kind == "f":
            x[0, :4] = [np.nan, -0.0, np.inf, -np.nan]
        for c in (rng.random((16, 9)) > 0.5, rng.random((16, 1)) > 0.5):
            for y in (np.zeros((1, 9), dt), dt(1)):
                out = np.empty((16, 9), dt)
                assert _where_into(c, x, y, out).tobytes() == np.where(c, x, y).astype(dt).tobytes()


def test_plan_of_a_long_chain_reads_each_lifetime_a_bounded_number_of_times(monkeypatch):
    # A chain computed in place holds every value in one buffer; whether that buffer is free was asked
    # of all its values at every step (quadratic: a 10,000-statement program's first call took 25 s).
    from symexpr.passes import memory_plan

    reads = [0]

    class Counted(dict):
        def __getitem__(self, node):
            reads[0] += 1
            return dict.__getitem__(self, node)

    monkeypatch.setattr(memory_plan, "liveness", lambda graph: Counted(liveness(graph)))
    n = 1500
    x = np.zeros(4)
    graph, plan = plan_for("x0 = a + 1\n" + "\n".join(f"x{k} = x{k - 1} * 0.5 + a" for k in range(1, n)), a=x)
    assert len(plan.buffers) == 1 and len(plan.in_place) == 2 * n - 2  # all but the first in place
    assert reads[0] < 20 * len(graph.nodes), reads[0]

"""prog.debug: every named intermediate by NumPy, and the first statement where the backend disagrees."""
import warnings

import numpy as np
import pytest

import symexpr as sx
from symexpr.backends import numpy as numpy_backend

SOURCE = """\
d = a * b
e = sin(d)
x = e + 1
x = x * 2
y = x
c = where(y > 2, y, 0)
"""


def inputs():
    return {"a": np.linspace(-2, 2, 9), "b": np.float64(1.5)}


def test_every_named_intermediate_in_source_order(backend):
    prog = sx.compile(SOURCE, backend=backend)
    trace = prog.debug(**inputs())
    assert list(trace) == ["d", "e", "x.1", "x", "y", "c"]
    a, b = inputs().values()
    d = a * b
    np.testing.assert_array_equal(trace["d"], d)
    np.testing.assert_array_equal(trace["e"], np.sin(d))
    np.testing.assert_array_equal(trace["x.1"], np.sin(d) + 1)
    np.testing.assert_array_equal(trace["x"], (np.sin(d) + 1) * 2)
    np.testing.assert_array_equal(trace["y"], trace["x"])
    np.testing.assert_array_equal(trace["c"], np.where(trace["x"] > 2, trace["x"], 0))
    assert trace.ok and trace.mismatch is None
    assert "all statements agree" in repr(trace)
    np.testing.assert_allclose(trace.outputs["c"], trace["c"], rtol=1e-12)


def test_dead_statements_are_kept_by_debug():
    prog = sx.compile("d = a * b\nu = a - 1\nc = d + 1", outputs=["c"], backend="numpy")
    assert prog.inputs == ("a", "b")
    trace = prog.debug(a=np.arange(3.0), b=2.0)
    assert list(trace) == ["d", "u", "c"]
    np.testing.assert_array_equal(trace["u"], np.arange(3.0) - 1)


class FakeEngine:
    """A backend that gets some operations wrong: NumPy's result, then `corrupt(node, result)`."""

    name = "numpy"  # sub-programs that debug compiles ask for the same backend by this name

    def __init__(self, graph, corrupt):
        self.graph = graph
        self.corrupt = corrupt

    @staticmethod
    def accepts(value):
        return False

    def run(self, values, out=None):
        env = {}
        for node in self.graph.nodes:
            if node.op == "input":
                env[node] = values[node.input_name]
            elif node.op == "constant":
                env[node] = node.value
            else:
                env[node] = self.corrupt(node, numpy_backend.evaluate(node, [env[i] for i in node.inputs]))
        return [np.asarray(env[n])[()] if np.ndim(env[n]) == 0 else np.asarray(env[n]) for _, n in self.graph.outputs]


def use_fake_engine(monkeypatch, corrupt):
    monkeypatch.setattr(sx.Program, "_make_engine", lambda self, backend, device: FakeEngine(self.graph, corrupt))


def test_names_the_first_statement_that_differs(monkeypatch):
    # A broken engine: every sine it computes is off by one. The reference stays NumPy's own.
    use_fake_engine(monkeypatch, lambda node, r: r + 1 if node.op == "sin" else r)
    prog = sx.compile(SOURCE, backend="numpy")
    with pytest.warns(RuntimeWarning, match=r"line 2, `e = sin\(d\)`"):
        trace = prog.debug(**inputs())
    m = trace.mismatch
    assert not trace.ok
    assert (m.name, m.line, m.statement, m.backend) == ("e", 2, "e = sin(d)", "numpy")
    assert "values differ" in m.detail
    np.testing.assert_array_equal(m.got, np.sin(inputs()["a"] * 1.5) + 1)
    np.testing.assert_array_equal(m.expected, trace["e"])
    # The intermediates themselves are the reference's, not the broken engine's.
    np.testing.assert_array_equal(trace["e"], np.sin(inputs()["a"] * 1.5))


def test_a_wrong_dtype_is_a_mismatch(monkeypatch):
    use_fake_engine(monkeypatch, lambda node, r: np.asarray(r, np.float64) if node.op == "multiply" else r)
    prog = sx.compile("d = a + 1\ne = d * 2\nc = e - 1", backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = prog.debug(a=np.ones(4, np.float32))
    assert trace.mismatch.name == "e" and trace.mismatch.line == 2
    assert "dtype float64, NumPy gives float32" in trace.mismatch.detail


def test_debug_reports_call_errors_like_a_call():
    prog = sx.compile(SOURCE, backend="numpy")
    with pytest.raises(sx.CallError, match="missing input `b`"):
        prog.debug(a=np.ones(3))
    with pytest.raises(sx.SymExprError, match="unknown input `q`"):
        prog.debug(a=np.ones(3), b=1.0, q=2)


def test_positional_arguments():
    prog = sx.compile("c = a - b", backend="numpy")
    trace = prog.debug(np.arange(3), 1)
    np.testing.assert_array_equal(trace["c"], [-1, 0, 1])
    assert trace["c"].dtype == np.int64


def test_bad_inputs_are_the_errors_a_call_gives():
    prog = sx.compile("d = a * 2\nc = d + b", backend="numpy")
    with pytest.raises(sx.ShapeError, match=r"line 2, `c = d \+ b`: cannot broadcast"):
        prog.debug(a=np.ones(3), b=np.ones(4))
    with pytest.raises(sx.DTypeError, match="complex256"):
        prog.debug(a=np.ones(3, np.clongdouble), b=1.0)
    with pytest.raises(sx.EvaluationError, match="line 1"):
        sx.compile("c = a ** b", backend="numpy").debug(a=np.arange(3), b=-1)


def test_a_backend_that_fails_is_a_mismatch_at_the_failing_statement(monkeypatch):
    def failing(node, result):
        if node.op == "sqrt":
            raise sx.BackendError("the device is on fire")
        return result

    use_fake_engine(monkeypatch, failing)
    prog = sx.compile("d = a * 2\ne = sqrt(d)\nc = e + 1", backend="numpy")
    with pytest.warns(RuntimeWarning, match="line 2"):
        trace = prog.debug(a=np.arange(4.0))
    assert list(trace) == ["d", "e", "c"] and trace.outputs is None
    assert trace.mismatch.name == "e" and "the device is on fire" in trace.mismatch.detail

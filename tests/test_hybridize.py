"""@sx.hybridize: imperative and traced runs agree; tracing errors are clear; one trace per signature."""
import numpy as np
import pytest

import symexpr as sx
from symexpr.tracing import FUNCTION_WRAPPERS, Symbol, TracingError

from helpers import assert_same


def adam_step(w, m, v, g, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, t=1):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    w = w - lr * m_hat / (sx.sqrt(v_hat) + eps)
    return {"w": w, "m": m, "v": v}


def data(n=1000, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(3)] + [np.abs(rng.standard_normal(n)).astype(dtype)]


def test_imperative_by_default_runs_numpy_and_prints_values(capsys):
    @sx.hybridize
    def f(a, b):
        d = a * b
        print(d)
        return sx.where(d > 0, d, 0)

    a = np.array([1.0, -2.0, 3.0])
    out = f(a, 2.0)
    np.testing.assert_array_equal(out, [2.0, 0.0, 6.0])
    assert "[ 2. -4.  6.]" in capsys.readouterr().out  # a real value
    assert f.program is None and f.traces == 0


def test_traced_print_shows_the_symbol(capsys, backend):
    @sx.hybridize(active=True, backend=backend)
    def f(a, b):
        d = a * b
        print(d)
        return d + 1

    f(np.ones(3, np.float32), np.ones(3, np.float32))
    assert capsys.readouterr().out.strip() == "<Symbol t1 = a * b>"
    f(np.ones(3, np.float32), np.ones(3, np.float32))
    assert capsys.readouterr().out == ""  # later calls run the kernel: the function body is not run


def test_adam_traced_equals_imperative(backend):
    step = sx.hybridize(adam_step, backend=backend)
    w, m, g, v = data()
    want = step(w, m, v, g)
    step.hybridize()
    got = step(w, m, v, g)
    assert isinstance(got, dict) and list(got) == ["w", "m", "v"]
    for k in want:
        assert got[k].dtype == np.float32
        assert_same(got[k], want[k], ulps=0 if backend == "numpy" else 4)
    # One program with several outputs, every traced statement in it, one line per operation.
    prog = step.program
    assert prog.outputs == ("w", "m", "v")
    assert {"w", "m", "v", "g", "lr", "beta1", "beta2", "eps", "t"} <= set(prog.inputs)
    assert "m = " in prog.source and "sqrt(v_hat)" in prog.source
    if backend == "opencl":
        assert prog.kernel_source.count("__kernel") == 1


def test_program_text_goes_through_the_grammar(backend):
    @sx.hybridize(active=True, backend=backend)
    def f(a, b):
        c = -a ** 2 + abs(b) // 3 % 2
        e = (a >= b) & ~(a == 0) | (b != 1.5)
        return sx.where(e, c, -1.5), sx.maximum(a, b) - 1e-3, a / 2 ** b

    a = np.linspace(-3, 3, 13)
    b = np.linspace(2, -2, 13)
    got = f(a, b)
    want = f.fn(a, b)
    assert isinstance(got, tuple) and len(got) == 3
    for x, y in zip(got, want):
        assert_same(x, y, ulps=0 if backend == "numpy" else 16)
    # The same text compiles on its own: it is a plain symexpr program.
    again = sx.compile(f.program.source, outputs=f.program.outputs, backend="numpy")
    for x, y in zip(again(a=a, b=b), want):
        assert_same(x, y)


def test_numpy_ufuncs_and_reflected_operands_trace():
    @sx.hybridize(active=True, backend="numpy")
    def f(a):
        return np.sin(a) + np.ones(3) * 2 - (1 - a) ** 2 / np.exp(a)

    a = np.array([0.1, 0.2, 0.3])
    assert_same(f(a), f.fn(a))
    assert "captured" in f.program.source  # the captured array is a hidden input


def test_one_trace_per_signature():
    calls = []

    @sx.hybridize(active=True, backend="numpy")
    def f(a, k):
        calls.append(1)
        return a * k

    f(np.ones(3, np.float32), 2.0)
    f(np.zeros(5, np.float32), 3.0)          # same dtypes, ndim, weak float: no retrace
    assert f.traces == 1 and len(calls) == 1
    r = f(np.ones(3, np.float64), 2.0)       # new dtype
    assert r.dtype == np.float64 and f.traces == 2
    r = f(np.ones((2, 2), np.float32), 2.0)  # new ndim
    assert r.shape == (2, 2) and f.traces == 3
    r = f(np.ones(3, np.float32), 2)         # weak int instead of weak float
    assert r.dtype == np.float32 and f.traces == 4
    r = f(np.ones(3, np.int16), np.float64(2))  # a NumPy scalar is strong: int16 * float64 is float64
    assert r.dtype == np.float64 and f.traces == 5
    assert len(f.programs) == 5


def test_weak_scalars_keep_the_array_dtype():
    scale = 0.5  # captured: a weak literal in the text

    @sx.hybridize(active=True, backend="numpy")
    def f(a, k):
        return a * k + scale

    r = f(np.arange(4, dtype=np.float32), 3)
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, np.arange(4, dtype=np.float32) * 3 + 0.5)
    assert "0.5" in f.program.source


@pytest.mark.parametrize("body, what", [
    (lambda a: a if a > 0 else -a, "truth value"),
    (lambda a: float(a), "convert it to float"),
    (lambda a: int(a), "convert it to int"),
    (lambda a: len(a), "len()"),
    (lambda a: [x for x in a], "iterate"),
    (lambda a: np.asarray(a), "make a NumPy array"),
    (lambda a: a[0], "index it"),
    (lambda a: np.sum(a), "np.sum cannot be traced"),
    (lambda a: (a > 0) and (a < 1), "truth value"),
])
def test_control_flow_on_values_is_a_clear_error(body, what):
    f = sx.hybridize(body, active=True, backend="numpy")
    with pytest.raises(TracingError) as err:
        f(np.ones(3))
    assert isinstance(err.value, sx.SymExprError)
    assert what in str(err.value)
    assert "test_hybridize.py" in str(err.value)  # it points at the user's line
    # Imperatively, the same function runs (or fails the way NumPy does), untouched by symexpr.
    f.hybridize(active=False)
    try:
        f(np.ones(3))
    except (ValueError, TypeError) as plain:
        assert not isinstance(plain, sx.SymExprError)


def test_if_statement_error_names_the_line():
    @sx.hybridize(active=True, backend="numpy")
    def relu(x):
        if x > 0:
            return x
        return 0 * x

    with pytest.raises(TracingError, match=r"`if x > 0:`.*sx\.where"):
        relu(np.ones(2))


def test_return_structures():
    @sx.hybridize(active=True, backend="numpy")
    def f(a):
        b = a + 1
        return a, b, b  # an input returned as is, and one value twice

    a = np.arange(3.0)
    x, y, z = f(a)
    np.testing.assert_array_equal(x, a)
    np.testing.assert_array_equal(y, a + 1)
    np.testing.assert_array_equal(z, a + 1)
    assert x is not a  # results are new arrays

    g = sx.hybridize(lambda a: None, active=True, backend="numpy")
    with pytest.raises(TracingError, match="returned None"):
        g(a)


def test_symbol_from_another_trace_is_an_error():
    kept = []

    @sx.hybridize(active=True, backend="numpy")
    def f(a):
        kept.append(a * 2)
        return kept[0] + a

    f(np.ones(2))
    with pytest.raises(TracingError, match="another trace"):
        f(np.ones((2, 2)))  # new signature: a new trace reads the old symbol


def test_functions_dispatch_to_numpy_on_values():
    assert set(FUNCTION_WRAPPERS) == set(sx.ops.FUNCTIONS)
    x = np.array([-1.5, 0.0, 2.0])
    np.testing.assert_array_equal(sx.sin(x), np.sin(x))
    np.testing.assert_array_equal(sx.where(x > 0, x, 0), np.where(x > 0, x, 0))
    np.testing.assert_array_equal(sx.maximum(x, 0.5), np.maximum(x, 0.5))
    assert sx.float32(x).dtype == np.float32
    with pytest.raises(TypeError, match="takes 3 arguments"):
        sx.where(x > 0, x)


# grad(y, x) traces as sx.grad of a function (tests/test_grad.py).
@pytest.mark.parametrize("fname", sorted(set(sx.ops.FUNCTIONS) - {"grad"}))
def test_every_function_traces(fname):
    op = sx.ops.FUNCTIONS[fname]
    fn = FUNCTION_WRAPPERS[fname]
    args = [np.linspace(0.1, 0.9, 5), np.linspace(0.2, 0.6, 5), np.full(5, 0.7)][:op.arity]
    if fname == "where":
        args[0] = args[0] > 0.5
    kw = {"axis": 0} if fname == "expand_dims" else {}  # np.expand_dims needs its axis
    f = sx.hybridize(lambda *xs: fn(*xs, **kw), active=True, backend="numpy")
    with np.errstate(all="ignore"):  # arccosh of values below 1 is NaN, as NumPy says
        assert_same(f(*args), fn(*args, **kw))
    assert [n.op for n in f.program.graph.nodes if n.op not in ("input", "constant")] == [op.name]


def test_program_exposes_graph_and_explain():
    @sx.hybridize(active=True, backend="numpy")
    def f(a, b):
        unused = a - b  # noqa: F841 - dead code is pruned by the optimizer
        return a * b

    f(np.ones(2), np.ones(2))
    prog = f.program
    assert isinstance(prog, sx.Program)
    assert [n.op for n in prog.graph.nodes if n.op not in ("input", "constant")] == ["multiply"]
    assert "subtract" in prog.explain()


def test_symbol_repr_and_format():
    seen = {}

    @sx.hybridize(active=True, backend="numpy")
    def f(a):
        seen["input"] = repr(a)
        b = sx.exp(-a)
        seen["b"] = f"{b}"
        return b

    f(np.ones(2, np.float32))
    assert seen["input"] == "<Symbol a: input float32[1-D]>"
    assert seen["b"] == "<Symbol t2 = exp(t1)>"
    assert isinstance(Symbol, type)


def test_lists_static_arguments_and_any_parameter_name():
    @sx.hybridize(active=True, backend="numpy")
    def f(α, sin, mode="double"):
        return α * 2 + sin if mode == "double" else α + sin

    np.testing.assert_array_equal(f([1.0, 2.0], 1.0), [3.0, 5.0])        # a list becomes an array
    np.testing.assert_array_equal(f([1.0, 2.0], 1.0, mode="add"), [2.0, 3.0])  # a static argument retraces
    assert f.traces == 2 and len(f.programs) == 2
    assert all(isinstance(p, sx.Program) for p in f.programs.values())
    assert "sin1" in f.program.inputs  # `sin` is a function in the language: the input is renamed


def test_astype_is_the_language_cast():
    @sx.hybridize(active=True, backend="numpy")
    def f(a):
        return (a * 2.7).astype(np.int32) + a.astype("uint8")

    a = np.array([1.5, 2.0, 3.25])  # in range of uint8: beyond it the language saturates, NumPy is undefined
    with np.errstate(all="ignore"):
        assert_same(f(a), f.fn(a))
    assert "int32(" in f.program.source and "uint8(" in f.program.source
    g = sx.hybridize(lambda a: a.astype(np.longdouble), active=True, backend="numpy")
    with pytest.raises(TracingError, match="cannot cast to float128"):
        g(a)


# -- as JAX users expect: static arguments, array attributes, no in-place updates of inputs -------
def test_static_argnames_trace_python_loops(backend):
    @sx.hybridize(active=True, backend=backend, static_argnames=("n",))
    def power_iteration(x, n):
        for _ in range(n):
            x = x * x
        return x

    x = np.array([1.0, 1.5, -0.5, np.nan, np.inf, -0.0], np.float32)
    for n in (1, 3, 3, 2):
        np.testing.assert_array_equal(power_iteration(x, n), power_iteration.fn(x, n))
    assert power_iteration.traces == 3  # one per value of n: 1, 3, 2
    assert [n.op for n in power_iteration.program.graph.nodes if n.op != "input"] == ["multiply"] * 2
    assert "n=2" in power_iteration.program.source  # the header says which value it was traced for
    assert power_iteration.program.inputs == ("x",)  # a static value is no input


def test_static_argnums_count_positions_and_star_args():
    @sx.hybridize(active=True, backend="numpy", static_argnums=(1, -1))
    def f(x, k, *rest):
        return x * k + sum(rest[:-1]) + rest[-1]

    x = np.arange(3.0)
    np.testing.assert_array_equal(f(x, 2, 5.0, 7), x * 2 + 5.0 + 7)
    np.testing.assert_array_equal(f(x, 2, 5.0, 8), x * 2 + 5.0 + 8)
    assert f.traces == 2  # the last position is static: a new value traces again
    assert set(f.program.inputs) == {"x", "rest0"}


def test_static_arguments_are_checked():
    with pytest.raises(TracingError, match="static_argnames names 'm'"):
        sx.hybridize(lambda x, n: x, static_argnames=("m",))
    with pytest.raises(TracingError, match="static_argnums holds positions"):
        sx.hybridize(lambda x, n: x, static_argnums=("n",))
    f = sx.hybridize(lambda x, n: x * len(n), active=True, backend="numpy", static_argnames="n")
    with pytest.raises(TracingError, match=r"static argument `n` is a list, which is not hashable.*tuple"):
        f(np.ones(2), [1, 2])
    np.testing.assert_array_equal(f(np.ones(2), (1, 2)), [2.0, 2.0])


def test_a_loop_over_a_weak_argument_names_static_argnames():
    @sx.hybridize(active=True, backend="numpy")
    def f(x, n):
        for _ in range(n):
            x = x + 1
        return x

    with pytest.raises(TracingError, match=r"declare it static, @sx.hybridize\(static_argnames=\(\"n\",\)\)"):
        f(np.ones(2), 3)


def test_array_attributes_from_the_signature():
    seen = {}

    @sx.hybridize(active=True, backend="numpy")
    def f(x, y, k):
        z = (x * y).sum(axis=0)
        seen.update(x=(x.ndim, x.dtype), y=(y.ndim, y.dtype), z=(z.ndim, z.dtype), mixed=(x * k).dtype,
                    cast=x.astype(np.float32).dtype, copy=x.copy().dtype, T=x.T.ndim)
        return z.astype(x.dtype)

    x, y = np.ones((2, 3), np.int16), np.ones(3, np.float32)
    traced = f(x, y, 2.5)
    saved = dict(seen)
    f.hybridize(False)
    assert_same(traced, f(x, y, 2.5))
    assert saved == seen  # NumPy's answers, asked of symbols
    assert saved["z"] == (1, np.dtype(np.float32)) and saved["mixed"] == np.dtype(np.float64)


@pytest.mark.parametrize("body, what", [
    (lambda x: x.shape[0] * x, r"`x.shape` is not known while tracing.*static argument"),
    (lambda x: x / x.size, r"`x.size` is not known while tracing.*sx.mean"),
    (lambda x: x.reshape(-1), r"`x.reshape` cannot be traced: symexpr programs keep their inputs' shapes"),
    (lambda x: x.cumsum(), r"`x.cumsum` cannot be traced: .*np.cumsum outside"),
    (lambda x: x.searchsorted(1), r"`x.searchsorted` cannot be traced: symexpr traces element-wise"),
    (lambda x: x.shapes, r"`x.shapes` cannot be traced: .*arrays have no such attribute"),
    (lambda x, k: x * k.dtype.itemsize, r"`k` has no dtype: it is computed from Python scalars only"),
])
def test_array_attributes_a_symbol_cannot_have_are_tracing_errors(body, what):
    f = sx.hybridize(body, active=True, backend="numpy")
    args = (np.ones(3), 2.0)[:body.__code__.co_argcount]
    with pytest.raises(TracingError, match=what) as err:
        f(*args)
    assert isinstance(err.value, AttributeError) and "test_hybridize.py" in str(err.value)


def test_protocol_lookups_stay_plain_attribute_errors():
    @sx.hybridize(active=True, backend="numpy")
    def f(x):
        assert not hasattr(x, "__array_interface__") and not hasattr(x, "_repr_html_")
        assert getattr(x, "reshape", None) is None
        return x + 1

    np.testing.assert_array_equal(f(np.zeros(2)), [1.0, 1.0])


@pytest.mark.parametrize("active", [False, True])
def test_in_place_update_of_an_input_is_refused_in_both_modes(active):
    @sx.hybridize(active=active, backend="numpy")
    def f(x, lr):
        x -= lr
        return x

    a = np.ones(3)
    with pytest.raises(TracingError, match=r"in place.*read-only.*JAX"):
        f(a, 0.5)
    np.testing.assert_array_equal(a, np.ones(3))  # the caller's array is untouched either way

    @sx.hybridize(active=active, backend="numpy")
    def g(x, lr):
        y = x * 2
        y += lr       # a local array: updated in place imperatively, a new symbol when traced
        lr *= 2       # a Python number rebinds in both modes
        return y + lr

    np.testing.assert_array_equal(g(a, 0.5), a * 2 + 0.5 + 1.0)
    np.testing.assert_array_equal(a, np.ones(3))


def test_inputs_follow_the_argument_order_and_lines_are_the_functions():
    import inspect

    step = sx.hybridize(adam_step, active=True, backend="numpy")
    w, m, g, v = data(10)
    step(w, m, v, g)
    assert step.program.inputs == ("w", "m", "v", "g", "lr", "beta1", "beta2", "eps", "t")
    first = inspect.getsourcelines(adam_step)[1]
    text = str(step.program.graph)
    assert f"# line {first + 1}: m = " in text and f"# line {first + 5}: w = " in text
    assert "# line 2:" not in text
    # Positional calls of the traced Program bind in that order too.
    got = step.program(w, m, v, g, 1e-3, 0.9, 0.999, 1e-8, 1)
    assert_same(got[0], step(w, m, v, g)["w"])


def test_round_traces_in_every_spelling(backend):
    @sx.hybridize(active=True, backend=backend, static_argnames="d")
    def f(x, d):
        return x.round() + x.round(d) + np.round(x, decimals=-1) + sx.round(x, d) + np.around(x)

    x = np.array([0.5, 1.5, 2.5, -2.5, 2.675, 15.0, np.nan, -0.0], np.float32)
    assert_same(f(x, 2), f.fn(x, 2))
    assert [n.op for n in f.program.graph.nodes].count("round") == 3  # one node per distinct decimals
    g = sx.hybridize(lambda x, d: x.round(d), active=True, backend="numpy")
    with pytest.raises(TracingError, match="`decimals` must be an int known while tracing"):
        g(x, 2)


def test_complex_arrays_trace(backend):
    @sx.hybridize(active=True, backend=backend)
    def f(z, w, k):
        u = z * w.conj() / (1 - 0.5j) + k
        return abs(u), u.real - np.imag(u), np.angle(u), u

    z = np.array([1 + 2j, -3j, np.inf, complex(np.nan, 1)], np.complex64)
    w = np.array([2 - 1j, 0.5, 1j, 3], np.complex64)
    with np.errstate(invalid="ignore"):
        got, want = f(z, w, 2j), f.fn(z, w, 2j)
    for g, e, ulps in zip(got, want, (0, 0, 6, 0)):
        assert_same(g, e, 0 if backend == "numpy" else ulps)
    assert got[3].dtype == np.complex64 and "0.5j" in f.program.source


def test_an_argument_returned_as_is_is_the_callers_array():
    f = sx.hybridize(lambda x, y: (x, y * 2), backend="numpy")
    a = np.ones(3)
    x, y = f(a, a)
    assert x is a and x.flags.writeable  # the read-only view stays inside the call

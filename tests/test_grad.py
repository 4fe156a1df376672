"""Gradients: every op's rule against finite differences, drawn programs, both engines, the
conventions at ties and kinks, the API (`sx.grad`, `sx.value_and_grad`, `grad(y, x)`, hybridize)
and its errors."""
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import symexpr as sx
from symexpr.ops import OPS, ZERO

RNG = np.random.default_rng(1234)
SHAPE = (3, 4)


# -- every op's rule, by finite differences (float64, central, along a random direction) ------
def uniform(lo, hi, shape=SHAPE, away=None):
    x = RNG.uniform(lo, hi, shape)
    if away is not None:  # keep clear of a kink or a pole
        x = np.where(np.abs(x - away) < 0.15, away + 0.15 * np.sign(x - away + 1e-9), x)
    return x


# Operands, per op, where the op is smooth: (x, y, z) arrays of SHAPE (or broadcasting against it).
def domain(name):
    general = lambda: uniform(-2, 2, away=0.0)  # noqa: E731
    positive = lambda: uniform(0.3, 3)  # noqa: E731
    unit = lambda: uniform(-0.8, 0.8)  # noqa: E731
    table = {
        "sqrt": [positive], "log": [positive], "log2": [positive], "log10": [positive],
        "cbrt": [general], "log1p": [lambda: uniform(-0.5, 2)], "arcsin": [unit], "arccos": [unit],
        "arctanh": [unit], "arccosh": [lambda: uniform(1.3, 3)], "tan": [lambda: uniform(-1.2, 1.2)],
        "divide": [general, general], "power": [lambda: uniform(0.5, 2), lambda: uniform(-2, 2)],
        "remainder": [lambda: uniform(0.1, 0.9) + RNG.integers(-3, 3, SHAPE) * 1.5, lambda: np.full(SHAPE, 1.5)],
        "fmod": [lambda: uniform(0.1, 0.9) + RNG.integers(-3, 3, SHAPE) * 1.5, lambda: np.full(SHAPE, 1.5)],
        "clip": [lambda: uniform(-2, 2, away=0.0) * 2, lambda: np.full((1, 4), -1.1), lambda: np.full(SHAPE[1:], 1.3)],
        "where": [lambda: RNG.uniform(-1, 1, SHAPE) > 0, general, lambda: uniform(-2, 2, (4,))],
    }
    op = OPS[name]
    makers = table.get(name, [general] * op.arity)
    return [m() for m in makers]


DIFFERENTIABLE = sorted(n for n, op in OPS.items()
                        if op.kind == "elementwise" and op.grad not in (None, ZERO))
FLOAT_OPERANDS = {"where": (1, 2)}  # the condition is bool: no gradient


def fd(f, args: dict, name: str, direction: np.ndarray, eps=1e-6) -> float:
    up = f(**{**args, name: args[name] + eps * direction})
    down = f(**{**args, name: args[name] - eps * direction})
    return (float(up) - float(down)) / (2 * eps)


def op_program(name):
    names = "xyz"[:OPS[name].arity]
    call = f"{OPS[name].functions[0]}({', '.join(names)})" if OPS[name].functions else \
        f"x {OPS[name].symbol} y" if OPS[name].arity == 2 else f"{OPS[name].symbol}x"
    floats = [names[k] for k in FLOAT_OPERANDS.get(name, range(len(names)))]
    grads = "\n".join(f"g{v} = grad(loss, {v})" for v in floats)
    return f"loss = sum({call} * s)\n{grads}", floats, call


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_every_rule_matches_finite_differences(name):
    src, floats, call = op_program(name)
    args = dict(zip("xyz", domain(name)), s=RNG.standard_normal(SHAPE))
    prog = sx.compile(src, backend="numpy")
    loss = sx.compile(src.split("\n")[0], backend="numpy")
    got = prog(**args)
    got = got if len(floats) > 1 else (got,)
    for v, g in zip(floats, got):
        assert g.shape == np.shape(args[v]) and g.dtype == np.float64
        if name in ("float16", "float32", "float64"):
            # The identity; the gradient of a float32 value is a float32 (as in JAX), so it is rounded.
            np.testing.assert_array_equal(g, args["s"].astype(name).astype(np.float64))
            continue
        direction = RNG.standard_normal(np.shape(args[v]))
        expect = fd(loss, args, v, direction)
        assert np.isclose(np.sum(g * direction), expect, rtol=1e-5, atol=1e-7), (name, v)


def test_every_op_has_a_rule_or_refuses():
    for name, op in OPS.items():
        # (complex values have no gradients yet: grad of one is refused with its line)
        assert op.grad is not None or name in ("nextafter", "complex64", "complex128") or op.kind == "gradient", name
    with pytest.raises(sx.SymExprError, match="line 1.*nextafter.*no gradient rule"):
        sx.compile("y = sum(nextafter(x, 1.0))\ng = grad(y, x)", backend="numpy")


# All the per-op gradients in one program, one kernel plan per engine: the OpenCL engine agrees
# with the NumPy engine (in float64 to rounding, in float32 to a few ulps of the float32 result).
def all_ops_program():
    lines, args = [], {"s": RNG.standard_normal(SHAPE)}
    for k, name in enumerate(DIFFERENTIABLE):
        src, floats, call = op_program(name)
        renamed = {v: f"{v}{k}" for v in "xyz"}
        operands = dict(zip("xyz", domain(name)))
        for v, value in operands.items():
            args[renamed[v]] = value
        for v, new in renamed.items():
            call = call.replace(f"{v},", f"{new},").replace(f"{v})", f"{new})").replace(f"{v} ", f"{new} ")
            call = call if not call.endswith(f" {v}") else call[: -len(v)] + new
            call = call if not call.startswith(f"-{v}") else f"-{new}"
        lines.append(f"l{k} = sum({call} * s)")
        lines += [f"g{renamed[v]} = grad(l{k}, {renamed[v]})" for v in floats]
    return "\n".join(lines), args


@pytest.fixture(scope="module")
def all_ops():
    src, args = all_ops_program()
    return src, args, sx.compile(src, backend="numpy"), sx.compile(src, backend="opencl")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_engines_agree_on_every_rule(all_ops, dtype):
    src, args, numpy_prog, opencl_prog = all_ops
    args = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in args.items()}
    expect, got = numpy_prog(**args), opencl_prog(**args)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-5)
    for name in numpy_prog.outputs:
        assert got[name].dtype == expect[name].dtype == np.dtype(dtype), name
        np.testing.assert_allclose(got[name], expect[name], **tol, err_msg=name)


# -- reductions, products and broadcasting ----------------------------------------------------
REDUCTION_PROGRAMS = [
    "loss = sum(sin(x) * s)",
    "loss = sum(mean(x, axis=1, keepdims=True) * x)",
    "loss = sum(mean(x, axis=0) ** 2)",
    "loss = sum(prod(x, axis=1))",
    "loss = sum(max(x, axis=1) * 3)",
    "loss = min(x) * 2 + sum(x)",
    "loss = sum(var(x, axis=0))",
    "loss = sum(std(x, axis=1, ddof=1))",
    "loss = logsumexp(x)",
    "loss = sum(logsumexp(x, axis=-1) * 2)",
    "loss = sum(softmax(x, axis=-1) * s)",
    "loss = sum(log_softmax(x, axis=0) * s)",
    "loss = sum(transpose(x) @ w)",
    "loss = sum((x @ v) ** 2)",
    "loss = sum(v @ transpose(x))",
    "loss = sum(sin(transpose(x, (1, 0))) * transpose(s))",
    "loss = sum(expand_dims(x, 1) * s)",
    "loss = sum(x * b + c) + sum(b * b)",
    "loss = mean(float64(x) * 2) + sum(float64(int32(x * 10)))",
]


@pytest.mark.parametrize("src", REDUCTION_PROGRAMS)
def test_reductions_products_broadcasting(src):
    x = RNG.uniform(0.5, 2.0, SHAPE)  # no ties, no zeros
    args = dict(x=x, s=RNG.standard_normal(SHAPE), w=RNG.standard_normal((3, 2)), v=RNG.standard_normal(4),
                b=RNG.standard_normal(4), c=RNG.standard_normal((3, 1)))
    loss = sx.compile(src, backend="numpy")
    args = {k: args[k] for k in loss.inputs}
    wrt = [n for n in loss.inputs if n in ("x", "b", "c", "w", "v")]
    grads = sx.grad(loss, wrt=wrt, backend="numpy")
    got = grads(**args)
    got = got if len(wrt) > 1 else (got,)
    for name, g in zip(wrt, got):
        assert g.shape == args[name].shape, (src, name)
        d = RNG.standard_normal(args[name].shape)
        tol = 1e-6
        assert np.isclose(np.sum(g * d), fd(loss, args, name, d), rtol=tol, atol=tol), (src, name)


def test_a_bias_gradient_sums_over_the_broadcast_rows():
    prog = sx.grad("loss = sum((x + b) * s)", wrt="b", backend="numpy")
    s = RNG.standard_normal(SHAPE)
    np.testing.assert_allclose(prog(x=np.zeros(SHAPE), b=np.zeros(4), s=s), s.sum(axis=0))
    assert prog(x=np.zeros(SHAPE), b=np.float64(0), s=s) == pytest.approx(s.sum())


# -- drawn programs -----------------------------------------------------------------------------
UNARY = ["sin({})", "cos({})", "tanh({})", "sigmoid({})", "exp({} / 4)", "({} * {})", "log(1 + {} * {})",
         "sqrt(1 + {} * {})", "arctan({})"]
BINARY = ["({} + {})", "({} - {})", "({} * {})", "({} / (1 + {} * {}))", "hypot({}, 1 + {} * {})"]
REDUCE = ["sum({}, axis=-1, keepdims=True)", "mean({}, axis=0, keepdims=True)", "logsumexp({}, axis=-1, keepdims=True)",
          "softmax({}, axis=-1)", "max({}, axis=0, keepdims=True)", "(({}) * ones) @ m",
          "var({}, axis=-1, keepdims=True)"]
# Shapes that broadcast to (3, 4) and stay at least 1-d through every reduction above; `ones` makes
# any of them a (3, 4) matrix for the product.
LEAVES = {"a": (3, 4), "b": (4,), "c": (3, 1), "k": (1, 4)}


@st.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(sorted(LEAVES)))
    kind = draw(st.sampled_from(["unary", "binary", "reduce"]))
    if kind == "unary":
        x = draw(expressions(depth - 1))
        template = draw(st.sampled_from(UNARY))
        return template.format(*[x] * template.count("{}"))
    if kind == "binary":
        x, y = draw(expressions(depth - 1)), draw(expressions(depth - 1))
        template = draw(st.sampled_from(BINARY))
        return template.format(x, *[y] * (template.count("{}") - 1))
    x = draw(expressions(depth - 1))
    return draw(st.sampled_from(REDUCE)).format(x)


def leaves():
    return dict(a=RNG.uniform(-1, 1, (3, 4)), b=RNG.uniform(-1, 1, 4), c=RNG.uniform(-1, 1, (3, 1)),
                k=RNG.uniform(-1, 1, (1, 4)), m=RNG.uniform(-1, 1, (4, 4)), ones=np.ones((3, 4)))


def drawn(expr):
    return f"loss = sum({expr}) + sum(a) * 0.0"  # `a` always an input: the shapes broadcast to it


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_drawn_programs_match_finite_differences(expr):
    src = drawn(expr)
    loss = sx.compile(src, backend="numpy")
    args = {k: v for k, v in leaves().items() if k in loss.inputs}
    wrt = [n for n in loss.inputs if n not in ("m", "ones")]
    grads = sx.grad(loss, wrt=wrt, backend="numpy")
    got = grads(**args)
    got = got if len(wrt) > 1 else (got,)
    unoptimized = sx.grad(sx.compile(src, backend="numpy", optimize=False), wrt=wrt)(**args)
    unoptimized = unoptimized if len(wrt) > 1 else (unoptimized,)
    for name, g, g0 in zip(wrt, got, unoptimized):
        assert g.shape == np.shape(args[name])
        np.testing.assert_allclose(g, g0, rtol=1e-12, atol=1e-12)  # optimize=False agrees
        d = RNG.standard_normal(np.shape(args[name]))
        expect = fd(loss, args, name, d)
        assert np.isclose(np.sum(g * d), expect, rtol=1e-4, atol=1e-6), (src, name)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_drawn_programs_engines_agree(expr):
    src = drawn(expr)
    inputs = sx.compile(src, backend="numpy").inputs
    wrt = [n for n in inputs if n not in ("m", "ones")]
    args = {k: v for k, v in leaves().items() if k in inputs}
    expect = sx.grad(src, wrt=wrt, backend="numpy")(**args)
    got = sx.grad(src, wrt=wrt, backend="opencl")(**args)
    for e, g in zip(expect if len(wrt) > 1 else (expect,), got if len(wrt) > 1 else (got,)):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9)


# -- conventions at ties and kinks (JAX's) ------------------------------------------------------
def one_grad(src, **args):
    return sx.grad(src, wrt=tuple(k for k in args if k.startswith(("x", "y"))), backend="numpy")(**args)


def test_maximum_and_minimum_split_a_tie_evenly():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0])
    gx, gy = one_grad("loss = sum(maximum(x, y))", x=x, y=y)
    np.testing.assert_array_equal(gx, [0.5, 1, 0])
    np.testing.assert_array_equal(gy, [0.5, 0, 1])
    gx, gy = one_grad("loss = sum(minimum(x, y))", x=x, y=y)
    np.testing.assert_array_equal(gx, [0.5, 0, 1])
    np.testing.assert_array_equal(gy, [0.5, 1, 0])


def test_kinks_relu_abs_clip():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(one_grad("loss = sum(relu(x))", x=x), [0, 0, 1])      # relu'(0) = 0
    np.testing.assert_array_equal(one_grad("loss = sum(abs(x))", x=x), [-1, 1, 1])       # |x|'(0) = 1
    np.testing.assert_array_equal(one_grad("loss = sum(sign(x) + floor(x))", x=x), [0, 0, 0])
    # clip(x, lo, hi) = minimum(maximum(x, lo), hi): half at each bound
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(one_grad("loss = sum(clip(x, -1.0, 1.0))", x=x), [0, 0.5, 1, 0.5, 0])


def test_max_reduction_splits_among_ties_and_nan_gives_nan():
    x = np.array([[3.0, 1.0, 3.0], [0.0, 5.0, 2.0]])
    np.testing.assert_array_equal(one_grad("loss = sum(max(x, axis=1))", x=x), [[0.5, 0, 0.5], [0, 1, 0]])
    np.testing.assert_array_equal(one_grad("loss = min(x)", x=x), [[0, 0, 0], [1, 0, 0]])
    g = one_grad("loss = sum(max(x, axis=1))", x=np.array([[np.nan, 1.0], [2.0, 1.0]]))
    assert np.isnan(g[0]).all() and np.array_equal(g[1], [1, 0])


def test_where_sends_nothing_to_the_untaken_branch_but_nan_still_propagates():
    x = np.array([-1.0, 0.0, 4.0])
    # The well-known case: log's gradient at 0 is inf, times the 0 that `where` sends: NaN (as JAX).
    g = one_grad("loss = sum(where(x > 0, log(x), 0))", x=x)
    assert g[0] == 0 and np.isnan(g[1]) and g[2] == 0.25
    # The safe spelling: keep log's operand in its domain.
    g = one_grad("loss = sum(where(x > 0, log(where(x > 0, x, 1)), 0))", x=x)
    np.testing.assert_array_equal(g, [0, 0, 0.25])


def test_power_at_zero_exponent_and_base():
    gx, gy = one_grad("loss = sum(x ** y)", x=np.array([0.0, 2.0, 0.0]), y=np.array([0.0, 3.0, 2.0]))
    np.testing.assert_array_equal(gx, [0, 12, 0])
    np.testing.assert_allclose(gy, [0, 8 * np.log(2), 0])


def test_prod_with_zeros():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 4.0]])
    np.testing.assert_array_equal(one_grad("loss = sum(prod(x, axis=1))", x=x),
                                  [[0, 6, 0], [0, 0, 0], [8, 4, 2]])


# -- the API ------------------------------------------------------------------------------------
def test_grad_of_a_program_names_and_defaults():
    prog = sx.compile("h = tanh(x @ w + b)\nloss = mean((h - y) ** 2)\nn = argmax(h)")
    g = sx.grad(prog, of="loss")
    assert g.outputs == ("grad_x", "grad_w", "grad_b", "grad_y")
    assert sx.grad(prog, of="loss", wrt=("w", "b")).outputs == ("grad_w", "grad_b")
    vg = sx.value_and_grad(prog, of="loss", wrt="w")
    assert vg.outputs == ("loss", "n", "grad_w")
    x, w, b, y = RNG.standard_normal((5, 3)), RNG.standard_normal((3, 2)), RNG.standard_normal(2), np.zeros((5, 2))
    r = vg(x=x, w=w, b=b, y=y)
    h = np.tanh(x @ w + b)
    assert r.loss == pytest.approx(np.mean(h ** 2))
    np.testing.assert_allclose(r.grad_w, x.T @ (2 * h * (1 - h * h) / h.size))
    # only differentiable dependencies by default: a condition or an integer cast is left out
    assert sx.grad("loss = sum(where(c > 0, x, 2 * x) + float64(int32(z)))").inputs == ("c", "x", "z")
    assert sx.grad("loss = sum(where(c > 0, x, 2 * x) + float64(int32(z)))").outputs == ("grad_x",)


def test_grad_of_text_and_a_seed():
    g = sx.grad("y = sin(x) * 2", seed="dy")
    assert g.inputs == ("x", "dy") and g.outputs == ("grad_x",)
    x, dy = np.linspace(0, 1, 4), np.array([1.0, 0.0, 2.0, -1.0])
    np.testing.assert_allclose(g(x=x, dy=dy), 2 * np.cos(x) * dy)


def test_gradient_program_is_an_ordinary_program():
    g = sx.grad("h = relu(x * w)\nloss = sum(h)", wrt="w", backend="numpy")
    text = g.explain(x=np.ones(3), w=np.float64(2))
    assert "line 1: h = relu(x * w)" in text and "grad_w" in text and "# memory plan" in text
    assert "grad_h" in sx.grad("h = relu(x * w)\nloss = sum(h)", wrt="w").to_dot()
    again = pickle.loads(pickle.dumps(g))
    assert again.source == g.source and again(x=np.ones(3), w=np.float64(2)) == 3.0


def test_gradient_kernels_for_a_dense_layer():
    g = sx.grad("loss = mean((relu(x @ w + b) - y) ** 2)", wrt=("w", "b"), backend="opencl")
    x, w, b, y = (RNG.standard_normal(s).astype(np.float32) for s in ((64, 8), (8, 4), (4,), (64, 4)))
    r = g(x=x, w=w, b=b, y=y)
    expect = sx.grad("loss = mean((relu(x @ w + b) - y) ** 2)", wrt=("w", "b"), backend="numpy")(x=x, w=w, b=b, y=y)
    np.testing.assert_allclose(r.grad_w, expect.grad_w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(r.grad_b, expect.grad_b, rtol=1e-4, atol=1e-6)
    assert r.grad_w.dtype == np.float32
    plan = g.explain(x=x, w=w, b=b, y=y).split("# kernels")[1]
    assert "matrix product" in plan and "reduction kernel" in plan


# -- hybridize ----------------------------------------------------------------------------------
def mse(w, b, x, y):
    return sx.mean((sx.tanh(x @ w + b) - y) ** 2)


def test_grad_of_a_function_and_a_training_step_in_one_program():
    x, y = RNG.standard_normal((6, 3)), RNG.standard_normal((6, 2))
    w, b = RNG.standard_normal((3, 2)), RNG.standard_normal(2)
    gw, gb = sx.grad(mse, argnums=(0, 1))(w, b, x, y)
    expect = sx.grad(sx.compile("loss = mean((tanh(x @ w + b) - y) ** 2)"), wrt=("w", "b"))(x=x, w=w, b=b, y=y)
    np.testing.assert_allclose(gw, expect.grad_w)
    np.testing.assert_allclose(gb, expect.grad_b)
    value, g = sx.value_and_grad(mse)(w, b, x, y)
    assert value == pytest.approx(np.mean((np.tanh(x @ w + b) - y) ** 2))
    np.testing.assert_allclose(g, gw)

    @sx.hybridize(active=True)
    def step(w, b, x, y):
        dw, db = sx.grad(mse, argnums=(0, 1))(w, b, x, y)
        return w - 0.5 * dw, b - 0.5 * db

    w2, b2 = step(w, b, x, y)
    np.testing.assert_allclose(w2, w - 0.5 * gw)
    np.testing.assert_allclose(b2, b - 0.5 * gb)
    assert step.source.count("= grad(") == 2 and step.traces == 1


def test_grad_inside_a_traced_function_as_a_statement():
    @sx.hybridize(active=True, backend="numpy")
    def f(x):
        loss = sx.sum(sx.sin(x))
        return sx.grad(loss, x)

    x = np.linspace(0, 1, 5)
    np.testing.assert_allclose(f(x), np.cos(x))


# -- errors -------------------------------------------------------------------------------------
def test_errors():
    prog = sx.compile("h = x * w\nloss = sum(h)\nm = h * 2")
    with pytest.raises(sx.CallError, match="2 outputs.*of="):
        sx.grad(prog)
    with pytest.raises(sx.CallError, match="`q` is not an input"):
        sx.grad(prog, of="loss", wrt="q")
    with pytest.raises(sx.CallError, match="of='nope'"):
        sx.grad(prog, of="nope")
    with pytest.raises(sx.DTypeError, match="differentiate with respect to `w` \\(int64\\)"):
        sx.grad(prog, of="loss", wrt="w")(x=np.ones(3), w=np.arange(3))
    with pytest.raises(sx.ShapeError, match="line 5.*scalar y; this y has shape \\(3,\\)") as err:
        sx.grad(prog, of="m", wrt="w")(x=np.ones(3), w=np.ones(3))
    assert err.value.line == 5  # the statement sx.grad wrote: `grad_w = grad(m, w)`
    with pytest.raises(sx.ParseError, match="line 2.*x must be an input or a name") as err:
        sx.compile("loss = sum(x)\ng = grad(loss, x + 1)")
    with pytest.raises(sx.SymExprError, match="second derivatives are not supported"):
        sx.compile("loss = sum(x * x)\ng = grad(loss, x)\nh = grad(sum(g), x)")
    with pytest.raises(sx.CallError, match="assigned again"):
        sx.grad("x = x * 2\nloss = sum(x)", wrt="x")
    with pytest.raises(sx.CallError, match="seed"):
        sx.grad("y = x * 2", seed="x")
    with pytest.raises(sx.TracingError, match="one scalar"):
        sx.grad(lambda x: (x, x))(np.ones(2))


# -- against JAX, where it is installed ---------------------------------------------------------
def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    x = np.array([[-1.5, 0.0, 2.0], [1.0, 1.0, -0.5]])
    y = np.array([[0.5, 0.0, 2.0], [1.0, -1.0, -0.5]])
    cases = {
        "sum(maximum(x, y) + minimum(x, y) * 2)": lambda x, y: jnp.sum(jnp.maximum(x, y) + jnp.minimum(x, y) * 2),
        "sum(abs(x) + relu(y))": lambda x, y: jnp.sum(jnp.abs(x) + jax.nn.relu(y)),
        "sum(clip(x, -0.5, 1.0) * y)": lambda x, y: jnp.sum(jnp.clip(x, -0.5, 1.0) * y),
        "sum(max(x, axis=1)) + min(y)": lambda x, y: jnp.sum(jnp.max(x, axis=1)) + jnp.min(y),
        "sum(softmax(x, axis=-1) * y)": lambda x, y: jnp.sum(jax.nn.softmax(x, axis=-1) * y),
        "sum(where(x > 0, x * y, y))": lambda x, y: jnp.sum(jnp.where(x > 0, x * y, y)),
        "sum(hypot(x, y + 0.25) + arctan2(x, y + 3))": lambda x, y: jnp.sum(jnp.hypot(x, y + 0.25) + jnp.arctan2(x, y + 3)),
        "sum(copysign(x, y) * 3)": lambda x, y: jnp.sum(jnp.copysign(x, y) * 3),
        "sum(prod(x, axis=0)) + logsumexp(y)": lambda x, y: jnp.sum(jnp.prod(x, axis=0)) + jax.nn.logsumexp(y),
    }
    for src, f in cases.items():
        gx, gy = sx.grad(f"loss = {src}", wrt=("x", "y"), backend="numpy")(x=x, y=y)
        jx, jy = jax.grad(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(gx, jx, rtol=1e-12, atol=1e-12, err_msg=src)
        np.testing.assert_allclose(gy, jy, rtol=1e-12, atol=1e-12, err_msg=src)


def test_softmax_cross_entropy_backward_is_one_kernel():
    # keep(g) in the rules is a new axis (expand_dims) of a per-row value; lowering computes it with the
    # reduction's keepdims=True instead, so no view splits the row kernel.
    src = "loss = -mean(sum(y * log_softmax(z, axis=-1), axis=-1))"
    z = RNG.standard_normal((64, 10)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[RNG.integers(0, 10, 64)]
    g = sx.grad(src, wrt="z", backend="opencl")
    expect = sx.grad(src, wrt="z", backend="numpy")(y=y, z=z)
    np.testing.assert_allclose(g(y=y, z=z), expect, rtol=1e-5, atol=1e-7)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(expect, (p / p.sum(axis=1, keepdims=True) - y) / 64, rtol=1e-5, atol=1e-7)
    steps = [line for line in g.explain(y=y, z=z).split("# kernels")[1].splitlines() if line[:1].isdigit()]
    assert len(steps) == 1 and "reduction kernel over [64, 10] axes [1]" in steps[0]


def test_reduction_product_gradients_on_both_engines():
    # Every program of REDUCTION_PROGRAMS in one (its losses summed): one kernel plan per engine.
    lines = [src.replace("loss =", f"l{k} =") for k, src in enumerate(REDUCTION_PROGRAMS)]
    total = " + ".join(f"l{k}" for k in range(len(lines)))
    src = "\n".join(lines) + f"\nloss = {total}"
    wrt = ("x", "w", "v", "b", "c")
    args = dict(x=RNG.uniform(0.5, 2.0, SHAPE), s=RNG.standard_normal(SHAPE), w=RNG.standard_normal((3, 2)),
                v=RNG.standard_normal(4), b=RNG.standard_normal(4), c=RNG.standard_normal((3, 1)))
    expect = sx.grad(src, of="loss", wrt=wrt, backend="numpy")(**args)
    got = sx.grad(src, of="loss", wrt=wrt, backend="opencl")(**args)
    for name, e, g in zip(wrt, expect, got):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9, err_msg=name)


def test_grad_of_a_function_keeps_its_static_arguments():
    @sx.hybridize(static_argnames=("n",))
    def deep(w, x, n):
        for _ in range(n):
            x = sx.tanh(x * w)
        return sx.sum(x)

    w, x = np.float64(0.7), np.linspace(0.1, 1, 5)
    for n in (1, 3):
        got = sx.grad(deep)(w, x, n)
        expect = fd(lambda w, x: deep.fn(w, x, n), {"w": w, "x": x}, "w", np.float64(1.0))
        assert abs(expect) > 0.1 and got == pytest.approx(expect, rel=1e-6)

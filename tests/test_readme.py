"""The README is the front door: its example runs, and its reference lists every function."""
import re
from pathlib import Path

import numpy as np

import symexpr as sx
from symexpr.ops import FUNCTIONS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_first_example_runs_and_matches_numpy(capsys):
    namespace = {}
    exec(python_blocks()[0], namespace)  # noqa: S102 - our own README
    a = namespace["a"]
    d = a * np.float32(2.0)
    e = d + np.sin(a)
    expected = np.where(e > 0, e, 0)
    assert namespace["c"].dtype == np.float32
    np.testing.assert_allclose(namespace["c"], expected, rtol=1e-6)
    assert "__kernel" in capsys.readouterr().out or namespace["prog"].backend == "numpy"


def test_every_function_is_in_the_reference():
    missing = [f for f in FUNCTIONS if f"`{f}`" not in README]
    assert not missing, f"functions missing from the README's language reference: {missing}"


def test_error_example_is_what_symexpr_says():
    block = re.search(r"```text\n>>> sx.compile\(\"(.*?)\"\)\n(.*?)```", README, flags=re.S)
    source, shown = block.group(1), block.group(2)
    try:
        sx.compile(source)
    except sx.ParseError as err:
        first, *caret = shown.rstrip("\n").split("\n")
        assert first == f"symexpr.errors.ParseError: {str(err).splitlines()[0]}"
        assert caret == str(err).splitlines()[1:]
    else:
        raise AssertionError("the README's error example compiles")


def test_hybridize_example_traces_to_the_imperative_result():
    block = next(b for b in python_blocks() if "def adam" in b)
    namespace = {"sx": sx, "np": np}
    exec(block, namespace)  # noqa: S102 - our own README
    adam = namespace["adam"]
    rng = np.random.default_rng(0)
    w, g, m, v = (rng.standard_normal(1000) for _ in range(4))
    v = np.abs(v)
    traced = adam(w, g, m, v)
    adam.hybridize(False)
    imperative = adam(w, g, m, v)
    for t, i in zip(traced, imperative):
        np.testing.assert_allclose(t, i, rtol=1e-12)
    assert adam.program is not None and len(adam.program.outputs) == 3


def test_gradients_example_runs():
    block = next(b for b in python_blocks() if "g = sx.grad(prog" in b)
    rng = np.random.default_rng(0)
    namespace = {"sx": sx, "x": rng.standard_normal((8, 3)), "y": rng.standard_normal((8, 2)),
                 "w1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
                 "w2": rng.standard_normal((4, 2)), "b2": rng.standard_normal(2)}
    exec(block, namespace)  # noqa: S102 - our own README
    assert namespace["g"].outputs == ("grad_w1", "grad_b1")
    step = namespace["step"]
    w, b = rng.standard_normal((3, 2)), np.zeros(2)
    w2, b2, loss = step(x=namespace["x"], y=namespace["y"], w=w, b=b, lr=0.1)
    grads = sx.grad("loss = mean((relu(x @ w + b) - y) ** 2)", wrt=("w", "b"))(
        x=namespace["x"], y=namespace["y"], w=w, b=b)
    np.testing.assert_allclose(w2, w - 0.1 * grads.grad_w)
    np.testing.assert_allclose(b2, b - 0.1 * grads.grad_b)


def test_hybridized_sgd_step_example():
    block = next(b for b in python_blocks() if "def sgd_step" in b)
    namespace = {"sx": sx}
    exec(block, namespace)  # noqa: S102 - our own README
    rng = np.random.default_rng(1)
    x, y, w, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 2)), rng.standard_normal((3, 2)), np.zeros(2)
    w2, b2 = namespace["sgd_step"](w, b, x, y, 0.5)
    g = sx.grad("loss = mean((relu(x @ w + b) - y) ** 2)", wrt=("w", "b"))(x=x, y=y, w=w, b=b)
    np.testing.assert_allclose(w2, w - 0.5 * g.grad_w)
    np.testing.assert_allclose(b2, b - 0.5 * g.grad_b)

"""A training step of the lecture's network: symexpr's `sx.grad` hybridized against the same step in
NumPy with the backward pass written by hand (with OpenBLAS's threads, and held to one thread), and
JAX's `jit` where JAX is installed, in one process on the same data.

    python benchmarks/training.py              # writes benchmarks/results/training.{json,md}
    python benchmarks/training.py --no-write --repeats 20

The network: dense layers of 256 (ReLU), 128 (ReLU) and 10 units, softmax cross-entropy, plain SGD;
inputs of 64 features (the digits data set's 8x8 images), batch 256, float32. One step is the forward
pass, the gradients of all six weights and biases, and the update. Each cell is the median of many
steps after a warm-up (kernels and JIT built before timing). The target is a ratio in this one run:
the hybridized step at least 1.5x faster than the hand-written NumPy step.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import symexpr as sx

BATCH, FEATURES, H1, H2, CLASSES = 256, 64, 256, 128, 10
NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, FEATURES), dtype=np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, BATCH)]
    weights = []
    for n_in, n_out in ((FEATURES, H1), (H1, H2), (H2, CLASSES)):
        weights += [(rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)).astype(np.float32),
                    np.zeros(n_out, np.float32)]
    return weights, x, y, np.float32(0.05)


def numpy_step(w1, b1, w2, b2, w3, b3, x, y, lr):
    """The imperative step: the backward pass derived by hand."""
    z1 = x @ w1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ w2 + b2
    h2 = np.maximum(z2, 0)
    z3 = h2 @ w3 + b3
    e = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    d3 = (p - y) / x.shape[0]
    d2 = (d3 @ w3.T) * (z2 > 0)
    d1 = (d2 @ w2.T) * (z1 > 0)
    return (w1 - lr * (x.T @ d1), b1 - lr * d1.sum(axis=0), w2 - lr * (h1.T @ d2), b2 - lr * d2.sum(axis=0),
            w3 - lr * (h2.T @ d3), b3 - lr * d3.sum(axis=0))


def one_blas_thread(fn):
    """NumPy's step with OpenBLAS held to one thread, as symexpr's OpenCL engine holds it for products
    this small (its threads spin against the kernels' otherwise): the same BLAS work, without threads."""
    from threadpoolctl import threadpool_limits

    def run(*args):
        with threadpool_limits(1, user_api="blas"):
            return fn(*args)
    return run


def loss(w1, b1, w2, b2, w3, b3, x, y):
    h1 = sx.relu(x @ w1 + b1)
    h2 = sx.relu(h1 @ w2 + b2)
    return -sx.mean(sx.sum(y * sx.log_softmax(h2 @ w3 + b3, axis=-1), axis=-1))


def symexpr_step(backend: str):
    @sx.hybridize(active=True, backend=backend)
    def step(w1, b1, w2, b2, w3, b3, x, y, lr):
        grads = sx.grad(loss, argnums=(0, 1, 2, 3, 4, 5))(w1, b1, w2, b2, w3, b3, x, y)
        return tuple(w - lr * g for w, g in zip((w1, b1, w2, b2, w3, b3), grads))
    return step


def jax_step():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def jloss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h1 = jax.nn.relu(x @ w1 + b1)
        h2 = jax.nn.relu(h1 @ w2 + b2)
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(h2 @ w3 + b3, axis=-1), axis=-1))

    @jax.jit
    def step(params, x, y, lr):
        grads = jax.grad(jloss)(params, x, y)
        return tuple(w - lr * g for w, g in zip(params, grads))

    def run(*args):
        *params, x, y, lr = args
        return [np.asarray(a) for a in jax.block_until_ready(step(tuple(params), x, y, lr))]
    return run


def median_ms(fn, args, repeats: int) -> float:
    for _ in range(3):
        fn(*args)  # warm-up: traces, builds, JIT
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    weights, x, y, lr = data()
    call = (*weights, x, y, lr)
    expect = numpy_step(*call)
    peers = {"NumPy (backward by hand)": numpy_step,
             "NumPy (backward by hand), one BLAS thread": one_blas_thread(numpy_step),
             "symexpr auto": symexpr_step("auto"),
             "symexpr OpenCL engine": symexpr_step("opencl"),
             "symexpr NumPy engine": symexpr_step("numpy")}
    jax_run = jax_step()
    if jax_run is not None:
        peers["JAX jit"] = jax_run
    rows, agree = {}, True
    for name, fn in peers.items():
        got = fn(*call)
        ok = all(np.allclose(g, e, rtol=1e-4, atol=1e-6) for g, e in zip(got, expect))
        agree &= ok
        rows[name] = {"ms": median_ms(fn, call, args.repeats), "agrees": ok}
    base = rows["NumPy (backward by hand)"]["ms"]
    step = peers["symexpr OpenCL engine"]
    plan = step.program.explain(**dict(zip(NAMES, weights)), x=x, y=y, lr=lr).split("# kernels (the OpenCL engine)")[1]
    kinds = [line.split("; lines")[0].split(". ", 1)[1] for line in plan.strip().splitlines() if line[:1].isdigit()]
    lines = [f"# Training step: dense 256-128-10, batch {BATCH}, float32", "",
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
             f"{len(sx.devices())} OpenCL device(s): {', '.join(d.name for d in sx.devices())}", "",
             "| step | ms (median) | × NumPy by hand |", "| --- | ---: | ---: |"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['ms']:.2f} | {base / row['ms']:.2f}× |")
    host = sum("on the host" in k for k in kinds)
    lines += ["", f"The OpenCL engine's step: {len(kinds)} steps: {sum('kernel' in k and 'on the host' not in k for k in kinds)} kernels, "
              f"{host} small steps on the host with NumPy, {sum('matrix product' in k for k in kinds)} host BLAS "
              f"products, {sum('view' in k for k in kinds)} views.",
              f"Every peer's update agreed with NumPy's: {agree}."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "training.md").write_text(text + "\n")
        (out / "training.json").write_text(json.dumps({"rows": rows, "steps": kinds, "agree": agree}, indent=2) + "\n")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())

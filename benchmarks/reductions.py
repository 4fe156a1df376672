"""Reductions, matrix products and softmax-style programs: symexpr against NumPy (and numexpr where it
can express the program), side by side in one process on the same data, float32.

    python benchmarks/reductions.py              # writes benchmarks/results/reductions.{json,md}
    python benchmarks/reductions.py --quick --no-write

Each cell is the best of several calls after a warm-up (the kernels are built before timing). The
targets are ratios in this one run: `s = sum(a*b + c)` at 1e7 at least 3x NumPy and at least 70% of
the bandwidth of reading the inputs once (measured as NumPy's own `np.sum` of one input, scaled to
three inputs); the z-score of rows at least 2x NumPy; softmax of rows at least 1.5x; the dense layer
at least NumPy's speed; a 3-layer MLP forward at least 1.2x.
"""
from __future__ import annotations

import platform
import sys
import time
from datetime import datetime, timezone

import numpy as np

import symexpr as sx

from script import run_script  # benchmarks/script.py: the scripts' shared command line

try:
    import numexpr
except ImportError:  # pragma: no cover - an optional column
    numexpr = None


def best(fn, repeats: int) -> float:
    fn()
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def cases(quick: bool):
    rng = np.random.default_rng(0)
    f32 = np.float32
    n = 1_000_000 if quick else 10_000_000
    rows, cols = (512, 1024) if quick else (4096, 1024)
    a, b, c = (rng.random(n, dtype=f32) for _ in range(3))
    x = rng.normal(size=(rows, cols)).astype(f32)
    k = 256 if quick else 1024
    xm, wm, bm = rng.normal(size=(k, k)).astype(f32), rng.normal(size=(k, k)).astype(f32), rng.normal(size=k).astype(f32)
    batch = 256 if quick else 1024
    xin = rng.normal(size=(batch, 784)).astype(f32)
    w1, b1 = (rng.normal(size=(784, 256)) / 28).astype(f32), rng.normal(size=256).astype(f32)
    w2, b2 = (rng.normal(size=(256, 128)) / 16).astype(f32), rng.normal(size=128).astype(f32)
    w3, b3 = (rng.normal(size=(128, 10)) / 11).astype(f32), rng.normal(size=10).astype(f32)

    def np_softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def np_mlp(x, w1, b1, w2, b2, w3, b3):
        h = np.maximum(x @ w1 + b1, 0)
        h = np.maximum(h @ w2 + b2, 0)
        return np_softmax(h @ w3 + b3)

    yield dict(name=f"s = sum(a*b + c), n={n:.0e}", target=3.0,
               src="s = sum(a * b + c)", data=dict(a=a, b=b, c=c),
               numpy=lambda: np.sum(a * b + c), numexpr="sum(a * b + c)", bandwidth=(a, b, c))
    yield dict(name=f"z-score of rows, {rows}x{cols}", target=2.0,
               src="z = (x - mean(x, axis=1, keepdims=True)) / std(x, axis=1, keepdims=True)", data=dict(x=x),
               numpy=lambda: (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True))
    yield dict(name=f"softmax of rows (written out), {rows}x{cols}", target=1.5,
               src="m = max(x, axis=-1, keepdims=True)\ne = exp(x - m)\ny = e / sum(e, axis=-1, keepdims=True)",
               data=dict(x=x), numpy=lambda: np_softmax(x))
    yield dict(name=f"relu(x @ W + b), {k}^3", target=1.0, src="y = relu(x @ W + b)",
               data=dict(x=xm, W=wm, b=bm), numpy=lambda: np.maximum(xm @ wm + bm, 0))
    yield dict(name=f"MLP forward 784-256-128-10, batch {batch}", target=1.2,
               src="h1 = relu(x @ w1 + b1)\nh2 = relu(h1 @ w2 + b2)\np = softmax(h2 @ w3 + b3)",
               data=dict(x=xin, w1=w1, b1=b1, w2=w2, b2=b2, w3=w3, b3=b3),
               numpy=lambda: np_mlp(xin, w1, b1, w2, b2, w3, b3))


def read_kernel(prog, arrays):
    """The memory limit of reading `arrays` once on the program's device: a hand-written kernel that
    reads each float32 array with vector loads (16 work-items, each a contiguous part) and adds
    them plainly, the same launch path as symexpr's kernels (host memory, zero copy)."""
    import pyopencl as cl

    engine = prog._engine
    n = arrays[0].size
    parts = 16
    loads = " + ".join(f"vload8(0, x{k} + r)" for k in range(len(arrays)))
    params = ", ".join(f"__global const float* x{k}" for k in range(len(arrays)))
    src = f"""__kernel void read_all({params}, __global float* out, const long part) {{
        const long p = get_global_id(0); const long r0 = p * part; const long r1 = r0 + part;
        float8 s = (float8)(0);
        for (long r = r0; r + 8 <= r1; r += 8) s += {loads};
        out[p] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7;
    }}"""
    kernel = cl.Program(engine.context, src).build().read_all
    out = np.empty(parts, np.float32)
    flags = cl.mem_flags

    def call():
        bufs = [cl.Buffer(engine.context, flags.READ_ONLY | flags.USE_HOST_PTR, hostbuf=a) for a in arrays]
        obuf = cl.Buffer(engine.context, flags.READ_WRITE | flags.USE_HOST_PTR, hostbuf=out)
        kernel(engine.queue, (parts,), (1,), *bufs, obuf, np.int64(n // parts)).wait()
    return call


def run(quick: bool, repeats: int) -> dict:
    rows = []
    for case in cases(quick):
        data = case["data"]
        prog = sx.compile(case["src"], backend="opencl")
        auto = sx.compile(case["src"])
        auto.warm_up(**data)  # the steady state: under auto, the engine chosen once the kernels are built
        expected = case["numpy"]()
        got = prog(**data)
        agree = bool(np.allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64), rtol=1e-4, atol=1e-5))
        t_np = best(case["numpy"], repeats)
        t_cl = best(lambda: prog(**data), repeats)
        t_auto = best(lambda: auto(**data), repeats)
        row = dict(case=case["name"], numpy_ms=t_np * 1e3, opencl_ms=t_cl * 1e3, auto_ms=t_auto * 1e3,
                   speedup=t_np / t_cl, target=case["target"], agree=agree,
                   kernels=len(prog._engine._staged.last.plan.steps))
        if numexpr is not None and case.get("numexpr"):
            expr = case["numexpr"]
            row["numexpr_ms"] = best(lambda: numexpr.evaluate(expr, local_dict=data), repeats) * 1e3
        if case.get("bandwidth"):
            arrays = case["bandwidth"]
            row["read_ms"] = best(read_kernel(prog, arrays), repeats) * 1e3
            row["bandwidth_fraction"] = row["read_ms"] / row["opencl_ms"]
        rows.append(row)
        print(f"{row['case']:<48} numpy {row['numpy_ms']:8.2f} ms  symexpr {row['opencl_ms']:8.2f} ms  "
              f"{row['speedup']:5.2f}x (target {row['target']}x)  kernels {row['kernels']}"
              + (f"  numexpr {row['numexpr_ms']:.2f} ms" if "numexpr_ms" in row else "")
              + (f"  {row['bandwidth_fraction']:.0%} of read bandwidth" if "bandwidth_fraction" in row else "")
              + ("" if agree else "  RESULTS DIFFER"), flush=True)
    return dict(rows=rows, date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                machine=f"{platform.processor() or platform.machine()}, {platform.node()}",
                devices=[d.name.strip() for d in sx.devices()], numpy=np.__version__, quick=quick)


def markdown(result: dict) -> str:
    lines = [f"# Reductions, matrix products, softmax ({result['date']})", "",
             f"float32, best of several calls, one process; devices: {', '.join(result['devices'])}; "
             f"NumPy {result['numpy']}.", "",
             "| program | NumPy ms | symexpr (opencl) ms | default (auto) ms | speed-up | target | met | kernels |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in result["rows"]:
        extra = (f" ({r['bandwidth_fraction']:.0%} of the bandwidth of reading the inputs once: {r['read_ms']:.2f} ms)"
                 if "bandwidth_fraction" in r else "")
        lines.append(f"| {r['case']}{extra} | {r['numpy_ms']:.2f} | {r['opencl_ms']:.2f} | {r['auto_ms']:.2f} | "
                     f"{r['speedup']:.2f}x | {r['target']}x | {'yes' if r['speedup'] >= r['target'] else '**no**'} | "
                     f"{r['kernels']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return run_script(__doc__, "reductions", run, markdown, argv)


if __name__ == "__main__":
    sys.exit(main())

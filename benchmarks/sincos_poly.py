"""Is a float8 sin/cos polynomial of our own faster than PoCL's, within the ulp bound?

    python benchmarks/sincos_poly.py          # writes benchmarks/results/sincos_poly.md

PoCL 3.0-rc2's float `sin`/`cos` (SLEEF underneath) ran `sin(a) + cos(b)` at 1e7 no faster than
NumPy's own. This times, kernel alone (buffers made once, chunked as symexpr launches), PoCL's
`sin`/`cos` on float8 against the polynomial symexpr's kernels use (`c_math.py`: Cody-Waite range
reduction with pi/2 in four parts, cephes' minimax coefficients on [-pi/4, pi/4]; a vector with a
lane beyond SINCOS_BOUND, NaN or inf takes the built-in), and measures both against NumPy's
float32 `sin`/`cos` in ulps, on uniform samples over several ranges, the floats nearest multiples
of pi/2, large |x|, NaN, inf and -0.0. The polynomial is worth keeping only while it is clearly
faster (>1.3x) and within the 4 ulps the README states for sin and cos.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyopencl as cl

from symexpr.backends.opencl.c_math import SINCOS_BOUND, SINCOS_POLY

HERE = Path(__file__).resolve().parent
BOUND = SINCOS_BOUND  # |x| up to which the polynomial is used: its reduction is exact to 4096 (k < 2^12)

# symexpr's kernels' polynomial itself (c_math.py), and the same choice as its helpers make.
SOURCE = "#pragma OPENCL FP_CONTRACT OFF\n" + SINCOS_POLY.replace("W", "8") + """
#define BOUND %(bound)ff
#define poly_sincos sx_sincos_poly_float8
__kernel void builtin_sin(__global const float *x, __global float *y, long n, long chunk) {
    long i = get_global_id(0) * chunk, end = min(i + chunk, n);
    for (; i + 8 <= end; i += 8) vstore8(sin(vload8(0, x + i)), 0, y + i);
}
__kernel void builtin_cos(__global const float *x, __global float *y, long n, long chunk) {
    long i = get_global_id(0) * chunk, end = min(i + chunk, n);
    for (; i + 8 <= end; i += 8) vstore8(cos(vload8(0, x + i)), 0, y + i);
}
__kernel void poly_sin(__global const float *x, __global float *y, long n, long chunk) {
    long i = get_global_id(0) * chunk, end = min(i + chunk, n);
    for (; i + 8 <= end; i += 8) {
        const float8 v = vload8(0, x + i);
        vstore8(any(!(fabs(v) <= BOUND)) ? sin(v) : poly_sincos(v, 0), 0, y + i);
    }
}
__kernel void poly_cos(__global const float *x, __global float *y, long n, long chunk) {
    long i = get_global_id(0) * chunk, end = min(i + chunk, n);
    for (; i + 8 <= end; i += 8) {
        const float8 v = vload8(0, x + i);
        vstore8(any(!(fabs(v) <= BOUND)) ? cos(v) : poly_sincos(v, 1), 0, y + i);
    }
}
"""


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in float32 ulps (NaN against NaN: 0; NaN against a number: huge)."""
    def ordered(v):
        i = v.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)
    d = np.abs(ordered(got) - ordered(want))
    both_nan = np.isnan(got) & np.isnan(want)
    return np.where(both_nan, 0, d)


def _near_multiples() -> np.ndarray:
    """The floats nearest k*pi/2 for |x| <= BOUND and three on either side: where sin or cos is
    near zero and the reduction's error shows most."""
    k = np.arange(-int(BOUND / (np.pi / 2)), int(BOUND / (np.pi / 2)) + 1)
    x = (k * (np.pi / 2)).astype(np.float32)
    out = [x]
    up, down = x.copy(), x.copy()
    for _ in range(3):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
        out += [up, down]
    got = np.concatenate(out)
    return got[np.abs(got) <= BOUND]


def samples(rng) -> dict:
    n = 1 << 22
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, np.pi / 2, -np.pi, 1e-30, -1e-37, 3e38], np.float32)
    return {
        "|x| < pi/4": rng.uniform(-np.pi / 4, np.pi / 4, n).astype(np.float32),
        "|x| < 10": rng.uniform(-10, 10, n).astype(np.float32),
        "|x| < 1e3": rng.uniform(-1e3, 1e3, n).astype(np.float32),
        f"|x| < {BOUND:g} (the bound)": rng.uniform(-BOUND, BOUND, n).astype(np.float32),
        "|x| up to 1e6 (vectors beyond the bound: built-in)": rng.uniform(-1e6, 1e6, n).astype(np.float32),
        "multiples of pi/2 up to the bound, +-3 floats": _near_multiples(),
        "NaN, inf, -0.0, tiny, huge (vectors with NaN or inf: built-in)": np.tile(special, 8 * 64),
        "-0.0, 0.0 and tiny values only": np.tile(np.array([-0.0, 0.0, 1e-30, -1e-37, 1e-5, -3e-4, 2.0 ** -12,
                                                            -(2.0 ** -12) * 1.5], np.float32), 64),
    }


def main() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = cl.create_some_context(interactive=False)
        prg = cl.Program(ctx, SOURCE % {"bound": BOUND}).build()
    queue = cl.CommandQueue(ctx)
    device = ctx.devices[0]
    units = device.max_compute_units
    mf = cl.mem_flags
    kernels = {name: getattr(prg, name) for name in ("builtin_sin", "builtin_cos", "poly_sin", "poly_cos")}
    for k in kernels.values():
        k.set_scalar_arg_dtypes([None, None, np.int64, np.int64])

    def run(name, x):
        y = np.empty_like(x)
        n = x.size - x.size % 8
        groups = 4 * units
        chunk = -(-(n // 8) // groups) * 8
        xb = cl.Buffer(ctx, mf.READ_ONLY | mf.USE_HOST_PTR, hostbuf=x)
        yb = cl.Buffer(ctx, mf.WRITE_ONLY | mf.USE_HOST_PTR, hostbuf=y)
        kernels[name](queue, (-(-n // chunk),), (1,), xb, yb, n, chunk).wait()
        return y[:n], (xb, yb, n, chunk, -(-n // chunk))

    lines = ["# float8 sin and cos: PoCL's built-in against a polynomial", "",
             f"- device: {device.name.strip()}, {device.platform.version.strip()}; bound |x| <= {BOUND:g}",
             "- ulps against NumPy's float32 `sin`/`cos` (the README's bound for the OpenCL backend: 4)", "",
             "| sample | built-in sin max ulp | poly sin max ulp | built-in cos max ulp | poly cos max ulp |",
             "| --- | ---: | ---: | ---: | ---: |"]
    rng = np.random.default_rng(0)
    worst = 0
    same_path = True
    for label, x in samples(rng).items():
        row = []
        for fn, ref in (("sin", np.sin), ("cos", np.cos)):
            with np.errstate(invalid="ignore"):
                want = ref(x)[: x.size - x.size % 8]
            for impl in ("builtin", "poly"):
                got, _ = run(f"{impl}_{fn}", x)
                u = int(ulps(got, want).max())
                row.append(u)
        # Rows whose vectors fall back to the built-in must match it; the others count for the verdict.
        if "built-in" in label:
            same_path = same_path and row[0] == row[1] and row[2] == row[3]
        else:
            worst = max(worst, row[1], row[3])
        lines.append(f"| {label} | " + " | ".join(str(u) for u in row) + " |")
    x0 = np.array([-0.0] * 8, np.float32)
    neg_zero = bool(np.signbit(run("poly_sin", x0)[0]).all())
    lines += ["", f"sin(-0.0) keeps its sign with the polynomial: {neg_zero}", ""]

    # Speed: kernel alone, 1e7 floats in [-10, 10) (typical arguments), median of 21 launches.
    n = 10_000_000
    x = rng.uniform(-10, 10, n).astype(np.float32)
    times = {name: [] for name in kernels}
    launches = {name: run(name, x)[1] for name in kernels}
    for _ in range(21):  # interleaved, so the machine's noise falls on all alike
        for name, (xb, yb, nn, chunk, groups) in launches.items():
            t0 = time.perf_counter()
            kernels[name](queue, (groups,), (1,), xb, yb, nn, chunk).wait()
            times[name].append(time.perf_counter() - t0)
    times = {name: (float(np.median(ts)), min(ts)) for name, ts in times.items()}
    t_np = []
    for _ in range(7):
        t0 = time.perf_counter()
        np.sin(x)
        t_np.append(time.perf_counter() - t0)
    lines += ["Kernel alone at n = 1e7 float32 in [-10, 10), median (min) of 21 launches:", "",
              "| kernel | ms | over the built-in |", "| --- | ---: | ---: |"]
    for name, (med, lo) in times.items():
        base = times[name.replace("poly", "builtin")][0]
        lines.append(f"| {name} | {med * 1e3:.2f} ({lo * 1e3:.2f}) | {base / med:.2f}× |")
    lines.append(f"| NumPy np.sin, one thread | {np.median(t_np) * 1e3:.2f} ({min(t_np) * 1e3:.2f}) | – |")
    speedup = min(times["builtin_sin"][0] / times["poly_sin"][0], times["builtin_cos"][0] / times["poly_cos"][0])
    verdict = ("use it" if speedup > 1.3 and worst <= 4 and neg_zero and same_path else "leave it")
    lines += ["", f"Worst polynomial ulp over the samples within the bound: {worst}; the samples that fall back "
              f"match the built-in: {same_path}; slower of the two speed-ups: {speedup:.2f}×; "
              f"verdict (>1.3×, <= 4 ulps, -0.0 kept): **{verdict}**.", "",
              "The built-in's huge errors on the special values are PoCL's float vector sin/cos with a lane "
              "beyond about 1e6 (all lanes go wrong); symexpr's kernels compute such vectors in double."]
    text = "\n".join(lines) + "\n"
    print(text)
    if "--no-write" not in sys.argv:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "sincos_poly.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

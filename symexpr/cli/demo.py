"""`symexpr demo`: a small program compiled, shown, run on random data on the default backend and on
the NumPy engine, checked to agree, and timed."""
from __future__ import annotations

import math
import time
import warnings

import numpy as np


DEMO_PROGRAM = """\
# A small physics-flavoured program: five statements, one fused kernel.
r = sqrt(x * x + y * y)
phase = sin(3 * r) * exp(-r)
bump = where(r < 1, 1 - r * r, 0)
scaled = bump * w
energy = phase * phase + scaled
"""


def best_time(fn, repeat: int) -> float:
    fn()  # warm up (builds and caches the kernel)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cmd_demo(args) -> int:
    import symexpr as sx

    n = args.size
    print("symexpr demo: one program, compiled once, run as one fused kernel\n")
    print("# the program")
    print(DEMO_PROGRAM)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prog = sx.compile(DEMO_PROGRAM, backend=args.backend)
    for w in caught:
        print(f"note: {w.message}")
    reference = sx.compile(DEMO_PROGRAM, backend="numpy")
    print(f"# compiled: inputs {', '.join(prog.inputs)} -> outputs {', '.join(prog.outputs)}, "
          f"backend {prog.backend}\n")
    print("# the optimized graph")
    print(prog.graph, "\n")

    rng = np.random.default_rng(42)
    data = {name: (rng.standard_normal(n)).astype(np.float32) for name in prog.inputs}
    print(f"# data: {len(data)} inputs of {n:,} random float32 each\n")
    prog.warm_up(**data)  # under auto: the kernel built (in the background) and the engine chosen
    got = prog.run(data)
    want = reference.run(data)

    src = prog.kernel_source
    if src is not None:
        print("# the generated OpenCL kernel")
        print(src)
    else:
        print("# no OpenCL kernel: the default backend is the NumPy engine here (see `symexpr devices`)\n")

    got_a, want_a = np.asarray(got), np.asarray(want)
    exact = int(np.count_nonzero(got_a == want_a))
    close = bool(got_a.dtype == want_a.dtype and got_a.shape == want_a.shape
                 and np.allclose(got_a, want_a, rtol=1e-5, atol=1e-6, equal_nan=True))
    print("# check against the NumPy engine")
    print(f"dtype {got_a.dtype}, shape {got_a.shape}; bit-identical: {exact:,} of {got_a.size:,}; "
          f"np.allclose: {close}; largest difference {np.max(np.abs(got_a - want_a)):.3g}\n")

    t_prog = best_time(lambda: prog.run(data), args.repeat)
    t_ref = best_time(lambda: reference.run(data), args.repeat)
    print("# time (best of %d)" % args.repeat)
    describe = getattr(prog._engine, "describe", None)
    if describe is not None:
        print(f"(backend auto, for {n:,} elements: {describe(data)})")
    label = f"{args.backend if describe is not None else prog.backend} (default backend)"
    print(f"{label:<28} {t_prog * 1e3:9.3f} ms")
    print(f"{'numpy engine':<28} {t_ref * 1e3:9.3f} ms")
    if prog.backend != "numpy":
        print(f"speed-up: {t_ref / t_prog:.1f}x")
    print("\nagree" if close else "\nDISAGREE")
    return 0 if close else 1

"""float16, complex64 and round: symexpr against NumPy (and numexpr where it has the dtype and the
functions), side by side in one process on the same data.

    python benchmarks/dtypes.py              # writes benchmarks/results/dtypes.{json,md}
    python benchmarks/dtypes.py --quick --no-write

Each cell is the best of several calls after a warm-up (the kernels are built before timing); every
symexpr result is checked against NumPy's. No targets: these columns say what the new dtypes cost
on this device, where its OpenCL C library converts halves and computes fma() in software.
"""
from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone

import numpy as np

import symexpr as sx

from script import run_script  # benchmarks/script.py: the scripts' shared command line
from reductions import best, numexpr


def cases(quick: bool):
    rng = np.random.default_rng(0)
    n = 1_000_000 if quick else 4_000_000
    x, y = (rng.standard_normal(n).astype(np.float16) for _ in range(2))
    z, w = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64) for _ in range(2))
    u = rng.standard_normal(n) * 100
    yield dict(name=f"float16: r = sin(x) * y + 0.5 * x, n={n:.0e}", src="r = sin(x) * y + 0.5 * x",
               data=dict(x=x, y=y), numpy=lambda: np.sin(x) * y + 0.5 * x)
    yield dict(name=f"float16: r = x * y + x, n={n:.0e}", src="r = x * y + x", data=dict(x=x, y=y),
               numpy=lambda: x * y + x)
    yield dict(name=f"complex64: r = z * w + 1j, n={n:.0e}", src="r = z * w + 1j", data=dict(z=z, w=w),
               numpy=lambda: z * w + 1j, numexpr="z * w + 1j")
    yield dict(name=f"complex64: r = z / w - z, n={n:.0e}", src="r = z / w - z", data=dict(z=z, w=w),
               numpy=lambda: z / w - z, numexpr="z / w - z")
    yield dict(name=f"complex64: r = abs(z) + real(w), n={n:.0e}", src="r = abs(z) + real(w)", data=dict(z=z, w=w),
               numpy=lambda: np.abs(z) + w.real, numexpr="abs(z) + real(w)")
    yield dict(name=f"complex64: r = exp(z) * w, n={n:.0e}", src="r = exp(z) * w", data=dict(z=z, w=w),
               numpy=lambda: np.exp(z) * w, numexpr="exp(z) * w")
    yield dict(name=f"complex64: r = z ** 2 + w, n={n:.0e}", src="r = z ** 2 + w", data=dict(z=z, w=w),
               numpy=lambda: np.power(z, 2) + w, numexpr="z ** 2 + w")
    yield dict(name=f"float64: r = round(u, 2) * 3, n={n:.0e}", src="r = round(u, 2) * 3", data=dict(u=u),
               numpy=lambda: np.round(u, 2) * 3)


def agrees(got, want) -> bool:
    """Same dtype; values within a few units of the last place of the dtype (sin), NaN where NumPy's."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype:
        return False
    tol = 4 * np.finfo(got.real.dtype).eps
    return bool(np.allclose(got, want, rtol=tol, atol=tol, equal_nan=True))


def run(quick: bool, repeats: int) -> dict:
    rows = []
    for case in cases(quick):
        data = case["data"]
        prog, auto = sx.compile(case["src"], backend="opencl"), sx.compile(case["src"])
        auto.warm_up(**data)  # the steady state: under auto, the engine chosen once the kernels are built
        with np.errstate(all="ignore"):
            expected = case["numpy"]()
            t_np = best(case["numpy"], repeats)
        row = dict(case=case["name"], numpy_ms=t_np * 1e3, agree=agrees(prog(**data), expected))
        row["opencl_ms"] = best(lambda: prog(**data), repeats) * 1e3
        row["auto_ms"] = best(lambda: auto(**data), repeats) * 1e3
        row["auto_engine"] = auto._engine.engine_for(dict(data)) if hasattr(auto._engine, "engine_for") else ""
        if numexpr is not None and case.get("numexpr"):
            row["numexpr_ms"] = best(lambda: numexpr.evaluate(case["numexpr"], local_dict=data), repeats) * 1e3
        rows.append(row)
        print(f"{row['case']:<48} numpy {row['numpy_ms']:8.2f} ms  symexpr {row['opencl_ms']:8.2f} ms  "
              f"auto {row['auto_ms']:8.2f} ms ({row['auto_engine']})"
              + (f"  numexpr {row['numexpr_ms']:.2f} ms" if "numexpr_ms" in row else "")
              + ("" if row["agree"] else "  RESULTS DIFFER"), flush=True)
    return dict(rows=rows, date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                machine=f"{platform.processor() or platform.machine()}, {platform.node()}",
                devices=[d.name.strip() for d in sx.devices()], numpy=np.__version__, quick=quick)


def markdown(result: dict) -> str:
    lines = [f"# float16, complex64, round ({result['date']})", "",
             f"Best of several calls, one process; devices: {', '.join(result['devices'])}; NumPy {result['numpy']}.",
             "", "| program | NumPy ms | symexpr (opencl) ms | default (auto) ms | auto ran | numexpr ms | opencl vs NumPy |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in result["rows"]:
        ne = f"{r['numexpr_ms']:.2f}" if "numexpr_ms" in r else "-"
        lines.append(f"| {r['case']} | {r['numpy_ms']:.2f} | {r['opencl_ms']:.2f} | {r['auto_ms']:.2f} | "
                     f"{r['auto_engine']} | {ne} | {r['numpy_ms'] / r['opencl_ms']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return run_script(__doc__, "dtypes", run, markdown, argv)


if __name__ == "__main__":
    sys.exit(main())

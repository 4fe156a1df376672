"""The whole run: every cell, out=, overhead, compile and latency rows, the checks and the targets,
as one JSON-ready dict."""
from __future__ import annotations

import datetime as _dt
import time

from .cases import CASES, make_data, numpy_source
from .cells import Bench, Settings, available_memory, memory_needed, run_cell, run_out, run_overhead
from .compile_times import run_compile
from .latency import run_latency
from .machine import machine_info
from .opencl_peers import HAND_WIDTH, OpenCLPeers
from .measure import sx_checks_ok
from .report import fmt_time, fmt_x
from .targets import evaluate_targets


SCHEMA = "symexpr-bench/1"


def run(settings: Settings) -> dict:
    """The whole benchmark; returns the results as a JSON-ready dict."""
    started = time.perf_counter()
    cases = tuple(c for c in CASES if not settings.programs or c.name in settings.programs)
    bench = Bench(settings, cases)
    try:
        bench.opencl = OpenCLPeers()
    except Exception as err:  # noqa: BLE001 - no pyopencl, no platform: the OpenCL peers are skipped
        bench.opencl_error = f"{type(err).__name__}: {err}"
    results = {
        "schema": SCHEMA, "mode": settings.mode,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "opencl": bench.opencl.describe() if bench.opencl else None, "opencl_error": bench.opencl_error,
        "settings": {"sizes": list(settings.sizes), "dtypes": list(settings.dtypes), "repeats": settings.repeats,
                     "repeats_large": settings.repeats_large, "target_seconds_per_repeat": settings.target,
                     "out_size": settings.out_size, "seed": settings.seed, "hand_vector_width": HAND_WIDTH},
        "programs": [{"name": c.name, "source": c.source, "inputs": list(c.inputs), "outputs": list(c.outputs),
                      "kind": c.kind, "exact": c.exact, "fused": c.fused, "hand": c.hand,
                      "numexpr": "per statement" if len(c.statements) > 1 else "one expression",
                      "numpy_source": numpy_source(c)} for c in cases],
        "cells": [], "out_runs": [], "overhead": [],
    }
    results["skipped"] = []
    for dtype in settings.dtypes:
        for n in settings.sizes:
            bench.copy_cache.clear()
            free = available_memory()
            if free is not None and memory_needed(n, dtype) > free:
                note = (f"{dtype} n={n}: needs about {memory_needed(n, dtype) / 1e9:.1f} GB, "
                        f"{free / 1e9:.1f} GB available")
                results["skipped"].append(note)
                bench.log("skipped " + note)
                continue
            data = make_data(n, dtype, settings.seed)
            for case in cases:
                cell = run_cell(bench, case, dtype, n, data)
                results["cells"].append(cell)
                bench.log(f"{dtype} n={n:>9} {case.name:<26} {cell['engine']:<7}"
                          f" sx {fmt_time(cell['times'].get('sx', {}).get('min')):>10}"
                          f" sx CL {fmt_time(cell['times'].get('sx_cl', {}).get('min')):>10}"
                          f"  ×numpy {fmt_x(cell['speedup'].get('numpy'))}"
                          f"  ×numexpr {fmt_x(cell['speedup'].get('numexpr'))}"
                          f"  {'ok' if cell['checks'].get('sx', {}).get('ok') else 'CHECK FAILED'}")
            del data
    out_n = settings.out_size
    by_key = {(c["program"], c["dtype"], c["n"]): c for c in results["cells"]}
    for dtype in settings.dtypes:
        bench.copy_cache.clear()
        data = make_data(out_n, dtype, settings.seed)
        for case in cases:
            if case.kind != "memory":
                continue
            o = run_out(bench, case, dtype, out_n, data, by_key.get((case.name, dtype, out_n)))
            results["out_runs"].append(o)
            bench.log(f"out= {dtype} n={out_n} {case.name:<26} "
                      + (f"{o.get('copy_fraction') or 0:.0%} of copy, sx CL {o.get('copy_fraction_cl') or 0:.0%}"
                         if o.get("supported") else "unsupported"))
        del data
    bench.copy_cache.clear()
    for case in cases:
        if case.name in ("a + b", "a*b + c", CASES[-1].name):
            results["overhead"].append(run_overhead(bench, case))
    bench.log("compile times")
    results["compile"] = run_compile(bench)
    results["latency"] = (run_latency(bench) if settings.latency
                          else {"skipped": "the latency rows run in the full mode only"})
    results["warnings"] = bench.warnings
    results["failed_checks"] = [f"{c['program']} {c['dtype']} n={c['n']}" for c in results["cells"] + results["overhead"]
                                if not sx_checks_ok(c)]
    results["failed_checks"] += [f"{o['program']} {o['dtype']} n={o['n']} out=" for o in results["out_runs"]
                                 if o.get("supported") and not (o["check"]["ok"] and o.get("check_cl", {"ok": True})["ok"])]
    results["all_checks_ok"] = not results["failed_checks"]
    results["targets"] = evaluate_targets(results)
    results["elapsed_seconds"] = time.perf_counter() - started
    return results

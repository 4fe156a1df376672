"""The benchmark's targets, each evaluated from one run's results: met, not met, or not measured."""
from __future__ import annotations

import math

from .cases import CASES
from .measure import copy_fraction
from .report import engine_counts, engine_of, fmt_n, fmt_time


def _geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def _target(tid, text, threshold, value, met, detail="", unit="x", uses=""):
    """One target: `value` in `unit` ("x" a ratio, "%" a fraction, "us", "ms"); met is None if not measured;
    `uses`: the column (the symexpr peer) the value comes from."""
    return {"id": tid, "target": text, "threshold": threshold, "value": value, "unit": unit,
            "met": None if value is None else bool(met), "detail": detail, "uses": uses}


DEFAULT = "symexpr (default backend)"


FORCED = 'sx CL (backend="opencl")'


def evaluate_targets(results: dict) -> list[dict]:
    """The issue's targets, each measured in this run: met, not met, or not measured (None).

    Speed-ups over NumPy and numexpr, small sizes and the per-call overhead are what a user gets: the
    default backend ("auto", which picks an engine per call signature). The hand-kernel and
    copy-bandwidth targets are about the fused kernel: symexpr with backend="opencl" forced. So are the
    compile targets (a kernel build): at n = 1000 the default backend runs the NumPy engine, builds nothing.
    """
    cells = results["cells"]
    fused = {c["name"] for c in results["programs"] if c["fused"]}
    transcendental = {c["name"] for c in results["programs"] if c["kind"] == "transcendental"}
    hand = {c["name"] for c in results["programs"] if c["hand"]}
    big = [c for c in cells if c["n"] >= 1_000_000 and c["program"] in fused]
    targets = []

    def sp(c, peer, key="speedup"):
        # Against numexpr, the faster of its two ways (per statement, one inlined string) counts.
        if peer == "numexpr":
            ways = [c.get(key, {}).get(p) for p in ("numexpr", "numexpr_inline") if c.get(key, {}).get(p)]
            return min(ways) if ways else None
        return c.get(key, {}).get(peer)

    for peer, need in (("numpy", 4.0), ("numexpr", 2.5)):
        per = {dt: _geomean(sp(c, peer) for c in big if c["dtype"] == dt) for dt in results["settings"]["dtypes"]}
        g = _geomean(sp(c, peer) for c in big)
        g_cl = _geomean(sp(c, peer, "speedup_cl") for c in big)
        multi = _geomean(sp(c, peer) for c in big if c["program"] == CASES[-1].name)
        detail = ", ".join(f"{dt} {v:.2f}x" for dt, v in per.items() if v) + (
            f"; 10-statement program alone {multi:.2f}x" if multi else "") + (
            f"; engines that ran: {engine_counts(big)}" if big else "") + (
            f"; sx CL {g_cl:.2f}x" if g_cl else "")
        targets.append(_target(f"fused_vs_{peer}", f"n >= 1e6, multi-op programs: geomean speed-up over {peer}",
                               f">= {need:g}x", g, g is not None and g >= need, detail, uses=DEFAULT))
    ratios = [(c["times"]["sx_cl"]["min"] / c["times"]["hand"]["min"], c) for c in cells
              if c["n"] >= 1_000_000 and c["program"] in hand and "min" in c["times"].get("hand", {})
              and "min" in c["times"].get("sx_cl", {})]
    worst = max(ratios, key=lambda r: r[0]) if ratios else None
    auto_ratios = [c["times"]["sx"]["min"] / c["times"]["hand"]["min"] for _, c in ratios
                   if "min" in c["times"].get("sx", {})]
    targets.append(_target(
        "vs_hand", "n >= 1e6: time over the hand-written vector kernel's (worst)", "<= 1.10x",
        worst[0] if worst else None, worst is not None and worst[0] <= 1.10,
        (f"{worst[1]['program']} {worst[1]['dtype']} n={fmt_n(worst[1]['n'])}; geomean "
         f"{_geomean(r for r, _ in ratios):.2f}x over {', '.join(sorted(hand))}; default backend: worst "
         f"{max(auto_ratios):.2f}x, geomean {_geomean(auto_ratios):.2f}x" if worst else ""), uses=FORCED))
    outs = [o for o in results["out_runs"] if o.get("supported") and o.get("copy_fraction_cl")]
    worst_out = min(outs, key=lambda o: o["copy_fraction_cl"]) if outs else None
    unsupported = [o for o in results["out_runs"] if not o.get("supported")]
    hand_fracs = [copy_fraction(o["times"], "hand_out") for o in outs if "min" in o["times"].get("hand_out", {})]
    auto_fracs = [o["copy_fraction"] for o in outs if o.get("copy_fraction")]
    variants = sorted({o["times"].get("copy_cl", {}).get("variant") for o in outs} - {None})
    targets.append(_target(
        "out_bandwidth", f"memory-bound at n={fmt_n(results['settings']['out_size'])} with out=: "
        "fraction of the copy kernel's bandwidth (worst)", ">= 80%",
        worst_out["copy_fraction_cl"] if worst_out else None,
        worst_out is not None and worst_out["copy_fraction_cl"] >= 0.8,
        (f"{worst_out['program']} {worst_out['dtype']}; geomean "
         f"{_geomean(o['copy_fraction_cl'] for o in outs):.0%}"
         + (f"; default backend worst {min(auto_fracs):.0%} (engines: {engine_counts(outs)})" if auto_fracs else "")
         + (f"; the hand-written kernels reach {_geomean(hand_fracs):.0%} (geomean)" if hand_fracs else "")
         + (f"; copy reference: {'/'.join(variants)} stores" if variants else "")
         if worst_out else ("out= unsupported" if unsupported else "")), unit="%", uses=FORCED + " out="))
    top = max((c["n"] for c in cells), default=0)
    tr = [(sp(c, "numpy"), c) for c in cells if c["program"] in transcendental and c["n"] == 10_000_000
          and sp(c, "numpy")]
    worst_tr = min(tr, key=lambda r: r[0]) if tr else None
    tr_cl = [sp(c, "numpy", "speedup_cl") for _, c in tr if sp(c, "numpy", "speedup_cl")]
    targets.append(_target(
        "transcendental", "n = 1e7 transcendental programs: speed-up over NumPy (worst)", ">= 1x",
        worst_tr[0] if worst_tr else None, worst_tr is not None and worst_tr[0] >= 1.0,
        (f"{worst_tr[1]['program']} {worst_tr[1]['dtype']} (engine {engine_of(worst_tr[1])}); engines that "
         f"ran: {engine_counts(c for _, c in tr)}" + (f"; sx CL worst {min(tr_cl):.3g}x" if tr_cl else "")
         if worst_tr else f"largest n measured: {top}"), uses=DEFAULT))
    small = [c for c in cells if c["n"] <= 10_000] + results.get("overhead", [])
    ne_small = [(sp(c, "numexpr"), c) for c in small if sp(c, "numexpr")]
    w = min(ne_small, key=lambda r: r[0]) if ne_small else None
    targets.append(_target("small_vs_numexpr", "n <= 1e4: speed-up over numexpr (worst)", ">= 1x",
                           w[0] if w else None, w is not None and w[0] >= 1.0,
                           f"{w[1]['program']} {w[1]['dtype']} n={fmt_n(w[1]['n'])} (engine {engine_of(w[1])}); "
                           f"engines that ran: {engine_counts(small)}" if w else "", uses=DEFAULT))
    np_small = [(1 / sp(c, "numpy"), c) for c in small if sp(c, "numpy")]
    w = max(np_small, key=lambda r: r[0]) if np_small else None
    targets.append(_target("small_vs_numpy", "n <= 1e4: time over NumPy's (worst)", "<= 2x",
                           w[0] if w else None, w is not None and w[0] <= 2.0,
                           f"{w[1]['program']} {w[1]['dtype']} n={fmt_n(w[1]['n'])} (engine {engine_of(w[1])})"
                           if w else "", uses=DEFAULT))
    fma = [c for c in results.get("overhead", []) if c["program"] == "a*b + c"]
    t16 = fma[0]["times"].get("sx", {}).get("min") if fma else None
    t16_cl = fma[0]["times"].get("sx_cl", {}).get("min") if fma else None
    targets.append(_target("overhead", "fixed per-call overhead (a*b + c, n = 16, float32)", "< 5 us",
                           t16 * 1e6 if t16 else None, t16 is not None and t16 < 5e-6,
                           (f"engine {engine_of(fma[0])}" + (f"; sx CL {t16_cl * 1e6:.1f} µs" if t16_cl else "")
                            if fma else ""), unit="us", uses=DEFAULT))
    comp = results.get("compile") or {}
    forced, auto = comp.get("opencl") or {}, comp.get("auto") or {}
    first = forced.get("new_program_total", {}).get("median")
    auto_first = auto.get("new_program_total", {}).get("median")
    auto_engine = (auto.get("in_process") or [{}])[0].get("engine")
    targets.append(_target(
        "compile_new", "compile + first call of a new program (median)", "< 200 ms",
        first * 1e3 if first is not None else None, first is not None and first < 0.2,
        (f"10-statement program, n=1000 float32: kernel build "
         f"{forced['first_call']['median'] * 1e3:.0f} ms" if first is not None else "")
        + (f"; default backend (engine {auto_engine}, no kernel built): {auto_first * 1e3:.1f} ms"
           if auto_first is not None else ""), unit="ms", uses=FORCED))
    procs = forced.get("processes") or []
    warm = procs[1].get("compile_and_first_call") if len(procs) > 1 else None
    aprocs = auto.get("processes") or []
    awarm = aprocs[1].get("compile_and_first_call") if len(aprocs) > 1 else None
    targets.append(_target(
        "compile_cached", "compile + first call in a new process, disk cache warm", "< 20 ms",
        warm * 1e3 if warm is not None else None, warm is not None and warm < 0.02,
        (f"compile {procs[1]['compile'] * 1e3:.1f} ms + first call {procs[1]['first_call'] * 1e3:.1f} ms; "
         f"cold process {procs[0]['compile_and_first_call'] * 1e3:.0f} ms; a further new program compiles in "
         f"{procs[1]['compile_another'] * 1e3:.1f} ms" if warm is not None and "compile_and_first_call" in procs[0]
         else "") + (f"; default backend: {awarm * 1e3:.1f} ms" if awarm is not None else ""),
        unit="ms", uses=FORCED))
    return targets + latency_targets(results.get("latency") or {})


def latency_targets(latency: dict) -> list[dict]:
    """The latency targets: a new shape, a new program's first call at 1e6, a cold process."""
    loop = latency.get("shape_loop") or {}
    extra = loop.get("extra_median")
    first = latency.get("first_call") or {}
    over = first.get("over_numpy")
    cold = latency.get("cold_process") or {}
    sx_cold, ratio = cold.get("symexpr") or {}, cold.get("work_ratio")
    work = sx_cold.get("work")
    return [
        _target("new_shape", "a new shape of a known dtype under auto: extra time of its first call (median)",
                "< 1 ms", extra * 1e3 if extra is not None else None, extra is not None and extra < 1e-3,
                (f"{len(loop['sizes'])} batch sizes {fmt_n(min(loop['sizes']))}..{fmt_n(max(loop['sizes']))}, "
                 f"after the first two; decided by the cost model {loop['predicted']} (median extra "
                 f"{fmt_time(loop.get('extra_median_predicted'))}), timed {loop['measured']} "
                 f"({fmt_time(loop.get('extra_median_measured'))}); "
                 f"first two sizes {', '.join(f'{x * 1e3:.0f}' for x in loop['extra_first_two'])} ms"
                 if extra is not None else loop.get("error", "")), unit="ms", uses=DEFAULT),
        _target("first_call_auto", "compile + first call of a new program under auto at "
                f"n = {fmt_n(first.get('n', 10**6))}, over the NumPy engine's call", "<= 5 ms",
                over * 1e3 if over is not None else None,
                over is not None and over <= 5e-3,
                (f"{first['total'] * 1e3:.0f} ms against {first['numpy_engine_call'] * 1e3:.1f} ms "
                 f"({first['ratio']:.3g}x); engine {first['tries'][0]['engine']}"
                 if over is not None else first.get("error", "")), unit="ms", uses=DEFAULT),
        _target("cold_process", "a new process: import, compile, a small call: time over numexpr's "
                "(import, evaluate)", "<= 1.5x", ratio, ratio is not None and ratio <= 1.5,
                (f"symexpr {work * 1e3:.0f} ms, numexpr {cold['numexpr']['work'] * 1e3:.0f} ms "
                 "after NumPy's import; "
                 f"whole process {cold['wall_ratio']:.2f}x; pyopencl "
                 f"{'imported' if sx_cold['pyopencl_imported'] else 'not imported'}"
                 if ratio is not None else cold.get("error", "")), uses=DEFAULT),
        _target("cold_process_ms", "a new process: time in symexpr (import, compile, a small call)", "< 20 ms",
                work * 1e3 if work is not None else None, work is not None and work < 0.02,
                (f"{cold['expression']}, n = {cold['n']}: import "
                 + ", compile ".join(f"{sx_cold[k] * 1e3:.1f} ms" for k in ("import", "compile"))
                 + f", call {sx_cold['call'] * 1e3:.1f} ms" if work is not None and "call" in sx_cold else ""),
                unit="ms", uses=DEFAULT),
    ]

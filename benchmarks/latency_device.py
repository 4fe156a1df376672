"""Small calls on PoCL's single-threaded `basic` device, against NumPy, numexpr and symexpr's NumPy engine.

    python benchmarks/latency_device.py                  # writes benchmarks/results/latency_device.{md,json}
    python benchmarks/latency_device.py --repeats 201    # more repeats on a busy machine

PoCL offers two CPU devices: `pthread` (the default, every core, a launch of some tens of
microseconds) and `basic` (one thread, launched in the calling thread). A device list is fixed
when the OpenCL platform is first queried, so this script sets `POCL_DEVICES="pthread basic"`
before anything imports pyopencl (it is the only place that does; symexpr never sets it).

In one process, on the same data, for each case below it times per call:

    numpy        NumPy written naturally: the program's statements, one after another
    numexpr      numexpr: one `evaluate` per statement (the 20-term expression is one string)
    sx numpy     sx.compile(src, backend="numpy"): symexpr's NumPy engine
    sx basic     sx.compile(src, backend="opencl", device=<the basic device>)
    sx pthread   sx.compile(src, backend="opencl", device=<the pthread device>)

Every symexpr call goes through `prog(a=..., ...)`, the path a repeated call takes (after warm-up
the signature is known, so each call is the fast path). Peers are interleaved round-robin: each
repeat times a batch of calls of every peer in turn, so the machine's noise falls on all alike;
the figure is the median over repeats of the time per call (the minimum is in the JSON). Every
result is checked against NumPy's before timing. Then one call on the basic device is cut into
its pieces (perf_counter around each) and profiled with cProfile.
"""
from __future__ import annotations

import os

# Before pyopencl is imported anywhere: the device list is read once per process.
os.environ["POCL_DEVICES"] = "pthread basic"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import symexpr as sx  # noqa: E402
from symexpr.bench.cases import LONG_EXPRESSION, MULTI_STATEMENT, Case, make_data, numexpr_function, numpy_function  # noqa: E402
from symexpr.bench.machine import machine_info  # noqa: E402

HERE = Path(__file__).resolve().parent

CASES = (  # (row label, case, n, dtype)
    ("10 statements, n = 16, float32", Case("10 statements (2 outputs)", MULTI_STATEMENT), 16, "float32"),
    ("10 statements, n = 16, float64", Case("10 statements (2 outputs)", MULTI_STATEMENT), 16, "float64"),
    ("20-term expression, n = 10, float64", Case("long (20 terms)", LONG_EXPRESSION), 10, "float64"),
    ("20-term expression, n = 10, float32", Case("long (20 terms)", LONG_EXPRESSION), 10, "float32"),
)
PEERS = ("numpy", "numexpr", "sx numpy", "sx auto", "sx basic", "sx pthread")


def pocl_devices() -> dict:
    """{"basic": Device, "pthread": Device} of the PoCL platform (either may be missing)."""
    import pyopencl as cl
    found = {}
    for platform in cl.get_platforms():
        for device in platform.get_devices():
            kind = device.name.split("-", 1)[0].strip()
            if kind in ("basic", "pthread") and kind not in found:
                found[kind] = device
    return found


def peers_for(case: Case, dtype: str, data: dict, devices: dict) -> dict:
    """{peer: a function of no arguments making one call}, the symexpr programs compiled and warmed."""
    fn = numpy_function(case)
    ne = numexpr_function(case, dtype)
    peers = {"numpy": lambda: fn(**data)}
    if ne is not None:
        peers["numexpr"] = lambda: ne(data)
    programs = {"sx numpy": sx.compile(case.source, backend="numpy"), "sx auto": sx.compile(case.source)}
    programs["sx auto"].warm_up(**data)  # the default backend, its kernels built and its engine chosen
    for kind in ("basic", "pthread"):
        if kind in devices:
            programs[f"sx {kind}"] = sx.compile(case.source, backend="opencl", device=devices[kind])
    for name, prog in programs.items():
        peers[name] = (lambda p: lambda: p(**data))(prog)
    return peers, programs


def check(peers: dict, case: Case, dtype: str) -> dict:
    """Each peer's results against NumPy's: {peer: "ok" or what differed}."""
    want = peers["numpy"]()
    tol = 1e-5 if dtype == "float32" else 1e-12
    verdict = {}
    for name, call in peers.items():
        got = call()
        got = got if isinstance(got, tuple) else tuple(got) if len(case.outputs) > 1 else (got,)
        ok = all(np.asarray(g).dtype == w.dtype and np.allclose(g, w, rtol=tol, atol=tol) for g, w in zip(got, want))
        verdict[name] = "ok" if ok else "DIFFERS"
    return verdict


def time_peers(peers: dict, repeats: int, calls: int) -> dict:
    """{peer: [seconds per call, one per repeat]}: round-robin, `calls` calls per peer per repeat."""
    for call in peers.values():  # warm-up: the kernels are built, the fast paths recorded
        for _ in range(20):
            call()
    times = {name: [] for name in peers}
    for _ in range(repeats):
        for name, call in peers.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                call()
            times[name].append((time.perf_counter() - t0) / calls)
    return times


def pieces_of_a_call(prog, data: dict, calls: int = 2000) -> dict:
    """The median µs of each piece of a fast-path call on the OpenCL engine, timed around the
    pyopencl calls `_replay` makes (the same calls, made here one by one)."""
    import pyopencl as cl
    from symexpr.backends import pool
    from symexpr.backends.opencl.memory import _scalar_of
    from symexpr.backends.opencl.replay import _IN_FLAGS, _OUT_FLAGS
    engine = prog._engine
    args = tuple(data[n] for n in engine.graph.input_names)
    launch = engine._launches.get(tuple((a.dtype, a.shape) for a in args))
    if launch is None:
        return {}
    names = ("results", "buffers", "arguments", "set_args", "enqueue", "wait", "release")
    pieces = {k: [] for k in names}
    for _ in range(calls):
        t = [time.perf_counter()]
        results = [pool.empty(shape, dt) for shape, dt in launch.outputs]
        t.append(time.perf_counter())
        bufs = {("in", k): cl.Buffer(engine.context, _IN_FLAGS, hostbuf=args[k]) for k in launch.buffered}
        for k, r in enumerate(results):
            bufs[("out", k)] = cl.Buffer(engine.context, _OUT_FLAGS, hostbuf=r)
        t.append(time.perf_counter())
        argv = [(bufs[a] if len(a) == 2 else _scalar_of(args[a[1]], a[2])) if type(a) is tuple else a
                for a in launch.argv]
        t.append(time.perf_counter())
        launch.spec.kernel.set_args(*argv)
        t.append(time.perf_counter())
        event = cl.enqueue_nd_range_kernel(engine.queue, launch.spec.kernel, launch.global_size, launch.local_size)
        t.append(time.perf_counter())
        event.wait()
        t.append(time.perf_counter())
        del bufs, argv, event
        t.append(time.perf_counter())
        for k, name in enumerate(names):
            pieces[name].append(t[k + 1] - t[k])
    got = {k: statistics.median(v) * 1e6 for k, v in pieces.items()}
    whole = []
    for _ in range(calls):
        t0 = time.perf_counter()
        prog(**data)
        whole.append(time.perf_counter() - t0)
    got["whole call (prog(...))"] = statistics.median(whole) * 1e6
    return got


def profile_call(prog, data: dict, calls: int = 2000) -> str:
    """cProfile of `calls` calls, the top entries by own time (pyopencl's C calls count in the caller's)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        prog(**data)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(8)
    text = out.getvalue()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    start = next((k for k, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(ln.replace(str(Path(sx.__file__).parent.parent) + "/", "") for ln in lines[start:])


def fmt(us: float) -> str:
    return f"{us:.1f}"


def render(results: dict) -> str:
    m = results["machine"]
    lines = ["# Small calls on a low-latency OpenCL device", "",
             f"- date: {results['date']}; commit {m.get('git_commit', '?')}"
             f"{' (with uncommitted changes)' if m.get('uncommitted') else ''}; load average at the start "
             f"{results['load_before']}, at the end {results['load_after']}",
             f"- machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores; "
             + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
             + f"; numexpr threads {m.get('numexpr_threads', '?')}",
             f"- devices: {', '.join(results['devices'])} (`POCL_DEVICES=\"pthread basic\"`)",
             f"- per call, median over {results['repeats']} repeats of {results['calls']} calls each, peers "
             "interleaved round-robin; every result checked against NumPy's", "",
             "µs per call (median; the minimum over repeats in brackets). `×` columns: the peer's time over "
             "`sx basic`'s (above 1: the basic device is faster).", "",
             "| case | " + " | ".join(PEERS) + " | ×numpy | ×numexpr | ×sx numpy | ×sx pthread | checks |",
             "| --- | " + " | ".join("---:" for _ in PEERS) + " | ---: | ---: | ---: | ---: | --- |"]
    for row in results["rows"]:
        med, lo = row["median_us"], row["min_us"]
        cells = [f"{fmt(med[p])} ({fmt(lo[p])})" if p in med else "–" for p in PEERS]
        base = med.get("sx basic")
        ratios = [f"{med[p] / base:.2f}×" if base and p in med else "–" for p in ("numpy", "numexpr", "sx numpy", "sx pthread")]
        ok = "all ok" if all(v == "ok" for v in row["checks"].values()) else \
            ", ".join(f"{k}: {v}" for k, v in row["checks"].items() if v != "ok")
        lines.append(f"| {row['case']} | " + " | ".join(cells) + " | " + " | ".join(ratios) + f" | {ok} |")
    lines += ["", "Targets of the issue, from these figures (the basic device's calls):", ""]
    for row in results["rows"]:
        med = row["median_us"]
        if "sx basic" not in med:
            continue
        if "sx auto" in med:
            lines.append(f"- {row['case']}: the default backend (`auto`, which ran it on "
                         f"{row.get('auto_engine', '?')}) {fmt(med['sx auto'])} µs")
        if row["case"].startswith("10 statements"):
            lines.append(f"- {row['case']}: sx basic {fmt(med['sx basic'])} µs against NumPy {fmt(med['numpy'])} µs: "
                         f"{med['sx basic'] - med['numpy']:+.1f} µs (target: within NumPy + 5 µs; "
                         f"{'met' if med['sx basic'] <= med['numpy'] + 5 else 'not met'}); the NumPy engine "
                         f"{med['sx numpy'] - med['numpy']:+.1f} µs")
        elif "numexpr" in med:
            lines.append(f"- {row['case']}: sx basic {fmt(med['sx basic'])} µs against numexpr {fmt(med['numexpr'])} µs: "
                         f"{med['numexpr'] / med['sx basic']:.2f}× (target: at least 1×; "
                         f"{'met' if med['sx basic'] <= med['numexpr'] else 'not met'}); the NumPy engine "
                         f"{med['numexpr'] / med['sx numpy']:.2f}×")
    for label, pieces in results["pieces"].items():
        lines += ["", f"## One call on the basic device, in pieces: {label}", "",
                  "Median µs of each piece of the fast path (`replay.py`), timed one by one (every buffer made afresh here; a replay reuses a small input's buffer when the same array object comes again):", "",
                  "| piece | µs |", "| --- | ---: |"]
        lines += [f"| {k} | {fmt(v)} |" for k, v in pieces.items()]
    for label, text in results["profiles"].items():
        lines += ["", f"## cProfile of 2000 calls on the basic device: {label}", "", "```", text, "```"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=101, help="timed repeats per peer (median reported)")
    p.add_argument("--calls", type=int, default=200, help="calls per repeat")
    p.add_argument("--out", default=str(HERE / "results"), help="directory of latency_device.{md,json}")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    import datetime
    devices = pocl_devices()
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine_info(), "load_before": f"{os.getloadavg()[0]:.2f}",
               "devices": [d.name.strip() for d in devices.values()], "repeats": args.repeats,
               "calls": args.calls, "rows": [], "pieces": {}, "profiles": {}}
    for label, case, n, dtype in CASES:
        data = make_data(n, dtype, 0)
        peers, programs = peers_for(case, dtype, data, devices)
        checks = check(peers, case, dtype)
        times = time_peers(peers, args.repeats, args.calls)
        row = {"case": label, "n": n, "dtype": dtype, "checks": checks,
               "median_us": {k: statistics.median(v) * 1e6 for k, v in times.items()},
               "min_us": {k: min(v) * 1e6 for k, v in times.items()},
               "auto_engine": programs["sx auto"]._engine.engine_for(dict(data))
               if hasattr(programs["sx auto"]._engine, "engine_for") else programs["sx auto"].backend}
        results["rows"].append(row)
        print(label, {k: round(v, 1) for k, v in row["median_us"].items()}, checks, file=sys.stderr)
        if "sx basic" in programs and dtype == "float32":
            results["pieces"][label] = pieces_of_a_call(programs["sx basic"], data)
            results["profiles"][label] = profile_call(programs["sx basic"], data)
    results["load_after"] = f"{os.getloadavg()[0]:.2f}"
    text = render(results)
    print(text)
    if not args.no_write:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "latency_device.md").write_text(text)
        (out / "latency_device.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0 if all(v == "ok" for row in results["rows"] for v in row["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

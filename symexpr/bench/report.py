"""Writing the results: the markdown tables, the summary that benchmarks/README.md shows, the JSON."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .cells import OVERHEAD_N
from .measure import copy_fraction, sx_checks_ok
from .opencl_peers import GEOMETRY_CHUNKS_PER_UNIT, GEOMETRY_SMALL


PEERS = ("sx", "sx_cl", "sx_numpy", "numpy", "numexpr", "numexpr_inline", "hand", "copy_cl", "copyto")


PEER_TITLES = {"sx": "symexpr", "sx_cl": "sx CL", "sx_numpy": "sx NumPy eng.", "numpy": "NumPy",
               "numexpr": "numexpr", "numexpr_inline": "numexpr 1-expr", "hand": "hand CL", "copy_cl": "copy CL",
               "copyto": "np.copyto", "sx_out": "symexpr out=", "sx_cl_out": "sx CL out="}


def fmt_value(value, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "ms":
        return f"{value:.0f} ms" if abs(value) >= 10 else f"{value:.2f} ms"
    return {"x": f"{value:.3g}×", "%": f"{value:.0%}", "us": f"{value:.1f} µs"}[unit]


def engine_counts(cells) -> str:
    """"opencl 12, numpy 3": how many of these cells each engine ran under the default backend."""
    counts: dict[str, int] = {}
    for c in cells:
        e = c.get("engine", c.get("backend", "?"))
        counts[e] = counts.get(e, 0) + 1
    return ", ".join(f"{e} {k}" for e, k in sorted(counts.items(), key=lambda x: -x[1]))


def engine_of(c) -> str:
    return c.get("engine", c.get("backend", "?"))


def fmt_time(s) -> str:
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt_peer(times: dict, peer: str) -> str:
    s = times.get(peer)
    if not s:
        return "–"
    if "error" in s:
        return "error"
    return f"{fmt_time(s['min'])} ({fmt_time(s['median'])})"


def fmt_x(x) -> str:
    if x is None:
        return "–"
    return f"{x:.2g}×" if x < 0.1 else f"{x:.2f}×"


def fmt_n(n: int) -> str:
    """10 -> 1e1, 50_000_000 -> 5e7, 16 -> 16."""
    exp = int(math.floor(math.log10(n))) if n > 0 else 0
    mantissa = n / 10**exp
    return f"{mantissa:g}e{exp}" if n >= 10 and mantissa == int(mantissa) else str(n)


def _header(results: dict) -> list[str]:
    """Where and when the figures come from: date, machine, versions, OpenCL, the engines that ran."""
    m, ocl = results["machine"], results.get("opencl") or {}
    dirty = m.get("uncommitted") or []
    return [f"- date: {results['date']}; commit {m.get('git_commit') or '?'}"
            + (f" plus uncommitted changes to {', '.join(dirty)}" if dirty else "")
            + f"; took {results['elapsed_seconds']:.0f} s",
             f"- machine: {m['cpu']}, {m['cores']} cores; {m['platform']}"
            + ("; environment: " + ", ".join(f"{k}={v}" for k, v in m["env"].items()) if m.get("env") else ""),
             "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
             f"- OpenCL: {ocl.get('platform', 'none')} {ocl.get('platform_version', '')}; device "
             f"{ocl.get('device', results.get('opencl_error') or 'none')}",
             f"- symexpr's default backend (`auto`) ran, over the cells: **{engine_counts(results['cells'])}** "
             f"(backend `{', '.join(sorted({c['backend'] for c in results['cells']}))}`)",
             f"- numexpr threads: {m.get('numexpr_threads')}; NumPy single-threaded, SIMD "
             f"{', '.join(m.get('numpy_simd') or ['?'])}",
             "- every symexpr result (default backend and backend=\"opencl\") checked against NumPy: "
             + ("**all agree**" if results["all_checks_ok"] else "**MISMATCHES, see JSON `checks`**"),
             ""]


def _targets_table(results: dict) -> list[str]:
    lines = ["| target | threshold | measured | status | column | where |",
             "| --- | --- | --- | --- | --- | --- |"]
    for t in results["targets"]:
        v = t["value"]
        status = "not measured" if t["met"] is None else ("**met**" if t["met"] else "**not met**")
        val = fmt_value(v, t.get("unit", "x"))
        lines.append(f"| {t['target']} | {t['threshold']} | {val} | {status} | {t.get('uses', '')} | {t['detail']} |")
    return lines + [""]


def render_summary(results: dict) -> str:
    """The header and the targets' table: what benchmarks/README.md shows."""
    return "\n".join([f"The {results['mode']} run's summary (every table: `results/{results['mode']}.md`):", ""]
                     + _header(results) + _targets_table(results))


def _frac(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def _check_text(cell: dict) -> str:
    chk = cell["checks"].get("sx", {})
    return ("ok" if sx_checks_ok(cell) else "**FAIL**") + f" ({chk.get('mode', '?')})"


def latency_tables(latency: dict) -> list[str]:
    """The latency rows: a loop over changing shapes, a new program's first call at 1e6, a cold process."""
    if not latency:
        return []
    lines = ["## Latency", ""]
    if latency.get("skipped"):
        return lines + [latency["skipped"] + ".", ""]
    loop = latency.get("shape_loop") or {}
    if "error" in loop:
        lines += [f"Loop over changing shapes: error: {loop['error']}", ""]
    elif loop:
        first_two = ", ".join(fmt_time(x) for x in loop["extra_first_two"])
        lines += [f"A loop over changing shapes: the {loop['program']} program (new, nothing cached), "
                  f"backend `{loop['backend']}`, {loop['dtype']}, {len(loop['sizes'])} batch sizes from "
                  f"{fmt_n(min(loop['sizes']))} to {fmt_n(max(loop['sizes']))} in a shuffled order, each called "
                  "twice (two epochs). `extra`: a new shape's first call minus the same shape's call in the "
                  "second epoch.", "",
                  "| what | measured |", "| --- | ---: |",
                  f"| extra of a new shape, median after the first two sizes | {fmt_time(loop['extra_median'])} |",
                  f"| extra of the first two sizes (the kernel is built, both engines timed) | {first_two} |",
                  f"| extra of a new shape, median over all | {fmt_time(loop['extra_median_all'])} |",
                  "| extra of a new shape the cost model decided / that was timed on both engines (medians, "
                  f"after the first two) | {fmt_time(loop.get('extra_median_predicted'))} / "
                  f"{fmt_time(loop.get('extra_median_measured'))} |",
                  f"| a known shape's call, median | {fmt_time(loop['known_median'])} |",
                  f"| new shapes decided by the cost model / measured | {loop['predicted']} / {loop['measured']} |",
                  "| engines chosen | " + ", ".join(f"{e} {k}" for e, k in loop["engines"].items()) + " |", ""]
    first = latency.get("first_call") or {}
    if "error" in first:
        lines += [f"First call of a new program: error: {first['error']}", ""]
    elif first:
        engines = sorted({t["engine"] for t in first["tries"]})
        lines += [f"A new program's compile + first call under `auto` ({first['program']}, {first['dtype']}, "
                  f"n = {fmt_n(first['n'])}; median of {len(first['tries'])}), against the NumPy engine's own "
                  "call (backend=\"numpy\", warm):", "",
                  "| compile + first call | second call | NumPy engine's call | over NumPy's | ratio | engine |",
                  "| ---: | ---: | ---: | ---: | ---: | --- |",
                  f"| {fmt_time(first['total'])} | {fmt_time(first['second_call'])} | "
                  f"{fmt_time(first['numpy_engine_call'])} | {fmt_time(first['over_numpy'])} | "
                  f"{fmt_x(first['ratio'])} | {', '.join(engines)} |", ""]
    cold = latency.get("cold_process") or {}
    if "error" in cold:
        lines += [f"Cold process: error: {cold['error']}", ""]
    elif cold:
        lines += [f"A cold process: `import symexpr`, compile `r = {cold['expression']}`, one call at n = "
                  f"{cold['n']} ({cold['dtype']}), against `import numexpr` and one `evaluate` of the same; "
                  "median of fresh processes. `wall`: the whole process seen from outside (Python and NumPy's "
                  "import included); `work`: inside it, after NumPy's import.", "",
                  "| peer | wall | work | of which import, compile, call | pyopencl imported |",
                  "| --- | ---: | ---: | --- | --- |"]
        for peer in ("symexpr", "numexpr"):
            r = cold.get(peer) or {}
            parts = ", ".join(fmt_time(r[k]) for k in ("import", "compile", "call") if k in r) or "–"
            lines.append(f"| {peer} | error: {r['error']} | | | |" if "error" in r else
                         f"| {peer} | {fmt_time(r['wall'])} | {fmt_time(r['work'])} | {parts} | "
                         f"{'yes' if r['pyopencl_imported'] else 'no'} |")
        if "wall_ratio" in cold:
            lines.append(f"| symexpr / numexpr | {fmt_x(cold['wall_ratio'])} | {fmt_x(cold['work_ratio'])} | | |")
        lines.append("")
    return lines


def render_markdown(results: dict) -> str:
    """The results as markdown: a table per dtype, out=, overhead, compile times, and the targets."""
    lines = [f"# symexpr benchmark ({results['mode']} run)", ""] + _header(results)
    if results.get("skipped"):
        lines += ["Skipped for want of memory: " + "; ".join(results["skipped"]), ""]
    if results.get("warnings"):
        lines += ["Warnings while compiling: " + "; ".join(f"`{w}`" for w in results["warnings"]), ""]
    lines += ["Times are `min (median)` seconds per call. `symexpr` is the default backend (`auto`: the NumPy "
              "engine up to 4096 elements, above that whichever engine was faster at the signature's first call); "
              "`engine` says which one ran. `sx CL` is backend=\"opencl\" forced: the fused kernel. `×peer` is the "
              "peer's time over symexpr's (above 1: symexpr is faster); `sx CL ×hand` is the hand kernel's time "
              "over sx CL's. GB/s counts the bytes of inputs and outputs over symexpr's time; `%copy` is "
              "that bandwidth as a fraction of the OpenCL copy kernel's moving the same bytes (`CL %copy`: sx CL's). "
              "`copy CL` is the faster of a plain and a non-temporal-store copy kernel (the JSON's `variant`).", ""]
    lines += ["## Summary of the targets", "",
              "`column` is the symexpr figure a target uses: the default backend for what a user gets (speed-ups, "
              "small sizes, overhead), backend=\"opencl\" for the targets about the fused kernel (hand kernel, copy "
              "bandwidth, kernel build).", ""] + _targets_table(results)
    peers = [p for p in PEERS if any(p in c["times"] for c in results["cells"])]
    ratio_peers = [p for p in ("numpy", "numexpr", "numexpr_inline") if p in peers]
    has_cl = "sx_cl" in peers
    for dtype in results["settings"]["dtypes"]:
        cells = [c for c in results["cells"] if c["dtype"] == dtype]
        if not cells:
            continue
        extra = ["sx CL ×hand"] if has_cl and "hand" in peers else []
        fracs = ["%copy"] + (["CL %copy"] if has_cl else [])
        heads = ([PEER_TITLES[p] for p in peers] + [f"×{PEER_TITLES[p]}" for p in ratio_peers] + extra
                 + ["GB/s"] + fracs)
        lines += [f"## {dtype}", "",
                  "| program | n | engine | " + " | ".join(heads) + " | check |",
                  "| --- | ---: | --- | " + " | ".join("---:" for _ in heads) + " | --- |"]
        for c in cells:
            row = [c["program"], fmt_n(c["n"]), c.get("engine", c["backend"])]
            row += [_fmt_peer(c["times"], p) for p in peers]
            row += [fmt_x(c["speedup"].get(p)) for p in ratio_peers]
            row += [fmt_x(c.get("speedup_cl", {}).get("hand")) for _ in extra]
            row += [f"{c['gbps'].get('sx', 0):.1f}", _frac(c.get("copy_fraction"))]
            row += [_frac(c.get("copy_fraction_cl"))] if has_cl else []
            row += [_check_text(c)]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if results["out_runs"]:
        lines += ["## Preallocated output (`out=`)", "",
                  "`%copy`: bandwidth over the copy kernel's; `%hand`: over the hand kernel's (all writing into "
                  "preallocated arrays), for symexpr's default backend and for sx CL (backend=\"opencl\"); "
                  "`hand %copy`: the hand kernel's over the copy kernel's. `copy` says which copy kernel was faster.", "",
                  "| program | dtype | n | engine | symexpr out= | sx CL out= | symexpr fresh | hand CL out= | "
                  "numexpr out= | copy CL | copy | GB/s | %copy | CL %copy | %hand | CL %hand | hand %copy |",
                  "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | "
                  "---: | ---: | ---: |"]
        for o in results["out_runs"]:
            if not o.get("supported"):
                lines.append(f"| {o['program']} | {o['dtype']} | {fmt_n(o['n'])} | {o.get('backend')} | "
                             f"unsupported: {o.get('error', '')[:60]} |" + " |" * 12)
                continue
            t = o["times"]
            lines.append(f"| {o['program']} | {o['dtype']} | {fmt_n(o['n'])} | {o.get('engine', o['backend'])} | "
                         f"{_fmt_peer(t, 'sx_out')} | {_fmt_peer(t, 'sx_cl_out')} | {_fmt_peer(t, 'sx')} | "
                         f"{_fmt_peer(t, 'hand_out')} | {_fmt_peer(t, 'numexpr_out')} | {_fmt_peer(t, 'copy_cl')} | "
                         f"{t.get('copy_cl', {}).get('variant', '–')} | {o['gbps'].get('sx_out', 0):.1f} | "
                         f"{_frac(o.get('copy_fraction'))} | {_frac(o.get('copy_fraction_cl'))} | "
                         f"{_frac(o.get('hand_fraction'))} | {_frac(o.get('hand_fraction_cl'))} | "
                         f"{_frac(copy_fraction(t, 'hand_out'))} |")
        lines.append("")
    if results.get("overhead"):
        oh_peers = [p for p in ("sx", "sx_out", "sx_cl", "sx_cl_out", "sx_numpy", "numpy", "numexpr", "hand",
                                "copy_cl", "copyto") if any(p in c["times"] for c in results["overhead"])]
        lines += [f"## Per-call overhead (n = {OVERHEAD_N}, float32), minimum", "",
                  "| program | engine | " + " | ".join(PEER_TITLES[p] for p in oh_peers) + " |",
                  "| --- | --- | " + " | ".join("---:" for _ in oh_peers) + " |"]
        for c in results["overhead"]:
            row = []
            for p in oh_peers:
                st = c["times"].get(p)
                row.append("–" if not st else (st["error"][:40] if "error" in st else fmt_time(st["min"])))
            lines.append(f"| {c['program']} | {c.get('engine', c['backend'])} | " + " | ".join(row) + " |")
        lines.append("")
    comp = results.get("compile")
    if comp and comp.get("backends"):
        backends = comp["backends"]

        def title(b):
            part = comp[b]
            engine = (part.get("in_process") or [{}])[0].get("engine", "?")
            return ("default (`auto`)" if b == "auto" else f'backend="{b}"') + f", engine {engine}"
        lines += [f"## Compile times (the 10-statement program, float32, n = {comp.get('n', 1000)})", "",
                  "At 1000 elements the default backend runs the NumPy engine: its first call builds no kernel. "
                  "With backend=\"opencl\" forced the first call builds the kernel: that is what the compile "
                  "targets measure. In this process, each try a program never seen before; `min / median`:", "",
                  "| what | " + " | ".join(title(b) for b in backends) + " |",
                  "| --- | " + " | ".join("---:" for _ in backends) + " |"]
        for key, text in (("compile", "`sx.compile` of a new program"), ("first_call", "its first call"),
                          ("new_program_total", "new program: compile + first call"),
                          ("second_call", "second call"),
                          ("new_signature_first_call", "first call with a new signature (float64)")):
            lines.append(f"| {text} | " + " | ".join(
                f"{fmt_time(comp[b][key]['min'])} / {fmt_time(comp[b][key]['median'])}" for b in backends) + " |")
        lines += ["", "Two fresh processes running the same new program; the second finds what the first "
                  "left in the on-disk cache:", "",
                  "| backend | process | engine | import | compile | first call | compile + first call | "
                  "another new program's compile |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for b in backends:
            for k, p in enumerate(comp[b].get("processes", [])):
                label = "first (cold)" if k == 0 else "second (disk cache warm)"
                if "error" in p:
                    lines.append(f"| {b} | {label} | error: {p['error']} | | | | | |")
                else:
                    lines.append(f"| {b} | {label} | {p.get('engine', p['backend'])} | {fmt_time(p['import'])} | "
                                 f"{fmt_time(p['compile'])} | {fmt_time(p['first_call'])} | "
                                 f"{fmt_time(p['compile_and_first_call'])} | {fmt_time(p.get('compile_another'))} |")
        lines.append("")
    lines += latency_tables(results.get("latency") or {})
    lines += ["## Programs", "", "| program | symexpr source | kind | check | hand kernel |",
              "| --- | --- | --- | --- | --- |"]
    for p in results["programs"]:
        src = p["source"].replace("\n", "; ")
        lines.append(f"| {p['name']} | `{src}` | {p['kind']}{', multi-op' if p['fused'] else ''} | "
                     f"{'exact' if p['exact'] else 'allclose'} | {'`' + p['hand'] + '`' if p['hand'] else '–'} |")
    lines.append("")
    lines.append("numexpr runs one `evaluate` per statement (for one-line programs: the one expression); "
                 "`numexpr 1-expr` inlines every intermediate into one string per output. Float literals "
                 "are passed to numexpr as scalars of the array dtype, since numexpr would otherwise "
                 "compute a float32 program in float64. The hand-written and copy kernels are launched as "
                 "symexpr's: each work-item a contiguous chunk (vectors, then a scalar tail), "
                 f"{GEOMETRY_CHUNKS_PER_UNIT} work-items per compute unit on a CPU, local size (1,); one work-item "
                 f"below {GEOMETRY_SMALL} vectors.")
    return "\n".join(lines) + "\n"


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"not JSON: {type(obj).__name__}")


def write(results: dict, directory: Path, stem: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    js, md = directory / f"{stem}.json", directory / f"{stem}.md"
    js.write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    md.write_text(render_markdown(results))
    return js, md


README_MARKER = "<!-- summary: replaced by the latest full run -->"


def update_readme(path: Path, results: dict) -> None:
    """Replace what follows the marker line in `path` by this run's summary."""
    text = path.read_text()
    if README_MARKER not in text:
        raise SystemExit(f"{path} has no line {README_MARKER!r} to put the summary after")
    head = text.split(README_MARKER, 1)[0]
    path.write_text(head + README_MARKER + "\n" + render_summary(results))

"""The benchmark: symexpr against NumPy, numexpr, a hand-written kernel and the memory limit.

Every peer runs in one process on the same data, and every symexpr result is
checked against NumPy's before anything is timed. The peers, by their keys in
the results:

    sx              symexpr, default backend ("auto"): per call signature the NumPy engine or the
                    OpenCL kernel; each cell's "engine" says which ran (`_engine.engine_for`)
    sx_cl           symexpr with backend="opencl" forced: the fused kernel's own speed
    sx_numpy        symexpr's NumPy engine (backend="numpy")
    numpy           NumPy written naturally: the program's statements, one after another
    numexpr         numexpr, one `evaluate` per statement (one string for one-line programs)
    numexpr_inline  numexpr, the statements inlined into one string per output
                    (multi-statement programs only; numexpr has no CSE, so shared
                    intermediates are computed again)
    hand            a hand-written pyopencl kernel with vload8/vstore8 floats
                    (vload4/vstore4 doubles), for four of the programs, launched
                    as symexpr's kernels are (see GEOMETRY_CHUNKS_PER_UNIT)
    copy_cl         the memory limit: an OpenCL copy kernel moving the same bytes
                    (reads + writes) as the program; the faster of a plain and a
                    non-temporal-store copy (copy_cl_plain, copy_cl_nt)
    copyto          np.copyto of the same bytes

Each cell reports the minimum and median seconds per call of several repeats
after warm-up (peers interleaved round-robin, so noise is shared), the
speed-up of symexpr over each peer (t_peer / t_sx: above 1 means symexpr is
faster), and effective GB/s (bytes of inputs and outputs over time) with its
fraction of the copy kernel's bandwidth. `main()` writes JSON and markdown.

    python -m symexpr.bench --short          # CI: small sizes, float32, 2 repeats
    python benchmarks/run.py                 # the full run, under five minutes

Where each thing lives (`symexpr/bench/`, in the order a run goes through them):

    cases.py         the programs (`CASES`), the NumPy and numexpr peers made from them, the inputs
    opencl_peers.py  the hand-written vector kernels and the copy kernels, and their launch geometry
    measure.py       timing (`measure`: round-robin repeats), checking against NumPy (`compare`),
                     which engine ran, and the ratios a cell reports (speed-ups, GB/s, %copy, %hand)
    cells.py         `Settings`, `Bench` (one run's state), and the rows: `run_cell` (a program at a
                     size and dtype), `run_out` (out=), `run_overhead` (n = 16)
    compile_times.py a new program's compile and first call, in this process and in fresh ones
    latency.py       what a user feels first: a loop over changing shapes under `auto`, a new
                     program's first call at 1e6 elements, a cold process against numexpr's
    runner.py        `run(settings)`: all of the above in one run, as one JSON-ready dict
    targets.py       the targets, each evaluated from a run's results
    machine.py       CPU, versions, git commit: where the figures come from
    report.py        the markdown tables, the README summary, the JSON files
    __init__.py      `main(argv)`: the command line (`symexpr bench`, `python -m symexpr.bench`)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cases import CASES
from .cells import FULL_SIZES, LARGE_SIZE, OUT_SIZE, SHORT_SIZES, Settings
from .report import README_MARKER, render_markdown, update_readme, write
from .runner import SCHEMA, run
from .targets import evaluate_targets

__all__ = ["main", "run", "Settings", "SCHEMA"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="symexpr bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true",
                   help="CI mode: sizes 1e1, 1e3, 1e5; float32; 2 repeats; well under a minute")
    p.add_argument("--large", action="store_true", help=f"also n = {LARGE_SIZE:.0e} (about 2.5 GB of memory)")
    p.add_argument("--sizes", help="comma-separated sizes, instead of the mode's")
    p.add_argument("--dtypes", help="comma-separated dtypes (float32,float64)")
    p.add_argument("--programs", help="comma-separated program names (see the Programs table)")
    p.add_argument("--repeats", type=int, help="timed repeats per cell after warm-up")
    p.add_argument("--out", "--output", dest="output", metavar="DIR",
                   help="write the results (JSON and markdown) into DIR; without it nothing is written")
    p.add_argument("--name", help="file stem of the results (default: 'short' or 'full')")
    p.add_argument("--readme", metavar="PATH",
                   help=f"also put the summary into PATH, after the line `{README_MARKER}`")
    p.add_argument("--from-json", metavar="PATH",
                   help="run nothing: render the markdown (and --readme) again from a results JSON")
    p.add_argument("--no-write", action="store_true", help="write nothing, even with --out")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    if args.short:
        s = Settings(mode="short", sizes=SHORT_SIZES, dtypes=("float32",), repeats=2, repeats_large=2,
                     target=0.001, out_size=SHORT_SIZES[-1], compile_tries=1, latency=False)
    else:
        s = Settings(sizes=FULL_SIZES + ((LARGE_SIZE,) if args.large else ()))
    if args.sizes:
        s.sizes = tuple(int(float(x)) for x in args.sizes.split(","))
        s.out_size = max(s.sizes) if max(s.sizes) < OUT_SIZE else OUT_SIZE
    if args.dtypes:
        s.dtypes = tuple(args.dtypes.split(","))
    if args.programs:
        s.programs = tuple(x.strip() for x in args.programs.split(","))
        unknown = set(s.programs) - {c.name for c in CASES}
        if unknown:
            raise SystemExit(f"unknown programs {sorted(unknown)}; the programs are: "
                             + "; ".join(c.name for c in CASES))
    if args.repeats:
        s.repeats = s.repeats_large = args.repeats
    s.quiet = args.quiet
    return s


def main(argv=None) -> int:
    """`symexpr bench`: run, write JSON and markdown; exit 1 if a symexpr result disagreed with NumPy."""
    args = parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        results["targets"] = evaluate_targets(results)
    else:
        results = run(settings_from(args))
    # The tables go to standard output; files only where --out and --readme say.
    print(render_markdown(results))
    if args.output and not args.no_write:
        js, md = write(results, Path(args.output), args.name or results["mode"])
        if not args.quiet:
            print(f"wrote {js} and {md}", file=sys.stderr)
    if args.readme and not args.no_write:
        update_readme(Path(args.readme), results)
    if not results["all_checks_ok"]:
        print("symexpr disagreed with NumPy: " + "; ".join(results["failed_checks"]), file=sys.stderr)
        return 1
    return 0


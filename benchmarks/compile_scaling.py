"""How compiling grows with the program: parse, optimize, specialize for float32 and write the kernel
for generated programs of 1,000 to 10,000 statements (not the OpenCL build, which is the device
compiler's).

    python benchmarks/compile_scaling.py            # writes benchmarks/results/compile_scaling.{json,md}
    python benchmarks/compile_scaling.py --sizes 100,200 --no-write

Each program is a chain of statements over three inputs, each reading two of the eight newest
values, with constants and a function now and then (sin, sqrt, abs), so that every pass has
work: constants to fold, repeated subexpressions, dead statements. Times are the best of a few
runs, one core (the parse and the passes are single-threaded Python).
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import symexpr as sx
from symexpr.backends.opencl import OpenCLEngine
from symexpr.infer import Kind
from symexpr.parse import parse
from symexpr.passes import optimize

SIZES = (1_000, 2_000, 5_000, 10_000)


def generated_program(statements: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    names = ["a", "b", "c"]
    lines = []
    for k in range(statements):
        x, y = rng.choice(names[-8:]), rng.choice(names[-8:])
        expr = f"{x} {rng.choice('+-*')} {y} * {rng.randint(1, 9)}.5"
        if rng.random() < 0.1:
            expr += f" + {x} {rng.choice('+-*')} {y}"  # a repeated subexpression now and then
        f = rng.choice(["", "", "", "sin", "sqrt", "abs"])
        lines.append(f"t{k} = {f}({expr})" if f else f"t{k} = {expr}")
        names.append(f"t{k}")
    return "\n".join(lines)


def time_stages(source: str) -> dict:
    """Seconds for each stage of a new program's first call on float32 arrays, the OpenCL build
    excepted: `sx.compile` parses and optimizes; the OpenCL engine then specializes the graph for the
    call's dtypes (inference, simplification, sharing) and writes the kernel for the device's vector
    width, as its first call does."""
    t0 = time.perf_counter()
    graph = parse(source, None)
    t1 = time.perf_counter()
    optimized, _ = optimize(graph)
    t2 = time.perf_counter()
    engine = OpenCLEngine(optimized)  # what sx.compile does last; builds nothing yet
    engine._typing(tuple(Kind(np.dtype("float32")) for _ in optimized.inputs))  # noqa: SLF001
    t3 = time.perf_counter()
    kernel = engine.kernel_source
    t4 = time.perf_counter()
    return {"parse": t1 - t0, "optimize": t2 - t1, "specialize": t3 - t2, "render": t4 - t3, "total": t4 - t0,
            "nodes": len(graph.nodes), "nodes_optimized": len(optimized.nodes), "kernel_lines": kernel.count("\n")}


def run(sizes=SIZES, repeats: int = 5) -> dict:
    time_stages("c = a + b")  # the parser's tables, loaded once per process
    rows = []
    for n in sizes:
        source = generated_program(n)
        best = min((time_stages(source) for _ in range(repeats)), key=lambda r: r["total"])
        rows.append({"statements": n, **best})
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.processor() or platform.machine()}; {platform.platform()}",
            "python": sys.version.split()[0], "symexpr": sx.__version__, "repeats": repeats, "rows": rows}


def render_markdown(results: dict) -> str:
    rows = results["rows"]
    first = rows[0]
    lines = ["# Compile time against program size", "",
             f"- date: {results['date']}; python {results['python']}; symexpr {results['symexpr']}",
             f"- machine: {results['machine']}", "",
             f"Best of {results.get('repeats', 3)}, seconds. `per stmt` is the total over the statements, in µs; "
             "`×first` is its ratio to the smallest program's (1 means linear).", "",
             "| statements | graph nodes | after optimizing | parse | optimize | specialize | write kernel | total | per stmt | ×first |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    per_first = first["total"] / first["statements"]
    for r in rows:
        per = r["total"] / r["statements"]
        lines.append(f"| {r['statements']:,} | {r['nodes']:,} | {r['nodes_optimized']:,} | {r['parse']:.3f} | "
                     f"{r['optimize']:.3f} | {r['specialize']:.3f} | {r['render']:.3f} | **{r['total']:.3f}** | "
                     f"{per * 1e6:.0f} | {per / per_first:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", help="comma-separated statement counts (default 1000,2000,5000,10000)")
    p.add_argument("--output", default="benchmarks/results", help="directory for the JSON and markdown")
    p.add_argument("--no-write", action="store_true", help="print the markdown, write nothing")
    args = p.parse_args(argv)
    sizes = tuple(int(float(s)) for s in args.sizes.split(",")) if args.sizes else SIZES
    results = run(sizes)
    text = render_markdown(results)
    print(text)
    if not args.no_write:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compile_scaling.json").write_text(json.dumps(results, indent=1))
        (out / "compile_scaling.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

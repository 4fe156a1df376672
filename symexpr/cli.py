"""The `symexpr` command line: run a program on files, show what it compiles to, export it, list devices, a demo.

    symexpr run PROGRAM --in a=a.npy --in b=2.5 --out result.npz
    symexpr show PROGRAM [--graph | --kernel | --dot | --explain]
    symexpr export PROGRAM --format json|onnx|c --in a=float32[n] -o DIR
    symexpr devices
    symexpr demo
    symexpr bench ...

PROGRAM is a file holding the program, `-` for standard input, or the program
text itself. Every error the user can cause prints its message (with a caret
under the place in the program) to stderr and exits with status 2; none prints
a traceback.
"""
from __future__ import annotations

import argparse
import csv
import difflib
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

USAGE_ERROR = 2


class UsageError(Exception):
    """A problem with the command line or its files: printed, exit status 2."""


# -- reading programs and data ---------------------------------------------------------------
def read_program(text: str) -> str:
    """PROGRAM is `-` (stdin), a file, or the program text itself."""
    if text == "-":
        return sys.stdin.read()
    path = Path(text)
    if "=" not in text and "\n" not in text and ";" not in text:
        # No assignment: this can only be a file name.
        if not path.is_file():
            raise UsageError(f"no such program file: {text} (give a file, `-`, or the program text)")
        return path.read_text()
    try:
        if path.is_file():
            return path.read_text()
    except OSError:  # a long program text is not a valid path
        pass
    return text


def parse_scalar(text: str):
    """`2` -> 2, `2.5` -> 2.5, `True` -> True, `nan`/`inf` -> float; None if `text` is not a number."""
    t = text.strip()
    if t in ("True", "true"):
        return True
    if t in ("False", "false"):
        return False
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return None


class NotNumeric:
    """A CSV column that is not all numbers (text, dates): an error only if the program reads it."""

    def __init__(self, path: Path, name: str, line: int, cell: str):
        self.message = f"{path}, line {line}: column `{name}` is not numeric ({cell!r} is not a number)"


STDIN = "-"  # `--in -`: a CSV table on standard input


def read_csv(path) -> dict[str, np.ndarray | NotNumeric]:
    """CSV columns by their header names: ints as int64, numbers as float64, True/False as bool; a
    column with another value (text, a date) is a NotNumeric, refused only where it is read.
    `path` is a file, or STDIN for standard input."""
    if path == STDIN:
        path = "standard input"
        rows = list(csv.reader(sys.stdin))
    else:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise UsageError(f"{path}: the CSV file is empty")
    header = [h.strip() for h in rows[0]]
    columns: dict[str, np.ndarray] = {}
    for k, name in enumerate(header):
        cells = []
        for line, row in enumerate(rows[1:], start=2):
            if k >= len(row):
                raise UsageError(f"{path}, line {line}: no value for column `{name}`")
            value = parse_scalar(row[k])
            if value is None:
                cells = NotNumeric(path, name, line, row[k])
                break
            cells.append(value)
        if isinstance(cells, NotNumeric):
            columns[name] = cells
        elif cells and all(type(c) is bool for c in cells):
            columns[name] = np.array(cells, dtype=bool)
        elif all(type(c) in (int, bool) for c in cells):
            big = next((c for c in cells if not -2**63 <= c < 2**63), None)
            if big is not None:
                raise UsageError(f"{path}: column `{name}`: {big} does not fit in int64")
            columns[name] = np.array(cells, dtype=np.int64)
        else:
            columns[name] = np.array(cells, dtype=np.float64)
    return columns


def load_path(path: Path) -> dict[str, np.ndarray] | np.ndarray:
    """A .npy array, or a table of named arrays from .npz or .csv."""
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as table:
                return {k: table[k] for k in table.files}
    except (ValueError, OSError, EOFError) as err:
        raise UsageError(f"{path}: cannot read it as {suffix}: {err}") from None
    if suffix == ".csv":
        return read_csv(path)
    raise UsageError(f"{path}: unknown file type {suffix!r}; use .npy, .npz or .csv")


def gather_inputs(specs: list[str], program_from_stdin: bool = False) -> dict[str, object]:
    """--in values -> {name: value}. `name=file.npy`, `name=2.5`, `name=table.csv` (its column `name`
    or its only column), or a bare `table.npz` / `table.csv` giving all its columns by name; `-` in
    place of a .csv is a CSV table read from standard input (once, however often it is named)."""
    values: dict[str, object] = {}
    stdin_table = []

    def load_file(path: Path):
        if str(path) != STDIN:
            return load_path(path)
        if program_from_stdin:
            raise UsageError("--in -: standard input already holds the program (PROGRAM is `-`); "
                             "give the program as a file or text to read a CSV from standard input")
        if not stdin_table:
            stdin_table.append(read_csv(STDIN))
        return stdin_table[0]

    for spec in specs:
        if "=" in spec:
            name, _, what = spec.partition("=")
            name = name.strip()
            if not name.isidentifier():
                raise UsageError(f"--in {spec}: `{name}` is not an input name")
            scalar = parse_scalar(what)
            if scalar is not None:
                values[name] = scalar
                continue
            loaded = load_file(Path(what))
            if isinstance(loaded, dict):
                if name in loaded:
                    loaded = loaded[name]
                elif len(loaded) == 1:
                    loaded = next(iter(loaded.values()))
                else:
                    raise UsageError(f"--in {spec}: {what} has columns {', '.join(loaded)}, none named `{name}`")
            values[name] = loaded
        else:
            loaded = load_file(Path(spec))
            if not isinstance(loaded, dict):
                raise UsageError(f"--in {spec}: a .npy file holds one array; name it, as in --in x={spec}")
            values.update(loaded)
    return values


# -- writing results -------------------------------------------------------------------------
def results_by_name(prog, results) -> dict[str, np.ndarray]:
    if len(prog.outputs) == 1:
        return {prog.outputs[0]: np.asarray(results)}
    return {name: np.asarray(value) for name, value in zip(prog.outputs, results)}


def write_csv(path_or_file, named: dict[str, np.ndarray]) -> None:
    try:
        columns = np.broadcast_arrays(*[np.atleast_1d(v) for v in named.values()])
    except ValueError:
        shapes = ", ".join(f"{n} {v.shape}" for n, v in named.items())
        raise UsageError(f"CSV needs columns of one length; the outputs are {shapes}") from None
    if columns and columns[0].ndim != 1:
        raise UsageError(f"CSV holds 1-D columns; the outputs are {columns[0].ndim}-D: use .npy or .npz")
    f = path_or_file if hasattr(path_or_file, "write") else open(path_or_file, "w", newline="")
    try:
        w = csv.writer(f)
        w.writerow(list(named))
        for row in zip(*columns):
            w.writerow([_cell(x) for x in row])
    finally:
        if f is not path_or_file:
            f.close()


def _cell(x) -> str:
    x = x.item() if hasattr(x, "item") else x
    return repr(x) if isinstance(x, float) else str(x)


def write_results(out: str, named: dict[str, np.ndarray]) -> None:
    if out == "-":  # standard output, as CSV: `symexpr run ... --out - | next-tool`
        write_csv(sys.stdout, named)
        sys.stdout.flush()
        return
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if len(named) != 1:
            raise UsageError(f"--out {out}: a .npy file holds one array but the program has "
                             f"{len(named)} outputs ({', '.join(named)}); use .npz or .csv")
        np.save(path, next(iter(named.values())))
    elif suffix == ".npz":
        # As np.savez writes it, one .npy member per output, but by name: np.savez(path, **named)
        # takes an output named `file` or `allow_pickle` for its own keyword.
        import zipfile
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            for name, arr in named.items():
                with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)
    elif suffix == ".csv":
        write_csv(path, named)
    else:
        raise UsageError(f"--out {out}: unknown file type {suffix!r}; use .npy, .npz or .csv")


def print_results(named: dict[str, np.ndarray]) -> None:
    for name, value in named.items():
        body = np.array2string(value, threshold=20, edgeitems=3, separator=", ")
        shape = f"{value.dtype}{list(value.shape)}"
        print(f"{name} = {body}    # {shape}" if "\n" not in body else f"{name} =  # {shape}\n{body}")


# -- commands --------------------------------------------------------------------------------
def _compile(args):
    import symexpr as sx

    outputs = [o.strip() for o in args.outputs.split(",")] if getattr(args, "outputs", None) else None
    return sx.compile(read_program(args.program), outputs=outputs, backend=args.backend,
                      optimize=not args.no_optimize)


def cmd_run(args) -> int:
    prog = _compile(args)
    inputs = gather_inputs(args.inputs, program_from_stdin=args.program == "-")
    named = [spec.partition("=")[0].strip() for spec in args.inputs if "=" in spec]
    unknown = [n for n in named if n not in prog.parsed.input_names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], prog.parsed.input_names, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise UsageError(f"--in {unknown[0]}=...: the program has no input `{unknown[0]}` "
                         f"(its inputs are {', '.join(prog.inputs) or 'none'}){hint}")
    missing = [n for n in prog.inputs if n not in inputs]
    if missing:
        raise UsageError(f"missing input{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                         f"give each with --in NAME=FILE or --in NAME=NUMBER (the inputs are {', '.join(prog.inputs)})")
    results = prog.run(numeric_inputs(prog, inputs))
    named = results_by_name(prog, results)
    if args.out:
        write_results(args.out, named)
        if args.verbose:
            print(f"wrote {', '.join(named)} to {'standard output' if args.out == '-' else args.out}",
                  file=sys.stderr)
    else:
        print_results(named)
    return 0


def cmd_export(args) -> int:
    """Write the program as a program file (json), an ONNX model (onnx) or C sources (c) into -o DIR."""
    import symexpr as sx

    if args.program.lower().endswith(".json") and Path(args.program).is_file():
        prog = sx.load(args.program)
    else:
        prog = _compile(args)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {args.output}: not a directory")
    signature = {}
    for spec in args.inputs:
        name, eq, value = spec.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--in {spec}: give NAME=DTYPE[DIMS], as a=float32[1000] or a=float64[n, 3]")
        signature[name.strip()] = value.strip()
    if args.format != "json" and args.params:
        raise UsageError("--param is for --format json: save the program with its parameters, then export "
                         "the saved .json file to onnx or c")
    params = {}
    for spec in args.params:
        name, eq, value = spec.partition("=")
        if not eq or not value.lower().endswith(".npy"):
            raise UsageError(f"--param {spec}: give NAME=FILE.npy")
        params[name.strip()] = load_path(Path(value.strip()))
    out.mkdir(parents=True, exist_ok=True)
    if args.format == "json":
        if signature:
            raise UsageError("--in is for --format onnx and c (a program file holds every signature)")
        written = [out / f"{args.name}.json"]
        prog.save(written[0], params=params or None)
        if params or prog.params:
            written.append(out / f"{args.name}.npz")
    elif args.format == "onnx":
        written = [out / f"{args.name}.onnx"]
        prog.to_onnx(written[0], **signature)
    else:
        from .export.c_export import export_c
        written = list(export_c(prog, out, signature, name=args.name).values())
    for path in written:
        print(path)
    return 0


def numeric_inputs(prog, inputs: dict) -> dict:
    """The program's inputs; a CSV column it reads that is not numeric is named in the error."""
    for n in prog.inputs:
        if isinstance(inputs[n], NotNumeric):
            raise UsageError(f"{inputs[n].message}, and the program reads it as input `{n}`")
    return {n: inputs[n] for n in prog.inputs}


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse turns the ValueError into a usage error)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def example_inputs(prog, dtype: str, size: int) -> dict[str, np.ndarray]:
    """Small arrays of one dtype for every input: enough to specialize a kernel."""
    rng = np.random.default_rng(0)
    return {n: (rng.random(size) * 8 - 4).astype(dtype) for n in prog.inputs}


def kernel_source(prog, dtype: str | None) -> str | None:
    """The kernel's source; with a dtype, the one specialized for contiguous inputs of that dtype."""
    if prog.backend == "numpy":
        return None
    if dtype is not None or prog.kernel_source is None:
        try:
            np.dtype(dtype or "float32")
        except TypeError:
            raise UsageError(f"--dtype {dtype}: not a NumPy dtype") from None
        prog.run(example_inputs(prog, dtype or "float32", 64))
    return prog.kernel_source


def cmd_show(args) -> int:
    prog = _compile(args)
    inputs = gather_inputs(args.inputs, program_from_stdin=args.program == "-") if args.inputs else None
    if inputs is not None:
        missing = [n for n in prog.inputs if n not in inputs]
        if missing:
            raise UsageError(f"missing input{'s' if len(missing) > 1 else ''} {', '.join(missing)} for the signature")
        inputs = numeric_inputs(prog, inputs)
    if args.what == "kernel":
        if inputs is not None and prog.backend != "numpy":
            prog.run(inputs)  # specialize for these inputs' dtypes and layout
            src = prog.kernel_source
        else:
            src = kernel_source(prog, args.dtype)
        if src is None:
            raise UsageError(f"no kernel to show: the program runs on the {prog.backend} engine "
                             "(no OpenCL device; see `symexpr devices`)")
        print(src)
    elif args.what == "dot":
        print(prog.to_dot(show_removed=args.removed), end="")
    elif args.what == "explain":
        print(prog.explain(**inputs) if inputs is not None else prog.explain())
    else:
        print(prog.graph)
    return 0


def describe_device(dev) -> str:
    def get(attr, default="?"):
        try:
            return getattr(dev, attr)
        except Exception:  # noqa: BLE001 - pyopencl raises its own errors for unsupported queries
            return default

    try:
        import pyopencl as cl
        kind = cl.device_type.to_string(get("type", 0))
    except Exception:  # noqa: BLE001
        kind = "?"
    mem = get("global_mem_size", 0)
    fp64 = "fp64" if "cl_khr_fp64" in str(get("extensions", "")) or get("double_fp_config", 0) else "no fp64"
    platform = get("platform", None)
    pname = getattr(platform, "name", "?") if platform is not None else "?"
    return (f"{get('name').strip()}  [{kind}; {pname.strip()}; {get('max_compute_units')} compute units; "
            f"{mem / 2**30:.1f} GiB; {fp64}]")


def cmd_devices(args) -> int:
    import symexpr as sx

    devs = sx.devices()
    if not devs:
        print("no OpenCL device found: symexpr runs programs with the NumPy engine")
        return 0
    for k, dev in enumerate(devs):
        print(f"{k}: {describe_device(dev)}")
    return 0


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


def cmd_bench(argv: list[str]) -> int:
    try:
        from symexpr import bench
    except ImportError as err:
        raise UsageError(f"the benchmarks are not available in this installation: {err}") from None
    return bench.main(argv) or 0


# -- the parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="symexpr",
        description="Array math written as a program, compiled once, run as one fused OpenCL kernel.",
        epilog="PROGRAM is a file, `-` for standard input, or the program text, as in "
               "'d = a * b; c = where(d > 0, d, 0)'. Run `symexpr COMMAND --help` for each command.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def common(sp):
        sp.add_argument("program", metavar="PROGRAM", help="a program file, `-` for stdin, or the program text")
        sp.add_argument("--backend", choices=("auto", "numpy", "opencl"), default="auto",
                        help="where to run it (default: auto, the faster of OpenCL and NumPy for each call signature; NumPy if no OpenCL device exists)")
        sp.add_argument("--outputs", metavar="A,B", help="the outputs wanted, comma separated "
                        "(default: every name assigned and never read)")
        sp.add_argument("--no-optimize", action="store_true", help="run every statement as written")

    run = sub.add_parser("run", help="run a program on data from files or the command line",
                         description="Run PROGRAM on inputs from .npy/.npz/.csv files or numbers, and "
                                     "write the results to a file (or print them).",
                         epilog="examples:  symexpr run prog.sx --in a=a.npy --in b=2.5 --out c.npy\n"
                                "           symexpr run 'c = x * y' --in table.csv --out result.csv\n"
                                "           symexpr run 'c = x * y' --in table.csv --out - | head\n"
                                "           cat table.csv | symexpr run 'c = x * y' --in - --out -",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    common(run)
    run.add_argument("--in", dest="inputs", action="append", default=[], metavar="NAME=FILE|NAME=NUMBER|TABLE",
                     help="an input: NAME=a.npy, NAME=2.5 (a Python scalar, weak like a literal), "
                          "NAME=t.csv (its column NAME), or a table t.npz / t.csv giving inputs by column "
                          "name; `-` for a CSV table on standard input (NAME=- for one column of it); "
                          "repeat for each input")
    run.add_argument("--out", metavar="FILE", help="write the results: .npy (one output), .npz or .csv "
                     "(columns named after the outputs), or `-` for CSV on standard output; printed when omitted")
    run.add_argument("-v", "--verbose", action="store_true", help="say what was written")
    run.set_defaults(func=cmd_run)

    show = sub.add_parser("show", help="show what a program compiles to",
                          description="Show PROGRAM's optimized graph (default), its OpenCL kernel, "
                                      "its Graphviz DOT text, or the optimizer's report.")
    common(show)
    what = show.add_mutually_exclusive_group()
    what.add_argument("--graph", dest="what", action="store_const", const="graph", help="the optimized graph")
    what.add_argument("--kernel", dest="what", action="store_const", const="kernel",
                      help="the generated OpenCL C source")
    what.add_argument("--dot", dest="what", action="store_const", const="dot",
                      help="Graphviz DOT text (pipe into `dot -Tsvg`)")
    what.add_argument("--explain", dest="what", action="store_const", const="explain",
                      help="the graph before and after optimization, and each rewrite")
    show.add_argument("--in", dest="inputs", action="append", default=[], metavar="NAME=FILE|NAME=NUMBER|TABLE",
                      help="with --explain or --kernel: inputs (as for `run`) whose dtypes and shapes to "
                           "specialize for; --explain then shows that signature's rewrites and memory plan")
    show.add_argument("--removed", action="store_true", help="with --dot: draw the pruned nodes, greyed")
    show.add_argument("--dtype", help="with --kernel: the inputs' dtype to specialize for (default float32); "
                      "the kernel shown is the one for that dtype, whichever engine --backend auto would pick")
    show.set_defaults(func=cmd_show, what="graph")

    dev = sub.add_parser("devices", help="list the OpenCL devices", description="List the OpenCL devices "
                         "symexpr can use (PYOPENCL_CTX picks one).")
    dev.set_defaults(func=cmd_devices)

    demo = sub.add_parser("demo", help="compile, show and time a small program",
                          description="Compile a small program, show its graph and kernel, run it on random "
                                      "float32 data on the default backend and on the NumPy engine, check "
                                      "they agree and print both times.")
    demo.add_argument("--size", type=_positive_int, default=1_000_000, help="elements per input (default 1,000,000)")
    demo.add_argument("--repeat", type=int, default=5, help="timed runs, best kept (default 5)")
    demo.add_argument("--backend", choices=("auto", "numpy", "opencl"), default="auto",
                      help="the backend to compare with the NumPy engine (default auto)")
    demo.set_defaults(func=cmd_demo)

    export = sub.add_parser("export", help="write a program to run without Python: a program file, ONNX or C",
                            description="Write PROGRAM (program text, or a saved .json program file) as a "
                                        "program file (json, for symexpr.load), an ONNX model (onnx) or C99 "
                                        "sources with a main.c and a Makefile (c), into -o DIR. ONNX and C are "
                                        "for one call signature: give each input's dtype and shape with --in.",
                            epilog="examples:  symexpr export prog.sx --format c --in a=float32[n] --in b=float32[n] -o out\n"
                                   "           symexpr export prog.sx --format onnx --in x=float32[batch,3] -o out\n"
                                   "           symexpr export prog.sx --format json --param w=w.npy -o out",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    common(export)
    export.add_argument("--format", choices=("json", "onnx", "c"), required=True, help="what to write")
    export.add_argument("--in", dest="inputs", action="append", default=[], metavar="NAME=DTYPE[DIMS]",
                        help="an input's dtype and shape, as a=float32[1000] or x=float64[n, 3] (a name is a "
                             "length given at run time); repeat for each input (onnx and c)")
    export.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=FILE.npy",
                        help="json: bind an input to this array, saved beside the program file")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="the directory to write into")
    export.add_argument("--name", default="program", help="the files' (and the C function's) name (default program)")
    export.set_defaults(func=cmd_export)

    sub.add_parser("bench", help="run the benchmarks (symexpr bench --help)", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    """The console script. Returns the exit status: 0, 1 (a demo that disagrees) or 2 (an error)."""
    from .errors import SymExprError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "bench":
            return cmd_bench(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`symexpr show ... | head`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SymExprError as err:
        print(f"symexpr: {type(err).__name__}: {err}", file=sys.stderr)
    except UsageError as err:
        print(f"symexpr: {err}", file=sys.stderr)
    except (OSError, ValueError, TypeError) as err:
        print(f"symexpr: {type(err).__name__}: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        print("symexpr: interrupted", file=sys.stderr)
        return 130
    return USAGE_ERROR

"""The `symexpr` command's argument parser: its subcommands and their options."""
from __future__ import annotations

import argparse

from .demo import cmd_demo
from .export import cmd_export
from .run import cmd_run
from .show import cmd_devices, cmd_show


BACKENDS = ("auto", "numpy", "opencl")  # --backend


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse turns the ValueError into a usage error)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


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
        sp.add_argument("--backend", choices=BACKENDS, default="auto",
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
    demo.add_argument("--backend", choices=BACKENDS, default="auto",
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

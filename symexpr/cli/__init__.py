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

The package: data.py (programs, inputs and results: reading and writing them), parser.py (the
subcommands and their options), and a module per subcommand: run.py, show.py (show and devices),
export.py, demo.py; `symexpr bench` is handed to symexpr.bench unparsed.
"""
from __future__ import annotations

import os
import sys

from .data import USAGE_ERROR, UsageError
from .parser import build_parser

__all__ = ["main", "build_parser"]


def cmd_bench(argv: list[str]) -> int:
    try:
        from symexpr import bench
    except ImportError as err:
        raise UsageError(f"the benchmarks are not available in this installation: {err}") from None
    return bench.main(argv) or 0


def main(argv: list[str] | None = None) -> int:
    """The console script. Returns the exit status: 0, 1 (a demo that disagrees) or 2 (an error)."""
    from ..errors import SymExprError

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

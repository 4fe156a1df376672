"""`symexpr run`: a program on inputs from files or the command line, its results written or printed."""
from __future__ import annotations

import difflib
import os
import stat
import sys

from .data import (UsageError, compile_program, gather_inputs, print_results, program_inputs, results_by_name,
                   write_results)


def cmd_run(args) -> int:
    prog = compile_program(args)
    inputs = gather_inputs(args.inputs, program_from_stdin=args.program == "-")
    named = [spec.partition("=")[0].strip() for spec in args.inputs if "=" in spec]
    unknown = [n for n in named if n not in prog.parsed.input_names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], prog.parsed.input_names, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise UsageError(f"--in {unknown[0]}=...: the program has no input `{unknown[0]}` "
                         f"(its inputs are {', '.join(prog.inputs) or 'none'}){hint}")
    hint = f": give each with --in NAME=FILE or --in NAME=NUMBER (the inputs are {', '.join(prog.inputs)})"
    if not args.inputs and args.program != "-" and _piped_in():
        # (Standard input is read only when asked: a pipe left open would otherwise hang the command.)
        hint += "; a CSV table on standard input is read with --in -"
    results = prog.run(program_inputs(prog, inputs, hint))
    named = results_by_name(prog, results)
    if args.out:
        write_results(args.out, named)
        if args.verbose:
            print(f"wrote {', '.join(named)} to {'standard output' if args.out == '-' else args.out}",
                  file=sys.stderr)
    else:
        print_results(named)
    return 0


def _piped_in() -> bool:
    """Whether standard input is a pipe or a file (a table, perhaps), without reading from it: not a
    terminal, not /dev/null, and not closed (as some daemons and `<&-` leave it)."""
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        return False
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError):  # a stream with no file descriptor (one given in-process)
        return not stdin.isatty()
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)

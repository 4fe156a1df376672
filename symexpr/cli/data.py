"""The command line's data: programs read from a file, standard input or the text itself; inputs from
.npy, .npz and .csv files, numbers or a CSV table on standard input; results written as .npy, .npz
or .csv (or CSV on standard output), or printed. Every problem is a UsageError (exit status 2)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

USAGE_ERROR = 2


class UsageError(Exception):
    """A problem with the command line or its files: printed, exit status 2."""


# -- reading programs and data ---------------------------------------------------------------
def standard_input():
    """sys.stdin, where the command was given one (not closed, as `<&-` and some daemons leave it)."""
    if sys.stdin is None or sys.stdin.closed:
        raise UsageError("standard input is closed: give the program or the table as a file")
    return sys.stdin


def read_program(text: str) -> str:
    """PROGRAM is `-` (stdin), a file, or the program text itself."""
    if text == "-":
        return standard_input().read()
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
        rows = list(csv.reader(standard_input()))
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


def program_inputs(prog, inputs: dict, missing_hint: str) -> dict:
    """The program's inputs, out of those given. One not given is named in the error (with
    `missing_hint` after it), as is a CSV column the program reads that is not numeric."""
    missing = [n for n in prog.inputs if n not in inputs]
    if missing:
        raise UsageError(f"missing input{'s' if len(missing) > 1 else ''} {', '.join(missing)}{missing_hint}")
    for n in prog.inputs:
        if isinstance(inputs[n], NotNumeric):
            raise UsageError(f"{inputs[n].message}, and the program reads it as input `{n}`")
    return {n: inputs[n] for n in prog.inputs}


def compile_program(args):
    """The program of a command's arguments (PROGRAM, --outputs, --backend, --no-optimize), compiled."""
    import symexpr as sx

    outputs = [o.strip() for o in args.outputs.split(",")] if getattr(args, "outputs", None) else None
    return sx.compile(read_program(args.program), outputs=outputs, backend=args.backend,
                      optimize=not args.no_optimize)


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

"""The command line on everyday files: CSV with text and date columns, `--out -` in a pipe, the kernel
shown per signature, the benchmark writing only where asked; and `prog.kernel_source` per call."""
import csv
import io

import numpy as np
import pytest

import symexpr as sx
from test_cli import assert_clean_error, symexpr

CSV = "date,name,x,y\n2024-01-01,alice,1,2.5\n2024-01-02,bob,3,4\n2024-01-03,carol,-2,0.5\n"


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(CSV)
    return path


def test_csv_columns_the_program_does_not_read_are_ignored(table, tmp_path):
    proc = symexpr("run", "c = x * y", "--in", table, "--out", tmp_path / "c.csv", "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(open(tmp_path / "c.csv")))
    assert rows == [["c"], ["2.5"], ["12.0"], ["-1.0"]]


def test_a_text_column_the_program_reads_is_named(table):
    proc = symexpr("run", "c = x * name", "--in", table, "--backend", "numpy")
    assert_clean_error(proc, "column `name` is not numeric", "'alice'", "line 2", "input `name`")
    proc = symexpr("run", "c = x + d", "--in", f"d={table}", "--backend", "numpy")
    assert_clean_error(proc, "d=")  # several columns, none named d: as before
    proc = symexpr("show", "c = x * date", "--explain", "--in", table, "--backend", "numpy")
    assert_clean_error(proc, "column `date` is not numeric", "'2024-01-01'")


def test_out_dash_writes_csv_to_stdout(table):
    proc = symexpr("run", "c = x * y\nd = x + 1", "--in", table, "--out", "-", "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows == [["c", "d"], ["2.5", "2"], ["12.0", "4"], ["-1.0", "-1"]]
    assert proc.stderr == ""


def test_out_dash_composes_in_a_pipe(table, tmp_path):
    first = symexpr("run", "c = x * y", "--in", table, "--out", "-", "--backend", "numpy")
    (tmp_path / "c.csv").write_text(first.stdout)
    second = symexpr("run", "d = c + 1", "--in", tmp_path / "c.csv", "--out", "-", "--backend", "numpy")
    assert second.stdout.split() == ["d", "3.5", "13.0", "0.0"]


def test_show_kernel_with_dtype_float64_under_auto():
    proc = symexpr("show", "c = a * b + 1", "--kernel", "--dtype", "float64")
    assert proc.returncode == 0, proc.stderr
    assert "double" in proc.stdout and "__global const float*" not in proc.stdout
    proc = symexpr("show", "c = a * b + 1", "--kernel")
    assert proc.returncode == 0, proc.stderr
    assert "double" not in proc.stdout and "float" in proc.stdout


def test_show_kernel_for_given_int_inputs_under_auto(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(5, dtype=np.int16))
    proc = symexpr("show", "c = a * 3", "--kernel", "--in", f"a={tmp_path / 'a.npy'}")
    assert proc.returncode == 0, proc.stderr
    assert "short" in proc.stdout and "float" not in proc.stdout


def _kernel_dtype(src: str) -> str:
    return "double" if "double" in src else "float"


def test_kernel_source_follows_the_latest_call_under_auto():
    prog = sx.compile("c = a * b + 1")  # auto
    if prog.backend != "opencl":
        pytest.skip("no OpenCL device")
    assert _kernel_dtype(prog.kernel_source) == "float"  # before any call: float32
    small64, small32 = np.ones(10), np.ones(10, np.float32)
    big64, big32 = np.ones(10**5), np.ones(10**5, np.float32)
    for a, want in [(small64, "double"), (small32, "float"), (small64, "double"), (small64, "double"),
                    (big64, "double"), (big32, "float"), (big64, "double"), (big32, "float"),
                    (small64, "double"), (big32, "float")]:
        prog(a, a)  # the fast path after the first call of each signature
        assert _kernel_dtype(prog.kernel_source) == want, (a.dtype, a.size)
    prog(a=np.ones(3, np.int32), b=2)  # the general path, a weak scalar
    assert "double" not in prog.kernel_source and "int" in prog.kernel_source


def test_kernel_source_follows_the_latest_call_on_opencl():
    prog = sx.compile("c = a * b + 1", backend="opencl")
    for a, want in [(np.ones(10), "double"), (np.ones(10, np.float32), "float"), (np.ones(10), "double"),
                    (np.ones(10, np.float32), "float")]:
        prog(a, a)
        assert _kernel_dtype(prog.kernel_source) == want


def test_bench_short_writes_only_where_out_says(tmp_path):
    args = ("bench", "--short", "--quiet", "--programs", "a*b + c", "--sizes", "10", "--repeats", "1")
    proc = symexpr(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written without --out
    assert "## float32" in proc.stdout and "a*b + c" in proc.stdout  # the table, printed
    proc = symexpr(*args, "--out", tmp_path / "res", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["short.json", "short.md"]
    assert "## float32" in proc.stdout


@pytest.mark.parametrize("command", [(), ("run",), ("show",), ("devices",), ("demo",), ("bench",)])
def test_help_text_never_names_an_issue(command):
    proc = symexpr(*command, "--help")
    assert proc.returncode == 0
    assert "issue" not in proc.stdout.lower()


def test_csv_on_standard_input_composes_in_a_pipe(tmp_path):
    # `cat t.csv | symexpr run ... --in - --out -`: a table in, a table out.
    proc = symexpr("run", "c = x * y\nd = x + 1", "--in", "-", "--out", "-", "--backend", "numpy", stdin=CSV)
    assert proc.returncode == 0, proc.stderr
    got = list(csv.reader(io.StringIO(proc.stdout)))
    x, y = np.array([1, 3, -2]), np.array([2.5, 4.0, 0.5])
    assert got == [["c", "d"]] + [[repr(float(c)), str(d)] for c, d in zip(x * y, x + 1)]
    # One column of it by name, another input from the command line; stdin is read once.
    proc = symexpr("run", "c = v * k + w", "--in", "v=-", "--in", "k=2", "--in", "w=-", "--backend", "numpy",
                   stdin="v\n1.5\n-2\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("c = [ 4.5, -6. ]")  # w is the only column too
    # The text columns of a table on stdin are ignored unless read, and then named.
    proc = symexpr("run", "c = x * name", "--in", "-", "--backend", "numpy", stdin=CSV)
    assert_clean_error(proc, "standard input, line 2: column `name` is not numeric", "'alice'")


def test_stdin_cannot_hold_both_the_program_and_the_table():
    proc = symexpr("run", "-", "--in", "-", stdin="c = x * 2\n")
    assert_clean_error(proc, "standard input already holds the program")
    proc = symexpr("run", "c = x * 2", "--in", "-", "--backend", "numpy", stdin="")
    assert_clean_error(proc, "standard input: the CSV file is empty")


def test_a_table_piped_in_without_in_dash_is_not_read_and_the_error_says_how():
    # Standard input is read only when --in - asks: a pipe left open must not hang the command.
    proc = symexpr("run", "c = x * y", "--backend", "numpy", stdin=CSV)
    assert_clean_error(proc, "missing inputs x, y", "a CSV table on standard input is read with --in -")


def test_run_with_standard_input_closed_or_empty():
    # A command run with no standard input at all (closed, as `<&-` or some daemons leave it) computes
    # as usual; the hint about --in - is for a table actually piped in, not for /dev/null.
    import os
    import subprocess
    import sys

    def run(*args, stdin):
        return subprocess.run([sys.executable, "-m", "symexpr", "run", *args, "--backend", "numpy"],
                              stdin=None if stdin == "closed" else stdin, capture_output=True, text=True, timeout=300,
                              preexec_fn=(lambda: os.close(0)) if stdin == "closed" else None)

    proc = run("c = 1 + 2", stdin="closed")
    assert proc.returncode == 0 and proc.stdout.startswith("c = 3"), proc.stderr
    assert_clean_error(run("c = x * 2", stdin="closed"), "missing input x")
    proc = run("c = x * 2", stdin=subprocess.DEVNULL)
    assert_clean_error(proc, "missing input x")
    assert "--in -" not in proc.stderr, proc.stderr
    # and where the command is told to read it: the same plain message, no traceback
    assert_clean_error(run("-", stdin="closed"), "standard input is closed")
    assert_clean_error(run("c = x * 2", "--in", "-", stdin="closed"), "standard input is closed")

"""The command line, run as a user runs it: `python -m symexpr ...` in a subprocess."""
import csv
import subprocess
import sys

import numpy as np
import pytest

PROGRAM = "d = a * b\nc = where(d > 0, d, 0)\n"


def symexpr(*args, cwd=None, stdin=None, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "symexpr", *map(str, args)], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=timeout)
    return proc


def assert_clean_error(proc, *needles):
    """Exit status 2, the message on stderr, never a traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.fixture
def files(tmp_path):
    a = np.array([1.0, -2.0, 3.0, -4.0], dtype=np.float32)
    b = np.array([2.0, 2.0, -1.0, -1.0], dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    (tmp_path / "prog.sx").write_text(PROGRAM)
    return tmp_path, a, b


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_run_npy_inputs_to_npy(files, backend):
    tmp, a, b = files
    proc = symexpr("run", tmp / "prog.sx", "--in", f"a={tmp / 'a.npy'}", "--in", f"b={tmp / 'b.npy'}",
                   "--out", tmp / "c.npy", "--backend", backend)
    assert proc.returncode == 0, proc.stderr
    c = np.load(tmp / "c.npy")
    d = a * b
    np.testing.assert_array_equal(c, np.where(d > 0, d, 0))
    assert c.dtype == np.float32


def test_run_program_text_with_scalar_prints_result(files):
    tmp, a, _ = files
    proc = symexpr("run", "c = a * k + 1", "--in", f"a={tmp / 'a.npy'}", "--in", "k=2.5",
                   "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    # k is a weak Python scalar: the result keeps a's float32.
    assert "c = [ 3.5, -4. ,  8.5, -9. ]" in proc.stdout
    assert "float32[4]" in proc.stdout


def test_run_npz_table_to_npz_with_several_outputs(files):
    tmp, a, b = files
    np.savez(tmp / "table.npz", a=a, b=b, unused=np.zeros(2))
    proc = symexpr("run", "s = a + b; p = a * b", "--in", tmp / "table.npz", "--out", tmp / "r.npz",
                   "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp / "r.npz") as r:
        assert sorted(r.files) == ["p", "s"]
        np.testing.assert_array_equal(r["s"], a + b)
        np.testing.assert_array_equal(r["p"], a * b)


def test_run_csv_columns_to_csv(tmp_path):
    (tmp_path / "data.csv").write_text("x,y,flag\n1,2.5,True\n2,-1,False\n3,0.5,True\n")
    proc = symexpr("run", "s = x + y\nm = where(flag, x, -x)", "--in", tmp_path / "data.csv",
                   "--out", tmp_path / "out.csv", "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "out.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["s", "m"]
    assert [float(r[0]) for r in rows[1:]] == [3.5, 1.0, 3.5]
    assert [int(r[1]) for r in rows[1:]] == [1, -2, 3]  # x is an int64 column


def test_program_from_stdin(files):
    tmp, a, b = files
    proc = symexpr("run", "-", "--in", f"a={tmp / 'a.npy'}", "--in", "b=-1", "--backend", "numpy",
                   stdin=PROGRAM)
    assert proc.returncode == 0, proc.stderr
    assert "c = [0., 2., 0., 4.]" in proc.stdout


def test_parse_error_prints_caret_and_exits_2():
    proc = symexpr("run", "d = a * \nc = d + 1", "--in", "a=1")
    assert_clean_error(proc, "ParseError", "line 1", "^")
    # The caret message is the SymExprError's own text: the offending line, then the caret.
    lines = proc.stderr.splitlines()
    assert any(line.strip() == "d = a *" for line in lines)


def test_unknown_function_error_exits_2():
    proc = symexpr("show", "c = sine(a)")
    assert_clean_error(proc, "`sine`", "did you mean `sin`", "^^^^")


def test_shape_error_at_call_exits_2(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    np.save(tmp_path / "b.npy", np.zeros(4))
    proc = symexpr("run", "c = a + b", "--in", f"a={tmp_path / 'a.npy'}", "--in", f"b={tmp_path / 'b.npy'}",
                   "--backend", "numpy")
    assert_clean_error(proc, "ShapeError", "cannot broadcast")


def test_missing_input_and_missing_file_exit_2(files):
    tmp, _, _ = files
    assert_clean_error(symexpr("run", PROGRAM, "--in", f"a={tmp / 'a.npy'}"), "missing input b")
    assert_clean_error(symexpr("run", PROGRAM, "--in", f"a={tmp / 'nope.npy'}", "--in", "b=1"),
                       "no such file")
    assert_clean_error(symexpr("run", tmp / "nope.sx"), "no such program file")


def test_npy_out_with_two_outputs_is_an_error(files):
    tmp, _, _ = files
    proc = symexpr("run", "s = a + 1; p = a * 2", "--in", f"a={tmp / 'a.npy'}", "--out", tmp / "r.npy",
                   "--backend", "numpy")
    assert_clean_error(proc, "a .npy file holds one array", "use .npz or .csv")


def test_bad_backend_and_unknown_command_are_usage_errors():
    assert symexpr("run", PROGRAM, "--backend", "cuda").returncode == 2
    proc = symexpr("frobnicate")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [[], ["run"], ["show"], ["devices"], ["demo"]])
def test_help_everywhere(command):
    proc = symexpr(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: symexpr")


def test_show_graph_dot_and_explain():
    src = "d = a * b\nunused = a - b\nc = d + 0"
    graph = symexpr("show", src, "--outputs", "c", "--backend", "numpy")
    assert graph.returncode == 0, graph.stderr
    assert "multiply(a, b)" in graph.stdout and "outputs: c" in graph.stdout
    assert "subtract" not in graph.stdout  # dead code is gone from the optimized graph

    dot = symexpr("show", src, "--outputs", "c", "--dot", "--removed", "--backend", "numpy")
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph") and "line 2" in dot.stdout and "dashed" in dot.stdout

    explain = symexpr("show", src, "--outputs", "c", "--explain", "--backend", "numpy")
    assert explain.returncode == 0, explain.stderr
    assert "line 2" in explain.stdout and "removed" in explain.stdout


def test_show_kernel_on_opencl():
    proc = symexpr("show", PROGRAM, "--kernel", "--backend", "opencl")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("__kernel") == 1
    assert "line 2" in proc.stdout  # the source line, in a comment above its statement


def test_show_kernel_on_numpy_is_a_clear_error():
    assert_clean_error(symexpr("show", PROGRAM, "--kernel", "--backend", "numpy"), "no kernel to show")


def test_devices_lists_something():
    proc = symexpr("devices")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("0: ") or "no OpenCL device" in proc.stdout


def test_demo_runs_and_agrees():
    proc = symexpr("demo", "--size", "100000", "--repeat", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "# the optimized graph" in out and "np.allclose: True" in out
    assert "numpy engine" in out and out.rstrip().endswith("agree")
    assert "Traceback" not in proc.stderr


def test_bench_is_delegated(monkeypatch):
    # `symexpr bench` hands its remaining arguments to symexpr.bench.main, unparsed.
    from symexpr import cli

    seen = {}
    fake = type(sys)("symexpr.bench")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 0
    monkeypatch.setitem(sys.modules, "symexpr.bench", fake)
    import symexpr
    monkeypatch.setattr(symexpr, "bench", fake, raising=False)
    assert cli.main(["bench", "--quick", "--programs", "a,b"]) == 0
    assert seen["argv"] == ["--quick", "--programs", "a,b"]


def test_show_kernel_specialized_for_a_dtype():
    proc = symexpr("show", "c = a * b + 1", "--kernel", "--dtype", "float64", "--backend", "opencl")
    assert proc.returncode == 0, proc.stderr
    assert "double" in proc.stdout and "float*" not in proc.stdout
    assert_clean_error(symexpr("show", "c = a * b", "--kernel", "--dtype", "int33", "--backend", "opencl"),
                       "not a NumPy dtype")


def test_unknown_input_name_is_an_error_with_a_hint(files):
    tmp, _, _ = files
    proc = symexpr("run", PROGRAM, "--in", f"a={tmp / 'a.npy'}", "--in", "bb=2", "--backend", "numpy")
    assert_clean_error(proc, "no input `bb`", "did you mean `b`?")


def test_show_explain_for_a_signature(files):
    tmp, _, _ = files
    proc = symexpr("show", "c = a * 1 + b", "--explain", "--in", f"a={tmp / 'a.npy'}", "--in", "b=2",
                   "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    assert "# for a: float32[4]" in proc.stdout and "memory plan" in proc.stdout

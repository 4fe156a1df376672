"""`symexpr export`: a program file, an ONNX model or C sources from the command line, and its errors."""
import shutil
import subprocess

import numpy as np
import pytest

import symexpr as sx
from test_cli import PROGRAM, assert_clean_error, symexpr


@pytest.fixture
def files(tmp_path):
    """test_cli's program, and its inputs as .npy files."""
    data = {"a": np.array([1.0, -2.0, 3.0, -4.0], np.float32), "b": np.array([2.0, 2.0, -1.0, -1.0], np.float32)}
    for name, values in data.items():
        np.save(tmp_path / f"{name}.npy", values)
    (tmp_path / "prog.sx").write_text(PROGRAM)
    return tmp_path, data["a"], data["b"]


def test_export_c_builds_and_runs(files):
    tmp, a, b = files
    out = tmp / "c"
    proc = symexpr("export", tmp / "prog.sx", "--format", "c", "--in", "a=float32[n]", "--in", "b=float32[n]",
                   "-o", out, "--name", "relu_product")
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {"relu_product.c", "relu_product.h", "main.c", "Makefile"}
    if shutil.which("make") and shutil.which("cc"):
        subprocess.run(["make", "-s"], cwd=out, check=True)
        subprocess.run(["./relu_product", tmp / "a.npy", tmp / "b.npy", tmp / "c.npy"], cwd=out, check=True)
        np.testing.assert_array_equal(np.load(tmp / "c.npy"), np.where(a * b > 0, a * b, 0))


def test_export_json_with_params_then_onnx(files):
    tmp, a, b = files
    proc = symexpr("export", tmp / "prog.sx", "--format", "json", "--param", f"b={tmp / 'b.npy'}", "-o", tmp / "j")
    assert proc.returncode == 0, proc.stderr
    loaded = sx.load(tmp / "j" / "program.json")
    assert loaded.inputs == ("a",)
    np.testing.assert_array_equal(loaded(a), np.where(a * b > 0, a * b, 0))
    pytest.importorskip("onnx")
    proc = symexpr("export", tmp / "j" / "program.json", "--format", "onnx", "--in", "a=float32[4]", "-o", tmp / "o")
    assert proc.returncode == 0, proc.stderr
    assert (tmp / "o" / "program.onnx").exists()


@pytest.mark.parametrize("args, needles", [
    (["--format", "c", "--in", "a=float32[n]"], ["does not give input `b`"]),
    (["--format", "onnx", "--in", "a=float3[n]", "--in", "b=float32[n]"], ["not a signature"]),
    (["--format", "c", "--in", "a"], ["--in a: give NAME=DTYPE[DIMS]"]),
    (["--format", "json", "--in", "a=float32[n]"], ["--in is for --format onnx and c"]),
    (["--format", "c", "--param", "a=x.npy"], ["--param is for --format json"]),
    (["--format", "pdf"], ["invalid choice"]),
])
def test_export_errors_are_clean(files, args, needles):
    tmp, _, _ = files
    assert_clean_error(symexpr("export", tmp / "prog.sx", *args, "-o", tmp / "out"), *needles)


def test_export_refusal_names_the_line(files):
    tmp, _, _ = files
    pytest.importorskip("onnx")
    (tmp / "r.sx").write_text("d = a * 2\ns = copysign(d, a)\n")
    assert_clean_error(symexpr("export", tmp / "r.sx", "--format", "onnx", "--in", "a=float32[n]", "-o", tmp / "out"),
                       "ExportError", "line 2, `s = copysign(d, a)`")

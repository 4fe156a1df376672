"""The C export: built with the system C compiler and run on .npy files, it gives the NumPy engine's
results, bit for bit for exact ops and within the OpenCL backend's ulps for transcendental ones.

Each program is exported with `Program.to_c`, built with its own Makefile, and run as a subprocess
(`./program in_a.npy ... out_c.npy ...`), as a user without Python would run it. The exact-op
fuzzer's random programs run here too (`--fuzz-long` for many more).
"""
from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, note, settings

import symexpr as sx
from helpers import OPENCL_ULPS, assert_same, edge_values, pairs
from symexpr.export.c_export import render_c
from symexpr.export.signature import ExportError, Exported
from symexpr.graph import Node, rebuild
from symexpr.infer import Kind
from symexpr.ops import OPS
from test_fuzz_exact import random_case, same_bits
from test_properties import SETTINGS, TRANSCENDENTAL_FUNCTIONS, ULP_NAMES, program_and_data, top_ops

pytestmark = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None,
                                reason="no C compiler or make (.ci/run installs them)")

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64")


class CProgram:
    """An exported, built program, called like a Program: inputs by name, the results as arrays."""

    def __init__(self, prog: sx.Program, directory, **signature):
        self.prog = prog
        self.dir = directory
        paths = prog.to_c(directory, **signature)
        self.source = paths["source"].read_text()
        build = subprocess.run(["make", "-s", "CFLAGS=-std=c99 -O2 -ffp-contract=off -Wall -Werror"],
                               cwd=directory, capture_output=True, text=True)
        assert build.returncode == 0, build.stderr + "\n" + self.source

    def __call__(self, **values):
        ins = [n for n in self.prog.inputs]
        for name in ins:
            np.save(self.dir / f"in_{name}.npy", np.asarray(values[name]))
        outs = [self.dir / f"out_{o}.npy" for o in self.prog.outputs]
        run = subprocess.run(["./program", *[f"in_{n}.npy" for n in ins], *map(str, outs)], cwd=self.dir,
                             capture_output=True, text=True)
        if run.returncode == 1 and "negative integer powers" in run.stderr:
            raise sx.EvaluationError(run.stderr)
        assert run.returncode == 0, run.stderr
        results = tuple(np.load(p) for p in outs)
        return results[0] if len(results) == 1 else results


def reference(prog, values):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = prog(**values)
    return out if isinstance(out, tuple) else (out,)


UNARY = ["negative", "positive", "invert", "logical_not", "absolute", "sqrt", "cbrt", "square", "exp", "exp2",
         "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh",
         "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "floor", "ceil", "trunc", "rint", "sign", "isnan",
         "isinf", "isfinite", "signbit", "sigmoid", "relu", "float32", "float64", "int8", "int16", "int32",
         "int64", "uint8", "uint16", "uint32", "uint64", "bool", "round", "real", "imag", "conjugate", "angle"]
# Casts to the dtypes the exports do not have yet: refused with their line (below).
NOT_EXPORTED = ["float16", "complex64", "complex128"]
BINARY = {"add": "a + b", "subtract": "a - b", "multiply": "a * b", "divide": "a / b", "floor_divide": "a // b",
          "remainder": "a % b", "power": "a ** b", "bitwise_and": "a & b", "bitwise_or": "a | b",
          "bitwise_xor": "a ^ b", "left_shift": "a << b", "right_shift": "a >> b", "less": "a < b",
          "less_equal": "a <= b", "greater": "a > b", "greater_equal": "a >= b", "equal": "a == b",
          "not_equal": "a != b", "logical_and": "a and b", "logical_or": "a or b", "arctan2": "arctan2(a, b)",
          "hypot": "hypot(a, b)", "fmod": "fmod(a, b)", "copysign": "copysign(a, b)",
          "nextafter": "nextafter(a, b)", "minimum": "minimum(a, b)", "maximum": "maximum(a, b)",
          "where": "where(a, a, b)", "clip": "clip(a, b, 3)"}
UNARY_SYNTAX = {"negative": "-a", "positive": "+a", "invert": "~a", "logical_not": "not a"}


def test_the_conformance_lists_cover_every_elementwise_op():
    elementwise = {n for n, op in OPS.items() if op.kind == "elementwise"}
    assert elementwise == set(UNARY) | set(BINARY) | set(NOT_EXPORTED)


@pytest.mark.parametrize("op", NOT_EXPORTED)
def test_float16_and_complex_are_refused_with_their_line(tmp_path, op):
    prog = sx.compile(f"b = a + 1\nc = {op}(b)", backend="numpy")
    with pytest.raises(ExportError, match=r"line 2, `c = .*`: .* cannot be exported to C yet"):
        prog.to_c(tmp_path, a="float32[n]")


def accepted(lines: dict, dtype: str) -> dict:
    """The statements NumPy accepts for operands of `dtype` (int8 & float32 is refused, and so on)."""
    out = {}
    for op, text in lines.items():
        try:
            prog = sx.compile(f"o_{op} = {text}", backend="numpy")
            prog.specialized(**{n: np.zeros(2, dtype) for n in "ab"})
        except sx.SymExprError:
            continue
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = np.asarray(prog(**{n: np.zeros(2, dtype) for n in prog.inputs}))
        if result.dtype == np.float16:  # (sin of a bool): the exports refuse float16, tested apart
            continue
        out[op] = text
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_op_matches_the_numpy_engine(tmp_path, dtype):
    """One C program per dtype, one output per op, on every pair of edge values."""
    lines = {op: UNARY_SYNTAX.get(op, f"{op}(a)") for op in UNARY}
    lines = accepted(lines, dtype) | accepted(BINARY, dtype)
    src = "\n".join(f"o_{op} = {text}" for op, text in lines.items())
    prog = sx.compile(src, backend="numpy")
    a, b = pairs(edge_values(dtype), edge_values(dtype))
    if dtype in ("int8", "int16", "int32", "int64") and "power" in lines:
        b = np.abs(b)  # int ** negative int is NumPy's error: tested below
        b[b < 0] = 0
    cprog = CProgram(prog, tmp_path, a=f"{dtype}[n]", b=f"{dtype}[n]")
    got = cprog(a=a, b=b)
    for op, g, e in zip(lines, got, reference(prog, {"a": a, "b": b})):
        assert_same(g, e, ulps=OPENCL_ULPS.get(op, 0), context=f"{op} of {dtype}")


def test_broadcasting_named_dimensions_and_several_loops(tmp_path):
    prog = sx.compile("d = a * b + c\ne = b - 1\nf = sin(c) > 0.5", backend="numpy")
    cprog = CProgram(prog, tmp_path, a="float64[n, 1]", b="float64[m]", c="float32")
    rng = np.random.default_rng(3)
    for n, m in ((4, 5), (1, 3), (0, 2)):
        values = {"a": rng.standard_normal((n, 1)), "b": rng.standard_normal(m), "c": np.float32(0.25)}
        for g, e in zip(cprog(**values), reference(prog, values)):
            assert_same(g, e)
    assert "int64_t d_n, int64_t d_m" in cprog.source


def test_strided_operands_and_uniform_power(tmp_path):
    """x ** 2 with the exponent broadcast (NumPy's fast path, x*x, not pow) and as an array."""
    prog = sx.compile("p = x ** e\nq = clip(x, lo, 1.0)", backend="numpy")
    cprog = CProgram(prog, tmp_path, x="float32[2, k]", e="float32[2, 1]", lo="float32[k]")
    x = np.array([[0.1, -0.0, 3.3], [1e20, 2.5, -7.0]], np.float32)
    values = {"x": x, "e": np.array([[2.0], [0.5]], np.float32), "lo": np.array([-0.0, 0.0, 2.0], np.float32)}
    for g, e in zip(cprog(**values), reference(prog, values)):
        assert_same(g, e, ulps=16)


def test_negative_integer_power_is_an_error(tmp_path):
    prog = sx.compile("c = a ** b", backend="numpy")
    cprog = CProgram(prog, tmp_path, a="int32[n]", b="int32[n]")
    with pytest.raises(sx.EvaluationError):
        cprog(a=np.array([2, 3], np.int32), b=np.array([1, -1], np.int32))


def test_user_names_reach_c_only_mangled(tmp_path):
    src = "int = main + float\nsx_n = int * i\nreturn_ = -sx_n"
    prog = sx.compile(src, backend="numpy")
    cprog = CProgram(prog, tmp_path, main="int64[n]", float="int64[n]", i="int64[n]")
    values = {k: np.arange(4, dtype=np.int64) + j for j, k in enumerate(prog.inputs)}
    assert_same(cprog(**values), reference(prog, values)[0])
    code = "\n".join(ln for ln in cprog.source.split("\n") if not ln.lstrip().startswith(("//", "/*", "*")))
    assert "in_main" in code and " main " not in code and " float *" not in code


def test_saved_parameters_are_embedded(tmp_path):
    w = np.array([1.5, np.nan, -0.0, np.inf], np.float32)
    w[1] = np.array(0xFFC00123, np.uint32).view(np.float32)  # a NaN with a payload, kept bit for bit
    sx.compile("c = x * w + k", backend="numpy").save(tmp_path / "p.json", params={"w": w, "k": np.int16(-3)})
    prog = sx.load(tmp_path / "p.json")
    cprog = CProgram(prog, tmp_path / "c", x="float32[4]")
    x = np.array([2.0, 1.0, 5.0, -1.0], np.float32)
    got = cprog(x=x)
    assert got.tobytes() == prog(x).tobytes()


EXACT_STRUCTURED = ("max", "min", "argmax", "argmin", "any", "all", "transpose")
STRUCTURED_CASES = ["{f}(a)", "{f}(a, axis=0)", "{f}(a, axis=-1, keepdims=True)", "{f}(a, keepdims=True)",
                    "{f}(a, axis=(0, 2))"]


def structured_lines() -> dict:
    """Every reduction, softmax, product and transpose, with several axes: name -> statement."""
    lines = {}
    for f, op in OPS.items():
        if op.kind in ("reduction", "rowwise"):
            forms = STRUCTURED_CASES if op.kind == "reduction" else ["{f}(a)", "{f}(a, axis=1)"]
            lines |= {f"{f}_{k}": form.format(f=f) for k, form in enumerate(forms)}
    return lines | {"transpose_0": "transpose(a)", "transpose_1": "transpose(a, (1, 0, 2))",
                    "matmul_0": "a @ transpose(a, (0, 2, 1))", "matmul_1": "transpose(a, (0, 2, 1)) @ a"}


def structured_data(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(edge values, smooth values) of shape (3, 4, 5): NaN, inf and extremes; values that sum without cancelling."""
    rng = np.random.default_rng(7)
    edges = rng.choice(edge_values(dtype), (3, 4, 5))
    smooth = (rng.random((3, 4, 5)) * 4 + 0.5).astype(dtype) if dtype[0] in "fu" else \
        rng.integers(-3, 4, (3, 4, 5)).astype(dtype)
    return edges, smooth


def compare_structured(names, got, expected, dtype: str, smooth: bool) -> None:
    """Exact ops (max, min, their indices, any, all, transposes; integer sums, products and matrix products)
    bit for bit; float sums, means, variances, softmax and products within rounding, on smooth data (sums
    of edge values, inf - inf or 1e308 + 1e308, depend on the order)."""
    for name, g, e in zip(names, got, expected):
        op = name.rsplit("_", 1)[0]
        context = f"{name}: {names[name]} of {dtype}"
        if op in EXACT_STRUCTURED or (np.dtype(dtype).kind != "f" and op in ("sum", "prod", "matmul")):
            assert_same(g, e, context=context)
        elif smooth:
            assert g.dtype == e.dtype and g.shape == e.shape, context
            rtol = 2e-6 if g.dtype == np.float32 else 1e-13
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol, equal_nan=True, err_msg=context)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int32", "int64", "uint16", "uint64", "bool"])
def test_reductions_softmax_products_and_transposes(tmp_path, dtype):
    lines = {}
    for name, text in structured_lines().items():
        try:
            one = sx.compile(f"o = {text}", backend="numpy")
            one.specialized(a=np.zeros((3, 4, 5), dtype))
        except sx.SymExprError:
            continue  # NumPy refuses it for the dtype
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if np.asarray(one(np.ones((3, 4, 5), dtype))).dtype == np.float16:
                continue  # (logsumexp of int8): the exports refuse float16, tested apart
        lines[name] = text
    prog = sx.compile("\n".join(f"{n} = {t}" for n, t in lines.items()), backend="numpy")
    cprog = CProgram(prog, tmp_path, a=f"{dtype}[3, k, 5]")
    for data in structured_data(dtype):
        compare_structured(lines, cprog(a=data), reference(prog, {"a": data}), dtype, data.dtype.kind != "f" or
                           bool(np.isfinite(data).all() and (data > 0).all()))


def test_the_maximum_of_an_empty_axis_is_an_error(tmp_path):
    prog = sx.compile("m = max(a, axis=1)\ns = sum(a, axis=1)", backend="numpy")
    cprog = CProgram(prog, tmp_path, a="float32[2, k]")
    with pytest.raises(AssertionError, match="empty axis"):
        cprog(a=np.zeros((2, 0), np.float32))
    with pytest.raises(ValueError):
        prog(a=np.zeros((2, 0), np.float32))


SPECIAL_CALLS = {"expand_dims": "expand_dims(a, 0)", "grad": "grad(sum(a * b), a)"}


def every_op_program(name: str) -> str:
    """A one-statement program using op `name` (an op the language has no name for is made by `grad`)."""
    op = OPS[name]
    if not op.functions and op.symbol is None:
        return "c = grad(sum(a @ transpose(b) * a), b)"  # sum_to, seed, count, matmul_grad
    if name in SPECIAL_CALLS:
        return f"c = {SPECIAL_CALLS[name]}"
    call = op.functions[0] if op.functions else None
    return f"c = {call}({', '.join('abc'[:op.arity])})" if call else f"c = a {op.symbol} b" if op.arity == 2 \
        else f"c = {op.symbol}a" if op.symbol != "not" else "c = not a"


def check_every_op(export, target: str) -> None:
    """Every op of the table, those added since included: `export(prog, signature)` writes it, or refuses
    it with the line and `cannot be exported to {target}`."""
    for name in OPS:
        prog = sx.compile(every_op_program(name), backend="numpy")
        for dtype in ("float32", "int32", "bool"):  # the first dtype NumPy takes for the op
            try:
                export(prog, {n: f"{dtype}[3, 3]" for n in prog.inputs})
            except ExportError as err:
                assert str(err).startswith("line 1, `c = ") and f"cannot be exported to {target}" in str(err), str(err)
            except sx.SymExprError:
                continue
            break
        else:
            raise AssertionError(f"{name}: no dtype")


def test_every_op_exports_or_is_refused_clearly(tmp_path):
    check_every_op(lambda prog, signature: prog.to_c(tmp_path, **signature), "C")


def gradient_case():
    """A program with a gradient, and its inputs."""
    prog = sx.compile("l = sum(relu(x @ w) * y)\ngw = grad(l, w)", backend="numpy")
    rng = np.random.default_rng(2)
    return prog, {"x": rng.random((3, 4)), "w": rng.random((4, 2)) - 0.5, "y": rng.random((3, 2))}


def test_gradients_export_for_fixed_shapes(tmp_path):
    prog, values = gradient_case()
    cprog = CProgram(prog, tmp_path, **values)
    np.testing.assert_allclose(cprog(**values), prog(**values), rtol=1e-13)
    with pytest.raises(ExportError, match="fixed shapes"):
        prog.to_c(tmp_path / "n", x="float64[n, 4]", w=values["w"], y="float64[n, 2]")


def test_an_unknown_op_is_refused():
    """An op added to the language later (a gradient, a new dtype's op) and not to the C export."""
    prog = sx.compile("c = a + b", backend="numpy")
    a, b = prog.graph.inputs
    odd = Node("frobnicate", (a, b), (), "c", statement=prog.graph.outputs[0][1].statement)
    graph = rebuild(prog.graph, outputs=[("c", odd)])
    f32 = Kind(np.dtype("float32"))
    exp = Exported(graph, {n: f32 for n in graph.nodes}, {n: (3,) for n in graph.nodes},
                   {"a": (f32.dtype, (3,)), "b": (f32.dtype, (3,))}, (), {})
    with pytest.raises(ExportError, match="line 1, `c = a \\+ b`: `frobnicate` \\(an op this version does not know\\) "
                                          "cannot be exported to C yet"):
        render_c(exp, "program")


@pytest.mark.parametrize("signature, message", [
    ({"a": "float32[n]"}, "does not give input `b`"),
    ({"a": "float32[n]", "b": "float32[n]", "z": "int8"}, "unknown input `z`"),
    ({"a": "float32[n]", "bb": "float32[n]"}, "did you mean `b`"),
    ({"a": "float33[n]", "b": "float32[n]"}, "not a signature"),
    ({"a": "float32[n+1]", "b": "float32[n]"}, "neither a length nor a name"),
    ({"a": 2.5, "b": "float32[n]"}, "no dtype of its own"),
    ({"a": "float32[n]", "b": "float32[m]"}, "named dimensions are different lengths"),
    ({"a": "float32[n]", "b": "float32[n]", "name": "sx_bad"}, "C identifier"),
])
def test_bad_signatures_are_clear_errors(tmp_path, signature, message):
    prog = sx.compile("c = a + b", backend="numpy")
    with pytest.raises(sx.SymExprError, match=message):
        prog.to_c(tmp_path, **signature)


def test_main_refuses_files_of_the_wrong_dtype_or_shape(tmp_path):
    prog = sx.compile("c = a + b", backend="numpy")
    CProgram(prog, tmp_path, a="float32[n]", b="float32[n]")
    np.save(tmp_path / "a.npy", np.zeros(3, np.float32))
    np.save(tmp_path / "b.npy", np.zeros(3, np.float64))
    np.save(tmp_path / "b4.npy", np.zeros(4, np.float32))
    run = lambda *args: subprocess.run(["./program", *args], cwd=tmp_path, capture_output=True, text=True)  # noqa: E731
    bad_dtype = run("a.npy", "b.npy", "c.npy")
    assert bad_dtype.returncode == 1 and "must be float32" in bad_dtype.stderr
    bad_shape = run("a.npy", "b4.npy", "c.npy")
    assert bad_shape.returncode == 1 and "dimension 0 is 4, not 3" in bad_shape.stderr
    usage = run("a.npy")
    assert usage.returncode == 2 and "usage" in usage.stderr


def fuzz_programs(request, short: int, long: int) -> int:
    """How many of the fuzzer's programs an export test checks: SYMEXPR_FUZZ_PROGRAMS, else `long` with
    --fuzz-long, else `short`."""
    return int(os.environ.get("SYMEXPR_FUZZ_PROGRAMS", 0)) or (long if request.config.getoption("--fuzz-long") else short)


def exported_fuzz_cases(rng, export, count: int):
    """`count` of the exact-operation fuzzer's programs that NumPy and the export both take, with array
    inputs only (a Python scalar has no dtype for the export's signature): (source, program, the
    values of its inputs, what `export(program, signature)` made)."""
    done = 0
    while done < count:
        src, values = random_case(rng)
        if any(type(v) in (int, float, bool) for v in values.values()):
            continue
        try:
            prog = sx.compile(src, backend="numpy")
            signature = {n: f"{np.asarray(values[n]).dtype}[n]" if np.ndim(values[n]) else values[n]
                         for n in prog.inputs}
            exported = export(prog, signature)
        except sx.SymExprError:
            continue  # NumPy refuses the program's dtypes, or the export cannot say it (tested apart)
        done += 1
        yield src, prog, {n: values[n] for n in prog.inputs}, exported


def test_random_exact_programs_give_numpy_engine_bits(tmp_path, request):
    """The exact-operation fuzzer's programs, exported and built: the NumPy engine's bits."""
    rng = random.Random(int(os.environ.get("SYMEXPR_FUZZ_SEED", "23")))
    folders = itertools.count()
    build = lambda prog, signature: CProgram(prog, tmp_path / f"p{next(folders)}", **signature)  # noqa: E731
    failures = []
    for src, prog, values, cprog in exported_fuzz_cases(rng, build, fuzz_programs(request, 16, 400)):
        if not same_bits(prog, cprog, values):
            failures.append(f"{src}\ninputs {values!r}")
    assert not failures, "\n\n".join(failures[:3])


@settings(max_examples=25, **SETTINGS)
@given(case=program_and_data(transcendental=True))
def test_hypothesis_programs_match_the_numpy_engine(tmp_path_factory, case):
    """Programs and data drawn by the property tests (broadcast shapes, empty arrays, every float),
    built and run: the NumPy engine's bits for exact ops, its values within ulps for transcendental ones."""
    generated, data = case
    src = generated.source()
    note(f"program:\n{src}")
    assume(not any(type(v) in (int, float, bool) for v in data.values()))  # no dtype for the signature
    prog = sx.compile(src, backend="numpy")
    values = {n: data[n] for n in prog.inputs}
    try:
        expected = reference(prog, values)
    except sx.SymExprError:
        return
    try:
        cprog = CProgram(prog, tmp_path_factory.mktemp("h"), **values)
    except ExportError as err:  # float16 values (drawn inputs, sin of a bool): refused with the line
        assert "line " in str(err) and "float16 values cannot be exported to C yet" in str(err)
        return
    got = cprog(**values)
    tops = top_ops(generated)
    for name, g, e in zip(prog.outputs, got if isinstance(got, tuple) else (got,), expected):
        op = tops[name]
        ulps = OPENCL_ULPS.get(ULP_NAMES.get(op, op), 0) if op in TRANSCENDENTAL_FUNCTIONS else 0
        assert_same(g, e, ulps, context=f"output {name}")

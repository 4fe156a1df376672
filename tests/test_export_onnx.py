"""The ONNX export: onnx.checker accepts the model, and onnxruntime gives the NumPy engine's results,
bit for bit for exact ops (NaN where NumPy has NaN, whatever its payload) and within the OpenCL
backend's ulps for transcendental ones; what ONNX cannot say is refused with the line."""
from __future__ import annotations

import os
import random
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, note, settings

import symexpr as sx
from helpers import OPENCL_ULPS, assert_same, edge_values, pairs
from symexpr.export.signature import ExportError
from test_export_c import (BINARY, DTYPES, UNARY, UNARY_SYNTAX, check_every_op, compare_structured, exported_fuzz_cases,
                           fuzz_programs, gradient_case, reference, structured_data, structured_lines)
from test_properties import SETTINGS, TRANSCENDENTAL_FUNCTIONS, ULP_NAMES, program_and_data, top_ops

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Refused, with the reason in the message: ONNX has no bit casts (a NaN's sign) nor atan2.
REFUSED = {"copysign": "sign bit", "nextafter": "bit casts", "arctan2": "atan2",
           **{op: "does not have yet" for op in ("round", "real", "imag", "conjugate", "angle")}}
# onnxruntime has float32 kernels only for these; float64 is refused.
FLOAT32_ONLY = {"arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh"}


class OnnxProgram:
    """An exported model run by onnxruntime, called like a Program."""

    def __init__(self, prog, path, **signature):
        self.prog = prog
        self.model = prog.to_onnx(path, **signature)
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def __call__(self, **values):
        feed = {i.name: np.asarray(values[i.name]) for i in self.session.get_inputs()}
        out = tuple(self.session.run(None, feed))
        return out[0] if len(out) == 1 else out


def allowed_refusal(op: str, dtype: str) -> str | None:
    """The reason the ONNX export gives for refusing `op` of `dtype`, if it may."""
    if op in REFUSED:
        return REFUSED[op]
    if op in FLOAT32_ONLY | {"sin", "cos", "tan"} and dtype != "float32":
        return "float64"
    if op == "power" and dtype.startswith("int"):
        return "may be negative"
    if op == "signbit" and dtype.startswith("float"):
        return "sign bit"
    return None


def exportable(lines: dict, dtype: str, tmp_path) -> dict:
    """The statements NumPy accepts for `dtype` and the ONNX export exports; the others refused as allowed."""
    out = {}
    for op, text in lines.items():
        prog = sx.compile(f"o = {text}", backend="numpy")
        try:
            prog.to_onnx(tmp_path / "one.onnx", **{n: f"{dtype}[n]" for n in prog.inputs})
        except ExportError as err:
            reason = allowed_refusal(op, dtype)
            new_dtype = "float16 and complex values" in str(err)  # (sin of a bool is float16)
            assert new_dtype or (reason is not None and reason in str(err)), f"{op} of {dtype}: {err}"
            assert str(err).startswith("line 1, `o = ")
            continue
        except sx.SymExprError:
            continue  # NumPy refuses the op for the dtype
        out[op] = text
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_op_matches_the_numpy_engine(tmp_path, dtype):
    lines = {op: UNARY_SYNTAX.get(op, f"{op}(a)") for op in UNARY}
    lines = exportable(lines, dtype, tmp_path) | exportable(BINARY, dtype, tmp_path)
    prog = sx.compile("\n".join(f"o_{op} = {text}" for op, text in lines.items()), backend="numpy")
    a, b = pairs(edge_values(dtype), edge_values(dtype))
    if dtype.startswith("uint") and "power" in lines:
        b = b % 70  # many bits; fewer steps of numpy's loop would not change the result
    model = OnnxProgram(prog, tmp_path / "all.onnx", a=f"{dtype}[n]", b=f"{dtype}[n]")
    for op, g, e in zip(lines, model(a=a, b=b), reference(prog, {"a": a, "b": b})):
        assert_same(g, e, ulps=OPENCL_ULPS.get(op, 0), context=f"{op} of {dtype}")


def test_mixed_dtypes_casts_and_comparisons(tmp_path):
    src = ("c = a + b\nd = a < u\ne = u >= b\nf = int8(a * 1e3)\ng = uint64(a) == u\nh = i // j\nk = i % j\n"
           "m = i >> j\nn = i << j")
    prog = sx.compile(src, backend="numpy")
    model = OnnxProgram(prog, tmp_path / "m.onnx", a="float32[n]", b="int16[n]", u="uint64[n]", i="int32[n]",
                        j="int32[n]")
    i, j = pairs(edge_values("int32"), edge_values("int32"))
    n = len(i)
    rng = np.random.default_rng(0)
    values = {"a": np.resize(edge_values("float32"), n), "b": np.resize(edge_values("int16"), n),
              "u": rng.choice(edge_values("uint64"), n), "i": i, "j": j}
    for g, e in zip(model(**values), reference(prog, values)):
        assert_same(g, e)


def test_named_dimensions_and_broadcasting(tmp_path):
    prog = sx.compile("d = x ** e\nq = clip(x, lo, 1.0)\nr = x * 2", backend="numpy")
    model = OnnxProgram(prog, tmp_path / "m.onnx", x="float32[batch, k]", e="float32[batch, 1]", lo="float32[k]")
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.model.graph.input}
    assert inputs["x"] == ["batch", "k"]
    x = np.array([[0.1, -0.0, 3.3], [1e20, 2.5, -7.0]], np.float32)
    values = {"x": x, "e": np.array([[2.0], [0.5]], np.float32), "lo": np.array([-0.0, 0.0, 2.0], np.float32)}
    for g, e in zip(model(**values), reference(prog, values)):
        assert_same(g, e, ulps=16)


def test_saved_parameters_are_initializers(tmp_path):
    w = np.linspace(-1, 1, 6).reshape(2, 3)
    sx.compile("y = relu(x * w + 1)", backend="numpy").save(tmp_path / "p.json", params={"w": w})
    prog = sx.load(tmp_path / "p.json")
    model = OnnxProgram(prog, tmp_path / "m.onnx", x="float64[2, 3]")
    assert [i.name for i in model.model.graph.input] == ["x"]
    x = np.arange(6.0).reshape(2, 3)
    assert_same(model(x=x), prog(x))


def test_an_output_named_as_an_input(tmp_path):
    prog = sx.compile("a = a * 2", backend="numpy")
    model = OnnxProgram(prog, tmp_path / "m.onnx", a="int64[3]")
    assert [o.name for o in model.model.graph.output] == ["a_out"]
    assert_same(model(a=np.arange(3)), np.arange(3) * 2)


def test_what_onnx_cannot_say_is_refused_with_its_line(tmp_path):
    prog = sx.compile("d = a * 2\ns = copysign(d, a)", backend="numpy")
    with pytest.raises(ExportError, match=r"line 2, `s = copysign\(d, a\)`: `copysign` cannot be exported to ONNX"):
        prog.to_onnx(tmp_path / "m.onnx", a="float32[n]")
    prog = sx.compile("c = a ** b", backend="numpy")
    with pytest.raises(ExportError, match="may be negative"):
        prog.to_onnx(tmp_path / "m.onnx", a="int32[n]", b="int32[n]")


def test_every_op_exports_or_is_refused_clearly(tmp_path):
    check_every_op(lambda prog, signature: prog.to_onnx(tmp_path / "m.onnx", **signature), "ONNX")


def test_gradients_export_for_fixed_shapes(tmp_path):
    prog, values = gradient_case()
    model = OnnxProgram(prog, tmp_path / "g.onnx", **values)
    np.testing.assert_allclose(model(**values), prog(**values), rtol=1e-13)


def test_random_exact_programs(tmp_path, request):
    """The exact-operation fuzzer's programs: onnxruntime gives the NumPy engine's values."""
    rng = random.Random(int(os.environ.get("SYMEXPR_FUZZ_SEED", "31")))
    export = lambda prog, signature: OnnxProgram(prog, tmp_path / "m.onnx", **signature)  # noqa: E731
    failures = []
    for src, prog, values, model in exported_fuzz_cases(rng, export, fuzz_programs(request, 60, 1000)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                expected = reference(prog, values)
            except sx.SymExprError:
                continue
        got = model(**values)
        got = got if isinstance(got, tuple) else (got,)
        try:
            for g, e in zip(got, expected):
                assert_same(g, e)
        except AssertionError as err:
            failures.append(f"{src}\ninputs {values!r}\n{err}")
    assert not failures, "\n\n".join(failures[:3])


@settings(max_examples=60, **SETTINGS)
@given(case=program_and_data(transcendental=True))
def test_hypothesis_programs_match_the_numpy_engine(tmp_path_factory, case):
    """Programs and data drawn by the property tests (broadcast shapes, empty arrays, every float):
    the model onnxruntime runs gives the NumPy engine's results; what ONNX cannot say is refused."""
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
        model = OnnxProgram(prog, tmp_path_factory.mktemp("h") / "m.onnx", **values)
    except ExportError as err:
        assert "line " in str(err) and "cannot be exported to ONNX" in str(err)
        return
    got = model(**values)
    tops = top_ops(generated)
    for name, g, e in zip(prog.outputs, got if isinstance(got, tuple) else (got,), expected):
        op = tops[name]
        ulps = OPENCL_ULPS.get(ULP_NAMES.get(op, op), 0) if op in TRANSCENDENTAL_FUNCTIONS else 0
        assert_same(g, e, ulps, context=f"output {name}")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int32", "int64", "uint16", "uint64", "bool"])
def test_reductions_softmax_products_and_transposes(tmp_path, dtype):
    """Exact ops (max, min, their indices, any, all, transposes, integer sums and products) bit for bit
    with NaN, inf and integer extremes; float sums, means, variances, softmax and products within rounding."""
    a, smooth = structured_data(dtype)
    lines = structured_lines()
    accepted = {}
    for name, text in lines.items():
        try:
            sx.compile(f"o = {text}", backend="numpy").to_onnx(tmp_path / "one.onnx", a=f"{dtype}[3, 4, 5]")
        except ExportError as err:  # (softmax of int8 is float16: refused as float16 values are)
            assert (name.startswith("prod") and "wrap" in str(err)) or "float16 and complex" in str(err), str(err)
            continue
        except sx.SymExprError:
            continue  # NumPy refuses it for the dtype (var of bool ...)
        accepted[name] = text
    prog = sx.compile("\n".join(f"{n} = {t}" for n, t in accepted.items()), backend="numpy")
    model = OnnxProgram(prog, tmp_path / "m.onnx", a=f"{dtype}[3, 4, 5]")
    for data in (a, smooth):
        compare_structured(accepted, model(a=data), reference(prog, {"a": data}), dtype, data is smooth)

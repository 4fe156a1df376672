"""The OpenCL C renderer: a pure function of the graph, its dtypes and the call signature."""
from __future__ import annotations

import re

import numpy as np
import pytest

from symexpr.backends.opencl.c_ops import CL_OPS
from symexpr.backends.opencl.c_types import literal
from symexpr.backends.opencl.elementwise import Layout, Signature, contiguous_signature, render_kernel
from symexpr.backends.opencl.values import var_names
from symexpr.infer import Kind, infer_kinds
from symexpr.ops import OPS
from symexpr.parse import parse


def kinds_for(graph, dtype="float32", **weak):
    ks = {n.input_name: (Kind(np.dtype(weak[n.input_name]), True) if n.input_name in weak else Kind(np.dtype(dtype)))
          for n in graph.inputs}
    return infer_kinds(graph, ks)


def render(src, dtype="float32", **weak):
    g = parse(src)
    kinds = kinds_for(g, dtype, **weak)
    return render_kernel(g, kinds, contiguous_signature(g, kinds))


def test_every_op_has_an_opencl_rendering():
    assert set(CL_OPS) == {name for name, op in OPS.items() if op.kind == "elementwise"}
    for name, entry in CL_OPS.items():
        assert callable(entry.render), name
        assert entry.operands in ("result", "common", "own", "where"), name


def test_rendering_is_pure_and_stable():
    src = "d = a * b\nc = where(d > 0, d, 0)\ne = sin(c)"
    assert render(src) == render(src)


def test_one_kernel_one_line_per_node_with_source_comments():
    src = "\n".join(f"x{k} = x{k - 1} * 2 + a" for k in range(1, 11)).replace("x0", "a")
    text = render(src)
    assert text.count("__kernel") == 1
    assert "#pragma OPENCL FP_CONTRACT OFF" in text
    assert "// line 10: x10 = x9 * 2 + a" in text
    assert "const float v_x10_" in text


def test_user_names_are_mangled():
    text = render("kernel = global * float\nout = kernel + i")
    decls = re.findall(r"const \w+ (\w+) =", text)
    internal = {"start", "end"}  # the kernel's own names never start with v_ or t_
    assert decls and all(d.startswith(("v_", "t_")) or d in internal for d in decls)
    assert "v_kernel_" in text and "v_global_" in text and "v_i_" in text


def test_comments_cannot_end_a_line_with_a_backslash_or_hold_trigraphs():
    g = parse("c = (a +  # ends with \\\n b)  # ??/ \n")
    text = render_kernel(g, kinds_for(g), contiguous_signature(g, kinds_for(g)))
    comment_lines = [ln for ln in text.splitlines() if ln.strip().startswith("//")]
    assert all("\\" not in ln and "?" not in ln for ln in comment_lines)


@pytest.mark.parametrize("value,dtype", [(0.1, "float32"), (0.1, "float64"), (-0.0, "float64"), (1e-45, "float32"),
                                         (3.4028234663852886e38, "float32"), (5e-324, "float64"),
                                         (float("nan"), "float32"), (float("-inf"), "float64"),
                                         (-(2**63), "int64"), (2**64 - 1, "uint64"), (-128, "int8"), (True, "bool")])
def test_literals_are_exact(value, dtype):
    text = literal(value, dtype)
    assert text
    if np.dtype(dtype).kind == "f" and np.isfinite(value):
        body = text.strip("()").rstrip("f")
        assert np.array(float(body), dtype) == np.array(value, dtype)
        assert np.signbit(np.array(float(body), dtype)) == np.signbit(value)


def test_weak_scalars_are_kernel_arguments_converted_where_used():
    text = render("c = a * k", "float32", k="float64")
    assert "const double v_k_" in text          # the Python float, as given
    assert "(float)v_k_" in text                 # NumPy 2: it takes the array's dtype


def test_strided_signature_uses_64_bit_strides_and_skips_broadcast_dimensions():
    g = parse("c = a + b")
    kinds = kinds_for(g, "float64")
    sig = Signature((Layout("strided", (False, True)), Layout("strided", (True, False))),
                    (Layout("flat"),), ndim=2)
    text = render_kernel(g, kinds, sig)
    assert "const long sx_in0_st0" in text and "sx_in0_st1" not in text
    assert "const long sx_in1_st1" in text and "sx_in1_st0" not in text
    assert "const long sx_i1 = sx_r % sx_shape1" in text


def test_vector_body_and_vector_tail():
    g = parse("c = sin(a) * b")
    kinds = kinds_for(g)
    sig = contiguous_signature(g, kinds)
    text = render_kernel(g, kinds, Signature(sig.inputs, sig.outputs, 0, 8, sig.scalars))
    assert "vload8(0, sx_in0 + i)" in text and "vstore8(" in text
    # The tail runs the same vector code on padded copies and stores only its real lanes.
    assert "for (; i < end; ++i)" not in text
    assert "vload8(0, sx_pad0)" in text and "sx_out0[i + l] = sx_lanes_float[l]" in text
    assert text.count("sx_sin_float8(v_a_0)") == 2  # the body, in the loop and in the tail


def test_int_power_has_an_error_flag_only_when_needed():
    assert "sx_err" in render("c = a ** b", "int32")
    assert "sx_err" not in render("c = a ** b", "uint32")
    assert "sx_err" not in render("c = a ** b", "float32")


def test_var_names_are_unique():
    g = parse("a2 = a + 1\na2 = a2 * 2\nc = a2 - 1")
    names = var_names(g)
    assert len(set(names.values())) == len(names)

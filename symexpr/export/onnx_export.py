"""ONNX: a program as an ONNX model for one call signature, with NumPy's semantics op for op.

`render_onnx(exp)` builds the model from a program specialized for a signature (signature.py): each
node of the graph becomes a few ONNX nodes, written by a function of a `Step` (onnx_builder.py)
that knows the node's operand and result dtypes: `ONNX_OPS[op]` (onnx_ops.py) for element-wise ops,
`STRUCTURED_OPS[op]` (onnx_structured.py) for reductions, softmax, products and views. Operands are
converted first as NumPy's loops convert them (the OpenCL table's `operand_dtypes`); an op neither
table has (one added to the language later) is refused with its line. `export_onnx` checks the
model with onnx.checker and writes it.
"""
from __future__ import annotations

import numpy as np

from ..graph import Node, statement_text
from ..ops import OPS
from ..backends.opencl.c_ops import CL_OPS, operand_dtypes
from ..backends.opencl.values import clip_bound
from .onnx_builder import ELEM, Builder, Step
from .onnx_ops import ONNX_OPS
from .onnx_structured import STRUCTURED_OPS
from .signature import Exported, ExportError, specialize_for_export

OPSET = 21  # onnxruntime 1.18 and later run it; onnx.checker knows it


def _uniform(exp: Exported, node: Node, shape: tuple, memo: dict) -> bool:
    """Whether `node`'s value is one value all along NumPy's inner loop over `shape` (its last axis):
    what NumPy's power and clip take fast paths for."""
    key = (node, shape)
    if key not in memo:
        if node.op == "constant" or exp.kinds[node].weak:
            memo[key] = True
        elif node.op == "input":
            own = exp.shapes[node]
            memo[key] = own != shape and (all(d == 1 for d in own) or own[-1] == 1)
        else:
            memo[key] = OPS[node.op].kind == "elementwise" and all(_uniform(exp, i, shape, memo) for i in node.inputs)
    return memo[key]


def _onnx_shape(shape: tuple) -> list:
    return [d if isinstance(d, int) else str(d) for d in shape]


def render_onnx(exp: Exported):
    """The onnx.ModelProto computing `exp`'s outputs from its inputs (its params as initializers)."""
    from onnx import helper, numpy_helper

    g = Builder()
    graph, kinds = exp.graph, exp.kinds
    values: dict[Node, str] = {}
    inputs, initializers = [], []
    taken = set(graph.input_names)
    for n in graph.inputs:
        dt, shape = exp.inputs[n.input_name]
        if dt.kind == "c" or dt == np.float16:
            reader = next((m for m in graph.nodes if n in m.inputs), None)
            where = statement_text(graph.source, reader) if reader is not None else "the program"
            raise ExportError(f"{where}: input `{n.input_name}` is {dt}: float16 and complex values cannot be "
                              "exported to ONNX yet", statement=reader.statement if reader is not None else None)
        values[n] = n.input_name
        g.dtypes[n.input_name] = dt
        if n.input_name in exp.params:
            initializers.append(numpy_helper.from_array(exp.params[n.input_name], n.input_name))
        else:
            inputs.append(helper.make_tensor_value_info(n.input_name, ELEM[dt.name], _onnx_shape(shape)))
    memo: dict = {}
    for node in graph.nodes:
        if node.op in ("input", "constant"):
            continue
        step = Step(g, node, (), kinds[node].dtype, graph_source=graph.source)
        if any(kinds[n].dtype.kind == "c" or kinds[n].dtype == np.float16 for n in (node, *node.inputs)):
            step.refuse("float16 and complex values cannot be exported to ONNX yet")
        if node.op in STRUCTURED_OPS and OPS[node.op].kind != "elementwise":
            step.operands = tuple(kinds[i].dtype for i in node.inputs)
            step.shape = exp.shapes[node.inputs[0]]
            args = [g.const(i.value, kinds[i].dtype) if i.op == "constant" else values[i] for i in node.inputs]
            values[node] = STRUCTURED_OPS[node.op](step, *args)
            if g.dtypes[values[node]] != kinds[node].dtype:
                values[node] = g.cast(values[node], kinds[node].dtype)
            continue
        if node.op not in ONNX_OPS or node.op not in CL_OPS:
            what = "an op this version does not know" if node.op not in OPS else f"a {OPS[node.op].kind} op"
            step.refuse(f"{what}, which the ONNX export does not have yet")
        if kinds[node].weak:
            step.refuse("NumPy refuses it on these constants (run the program to see why)")
        ods = operand_dtypes(node, kinds)
        args = []
        for pos, (i, d) in enumerate(zip(node.inputs, ods)):
            if i.op == "constant":
                value = i.value
                bound = clip_bound(node, pos, kinds)
                if bound is not None:  # a Python-int clip bound beyond the array's range bounds nothing
                    side, xdt = bound
                    info = np.iinfo(xdt)
                    if (side == "lower" and value <= info.min) or (side == "upper" and value >= info.max):
                        value = (np.iinfo(d).min if side == "lower" else np.iinfo(d).max) if d.kind in "iu" \
                            else (-np.inf if side == "lower" else np.inf)
                args.append(g.const(value, d))
            else:
                args.append(g.cast(values[i], d))
        step.operands = tuple(ods)
        if node.op == "power":
            step.exponent_kind = kinds[node.inputs[1]].dtype.kind
        step.uniform = tuple(_uniform(exp, i, exp.shapes[node], memo) for i in node.inputs)
        values[node] = ONNX_OPS[node.op](step, *args)
        if g.dtypes[values[node]] != kinds[node].dtype:
            values[node] = g.cast(values[node], kinds[node].dtype)
    outputs = []
    for oname, node in graph.outputs:
        dt = kinds[node].dtype
        value = g.const(node.value, dt) if node.op == "constant" else values[node]
        name = oname if oname not in taken else f"{oname}_out"
        taken.add(name)
        g.nodes.append(helper.make_node("Identity", [value], [name]))
        outputs.append(helper.make_tensor_value_info(name, ELEM[dt.name], _onnx_shape(exp.shapes[node])))
    onnx_graph = helper.make_graph(g.nodes, "symexpr_program", inputs, outputs, g.initializers + initializers,
                                   doc_string=graph.source)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="symexpr",
                              ir_version=10)
    return model


def export_onnx(prog, path, signature: dict):
    """Write the ONNX model of `prog` for `signature` to `path` (checked by onnx.checker); return it."""
    try:
        import onnx
    except ImportError:
        raise ExportError("the ONNX export needs the onnx package: pip install symexpr[onnx]") from None
    model = render_onnx(specialize_for_export(prog, signature))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return model

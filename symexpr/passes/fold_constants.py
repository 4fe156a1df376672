"""Constant folding: an operation on constants only becomes one constant, computed by NumPy itself.

The value comes from `backends.numpy.evaluate`, the reference engine's own
call, so the folded constant has exactly the value and the dtype the program
would have computed at run time: weak in, weak out (`2 + 3` is the weak int
5, `float32(2) * 3` the strong float32 6). An operation whose evaluation
raises (`2 ** -1`) is left alone, so the error still happens at run time,
with its position.
"""
from __future__ import annotations

import numpy as np

from ..graph import Graph, Node, rebuild, render_operand
from ..infer import is_weak_value
from ..ops import OPS, SUPPORTED_DTYPES
from .walk import live_nodes, reading


def _folded_value(node: Node, args: list):
    """The constant `node` computes from `args`, or None when it must wait for run time."""
    from ..backends.numpy import evaluate

    try:
        out = evaluate(node, args)
    except Exception:  # noqa: BLE001 - whatever NumPy raises, it raises again at run time
        return None
    if is_weak_value(out):
        return out
    out = np.asarray(out)
    if out.ndim != 0 or out.dtype not in SUPPORTED_DTYPES:
        return None
    return out[()]  # a NumPy scalar: a strong constant


def fold_constants(graph: Graph, records: list) -> Graph:
    """Replace every operation whose operands are all constants by its value."""
    from . import Rewrite

    new: dict[Node, Node] = {}
    folded: list[Node] = []       # the new constants, in order
    absorbed: set[Node] = set()   # constants folded into a bigger constant: not worth a message
    changed = False
    for node in graph.nodes:
        inputs = [new[i] for i in node.inputs]
        if node.op in OPS and inputs and all(i.op == "constant" for i in inputs):
            value = _folded_value(node, [i.value for i in inputs])
            if value is not None:
                const = Node("constant", (), (value,), node.name, node.span, node.statement)
                new[node] = const
                absorbed.update(inputs)
                folded.append((node, const))
                changed = True
                continue
        replaced = reading(node, tuple(inputs))
        changed |= replaced is not node
        new[node] = replaced
    if not changed:
        return graph
    for old, const in folded:
        if const not in absorbed and old.span is not None:
            text = " ".join(old.span.text(graph.source).split())
            records.append(Rewrite("fold_constants", f"`{text}` folded to {render_operand(const, {})}", old))
    outputs = tuple((name, new[n]) for name, n in graph.outputs)
    nodes = tuple(dict.fromkeys(new[n] for n in graph.nodes))
    live = live_nodes(nodes, (n for _, n in outputs))
    nodes = tuple(n for n in nodes if n in live)
    return rebuild(graph, nodes, outputs)

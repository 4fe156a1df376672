"""Lowering: the composite reductions written in terms of the primitive ones, for one call signature.

`mean`, `var`, `std`, `logsumexp`, `softmax` and `log_softmax` become `sum` and `max` with
element-wise work around them, the way NumPy itself computes them (np.mean: a sum in the result
dtype divided by the count; np.var: the mean of the squared deviations from the mean, divided by
max(n - ddof, 0)). A kernel generator then only needs the primitive reductions, and fuses the
element-wise work around them into its kernels. The NumPy engine does not lower: it calls NumPy's
own functions, the reference.

Counts come from the shapes, so this runs per call signature. Every new node carries the span and
statement of the node it replaces, so kernels and `explain()` name the user's line. Returns the
same graph object when there is nothing to lower.
"""
from __future__ import annotations

import math

from ..graph import Graph, Node, rebuild
from ..ops import OPS
from ..shapes import reduced_axes

COMPOSITES = frozenset(("mean", "var", "std", "logsumexp", "softmax", "log_softmax"))


def _attrs(op: str, **given) -> tuple:
    return tuple((k, given.get(k, default)) for k, default in OPS[op].keywords)


def lower_composites(graph: Graph, kinds: dict, shapes: dict, records: list | None = None) -> Graph:
    """Rewrite every composite reduction into primitive ones and element-wise ops."""
    if not any(n.op in COMPOSITES for n in graph.nodes):
        return graph
    new: dict[Node, Node] = {}
    for node in graph.nodes:
        inputs = tuple(new[i] for i in node.inputs)
        node2 = node.with_inputs(inputs)
        if node.op in COMPOSITES:
            node2 = _lower(node, inputs[0], kinds, shapes[node.inputs[0]])
            if records is not None:
                from . import Rewrite
                records.append(Rewrite("lower_composites", f"`{node.op}` computed as sums and maxima", node))
        new[node] = node2
    outputs = tuple((name, new[n]) for name, n in graph.outputs)
    return rebuild(graph, None, outputs)


def _lower(node: Node, x: Node, kinds: dict, shape: tuple) -> Node:
    kw = dict(node.attrs)
    result = kinds[node].dtype
    where = dict(span=node.span, statement=node.statement)

    def make(op, *inputs, name=None, **attrs):
        return Node(op, tuple(inputs), _attrs(op, **attrs) if OPS[op].keywords else (), name, **where)

    def const(value):
        return Node("constant", (), (value,), None, **where)

    axis = kw.get("axis")
    keepdims = kw.get("keepdims", False)
    count = math.prod(shape[d] for d in reduced_axes(shape, axis))
    name = node.name

    def as_result(v):
        # np.mean and np.var of ints (and bools) compute in float64.
        return v if kinds[node.inputs[0]].dtype == result else make(result.name, v)

    def mean(v, keep):
        return make("divide", make("sum", v, axis=axis, keepdims=keep), const(count))

    def finite_max(keep):
        # The maximum to shift by: 0 where it is not finite, so all -inf stays -inf and inf gives inf.
        m = make("max", x, axis=axis, keepdims=keep)
        return make("where", make("isfinite", m), m, const(0))

    if node.op == "mean":
        s = make("sum", as_result(x), axis=axis, keepdims=keepdims)
        return make("divide", s, const(count), name=name)
    if node.op in ("var", "std"):
        xf = as_result(x)
        d = make("subtract", xf, mean(xf, True))
        s = make("sum", make("multiply", d, d), axis=axis, keepdims=keepdims)
        ddof = kw.get("ddof", 0)
        var = make("divide", s, const(max(count - ddof, 0)), name=name if node.op == "var" else None)
        return make("sqrt", var, name=name) if node.op == "std" else var
    if node.op == "logsumexp":
        m = finite_max(True)
        s = make("sum", make("exp", make("subtract", x, m)), axis=axis, keepdims=keepdims)
        return make("add", make("log", s), m if keepdims else finite_max(False), name=name)
    # softmax, log_softmax: along `axis`, keeping the shape.
    shifted = make("subtract", x, finite_max(True))
    if node.op == "softmax":
        e = make("exp", shifted)
        return make("divide", e, make("sum", e, axis=axis, keepdims=True), name=name)
    s = make("sum", make("exp", shifted), axis=axis, keepdims=True)
    return make("subtract", shifted, make("log", s), name=name)


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

import numpy as np

from ..graph import Graph, Node, rebuild
from ..ops import OPS
from ..shapes import reduced_axes

# What lowering leaves for a kernel generator: the reductions it implements itself.
PRIMITIVE_REDUCTIONS = frozenset(("sum", "prod", "max", "min", "argmax", "argmin", "any", "all"))
COMPOSITES = frozenset(("mean", "var", "std", "logsumexp", "softmax", "log_softmax",
                        # what differentiation makes (ops.py, "gradient"): sums, views and constants
                        "sum_to", "seed", "count", "matmul_grad"))


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
            if OPS[node.op].kind == "gradient":
                node2 = _lower_gradient(node, inputs, kinds, shapes)
            else:
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
        complex_ = kinds[node.inputs[0]].dtype.kind == "c"
        xf = x if complex_ else as_result(x)
        d = make("subtract", xf, mean(xf, True))
        if complex_:  # NumPy's: |d|**2 as real(d)**2 + imag(d)**2, a real result
            re, im = make("real", d), make("imag", d)
            d2 = make("add", make("multiply", re, re), make("multiply", im, im))
        else:
            d2 = make("multiply", d, d)
        s = make("sum", d2, axis=axis, keepdims=keepdims)
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



def _lower_gradient(node: Node, inputs: tuple, kinds: dict, shapes: dict) -> Node:
    """What differentiation made, for these shapes: `sum_to` as sums (or nothing), `seed` and `count`
    as constants, `matmul_grad` as a product of a transpose, with np.matmul's new axes for 1-d operands."""
    where = dict(span=node.span, statement=node.statement)
    dtype = kinds[node].dtype

    def make(op, *operands, name=None, **attrs):
        return Node(op, tuple(operands), _attrs(op, **attrs) if OPS[op].keywords else (), name, **where)

    if node.op == "seed":
        return Node("constant", (), (dtype.type(1),), node.name, **where)
    if node.op == "count":
        shape = shapes[node.inputs[0]]
        count = math.prod(shape[d] for d in reduced_axes(shape, dict(node.attrs)["axis"]))
        return Node("constant", (), (dtype.type(count),), node.name, **where)
    if node.op == "sum_to":
        g, x = inputs
        have, want = tuple(shapes[node.inputs[0]]), tuple(shapes[node.inputs[1]])
        extra = len(have) - len(want)
        if extra > 0:
            g = make("sum", g, axis=tuple(range(extra)))
            have = have[extra:]
        offset = len(want) - len(have)
        ones = tuple(k for k in range(len(have)) if want[offset + k] == 1 and have[k] != 1)
        if ones:
            g = make("sum", g, axis=ones, keepdims=True)
        if kinds[node.inputs[0]].dtype != dtype or kinds[node.inputs[0]].weak or g is not inputs[0]:
            g = make(dtype.name, g)
        if offset or any(h != w for h, w in zip(have, want[offset:])):
            # Broadcast to x's shape: where(True, g, x) is g, in the shape of both (x's).
            g = make("where", Node("constant", (), (np.True_,), None, **where), g, x)
        return g if g is inputs[0] else g.replace(name=node.name)
    # matmul_grad
    g, a, b = inputs
    na, nb = len(shapes[node.inputs[1]]), len(shapes[node.inputs[2]])
    operand = dict(node.attrs)["operand"]
    if na == 1 and nb == 1:
        return make("multiply", g, b if operand == 0 else a, name=node.name)
    if operand == 1 and nb == 1:  # a row per batch: (..., 1, k), summed to (k,) by sum_to
        return make("matmul", make("expand_dims", g, axis=-2), a, name=node.name)
    if na == 1:
        g = make("expand_dims", g, axis=-2)
    if nb == 1:
        g = make("expand_dims", g, axis=-1)
    a = make("expand_dims", a, axis=0) if na == 1 else a
    b = make("expand_dims", b, axis=-1) if nb == 1 else b

    def swap(v, n):
        return make("transpose", v, axes=tuple(range(n - 2)) + (n - 1, n - 2))

    if operand == 0:
        return make("matmul", g, swap(b, max(nb, 2)), name=node.name)
    return make("matmul", swap(a, max(na, 2)), g, name=node.name)


def sink_expand_dims(graph: Graph, kinds: dict, shapes: dict, records: list | None = None) -> Graph:
    """`expand_dims(v, axis)` where v is a reduction over those axes, or element-wise work on one (a
    gradient's share per row, such as `keep(g)` in the rules): the same values with the reduction's
    `keepdims=True`. A kernel then computes them per row in the reduction's own kernel, where a view
    would need the value in memory first (a kernel boundary). The same graph when nothing sinks."""
    if not any(n.op == "expand_dims" for n in graph.nodes):
        return graph
    new: dict[Node, Node] = {}
    changed = False
    for node in graph.nodes:
        node2 = node.with_inputs(new[i] for i in node.inputs)
        if node.op == "expand_dims" and node.inputs[0] in shapes:
            v = node.inputs[0]
            ndim = len(shapes[v]) + (1 if isinstance(dict(node.attrs)["axis"], int) else len(dict(node.attrs)["axis"]))
            axes = reduced_axes((1,) * ndim, dict(node.attrs)["axis"])
            sunk = _sink(v, axes, shapes, new, {})
            if sunk is not None:
                node2 = sunk.replace(name=node.name or sunk.name)
                changed = True
                if records is not None:
                    from . import Rewrite
                    records.append(Rewrite("sink_expand_dims", "a new axis computed with the reduction's "
                                           "keepdims=True, in its kernel", node))
        new[node] = node2
    if not changed:
        return graph
    return rebuild(graph, None, tuple((name, new[n]) for name, n in graph.outputs))


def _sink(v: Node, axes: tuple, shapes: dict, new: dict, memo: dict) -> Node | None:
    """v's values with `axes` inserted (as 1), computed so, or None where that would need a view."""
    if v in memo:
        return memo[v]
    out = None
    if v.op == "constant" or (v in shapes and shapes[v] == ()):
        out = new[v]  # a scalar broadcasts as it is
    elif v.op in PRIMITIVE_REDUCTIONS and v.inputs[0] in shapes:
        kw = dict(v.attrs)
        x = shapes[v.inputs[0]]
        if not kw.get("keepdims") and reduced_axes(x, kw.get("axis")) == axes:
            attrs = tuple((k, True if k == "keepdims" else val) for k, val in v.attrs)
            out = Node(v.op, (new[v.inputs[0]],), attrs, v.name, v.span, v.statement)
    elif v.op in OPS and OPS[v.op].kind == "elementwise" and v in shapes:
        operands = []
        for i in v.inputs:
            if i.op == "constant" or (i in shapes and shapes[i] == ()):
                operands.append(new[i])
            elif i in shapes and shapes[i] == shapes[v]:
                operands.append(_sink(i, axes, shapes, new, memo))
            else:
                operands.append(None)
        if all(o is not None for o in operands):
            out = Node(v.op, tuple(operands), v.attrs, v.name, v.span, v.statement)
    memo[v] = out
    return out

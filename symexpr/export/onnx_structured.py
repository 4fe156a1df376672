"""The ONNX renderings of reductions, softmax, matrix products and views: `STRUCTURED_OPS[op](step, ...)`.

Their operands keep their dtypes; `step.shape` is the operand's shape. Float sums and means are
computed in float64 (NumPy's float32 sums are pairwise in float32: the results agree within
rounding, not bit for bit); maxima, minima, their indices, any, all and transposes are exact.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .onnx_builder import BOOL, ELEM, F64, Builder, Step, int_wrap, isfinite


def _axes(s: Step) -> tuple[int, ...] | None:
    """The reduced axes, normalized (None: all)."""
    axis = dict(s.node.attrs).get("axis")
    if axis is None:
        return None
    ndim = len(s.shape)
    return tuple(sorted(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))))


def _reduce(s: Step, op_type: str, x: str, keepdims=None) -> str:
    g = s.b
    keep = int(dict(s.node.attrs).get("keepdims", False)) if keepdims is None else int(keepdims)
    axes = _axes(s)
    inputs = [x] if axes is None else [x, g.const(np.array(axes, np.int64), np.int64)]
    return g.op(op_type, *inputs, keepdims=keep)


def _ordered(g: Builder, x: str) -> tuple[str, Callable]:
    """x in a dtype onnxruntime compares (max, min, argmax) with the same order, and the way back."""
    t = g.dtypes[x]
    if t.name in ("int16", "uint16", "uint32"):
        return g.cast(x, np.int64), lambda y: g.cast(y, t)
    if t.name == "uint64":  # flipping the top bit maps uint64's order onto int64's, bits unchanged
        top = g.const(1 << 63, np.uint64)
        flipped = g.op("Cast", g.op("BitwiseXor", x, top), to=ELEM["int64"], dtype=np.int64)
        return flipped, lambda y: g.op("BitwiseXor", g.op("Cast", y, to=ELEM["uint64"], dtype=np.uint64), top)
    if t.kind == "b":
        return g.cast(x, np.uint8), lambda y: g.cast(y, t)
    return x, lambda y: y


def _sum_like(op_type):
    def render(s, x):
        g, r = s.b, s.result
        if op_type == "ReduceProd" and r.kind in "iu":
            s.refuse("onnxruntime's integer ReduceProd does not wrap around on overflow as NumPy's prod "
                     "does: cast to float64 first")
        if op_type == "ReduceSum" and r.kind in "iu":
            return _int_sum(s, x)
        return g.cast(_reduce(s, op_type, g.cast(x, F64)), r)
    return render


def _int_sum(s: Step, x: str) -> str:
    """An integer sum wrapping around as NumPy's (in int64 or uint64): onnxruntime sums integers through
    float64, exact below 2**53 only. So the sum is taken of the four 16-bit pieces of each value (sums of
    fewer than 2**37 of them are exact), then put together in uint64, which wraps."""
    g, r = s.b, s.result
    u64 = np.dtype("uint64")
    bits = g.op("Cast", g.cast(x, np.int64) if g.dtypes[x].name != "uint64" else x, to=ELEM["uint64"], dtype=u64)
    total = None
    for k in range(4):
        piece = g.op("BitwiseAnd", g.op("BitShift", bits, g.const(16 * k, u64), direction="RIGHT"),
                     g.const(0xFFFF, u64))
        part = g.op("Cast", _reduce(s, "ReduceSum", g.cast(piece, np.int64)), to=ELEM["uint64"], dtype=u64)
        part = g.op("BitShift", part, g.const(16 * k, u64), direction="LEFT")
        total = part if total is None else g.op("Add", total, part)
    return total if r == u64 else g.op("Cast", total, to=ELEM[r.name], dtype=r)


def _extreme(op_type):
    def render(s, x):
        g = s.b
        t = g.dtypes[x]
        y, back = _ordered(g, x)
        out = back(_reduce(s, op_type, y))
        if t.kind == "f":  # NumPy's max and min propagate NaN
            anynan = _reduce(s, "ReduceMax", g.cast(g.op("IsNaN", x, dtype=BOOL), np.uint8))
            out = g.where(g.cast(anynan, BOOL), g.const(np.nan, t), out)
        return out
    return render


def _arg(op_type):
    def render(s, x):
        g = s.b
        t = g.dtypes[x]
        axes = _axes(s)
        keep = bool(dict(s.node.attrs).get("keepdims", False))
        if axes is None:
            x = g.op("Reshape", x, g.const(np.array([-1], np.int64), np.int64))
            axis = 0
        else:
            (axis,) = axes
        y, _ = _ordered(g, x)
        out = g.op(op_type, y, axis=axis, keepdims=int(keep and axes is not None), select_last_index=0,
                   dtype=np.int64)
        if t.kind == "f":  # the first NaN, where there is one
            nan = g.cast(g.op("IsNaN", x, dtype=BOOL), np.uint8)
            first = g.op("ArgMax", nan, axis=axis, keepdims=int(keep and axes is not None), select_last_index=0,
                         dtype=np.int64)
            anynan = g.op("ReduceMax", nan, g.const(np.array([axis], np.int64), np.int64),
                          keepdims=int(keep and axes is not None))
            out = g.where(g.cast(anynan, BOOL), first, out)
        if axes is None and keep:
            out = g.op("Reshape", out, g.const(np.ones(len(s.shape), np.int64), np.int64))
        return out
    return render


def _truth_reduce(op_type):
    def render(s, x):
        g = s.b
        return g.cast(_reduce(s, op_type, g.cast(g.truth(x), np.uint8)), BOOL)
    return render


def _count(s: Step, x: str, t) -> str:
    """How many elements each reduction takes, as dtype t (kept dims)."""
    g = s.b
    ones = g.op("Expand", g.const(1, t), g.op("Shape", x, dtype=np.int64))
    return _reduce(s, "ReduceSum", ones, keepdims=True)


def _var(s, x, root=False):
    g, r = s.b, s.result
    xd = g.cast(x, F64)
    n = _count(s, xd, F64)
    mean = g.op("Div", _reduce(s, "ReduceSum", xd, keepdims=True), n)
    d = g.op("Sub", xd, mean)
    ddof = g.const(float(dict(s.node.attrs).get("ddof", 0)), F64)
    n = n if dict(s.node.attrs).get("keepdims", False) else _reduce(s, "ReduceMax", n)
    out = g.op("Div", _reduce(s, "ReduceSum", g.op("Mul", d, d)), g.op("Sub", n, ddof))
    return g.cast(g.op("Sqrt", out) if root else out, r)


def _mean(s, x):
    g = s.b
    xd = g.cast(x, F64)
    n = _count(s, xd, F64)
    n = n if dict(s.node.attrs).get("keepdims", False) else _reduce(s, "ReduceMax", n)
    return g.cast(g.op("Div", _reduce(s, "ReduceSum", xd), n), s.result)


def _shift_by_max(s: Step, x: str, reduce: Callable) -> tuple[str, str]:
    """(x minus its maximum along the axes, the maximum), both float64, as ops.py computes them: the
    subtraction in x's dtype (integers wrap around), a maximum that is not finite taken as 0."""
    g = s.b
    t = g.dtypes[x]
    if t.kind == "f":
        xd = g.cast(x, F64)
        m = reduce("ReduceMax", xd)
        m = g.where(isfinite(g, m), m, g.const(0, F64))
        return g.op("Sub", xd, m), m
    # Integers: the difference, then exp, sum and log in the result's dtype, as NumPy (exp of a
    # wrapped-around uint16 difference overflows float32).
    y, back = _ordered(g, x)
    m = back(reduce("ReduceMax", y))
    sub = Step(g, s.node, (t, t), t, (), s.graph_source)
    return g.cast(int_wrap(sub, "Sub", x, m) if t.kind == "i" else g.op("Sub", x, m), s.result), g.cast(m, s.result)


def _logsumexp(s, x):
    g = s.b
    shifted, m = _shift_by_max(s, x, lambda op, v: _reduce(s, op, v, keepdims=True))
    total = _reduce(s, "ReduceSum", g.op("Exp", shifted), keepdims=True)
    out = g.op("Add", g.op("Log", total), m)
    if not dict(s.node.attrs).get("keepdims", False):
        axes = _axes(s)
        out = g.op("Squeeze", out, *([] if axes is None else [g.const(np.array(axes, np.int64), np.int64)]))
    return g.cast(out, s.result)


def _rowwise(log: bool):
    def render(s, x):
        g = s.b
        axis = dict(s.node.attrs).get("axis", -1) % max(len(s.shape), 1)
        axes = g.const(np.array([axis], np.int64), np.int64)
        shifted, _ = _shift_by_max(s, x, lambda op, v: g.op(op, v, axes, keepdims=1))
        e = g.op("Exp", shifted)
        total = g.op("ReduceSum", e, axes, keepdims=1)
        out = g.op("Sub", shifted, g.op("Log", total)) if log else g.op("Div", e, total)
        return g.cast(out, s.result)
    return render


def _matmul(s, a, b):
    g, r = s.b, s.result
    if r.kind == "b":  # or of ands: a count of true products, compared with 0
        return g.cast(g.op("MatMul", g.cast(a, np.int64), g.cast(b, np.int64)), BOOL)
    if r.kind == "f":
        return g.cast(g.op("MatMul", g.cast(a, F64), g.cast(b, F64)), r)
    work = np.dtype("int64") if r.kind == "i" or r.itemsize < 4 else r  # wraps to the same low bits
    return g.cast(g.op("MatMul", g.cast(a, work), g.cast(b, work)), r)


def _transpose(s, x):
    axes = dict(s.node.attrs).get("axes")
    perm = list(reversed(range(len(s.shape)))) if axes is None else [a % len(s.shape) for a in axes]
    return s.b.op("Transpose", x, perm=perm)


def _expand_dims(s, x):
    axis = dict(s.node.attrs).get("axis")
    ndim = len(s.shape) + (len(axis) if isinstance(axis, tuple) else 1)
    axes = [a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))]
    return s.b.op("Unsqueeze", x, s.b.const(np.array(sorted(axes), np.int64), np.int64))


STRUCTURED_OPS: dict[str, Callable] = {
    "sum": _sum_like("ReduceSum"),
    "prod": _sum_like("ReduceProd"),
    "mean": _mean,
    "max": _extreme("ReduceMax"),
    "min": _extreme("ReduceMin"),
    "argmax": _arg("ArgMax"),
    "argmin": _arg("ArgMin"),
    "any": _truth_reduce("ReduceMax"),
    "all": _truth_reduce("ReduceMin"),
    "var": _var,
    "std": lambda s, x: _var(s, x, root=True),
    "logsumexp": _logsumexp,
    "softmax": _rowwise(log=False),
    "log_softmax": _rowwise(log=True),
    "matmul": _matmul,
    "transpose": _transpose,
    "expand_dims": _expand_dims,
}

"""The per-op OpenCL C table: each element-wise op's rendering, keyed by op name (`CL_OPS`).

Every kind of kernel renders its element-wise work through this table (`values.render_values`):
each value is one `const` line, named after the source variable (mangled: `v_<name>_<k>`, so no
user name can be an OpenCL keyword, builtin or one of the kernel's own names, which never start
with `v_`), with the statement it came from in a comment above it.

`CL_OPS` holds each op's OpenCL C rendering, keyed by op name; one entry per op of `ops.OPS` whose
kind is element-wise (a test checks it). A rendering is a function of a `Ctx` (c_context.py: the
operand and result dtypes, scalar or vector code) and the operands' C expressions. The renderings
live by subject: arithmetic in c_arith.py, the math functions in c_math.py, complex numbers in
c_complex.py; the comparisons, logic and plain calls, a few lines each, here beside the table.

NumPy's semantics are the reference; the comments say where they differ from C.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...graph import Node
from ...ops import CASTS
from ...infer import Kind
from . import c_complex
from .c_arith import (absolute, add, bitwise, divide, floor_divide, fmod, multiply, negative, power, remainder,
                      shift, square, subtract)
from .c_math import (classify, clip, maximum, minimum, nextafter, relu, round_to, rounding, sigmoid, sign,
                     signbit, trig)
from .c_types import convert

# -- the small renderings: comparisons, logic, calls --------------------------------------------

def _compare(op, c_op):
    def render(ctx, a, b):
        da, db = ctx.operand_dtypes
        if da.kind == "b" and ctx.vector and op not in ("equal", "not_equal"):
            raise NotImplementedError("ordering of bools in vector code")
        if da.kind == "c":  # == and != (ops.COMPLEX_OPS): both parts
            join = "&" if op == "equal" else "|"
            return ctx.as_bool(f"(({a}.x {c_op} {b}.x) {join} ({a}.y {c_op} {b}.y))")
        return ctx.as_bool(f"({a} {c_op} {b})")
    return render


def _logical(op):
    def render(ctx, a, b):
        da, db = ctx.operand_dtypes
        return ctx.as_bool(f"({ctx.truth(a, da)} {op} {ctx.truth(b, db)})")
    return render


def _logical_not(ctx, a):
    (da,) = ctx.operand_dtypes
    if ctx.vector:
        return f"(~{ctx.truth(a, da)})" if da.kind == "b" else f"({a} == {ctx.const(0, da)})"
    return f"(uchar)!{a}"


def _invert(ctx, a):
    if ctx.result.kind == "b":
        return f"(~{a})" if ctx.vector else f"(uchar)({a} ^ 1)"
    return f"({ctx.t()})(~{a})"


def _func(name):
    def render(ctx, *args):
        return f"{name}({', '.join(args)})"
    return render


def _complex_or(op, real):
    """`op` on a complex value by c_complex.py's helper, on a real one by `real`'s rendering."""
    def render(ctx, *args):
        if ctx.result.kind == "c":
            return c_complex.render(ctx, op, *args)
        return real(ctx, *args)
    return render


def _where(ctx, c, x, y):
    return ctx.sel(ctx.truth(c, ctx.operand_dtypes[0]), x, y)

def _identity(ctx, a):
    return a


def _cast(ctx, a):
    return convert(a, ctx.operand_dtypes[0], ctx.result, ctx)


@dataclass(frozen=True)
class ClOp:
    """An op's OpenCL C rendering.

    render:   f(ctx, *operand expressions) -> C expression of the result dtype.
    operands: "result" (operands converted to the result dtype first), "common" (to their
              common dtype, for comparisons) or "own" (left as they are).
    vector:   whether the rendering is valid in vector code (float graphs on the fast path).
    """

    render: Callable
    operands: str = "result"
    vector: bool = True


_FUNCS = {"sqrt": "sqrt", "cbrt": "cbrt", "exp": "exp", "exp2": "exp2", "expm1": "expm1", "log": "log",
          "log2": "log2", "log10": "log10", "log1p": "log1p", "sin": "sin", "cos": "cos", "tan": "tan",
          "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
          "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2", "hypot": "hypot"}

CL_OPS: dict[str, ClOp] = {
    "add": ClOp(add),
    "subtract": ClOp(subtract),
    "multiply": ClOp(multiply),
    "divide": ClOp(divide),
    "floor_divide": ClOp(floor_divide, vector=False),
    "remainder": ClOp(remainder, vector=False),
    "power": ClOp(power),
    "bitwise_and": ClOp(bitwise("&")),
    "bitwise_or": ClOp(bitwise("|")),
    "bitwise_xor": ClOp(bitwise("^")),
    "left_shift": ClOp(shift("left"), vector=False),
    "right_shift": ClOp(shift("right"), vector=False),
    "less": ClOp(_compare("less", "<"), "common"),
    "less_equal": ClOp(_compare("less_equal", "<="), "common"),
    "greater": ClOp(_compare("greater", ">"), "common"),
    "greater_equal": ClOp(_compare("greater_equal", ">="), "common"),
    "equal": ClOp(_compare("equal", "=="), "common"),
    "not_equal": ClOp(_compare("not_equal", "!="), "common"),
    "logical_and": ClOp(_logical("&"), "own"),
    "logical_or": ClOp(_logical("|"), "own"),
    "negative": ClOp(negative),
    "positive": ClOp(_identity),
    "invert": ClOp(_invert),
    "logical_not": ClOp(_logical_not, "own"),
    "absolute": ClOp(absolute),
    "square": ClOp(square),
    **{name: ClOp(_func(cname)) for name, cname in _FUNCS.items()},
    "sin": ClOp(trig("sin")),
    "cos": ClOp(trig("cos")),
    "tan": ClOp(trig("tan")),
    # exp, log, log10, log2, sqrt and the (hyperbolic) sine, cosine and tangent of complex values: c_complex.py
    **{name: ClOp(_complex_or(name, trig(name) if name in ("sin", "cos", "tan") else _func(_FUNCS[name])))
       for name in sorted(c_complex.OPS - {"power", "sign"})},
    "floor": ClOp(rounding("floor")),
    "ceil": ClOp(rounding("ceil")),
    "trunc": ClOp(rounding("trunc")),
    "rint": ClOp(rounding("rint")),
    "round": ClOp(round_to),
    "sign": ClOp(_complex_or("sign", sign)),
    "isnan": ClOp(classify("isnan", 0), "own"),
    "isinf": ClOp(classify("isinf", 0), "own"),
    "isfinite": ClOp(classify("isfinite", 1), "own"),
    "signbit": ClOp(signbit, "own"),
    "fmod": ClOp(fmod),
    "real": ClOp(c_complex.real, "own", vector=False),
    "imag": ClOp(c_complex.imag, "own", vector=False),
    "conjugate": ClOp(c_complex.conjugate, "own", vector=False),
    "angle": ClOp(c_complex.angle, "own", vector=False),
    "copysign": ClOp(_func("copysign")),
    "nextafter": ClOp(nextafter),
    "minimum": ClOp(minimum),
    "maximum": ClOp(maximum),
    "where": ClOp(_where, "where"),
    "clip": ClOp(clip),
    "sigmoid": ClOp(sigmoid, "own"),
    "relu": ClOp(relu),
    **{name: ClOp(_cast, "own") for name in CASTS},
}


def operand_dtypes(node: Node, kinds: dict[Node, Kind]) -> tuple[np.dtype, ...]:
    """The dtype each operand is converted to before the op: NumPy's loop dtypes."""
    mode = CL_OPS[node.op].operands
    result = kinds[node].dtype
    if mode == "result" and result.kind != "c" and any(kinds[i].dtype.kind == "c" for i in node.inputs):
        return tuple([kinds[i].dtype for i in node.inputs])  # abs of a complex: a real of its own
    if mode == "own":
        return tuple([kinds[i].dtype for i in node.inputs])
    if mode == "where":
        return (kinds[node.inputs[0]].dtype, result, result)
    if mode == "common":
        a, b = (kinds[i] for i in node.inputs)
        if _weak_int_vs_int(a, b) or _weak_int_vs_int(b, a):
            strong = b.dtype if a.weak else a.dtype
            # NumPy compares Python ints with any integer exactly, in or out of range.
            if strong.name == "uint64":  # compared exactly by _compare_uint64_weak
                return tuple(np.dtype("int64") if k.weak else strong for k in (a, b))
            return (np.dtype("int64"),) * 2
        if {a.dtype.kind, b.dtype.kind} == {"i", "u"} and "uint64" in (a.dtype.name, b.dtype.name):
            # A signed array against uint64: NumPy 2 compares exactly (_compare_uint64_weak).
            return tuple(k.dtype if k.dtype.kind == "u" else np.dtype("int64") for k in (a, b))
        samples = [_sample(k, i) for k, i in zip((a, b), node.inputs)]
        return (np.result_type(*samples),) * 2
    return (result,) * len(node.inputs)


def _weak_int_vs_int(a: Kind, b: Kind) -> bool:
    return a.weak and a.dtype.kind in "iu" and not b.weak and b.dtype.kind in "iub"


def _sample(kind: Kind, node: Node):
    if kind.weak:
        if node.op == "constant":
            return node.value
        return {"b": False, "i": 0, "u": 0, "f": 0.0}[kind.dtype.kind]
    return np.empty(0, kind.dtype)

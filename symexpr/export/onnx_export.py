"""ONNX: a program as an ONNX model for one call signature, with NumPy's semantics op for op.

`render_onnx(exp)` builds the model from a program specialized for a signature (signature.py): each
node of the graph becomes a few ONNX nodes (`ONNX_OPS[op]`, a function of a `Step` that knows the
node's operand and result dtypes). Where ONNX's operator differs from NumPy, the rendering composes
ONNX operators that give NumPy's result: integer floor division and remainder (signs, division by
zero and MIN // -1 are 0 or wrap in NumPy, undefined in C++), NaN-propagating minimum and maximum
with NumPy's choice on ties, saturating float-to-integer casts, shifts by counts beyond the width,
the fast paths NumPy's power takes for a uniform exponent. Transcendental functions of float32 are
computed in float64 where onnxruntime has a float64 kernel (its float32 kernels are approximations),
and rounded once.

What ONNX cannot say is refused with the line that uses it: the sign bit of a NaN (copysign,
signbit of floats, nextafter: ONNX has no bit casts), integer powers with exponents that may be
negative (NumPy's error), and float64 functions onnxruntime has no kernel for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..graph import Node, statement_text
from ..ops import CASTS, OPS
from ..backends.opencl.c_ops import CL_OPS, operand_dtypes
from ..backends.opencl.values import clip_bound
from .signature import Exported, ExportError, specialize_for_export

OPSET = 21  # onnxruntime 1.18 and later run it; onnx.checker knows it
_F64 = np.dtype("float64")
_F32 = np.dtype("float32")
_BOOL = np.dtype("bool")
# Element types by dtype name (onnx.TensorProto's numbering).
_ELEM = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
         "float64": 11, "uint32": 12, "uint64": 13}
# onnxruntime's float64 kernels of these are approximations, off by far more than a few ulps near
# multiples of pi (its float32 results computed through them are fine: rounded, the error vanishes).
_INEXACT_DOUBLE = frozenset(("Sin", "Cos"))
# onnxruntime has no Where of these dtypes: it chooses among values of the second, cast without loss.
_WHERE_AS = {"int16": "int32", "uint16": "int32", "bool": "uint8", "uint64": "int64"}
# onnxruntime has float64 kernels for these (and float32 ones for all the functions below).
_DOUBLE_KERNELS = frozenset(("Sin", "Cos", "Exp", "Log", "Sqrt", "Pow", "Tanh"))


class Builder:
    """The ONNX nodes and constants being written, each value with its dtype."""

    def __init__(self):
        self.nodes: list = []
        self.initializers: list = []
        self.dtypes: dict[str, np.dtype] = {}
        self._constants: dict[tuple, str] = {}
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}.{self._count}"

    def op(self, op_type: str, *inputs: str, dtype=None, **attrs) -> str:
        """One ONNX node; its output's dtype is `dtype`, or its first input's."""
        from onnx import helper

        if op_type == "Where" and self.dtypes[inputs[1]].name in _WHERE_AS:
            # onnxruntime has no Where of these: through a type of the same values (or bits), and back.
            t, via = self.dtypes[inputs[1]], np.dtype(_WHERE_AS[self.dtypes[inputs[1]].name])
            wide = self.op("Where", inputs[0], *[self.op("Cast", x, to=_ELEM[via.name], dtype=via) for x in inputs[1:]])
            return self.op("Cast", wide, to=_ELEM[t.name], dtype=t)

        if dtype is None and op_type == "Where":
            dtype = self.dtypes[inputs[1]]
            if dtype.kind == "f" and not attrs.pop("zero_safe", False):
                return self._float_where(*inputs)
        out = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        self.dtypes[out] = np.dtype(dtype) if dtype is not None else self.dtypes[inputs[0]]
        return out

    def const(self, value, dtype) -> str:
        """A 0-d constant of `dtype`, converted as NumPy's astype converts (shared by value and dtype)."""
        from onnx import numpy_helper

        dtype = np.dtype(dtype)
        with np.errstate(all="ignore"):
            array = np.array(value).astype(dtype) if not isinstance(value, np.ndarray) else value.astype(dtype)
        key = (dtype.name, array.shape, array.tobytes())
        name = self._constants.get(key)
        if name is None:
            name = self._constants[key] = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(array, name))
            self.dtypes[name] = dtype
        return name

    def _float_where(self, cond: str, a: str, b: str) -> str:
        """Where of floats keeping -0.0: onnxruntime's Where gives +0.0 for a -0.0 it takes from its
        second operand (it does keep the third's). The sign is put back by a multiplication by -1."""
        t = self.dtypes[a]
        picked = self.op("Where", cond, a, b, zero_safe=True)
        zero = self.op("Equal", a, self.const(0, t), dtype=_BOOL)
        negative = self.op("Less", self.op("Div", self.const(1, t), a), self.const(0, t), dtype=_BOOL)
        flip = self.op("And", cond, self.op("And", zero, negative))
        sign = self.op("Where", flip, self.const(-1, t), self.const(1, t), zero_safe=True)
        return self.op("Mul", picked, sign)

    def cast(self, x: str, dtype) -> str:
        """x as `dtype`, as NumPy's astype (a float to an integer saturates, NaN gives 0, as ops.py's casts)."""
        src, dst = self.dtypes[x], np.dtype(dtype)
        if src == dst:
            return x
        if dst.kind == "b":
            return self.op("Not", self.op("Equal", x, self.const(0, src), dtype=_BOOL))
        if src.kind == "f" and dst.kind in "iu":
            info = np.iinfo(dst)
            above = self.op("GreaterOrEqual", x, self.const(float(info.max) + 1, src), dtype=_BOOL)
            below = self.op("LessOrEqual", x, self.const(float(info.min) - 1, src), dtype=_BOOL)
            bad = self.op("Or", self.op("Or", above, below), self.op("IsNaN", x, dtype=_BOOL))
            safe = self.op("Cast", self.op("Where", bad, self.const(0, src), x), to=_ELEM[dst.name], dtype=dst)
            return self.op("Where", above, self.const(info.max, dst),
                           self.op("Where", below, self.const(info.min, dst), safe))
        return self.op("Cast", x, to=_ELEM[dst.name], dtype=dst)

    # small compositions, named as NumPy's functions
    def where(self, cond, a, b):
        return self.op("Where", cond, a, b)

    def isnan(self, x):
        if self.dtypes[x].kind != "f":
            return self.op("Equal", x, self.op("Add", x, self.const(1, self.dtypes[x])), dtype=_BOOL)  # never
        return self.op("IsNaN", x, dtype=_BOOL)

    def cmp(self, op_type, a, b):
        return self.op(op_type, a, b, dtype=_BOOL)

    def truth(self, x):
        return x if self.dtypes[x].kind == "b" else self.cast(x, _BOOL)


@dataclass
class Step:
    """What a rendering knows of the node it renders."""

    b: Builder
    node: Node
    operands: tuple[np.dtype, ...]
    result: np.dtype
    uniform: tuple[bool, ...] = ()
    graph_source: str = ""
    exponent_kind: str = ""  # power: the kind (NumPy's letter) of the exponent before its conversion
    shape: tuple = ()        # reductions, softmax, transposes: the operand's shape

    def refuse(self, why: str):
        where = statement_text(self.graph_source, self.node)
        raise ExportError(f"{where + ': ' if where else ''}`{self.node.op}` cannot be exported to ONNX: {why}",
                          statement=self.node.statement)


# -- the renderings ---------------------------------------------------------------------------------

def _int_wrap(s: Step, op_type: str, a: str, b: str) -> str:
    """+ - * of integers wrapping as NumPy: computed in the unsigned type of the same width (onnxruntime
    computes signed overflow in C++, where it is undefined)."""
    r = s.result
    if r.kind != "i":
        return s.b.op(op_type, a, b)
    u = np.dtype(f"uint{8 * r.itemsize}")
    return s.b.op("Cast", s.b.op(op_type, s.b.op("Cast", a, to=_ELEM[u.name], dtype=u),
                                 s.b.op("Cast", b, to=_ELEM[u.name], dtype=u)), to=_ELEM[r.name], dtype=r)


def _arith(op_type, bool_op=None):
    def render(s: Step, a, b):
        if s.result.kind == "b":
            return s.b.op(bool_op, a, b)
        return _int_wrap(s, op_type, a, b)
    return render


def _divide(s, a, b):
    return s.b.op("Div", a, b)


def _int_guard(s: Step, b: str) -> tuple[str, str]:
    """(b with 0 and -1 replaced by 1, whether b was 0 or -1): C++ division by them is undefined or traps."""
    zero, one = s.b.const(0, s.result), s.b.const(1, s.result)
    bad = s.b.cmp("Equal", b, zero)
    if s.result.kind == "i":
        bad = s.b.op("Or", bad, s.b.cmp("Equal", b, s.b.const(-1, s.result)))
    return s.b.where(bad, one, b), bad


def _floor_divide(s, a, b):
    g = s.b
    if s.result.kind == "f":
        return _float_divmod(s, a, b)[0]
    safe, bad = _int_guard(s, b)
    q = g.op("Div", a, safe)
    if s.result.kind == "i":
        # Rounded toward minus infinity: one less where the signs differ and the division is inexact.
        zero = g.const(0, s.result)
        inexact = g.op("Not", g.cmp("Equal", g.op("Mul", q, safe), a), dtype=_BOOL)
        signs = g.op("Xor", g.cmp("Less", a, zero), g.cmp("Less", safe, zero))
        q = g.where(g.op("And", inexact, signs), g.op("Sub", q, g.const(1, s.result)), q)
        # b == -1: -a, wrapping (MIN // -1 is MIN); b == 0: 0.
        neg = _int_wrap(s, "Sub", zero, a)
        return g.where(g.cmp("Equal", b, zero), zero, g.where(g.cmp("Equal", b, g.const(-1, s.result)), neg, q))
    return g.where(bad, g.const(0, s.result), q)


def _remainder(s, a, b):
    g = s.b
    if s.result.kind == "f":
        return _float_divmod(s, a, b)[1]
    safe, bad = _int_guard(s, b)
    return g.where(bad, g.const(0, s.result), g.op("Mod", a, safe, fmod=0))


def _float_divmod(s: Step, a: str, b: str) -> tuple[str, str]:
    """NumPy's npy_divmod for floats: (floor division, remainder with the divisor's sign)."""
    g, t = s.b, s.result
    zero, one, half = g.const(0, t), g.const(1, t), g.const(0.5, t)
    nan = g.const(np.nan, t)
    mod = g.where(g.op("IsInf", b, dtype=_BOOL), a, g.op("Mod", a, b, fmod=1))
    quotient = g.op("Div", a, b)
    div = g.op("Div", g.op("Sub", a, mod), b)
    nonzero = g.op("Not", g.cmp("Equal", mod, zero), dtype=_BOOL)
    flip = g.op("And", nonzero, g.op("Xor", g.cmp("Less", b, zero), g.cmp("Less", mod, zero)))
    mod2 = g.where(flip, g.op("Add", mod, b), g.where(nonzero, mod, _copysign_zero(s, b)))
    div = g.where(flip, g.op("Sub", div, one), div)
    floor = g.op("Floor", div)
    floor = g.where(g.cmp("Greater", g.op("Sub", div, floor), half), g.op("Add", floor, one), floor)
    floordiv = g.where(g.cmp("Equal", div, zero), _copysign_zero(s, quotient), floor)
    # Non-finite a or NaN b: NaN; b == 0: a / b for the quotient, fmod (NaN) for the remainder.
    invalid = g.op("Or", g.op("Not", _isfinite(g, a), dtype=_BOOL), g.op("IsNaN", b, dtype=_BOOL))
    b_zero = g.cmp("Equal", b, zero)
    floordiv = g.where(b_zero, quotient, g.where(invalid, nan, floordiv))
    mod2 = g.where(invalid, nan, g.where(b_zero, nan, mod2))
    return floordiv, mod2


def _copysign_zero(s: Step, x: str) -> str:
    """+0.0, or -0.0 where x is negative or -0.0 (1/x < 0; x is never NaN where this is taken)."""
    g, t = s.b, s.result
    negative = g.op("Or", g.cmp("Less", x, g.const(0, t)), g.cmp("Less", g.op("Div", g.const(1, t), x), g.const(0, t)))
    return g.where(negative, g.const(-0.0, t), g.const(0.0, t))


def _isfinite(g: Builder, x: str) -> str:
    return g.op("Not", g.op("Or", g.op("IsNaN", x, dtype=_BOOL), g.op("IsInf", x, dtype=_BOOL)), dtype=_BOOL)


def _power(s, a, b):
    g, t = s.b, s.result
    exponent = s.node.inputs[1]
    if t.kind == "f":
        if exponent.op == "constant" and float(exponent.value) in _FAST:
            return _FAST[float(exponent.value)](g, a, t)
        general = _in_double(s, "Pow", a, b)
        if len(s.uniform) > 1 and s.uniform[1]:
            for e in reversed(sorted(_FAST)):
                general = g.where(g.cmp("Equal", b, g.const(e, t)), _FAST[e](g, a, t), general)
        return general
    if t.kind == "b":
        s.refuse("NumPy has no power of bools")
    if exponent.op == "constant":
        e = int(np.asarray(exponent.value).astype(t))
        if e < 0:
            s.refuse("an integer to a negative power is NumPy's error, which a model cannot raise")
        out, base = g.op("Expand", g.const(1, t), g.op("Shape", a, dtype=np.int64)), a  # a's shape, for e == 0
        while e:
            if e & 1:
                out = _int_wrap(s, "Mul", out, base)
            e >>= 1
            if e:
                base = _int_wrap(s, "Mul", base, base)
        return out
    if t.kind == "i" and s.exponent_kind not in "ub":
        s.refuse("an integer power whose exponent is not a constant may be negative: NumPy's error, "
                 "which a model cannot raise (give a constant exponent, or cast to float)")
    # Repeated squaring over the exponent's bits, wrapping as NumPy (in the unsigned type: the
    # exponent is never negative here).
    u = np.dtype(f"uint{8 * t.itemsize}")
    out, base, e = g.const(1, u), g.cast(a, u), g.cast(b, u)
    one = g.const(1, u)
    for _ in range(8 * t.itemsize):
        bit = g.cmp("Equal", g.op("BitwiseAnd", e, one), one)
        out = g.where(bit, g.op("Mul", out, base), out)
        base = g.op("Mul", base, base)
        e = g.op("BitShift", e, one, direction="RIGHT")
    return g.cast(out, t)


_FAST = {
    -1.0: lambda g, a, t: g.op("Div", g.const(1, t), a),
    0.0: lambda g, a, t: g.op("Expand", g.const(1, t), g.op("Shape", a, dtype=np.int64)),
    0.5: lambda g, a, t: g.op("Sqrt", a),
    1.0: lambda g, a, t: g.op("Identity", a),
    2.0: lambda g, a, t: g.op("Mul", a, a),
}


def _in_double(s: Step, op_type: str, *xs: str) -> str:
    """A function of floats; float32 computed in float64 and rounded once, where onnxruntime can."""
    g = s.b
    if s.result == _F64 and op_type not in _DOUBLE_KERNELS:
        s.refuse(f"onnxruntime has no float64 {op_type}: cast the operand to float32 first")
    if s.result == _F64 and op_type in _INEXACT_DOUBLE:
        s.refuse(f"onnxruntime's float64 {op_type} is an approximation (sin(pi) is -0.0, not 1.2e-16): "
                 f"cast the operand to float32 first")
    if s.result == _F32 and op_type in _DOUBLE_KERNELS:
        return g.cast(g.op(op_type, *[g.cast(x, _F64) for x in xs]), _F32)
    return g.op(op_type, *xs)


def _function(op_type):
    def render(s, *xs):
        return _in_double(s, op_type, *xs)
    return render


def _double_formula(formula: Callable):
    """A function composed of others, computed in float64 (float32 operands too) and rounded once."""
    def render(s, *xs):
        g = s.b
        if s.result.kind != "f":
            s.refuse("a function of floats")
        wide = [g.cast(x, _F64) for x in xs]
        sub = Step(g, s.node, (_F64,) * len(xs), _F64, s.uniform, s.graph_source)
        return g.cast(formula(sub, *wide), s.result)
    return render


def _expm1(s, x):
    # Kahan: u = exp(x); (u - 1) * x / log(u), exact where u == 1 (x tiny); -1 where u - 1 == -1.
    g, t = s.b, s.result
    u = g.op("Exp", x)
    um1 = g.op("Sub", u, g.const(1, t))
    general = g.op("Mul", um1, g.op("Div", x, g.op("Log", u)))
    out = g.where(g.cmp("Equal", u, g.const(1, t)), x, g.where(g.cmp("Equal", um1, g.const(-1, t)), um1, general))
    return g.where(g.op("IsInf", u, dtype=_BOOL), u, out)


def _log1p(s, x):
    # Goldberg: u = 1 + x; log(u) * x / (u - 1), exact where u == 1.
    g, t = s.b, s.result
    u = g.op("Add", x, g.const(1, t))
    general = g.op("Mul", g.op("Log", u), g.op("Div", x, g.op("Sub", u, g.const(1, t))))
    out = g.where(g.cmp("Equal", u, g.const(1, t)), x, general)
    return g.where(g.op("IsInf", x, dtype=_BOOL), g.op("Log", u), out)


def _log_base(base):
    def formula(s, x):
        return s.b.op("Div", s.b.op("Log", x), s.b.const(math.log(base), s.result))
    return formula


def _exp2(s, x):
    return s.b.op("Pow", s.b.const(2.0, s.result), x)


def _cbrt(s, x):
    # |x| ** (1/3) with x's sign, then one Newton step (1/3 is not a float: pow alone is off by ulps).
    g, t = s.b, s.result
    ax = g.op("Abs", x)
    # Tiny values scaled by 2**162 first (exactly), and the root by 2**-54: y*y*y stays a normal float.
    tiny = g.cmp("Less", ax, g.const(2.0 ** -900, t))
    ax = g.where(tiny, g.op("Mul", ax, g.const(2.0 ** 162, t)), ax)
    y = g.op("Pow", ax, g.const(1.0 / 3.0, t))
    y = g.op("Sub", y, g.op("Div", g.op("Sub", g.op("Mul", g.op("Mul", y, y), y), ax),
                            g.op("Mul", g.const(3.0, t), g.op("Mul", y, y))))
    y = g.where(tiny, g.op("Mul", y, g.const(2.0 ** -54, t)), y)
    y = g.where(g.cmp("Less", x, g.const(0, t)), g.op("Neg", y), y)
    keep = g.op("Or", g.cmp("Equal", x, g.const(0, t)), g.op("Not", _isfinite(g, x), dtype=_BOOL))
    return g.where(keep, x, y)


def _hypot(s, x, y):
    g, t = s.b, s.result
    ax, ay = g.op("Abs", x), g.op("Abs", y)
    big = g.where(g.cmp("Greater", ax, ay), ax, ay)
    small = g.where(g.cmp("Greater", ax, ay), ay, ax)
    ratio = g.op("Div", small, g.where(g.cmp("Equal", big, g.const(0, t)), g.const(1, t), big))
    out = g.op("Mul", big, g.op("Sqrt", g.op("Add", g.const(1, t), g.op("Mul", ratio, ratio))))
    inf = g.op("Or", g.op("IsInf", x, dtype=_BOOL), g.op("IsInf", y, dtype=_BOOL))
    nan = g.op("Or", g.op("IsNaN", x, dtype=_BOOL), g.op("IsNaN", y, dtype=_BOOL))
    return g.where(inf, g.const(np.inf, t), g.where(nan, g.const(np.nan, t), out))


def _tan(s, x):
    if s.result == _F64:
        s.refuse("onnxruntime's float64 Sin and Cos are approximations: cast the operand to float32 first")
    return _double_formula(lambda sub, y: sub.b.op("Div", sub.b.op("Sin", y), sub.b.op("Cos", y)))(s, x)


def _compare(op_type, negate=False):
    def render(s, a, b):
        g = s.b
        da, db = s.operands
        if op_type != "Equal" and da.kind == "b":
            a, b = g.cast(a, np.uint8), g.cast(b, np.uint8)
        if "uint64" in (da.name, db.name) and da != db:
            return _compare_uint64_signed(s, op_type, negate, a, b)
        out = g.cmp(op_type, a, b)
        return g.op("Not", out) if negate else out
    return render


def _compare_uint64_signed(s, op_type, negate, a, b):
    """uint64 against int64, exactly, as NumPy 2 compares them: a negative value is below every uint64."""
    g = s.b
    signed_first = s.operands[0].name != "uint64"
    w = a if signed_first else b
    negative = g.cmp("Less", w, g.const(0, np.int64))
    wu = g.cast(g.where(negative, g.const(0, np.int64), w), np.uint64)
    ua, ub = (wu, b) if signed_first else (a, wu)
    out = g.cmp(op_type, ua, ub)
    if negate:
        out = g.op("Not", out)
    # Where the signed one is negative: it is less than the other.
    less_side = {"Less": True, "LessOrEqual": True, "Greater": False, "GreaterOrEqual": False}
    if op_type == "Equal":
        fixed = bool(negate)
    else:
        fixed = less_side[op_type] if signed_first else not less_side[op_type]
    return g.where(negative, g.const(fixed, _BOOL), out)


def _logical(op_type):
    def render(s, a, b):
        return s.b.op(op_type, s.b.truth(a), s.b.truth(b))
    return render


def _logical_not(s, a):
    return s.b.op("Not", s.b.truth(a))


def _negative(s, a):
    if s.result.kind in "iu":
        return _int_wrap(s, "Sub", s.b.const(0, s.result), a)
    return s.b.op("Neg", a)


def _invert(s, a):
    return s.b.op("Not", a) if s.result.kind == "b" else s.b.op("BitwiseNot", a)


def _absolute(s, a):
    g = s.b
    if s.result.kind in "ub":
        return g.op("Identity", a)
    if s.result.kind == "i":  # abs(MIN) wraps back to MIN, as NumPy
        return g.where(g.cmp("Less", a, g.const(0, s.result)), _negative(s, a), a)
    return g.op("Abs", a)


def _square(s, a):
    return s.b.op("And", a, a) if s.result.kind == "b" else _int_wrap(s, "Mul", a, a)


def _bitwise(int_op, bool_op):
    def render(s, a, b):
        return s.b.op(bool_op if s.result.kind == "b" else int_op, a, b)
    return render


def _shift(direction):
    """NumPy's shifts: counts at or beyond the width, or negative, shift everything out (0, or -1 for a
    negative value shifted right). ONNX's BitShift is for unsigned types, and C++'s shift is undefined
    for such counts: computed in the unsigned type of the same width, the count replaced where it is beyond."""
    def render(s, a, b):
        g, t = s.b, s.result
        u = np.dtype(f"uint{8 * t.itemsize}")
        count = g.cast(b, u)  # a negative count becomes a huge one: beyond the width
        beyond = g.cmp("GreaterOrEqual", count, g.const(8 * t.itemsize, u))
        count = g.where(beyond, g.const(0, u), count)
        au = g.cast(a, u)
        negative = g.cmp("Less", a, g.const(0, t)) if t.kind == "i" and direction == "RIGHT" else None
        if negative is not None:  # an arithmetic shift of a negative value: ~((~a) >> b)
            au = g.where(negative, g.op("BitwiseNot", au), au)
        out = g.where(beyond, g.const(0, u), g.op("BitShift", au, count, direction=direction))
        if negative is not None:
            out = g.where(negative, g.op("BitwiseNot", out), out)
        return g.cast(out, t)
    return render


def _fmod(s, a, b):
    """C's fmod (the dividend's sign); for integers x fmod 0 and MIN fmod -1 are 0, as NumPy."""
    if s.result.kind == "f":
        return s.b.op("Mod", a, b, fmod=1)
    safe, bad = _int_guard(s, b)
    return s.b.where(bad, s.b.const(0, s.result), s.b.op("Mod", a, safe, fmod=1))


def _rounding(op_type):
    def render(s, a):
        return s.b.op(op_type, a) if s.result.kind == "f" else s.b.op("Identity", a)
    return render


def _trunc(s, a):
    g = s.b
    if s.result.kind != "f":
        return g.op("Identity", a)
    return g.where(g.cmp("Less", a, g.const(0, s.result)), g.op("Ceil", a), g.op("Floor", a))


def _sign(s, a):
    g, t = s.b, s.result
    zero = g.const(0, t)
    out = g.where(g.cmp("Greater", a, zero), g.const(1, t),
                  g.where(g.cmp("Less", a, zero), g.const(-1, t) if t.kind != "u" else zero, zero))
    return g.where(g.op("IsNaN", a, dtype=_BOOL), a, out) if t.kind == "f" else out


def _classify(name):
    def render(s, a):
        g = s.b
        (da,) = s.operands
        if da.kind != "f":
            value = name == "isfinite"
            return g.op("Expand", g.const(value, _BOOL), g.op("Shape", a, dtype=np.int64), dtype=_BOOL)
        if name == "isnan":
            return g.op("IsNaN", a, dtype=_BOOL)
        if name == "isinf":
            return g.op("IsInf", a, dtype=_BOOL)
        return _isfinite(g, a)
    return render


def _signbit(s, a):
    g = s.b
    (da,) = s.operands
    if da.kind == "f":
        s.refuse("the sign bit of a NaN cannot be read in ONNX (it has no bit casts)")
    if da.kind == "i":
        return g.cmp("Less", a, g.const(0, da))
    return g.op("Expand", g.const(False, _BOOL), g.op("Shape", a, dtype=np.int64), dtype=_BOOL)


def _extremum(op_type):
    def render(s, a, b):
        # NumPy propagates NaN, and on a tie (-0.0 and 0.0) returns the second operand.
        g = s.b
        cond = g.cmp(op_type, a, b) if s.result.kind != "b" else g.cmp(op_type, g.cast(a, np.uint8), g.cast(b, np.uint8))
        if s.result.kind == "f":
            cond = g.op("Or", cond, g.op("IsNaN", a, dtype=_BOOL))
        return g.where(cond, a, b)
    return render


_maximum = _extremum("Greater")
_minimum = _extremum("Less")


def _where(s, c, x, y):
    return s.b.where(s.b.truth(c), x, y)


def _clip(s, x, lo, hi):
    g = s.b
    if s.result.kind == "f" and len(s.uniform) == 3 and s.uniform[1] and s.uniform[2]:
        # Bounds that do not vary along NumPy's loop: its clip gives x on a tie.
        above = g.where(g.op("Or", g.cmp("Greater", lo, x), g.op("IsNaN", lo, dtype=_BOOL)), lo, x)
        return g.where(g.op("Or", g.cmp("Less", hi, above), g.op("IsNaN", hi, dtype=_BOOL)), hi, above)
    return _minimum(s, _maximum(s, x, lo), hi)


def _relu(s, x):
    return _maximum(s, x, s.b.const(0, s.result))


def _sigmoid(s, x):
    # As ops.py: e = exp(-|x|) in x's dtype (an integer's abs and negation wrap), then two branches.
    g = s.b
    (dx,) = s.operands
    sub = Step(g, s.node, (dx,), dx, (), s.graph_source)
    neg_abs = g.cast(_negative(sub, _absolute(sub, x)), s.result) if dx.kind != "b" else \
        g.op("Neg", g.cast(x, s.result))
    e = _in_double(s, "Exp", neg_abs)
    one = g.const(1, s.result)
    ge = g.cmp("GreaterOrEqual", x, g.const(0, dx)) if dx.kind != "b" else g.op("Identity", g.const(True, _BOOL))
    return g.where(ge, g.op("Div", one, g.op("Add", one, e)), g.op("Div", e, g.op("Add", one, e)))


def _cast(s, a):
    return s.b.cast(a, s.result)


def _refused(why):
    def render(s, *args):
        s.refuse(why)
    return render


ONNX_OPS: dict[str, Callable] = {
    "add": _arith("Add", "Or"),
    "subtract": _arith("Sub"),
    "multiply": _arith("Mul", "And"),
    "divide": _divide,
    "floor_divide": _floor_divide,
    "remainder": _remainder,
    "power": _power,
    "bitwise_and": _bitwise("BitwiseAnd", "And"),
    "bitwise_or": _bitwise("BitwiseOr", "Or"),
    "bitwise_xor": _bitwise("BitwiseXor", "Xor"),
    "left_shift": _shift("LEFT"),
    "right_shift": _shift("RIGHT"),
    "less": _compare("Less"),
    "less_equal": _compare("LessOrEqual"),
    "greater": _compare("Greater"),
    "greater_equal": _compare("GreaterOrEqual"),
    "equal": _compare("Equal"),
    "not_equal": _compare("Equal", negate=True),
    "logical_and": _logical("And"),
    "logical_or": _logical("Or"),
    "negative": _negative,
    "positive": lambda s, a: s.b.op("Identity", a),
    "invert": _invert,
    "logical_not": _logical_not,
    "absolute": _absolute,
    "sqrt": lambda s, a: s.b.op("Sqrt", a),
    "cbrt": _double_formula(_cbrt),
    "square": _square,
    "exp": _function("Exp"),
    "exp2": _double_formula(_exp2),
    "expm1": _double_formula(_expm1),
    "log": _function("Log"),
    "log2": _double_formula(_log_base(2)),
    "log10": _double_formula(_log_base(10)),
    "log1p": _double_formula(_log1p),
    "sin": _function("Sin"),
    "cos": _function("Cos"),
    "tan": _tan,
    "arcsin": _function("Asin"),
    "arccos": _function("Acos"),
    "arctan": _function("Atan"),
    "arctan2": _refused("ONNX has no atan2"),
    "hypot": _double_formula(_hypot),
    "fmod": _fmod,
    "copysign": _refused("the sign bit of a NaN cannot be read in ONNX (it has no bit casts)"),
    "nextafter": _refused("ONNX has no bit casts to step to the next float"),
    "sinh": _function("Sinh"),
    "cosh": _function("Cosh"),
    "tanh": _function("Tanh"),
    "arcsinh": _function("Asinh"),
    "arccosh": _function("Acosh"),
    "arctanh": _function("Atanh"),
    "floor": _rounding("Floor"),
    "ceil": _rounding("Ceil"),
    "trunc": _trunc,
    "rint": _rounding("Round"),
    "sign": _sign,
    "isnan": _classify("isnan"),
    "isinf": _classify("isinf"),
    "isfinite": _classify("isfinite"),
    "signbit": _signbit,
    "minimum": _minimum,
    "maximum": _maximum,
    "where": _where,
    "clip": _clip,
    "sigmoid": _sigmoid,
    "relu": _relu,
    **{name: _cast for name in CASTS},
}


# -- reductions, softmax, matrix products, transposes ---------------------------------------------
# Their operands keep their dtypes; `s.shape` is the operand's shape. Float sums and means are
# computed in float64 (NumPy's float32 sums are pairwise in float32: the results agree within
# rounding, not bit for bit); maxima, minima, their indices, any, all and transposes are exact.

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
        flipped = g.op("Cast", g.op("BitwiseXor", x, top), to=_ELEM["int64"], dtype=np.int64)
        return flipped, lambda y: g.op("BitwiseXor", g.op("Cast", y, to=_ELEM["uint64"], dtype=np.uint64), top)
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
        return g.cast(_reduce(s, op_type, g.cast(x, _F64)), r)
    return render


def _int_sum(s: Step, x: str) -> str:
    """An integer sum wrapping around as NumPy's (in int64 or uint64): onnxruntime sums integers through
    float64, exact below 2**53 only. So the sum is taken of the four 16-bit pieces of each value (sums of
    fewer than 2**37 of them are exact), then put together in uint64, which wraps."""
    g, r = s.b, s.result
    u64 = np.dtype("uint64")
    bits = g.op("Cast", g.cast(x, np.int64) if g.dtypes[x].name != "uint64" else x, to=_ELEM["uint64"], dtype=u64)
    total = None
    for k in range(4):
        piece = g.op("BitwiseAnd", g.op("BitShift", bits, g.const(16 * k, u64), direction="RIGHT"),
                     g.const(0xFFFF, u64))
        part = g.op("Cast", _reduce(s, "ReduceSum", g.cast(piece, np.int64)), to=_ELEM["uint64"], dtype=u64)
        part = g.op("BitShift", part, g.const(16 * k, u64), direction="LEFT")
        total = part if total is None else g.op("Add", total, part)
    return total if r == u64 else g.op("Cast", total, to=_ELEM[r.name], dtype=r)


def _extreme(op_type):
    def render(s, x):
        g = s.b
        t = g.dtypes[x]
        y, back = _ordered(g, x)
        out = back(_reduce(s, op_type, y))
        if t.kind == "f":  # NumPy's max and min propagate NaN
            anynan = _reduce(s, "ReduceMax", g.cast(g.op("IsNaN", x, dtype=_BOOL), np.uint8))
            out = g.where(g.cast(anynan, _BOOL), g.const(np.nan, t), out)
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
            nan = g.cast(g.op("IsNaN", x, dtype=_BOOL), np.uint8)
            first = g.op("ArgMax", nan, axis=axis, keepdims=int(keep and axes is not None), select_last_index=0,
                         dtype=np.int64)
            anynan = g.op("ReduceMax", nan, g.const(np.array([axis], np.int64), np.int64),
                          keepdims=int(keep and axes is not None))
            out = g.where(g.cast(anynan, _BOOL), first, out)
        if axes is None and keep:
            out = g.op("Reshape", out, g.const(np.ones(len(s.shape), np.int64), np.int64))
        return out
    return render


def _truth_reduce(op_type):
    def render(s, x):
        g = s.b
        return g.cast(_reduce(s, op_type, g.cast(g.truth(x), np.uint8)), _BOOL)
    return render


def _count(s: Step, x: str, t) -> str:
    """How many elements each reduction takes, as dtype t (kept dims)."""
    g = s.b
    ones = g.op("Expand", g.const(1, t), g.op("Shape", x, dtype=np.int64))
    return _reduce(s, "ReduceSum", ones, keepdims=True)


def _var(s, x, root=False):
    g, r = s.b, s.result
    xd = g.cast(x, _F64)
    n = _count(s, xd, _F64)
    mean = g.op("Div", _reduce(s, "ReduceSum", xd, keepdims=True), n)
    d = g.op("Sub", xd, mean)
    ddof = g.const(float(dict(s.node.attrs).get("ddof", 0)), _F64)
    n = n if dict(s.node.attrs).get("keepdims", False) else _reduce(s, "ReduceMax", n)
    out = g.op("Div", _reduce(s, "ReduceSum", g.op("Mul", d, d)), g.op("Sub", n, ddof))
    return g.cast(g.op("Sqrt", out) if root else out, r)


def _mean(s, x):
    g = s.b
    xd = g.cast(x, _F64)
    n = _count(s, xd, _F64)
    n = n if dict(s.node.attrs).get("keepdims", False) else _reduce(s, "ReduceMax", n)
    return g.cast(g.op("Div", _reduce(s, "ReduceSum", xd), n), s.result)


def _shift_by_max(s: Step, x: str, reduce: Callable) -> tuple[str, str]:
    """(x minus its maximum along the axes, the maximum), both float64, as ops.py computes them: the
    subtraction in x's dtype (integers wrap around), a maximum that is not finite taken as 0."""
    g = s.b
    t = g.dtypes[x]
    if t.kind == "f":
        xd = g.cast(x, _F64)
        m = reduce("ReduceMax", xd)
        m = g.where(_isfinite(g, m), m, g.const(0, _F64))
        return g.op("Sub", xd, m), m
    # Integers: the difference, then exp, sum and log in the result's dtype, as NumPy (exp of a
    # wrapped-around uint16 difference overflows float32).
    y, back = _ordered(g, x)
    m = back(reduce("ReduceMax", y))
    sub = Step(g, s.node, (t, t), t, (), s.graph_source)
    return g.cast(_int_wrap(sub, "Sub", x, m) if t.kind == "i" else g.op("Sub", x, m), s.result), g.cast(m, s.result)


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
        return g.cast(g.op("MatMul", g.cast(a, np.int64), g.cast(b, np.int64)), _BOOL)
    if r.kind == "f":
        return g.cast(g.op("MatMul", g.cast(a, _F64), g.cast(b, _F64)), r)
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


# -- the model ------------------------------------------------------------------------------------

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
        values[n] = n.input_name
        g.dtypes[n.input_name] = dt
        if n.input_name in exp.params:
            initializers.append(numpy_helper.from_array(exp.params[n.input_name], n.input_name))
        else:
            inputs.append(helper.make_tensor_value_info(n.input_name, _ELEM[dt.name], _onnx_shape(shape)))
    memo: dict = {}
    for node in graph.nodes:
        if node.op in ("input", "constant"):
            continue
        step = Step(g, node, (), kinds[node].dtype, graph_source=graph.source)
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
        outputs.append(helper.make_tensor_value_info(name, _ELEM[dt.name], _onnx_shape(exp.shapes[node])))
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

"""The ONNX renderings of the element-wise ops: `ONNX_OPS[op](step, *operands)`, with NumPy's semantics.

Where ONNX's operator differs from NumPy, a rendering composes ONNX operators that give NumPy's
result: integer floor division and remainder (signs; division by zero and MIN // -1 are 0 or wrap
in NumPy, undefined in C++), NumPy's float // and %, NaN-propagating minimum and maximum with
NumPy's choice on ties, saturating float-to-integer casts (Builder.cast), shifts by counts beyond
the width, the fast paths NumPy's power takes for a uniform exponent. Transcendental functions of
float32 are computed in float64 where onnxruntime has a float64 kernel (its float32 kernels are
approximations), and rounded once. What ONNX cannot say is refused with the line that uses it: the
sign bit of a NaN (copysign, signbit of floats, nextafter: ONNX has no bit casts), atan2, integer
powers whose exponents may be negative (NumPy's error), float64 functions onnxruntime lacks.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..ops import CASTS
from .onnx_builder import BOOL, DOUBLE_KERNELS, F32, F64, INEXACT_DOUBLE, Step, int_wrap, isfinite


def _arith(op_type, bool_op=None):
    def render(s: Step, a, b):
        if s.result.kind == "b":
            return s.b.op(bool_op, a, b)
        return int_wrap(s, op_type, a, b)
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
        inexact = g.op("Not", g.cmp("Equal", g.op("Mul", q, safe), a), dtype=BOOL)
        signs = g.op("Xor", g.cmp("Less", a, zero), g.cmp("Less", safe, zero))
        q = g.where(g.op("And", inexact, signs), g.op("Sub", q, g.const(1, s.result)), q)
        # b == -1: -a, wrapping (MIN // -1 is MIN); b == 0: 0.
        neg = int_wrap(s, "Sub", zero, a)
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
    mod = g.where(g.op("IsInf", b, dtype=BOOL), a, g.op("Mod", a, b, fmod=1))
    quotient = g.op("Div", a, b)
    div = g.op("Div", g.op("Sub", a, mod), b)
    nonzero = g.op("Not", g.cmp("Equal", mod, zero), dtype=BOOL)
    flip = g.op("And", nonzero, g.op("Xor", g.cmp("Less", b, zero), g.cmp("Less", mod, zero)))
    mod2 = g.where(flip, g.op("Add", mod, b), g.where(nonzero, mod, _copysign_zero(s, b)))
    div = g.where(flip, g.op("Sub", div, one), div)
    floor = g.op("Floor", div)
    floor = g.where(g.cmp("Greater", g.op("Sub", div, floor), half), g.op("Add", floor, one), floor)
    floordiv = g.where(g.cmp("Equal", div, zero), _copysign_zero(s, quotient), floor)
    # Non-finite a or NaN b: NaN; b == 0: a / b for the quotient, fmod (NaN) for the remainder.
    invalid = g.op("Or", g.op("Not", isfinite(g, a), dtype=BOOL), g.op("IsNaN", b, dtype=BOOL))
    b_zero = g.cmp("Equal", b, zero)
    floordiv = g.where(b_zero, quotient, g.where(invalid, nan, floordiv))
    mod2 = g.where(invalid, nan, g.where(b_zero, nan, mod2))
    return floordiv, mod2


def _copysign_zero(s: Step, x: str) -> str:
    """+0.0, or -0.0 where x is negative or -0.0 (1/x < 0; x is never NaN where this is taken)."""
    g, t = s.b, s.result
    negative = g.op("Or", g.cmp("Less", x, g.const(0, t)), g.cmp("Less", g.op("Div", g.const(1, t), x), g.const(0, t)))
    return g.where(negative, g.const(-0.0, t), g.const(0.0, t))


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
                out = int_wrap(s, "Mul", out, base)
            e >>= 1
            if e:
                base = int_wrap(s, "Mul", base, base)
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
    if s.result == F64 and op_type not in DOUBLE_KERNELS:
        s.refuse(f"onnxruntime has no float64 {op_type}: cast the operand to float32 first")
    if s.result == F64 and op_type in INEXACT_DOUBLE:
        s.refuse(f"onnxruntime's float64 {op_type} is an approximation (sin(pi) is -0.0, not 1.2e-16): "
                 f"cast the operand to float32 first")
    if s.result == F32 and op_type in DOUBLE_KERNELS:
        return g.cast(g.op(op_type, *[g.cast(x, F64) for x in xs]), F32)
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
        wide = [g.cast(x, F64) for x in xs]
        sub = Step(g, s.node, (F64,) * len(xs), F64, s.uniform, s.graph_source)
        return g.cast(formula(sub, *wide), s.result)
    return render


def _expm1(s, x):
    # Kahan: u = exp(x); (u - 1) * x / log(u), exact where u == 1 (x tiny); -1 where u - 1 == -1.
    g, t = s.b, s.result
    u = g.op("Exp", x)
    um1 = g.op("Sub", u, g.const(1, t))
    general = g.op("Mul", um1, g.op("Div", x, g.op("Log", u)))
    out = g.where(g.cmp("Equal", u, g.const(1, t)), x, g.where(g.cmp("Equal", um1, g.const(-1, t)), um1, general))
    return g.where(g.op("IsInf", u, dtype=BOOL), u, out)


def _log1p(s, x):
    # Goldberg: u = 1 + x; log(u) * x / (u - 1), exact where u == 1.
    g, t = s.b, s.result
    u = g.op("Add", x, g.const(1, t))
    general = g.op("Mul", g.op("Log", u), g.op("Div", x, g.op("Sub", u, g.const(1, t))))
    out = g.where(g.cmp("Equal", u, g.const(1, t)), x, general)
    return g.where(g.op("IsInf", x, dtype=BOOL), g.op("Log", u), out)


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
    keep = g.op("Or", g.cmp("Equal", x, g.const(0, t)), g.op("Not", isfinite(g, x), dtype=BOOL))
    return g.where(keep, x, y)


def _hypot(s, x, y):
    g, t = s.b, s.result
    ax, ay = g.op("Abs", x), g.op("Abs", y)
    big = g.where(g.cmp("Greater", ax, ay), ax, ay)
    small = g.where(g.cmp("Greater", ax, ay), ay, ax)
    ratio = g.op("Div", small, g.where(g.cmp("Equal", big, g.const(0, t)), g.const(1, t), big))
    out = g.op("Mul", big, g.op("Sqrt", g.op("Add", g.const(1, t), g.op("Mul", ratio, ratio))))
    inf = g.op("Or", g.op("IsInf", x, dtype=BOOL), g.op("IsInf", y, dtype=BOOL))
    nan = g.op("Or", g.op("IsNaN", x, dtype=BOOL), g.op("IsNaN", y, dtype=BOOL))
    return g.where(inf, g.const(np.inf, t), g.where(nan, g.const(np.nan, t), out))


def _tan(s, x):
    if s.result == F64:
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
    return g.where(negative, g.const(fixed, BOOL), out)


def _logical(op_type):
    def render(s, a, b):
        return s.b.op(op_type, s.b.truth(a), s.b.truth(b))
    return render


def _logical_not(s, a):
    return s.b.op("Not", s.b.truth(a))


def _negative(s, a):
    if s.result.kind in "iu":
        return int_wrap(s, "Sub", s.b.const(0, s.result), a)
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
    return s.b.op("And", a, a) if s.result.kind == "b" else int_wrap(s, "Mul", a, a)


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
    return g.where(g.op("IsNaN", a, dtype=BOOL), a, out) if t.kind == "f" else out


def _classify(name):
    def render(s, a):
        g = s.b
        (da,) = s.operands
        if da.kind != "f":
            value = name == "isfinite"
            return g.op("Expand", g.const(value, BOOL), g.op("Shape", a, dtype=np.int64), dtype=BOOL)
        if name == "isnan":
            return g.op("IsNaN", a, dtype=BOOL)
        if name == "isinf":
            return g.op("IsInf", a, dtype=BOOL)
        return isfinite(g, a)
    return render


def _signbit(s, a):
    g = s.b
    (da,) = s.operands
    if da.kind == "f":
        s.refuse("the sign bit of a NaN cannot be read in ONNX (it has no bit casts)")
    if da.kind == "i":
        return g.cmp("Less", a, g.const(0, da))
    return g.op("Expand", g.const(False, BOOL), g.op("Shape", a, dtype=np.int64), dtype=BOOL)


def _extremum(op_type):
    def render(s, a, b):
        # NumPy propagates NaN, and on a tie (-0.0 and 0.0) returns the second operand.
        g = s.b
        cond = g.cmp(op_type, a, b) if s.result.kind != "b" else g.cmp(op_type, g.cast(a, np.uint8), g.cast(b, np.uint8))
        if s.result.kind == "f":
            cond = g.op("Or", cond, g.op("IsNaN", a, dtype=BOOL))
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
        above = g.where(g.op("Or", g.cmp("Greater", lo, x), g.op("IsNaN", lo, dtype=BOOL)), lo, x)
        return g.where(g.op("Or", g.cmp("Less", hi, above), g.op("IsNaN", hi, dtype=BOOL)), hi, above)
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
    ge = g.cmp("GreaterOrEqual", x, g.const(0, dx)) if dx.kind != "b" else g.op("Identity", g.const(True, BOOL))
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

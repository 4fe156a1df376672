"""The OpenCL C of the math functions beyond arithmetic: sin, cos and tan of float32 vectors (a
polynomial of our own within `SINCOS_BOUND`), rounding, sign, NaN and infinity tests, nextafter,
minimum and maximum, clip, relu and sigmoid, each as NumPy computes it.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...ops import power_of_ten
from .c_arith import absolute, negative
from .c_types import _FLOAT16, HALF_HELPERS, convert, literal


# sin and cos of float vectors whose lanes are all within SINCOS_BOUND: a polynomial of our own,
# measured faster than PoCL 3.0-rc2's (`benchmarks/sincos_poly.py`: the float8 kernel alone at 1e7,
# 1.4x to 1.7x in runs on a shared 2-core machine) and within 3 ulps of NumPy's over that range.
# The reduction is Cody-Waite's, k = rint(x * 2/pi) and r = x - k*pi/2 with pi/2 in four parts,
# the first three of 8, 11 and 11 bits, so that each k * part is exact for |k| < 2^12; then
# cephes' minimax polynomials on [-pi/4, pi/4], and the quadrant k & 3 picks sin or cos and the
# sign. Lanes beyond the bound, NaN and inf send the whole vector to the built-in.
SINCOS_BOUND = 4096.0

SINCOS_POLY = """\
floatW sx_sincos_poly_floatW(floatW x, int want_cos) {
    const floatW k = rint(x * 0.63661977236758134f);
    floatW r = x - k * 0x1.92p+0f;
    r = r - k * 0x1.fb4p-12f;
    r = r - k * 0x1.444p-24f;
    r = r - k * 0x1.68c234p-39f;
    const floatW z = r * r;
    const floatW s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
    const floatW c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z
                     - 0.5f * z + 1.0f;
    const intW q = convert_intW(k) + want_cos;
    const floatW v = select(s, c, (q & 1) != 0);
    const floatW signed_v = select(v, -v, (q & 2) != 0);
    /* sin(x) is x below 2^-12 (x^3/6 is under half an ulp): keeps -0.0 and tiny values exact */
    return want_cos ? signed_v : select(signed_v, x, fabs(x) < 0x1p-12f);
}"""


def trig(name):
    """sin/cos/tan. PoCL 3.0's float vector versions go wrong in every lane when one lane is
    beyond about 1e6 (small lanes come out wrong); such vectors are computed in double
    (rounded once, within 1 ulp). sin and cos of vectors within SINCOS_BOUND: the polynomial."""
    def render(ctx, a):
        if not (ctx.vector and ctx.result.name == "float32"):
            return f"{name}({a})"
        w, h = ctx.width, ctx.width // 2
        if h >= 2:
            slow = (f"(float{w})(convert_float{h}({name}(convert_double{h}(x.lo))), "
                    f"convert_float{h}({name}(convert_double{h}(x.hi))))")
        else:
            slow = f"(float{w})((float){name}((double)x.x), (float){name}((double)x.y))"
        fast = ""
        if name in ("sin", "cos"):
            poly = ctx.helper(f"sx_sincos_poly_float{w}", SINCOS_POLY.replace("W", str(w)))
            fast = (f"    if (all(fabs(x) <= {SINCOS_BOUND:.1f}f)) return {poly}(x, {int(name == 'cos')});\n")
        helper = f"sx_{name}_float{w}"
        src = (f"float{w} {helper}(float{w} x) {{\n{fast}"
               f"    if (any(fabs(x) > 1.0e5f)) return {slow};\n"
               f"    return {name}(x);\n}}")
        return f"{ctx.helper(helper, src)}({a})"
    return render


def rounding(name):
    def render(ctx, a):
        return f"{name}({a})" if ctx.result.kind == "f" else a  # NumPy keeps ints as they are
    return render


# double -> an integer type as NumPy's astype does on x86 after round's float64 detour: x86's
# conversion gives the "integer indefinite" (the minimum) beyond the range or for NaN; the small
# types go through int32 (wrapping), the unsigned 32- and 64-bit ones as compilers lower them
# (values from 2**(N-1) shifted down and the top bit put back).
_I32 = "((v) >= -2147483648.0 && (v) < 2147483648.0 ? (int)(v) : (int)0x80000000)"
_I64 = "((v) >= -9223372036854775808.0 && (v) < 9223372036854775808.0 ? (long)(v) : (long)0x8000000000000000UL)"


def _x86(conversion: str, v: str) -> str:
    return conversion.replace("(v)", f"({v})")


_ROUND_BACK = {
    "int8": f"(char){_x86(_I32, 'y')}", "uint8": f"(uchar){_x86(_I32, 'y')}",
    "int16": f"(short){_x86(_I32, 'y')}", "uint16": f"(ushort){_x86(_I32, 'y')}",
    "int32": _x86(_I32, "y"), "int64": _x86(_I64, "y"),
    "uint32": f"y >= 2147483648.0 ? (uint){_x86(_I32, 'y - 2147483648.0')} ^ 0x80000000U : (uint){_x86(_I32, 'y')}",
    "uint64": (f"y >= 9223372036854775808.0 ? (ulong){_x86(_I64, 'y - 9223372036854775808.0')} ^ "
               f"0x8000000000000000UL : (ulong){_x86(_I64, 'y')}"),
}


def round_to(ctx, a):
    """np.round (ops._round): rint(a * 10**d) / 10**d in the float's own dtype, the power of ten as
    NumPy computes it; ints unchanged for d >= 0, through float64 for d < 0."""
    decimals = dict(ctx.node.attrs).get("decimals", 0)
    scale = power_of_ten(abs(decimals))
    if ctx.result.kind == "f":
        if decimals == 0:
            return f"rint({a})"
        with np.errstate(over="ignore"):  # 10**39 is inf in float32: NumPy's x * inf then
            f = ctx.const(float(np.array(scale).astype(ctx.result)))
        # float16: each of NumPy's three steps is rounded to float16 (the last one by render_values).
        half = (lambda e: f"{ctx.helper('sx_half', HALF_HELPERS['sx_half'])}({e})") if ctx.result == _FLOAT16 \
            else (lambda e: e)
        body = f"(rint({half(f'{a} * {f}')}) / {f})" if decimals > 0 else f"(rint({half(f'{a} / {f}')}) * {f})"
        return ctx.pick_nan(ctx.isnan(a), a, body)  # a NaN keeps its bits, as in NumPy's three steps
    if decimals >= 0:
        return a
    if ctx.vector:
        raise NotImplementedError("round of ints in vector code")
    t = ctx.t()
    name = f"sx_round_{t}_{-decimals}"
    src = (f"{t} {name}({t} a) {{\n"
           f"    double y = rint((double)a / {literal(scale, 'float64')}) * {literal(scale, 'float64')};\n"
           f"    return {_ROUND_BACK[ctx.result.name]};\n}}")
    return f"{ctx.helper(name, src)}({a})"


def sign(ctx, a):
    if ctx.result.kind == "f":
        one, minus, zero = ctx.const(1), ctx.const(-1), ctx.const(0)
        # NaN stays NaN; -0.0 gives +0.0.
        return ctx.sel(f"isnan({a})", a, ctx.sel(f"({a} > {zero})", one, ctx.sel(f"({a} < {zero})", minus, zero)))
    if ctx.result.kind == "u":
        return f"({ctx.t()})({a} > 0)"
    return f"({ctx.t()})(({a} > 0) - ({a} < 0))"


def classify(name, int_value):
    def render(ctx, a):
        (da,) = ctx.operand_dtypes
        if da.kind == "f":
            return ctx.as_bool(f"{name}({a})")
        return ctx.const(int_value, "bool")
    return render


def extremum(c_op):
    def render(ctx, a, b):
        # NumPy propagates NaN, and on equal operands (-0.0 and 0.0) returns the second; its float16
        # loop (npy_half_ge/le) the first.
        if ctx.result.kind == "f":
            tie = "=" if ctx.result == _FLOAT16 else ""
            return ctx.sel(f"({a} {c_op}{tie} {b}) | isnan({a})", a, b)
        if ctx.vector:
            raise NotImplementedError("extremum of bools in vector code")
        return ctx.sel(f"{a} {c_op} {b}", a, b)
    return render


maximum = extremum(">")
minimum = extremum("<")


def clip(ctx, x, lo, hi):
    # np.clip with array bounds: minimum(maximum(x, lo), hi), NaN anywhere giving NaN; a tie
    # (x = -0.0, lo = +0.0) gives the bound.
    by_array = minimum(ctx, f"{maximum(ctx, x, lo)}", hi)
    uniform = ctx.uniform[1:] if len(ctx.uniform) == 3 else (None, None)
    if ctx.result.kind != "f" or None in uniform:
        return by_array
    # With bounds that do not vary along its loop (scalars) NumPy's clip gives x on a tie.
    above = ctx.sel(f"({lo} > {x}) | isnan({lo})", lo, x)
    by_scalar = ctx.sel(f"({hi} < {above}) | isnan({hi})", hi, above)
    cond = max(uniform)
    return by_scalar if cond == "" else f"(({cond}) ? {by_scalar} : {by_array})"


def relu(ctx, x):
    return maximum(ctx, x, ctx.const(0))


def sigmoid(ctx, x):
    (dx,) = ctx.operand_dtypes
    # As ops.py: e = exp(-|x|) in x's dtype (NumPy's integer abs and negative wrap), then two branches.
    sub = replace(ctx, operand_dtypes=(dx,), result=dx)
    neg_abs = negative(sub, absolute(sub, x))
    e = f"exp({convert(neg_abs, dx, ctx.result, ctx)})"
    one = ctx.const(1)
    ge = f"({x} >= {ctx.const(0, dx) if ctx.vector else literal(0, dx)})"
    return ctx.sel(ge, f"({one} / ({one} + {e}))", f"({e} / ({one} + {e}))")


_HALF_NEXTAFTER = """float sx_nextafter_half(float x, float y) {
    const ushort hx = sx_to_half(x), hy = sx_to_half(y);
    ushort r;
    if (isnan(x) || isnan(y)) r = 0x7e00;
    else if (x == y) r = hx;
    else if (x == 0) r = (hy & 0x8000) + 1;
    else if (!(hx & 0x8000)) r = ((short)hx > (short)hy) ? hx - 1 : hx + 1;
    else r = (!(hy & 0x8000) || (hx & 0x7fff) > (hy & 0x7fff)) ? hx - 1 : hx + 1;
    return sx_from_half(r);
}"""


def nextafter(ctx, a, b):
    if ctx.result == _FLOAT16:
        # NumPy's npy_half_nextafter: the next float16, on the bits (x == y gives x, so +0.0 towards
        # -0.0 stays +0.0; a NaN gives NumPy's half NaN).
        for name in ("sx_to_half", "sx_from_half"):
            ctx.helper(name, HALF_HELPERS[name])
        return f"{ctx.helper('sx_nextafter_half', _HALF_NEXTAFTER)}({a}, {b})"
    return f"nextafter({a}, {b})"


def signbit(ctx, a):
    (da,) = ctx.operand_dtypes
    if da.kind == "f":
        return ctx.as_bool(f"signbit({a})")
    if da.kind == "i":
        return ctx.as_bool(f"({a} < 0)")
    return ctx.const(False, "bool")  # unsigned and bool: never negative

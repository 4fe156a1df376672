"""The OpenCL C of arithmetic: + - * / // % ** and fmod, negation, absolute value and square,
bitwise operations and shifts, as NumPy computes them.

Integers wrap on overflow (signed ones through their unsigned type), division by zero and the
shifts beyond the bit width give NumPy's values, and a float result that is NaN carries the NaN
NumPy's x86 loops give (`c_context.x86_nan`). Complex operands go to c_complex.py.
"""
from __future__ import annotations

from . import c_complex
from .c_context import Ctx, default_nan, x86_nan
from .c_types import _UNSIGNED, is_int


def _wrap(ctx: Ctx, a: str, op: str, b: str) -> str:
    """a op b in the result dtype, wrapping on overflow as NumPy does (signed ints go through unsigned)."""
    if ctx.result.kind == "c":
        return f"({a} {op} {b})"  # part by part
    if ctx.result.kind == "f":
        return x86_nan(ctx, f"({a} {op} {b})", a, b)
    if ctx.vector or ctx.result.kind not in "iu":
        return f"({a} {op} {b})"
    r = ctx.result.name
    if r in _UNSIGNED:
        u = _UNSIGNED[r]
        return f"({ctx.t()})(({u}){a} {op} ({u}){b})"
    return f"({ctx.t()})({a} {op} {b})"


def subtract(ctx, a, b):
    return _wrap(ctx, a, "-", b)


def add(ctx, a, b):
    if ctx.result.kind == "c":
        return f"({a} + {b})"
    if ctx.result.kind == "b":
        return f"({a} | {b})"  # NumPy: bool + bool is logical or
    return _wrap(ctx, a, "+", b)


def multiply(ctx, a, b):
    if ctx.result.kind == "c":
        return c_complex.multiply(ctx, a, b)
    if ctx.result.kind == "b":
        return f"({a} & {b})"
    return _wrap(ctx, a, "*", b)


def negative(ctx, a):
    if is_int(ctx.result):
        return _wrap(ctx, ctx.const(0), "-", a)
    return f"(-{a})"


def square(ctx, a):
    return multiply(ctx, a, a)


def absolute(ctx, a):
    if ctx.operand_dtypes[0].kind == "c":
        return c_complex.absolute(ctx, a)
    if ctx.result.kind == "f":
        return f"fabs({a})"
    if ctx.result.kind == "i":
        return f"({ctx.t()})abs({a})"  # abs() returns the unsigned type: abs(INT_MIN) wraps back to INT_MIN
    return a


def divide(ctx, a, b):
    if ctx.result.kind == "c":
        return c_complex.divide(ctx, a, b)
    if ctx.result.kind == "f":
        return x86_nan(ctx, f"({a} / {b})", a, b)
    return f"({a} / {b})"


def _int_div_helpers(ctx) -> tuple[str, str]:
    t = ctx.t()
    r = ctx.result
    if r.kind == "u":
        div = f"{t} sx_fdiv_{t}({t} a, {t} b) {{ return b == 0 ? ({t})0 : a / b; }}"
        mod = f"{t} sx_mod_{t}({t} a, {t} b) {{ return b == 0 ? ({t})0 : a % b; }}"
    elif r.kind == "b":
        # bool // bool and bool % bool are int8 in NumPy, so never reach here.
        raise AssertionError("bool floor division")
    else:
        # NumPy: x // 0 == 0, MIN // -1 == MIN (wraps), and the quotient rounds toward minus infinity.
        div = (f"{t} sx_fdiv_{t}({t} a, {t} b) {{\n"
               f"    if (b == 0) return 0;\n"
               f"    if (b == -1) return ({t})(({_UNSIGNED[r.name]})0 - ({_UNSIGNED[r.name]})a);\n"
               f"    {t} q = a / b;\n"
               f"    if (((a < 0) != (b < 0)) && q * b != a) q -= 1;\n"
               f"    return q;\n}}")
        mod = (f"{t} sx_mod_{t}({t} a, {t} b) {{\n"
               f"    if (b == 0 || b == -1) return 0;\n"
               f"    {t} m = a % b;\n"
               f"    if (m != 0 && ((m < 0) != (b < 0))) m += b;\n"
               f"    return m;\n}}")
    return div, mod


def _float_divmod_helper(ctx) -> str:
    """NumPy's npy_divmod: floor division and the remainder with the divisor's sign, for floats."""
    t = ctx.t()
    name = f"sx_divmod_{t}"
    # Non-finite operands never reach fmod: the callers give them NumPy's NaN, and fmod of a
    # literal infinity, inlined and folded, came out as garbage (`inf // b` was b).
    src = (f"{t} {name}({t} a, {t} b, {t}* modulus) {{\n"
           f"    if (!isfinite(a) || isnan(b)) {{ *modulus = ({t})NAN; return ({t})NAN; }}\n"
           f"    {t} mod;\n"
           f"    if (isinf(b)) mod = a; else mod = fmod(a, b);\n"
           f"    if (b == 0) {{ *modulus = mod; return a / b; }}\n"
           f"    {t} div = (a - mod) / b;\n"
           f"    if (mod != 0) {{\n"
           f"        if ((b < 0) != (mod < 0)) {{ mod += b; div -= 1; }}\n"
           f"    }} else {{\n"
           f"        mod = copysign(({t})0, b);\n"
           f"    }}\n"
           f"    {t} floordiv;\n"
           f"    if (div != 0) {{\n"
           f"        floordiv = floor(div);\n"
           f"        if (div - floordiv > ({t})0.5) floordiv += 1;\n"
           f"    }} else {{\n"
           f"        floordiv = copysign(({t})0, a / b);\n"
           f"    }}\n"
           f"    *modulus = mod;\n"
           f"    return floordiv;\n}}")
    return ctx.helper(name, src)


def floor_divide(ctx, a, b):
    t = ctx.t()
    if ctx.result.kind == "f":
        dm = _float_divmod_helper(ctx)
        # A NaN result is a's NaN, else b's, else x86's default NaN, as NumPy's loop gives it (the
        # helper's own NaN depends on how the compiler folded fmod and the division).
        name = ctx.helper(f"sx_fdiv_{t}", f"{t} sx_fdiv_{t}({t} a, {t} b) {{\n"
                                          f"    {t} m; {t} r = b == 0 ? a / b : {dm}(a, b, &m);\n"
                                          f"    return isnan(r) ? (isnan(a) ? a : isnan(b) ? b : {default_nan(ctx)}) : r;\n}}")
        return f"{name}({a}, {b})"
    div, _ = _int_div_helpers(ctx)
    return f"{ctx.helper(f'sx_fdiv_{t}', div)}({a}, {b})"


def remainder(ctx, a, b):
    t = ctx.t()
    if ctx.result.kind == "f":
        dm = _float_divmod_helper(ctx)
        # A NaN result: as //, except when both are NaN: NumPy's remainder takes its NaN from the C
        # library's fmod, which on x86-64 runs on the x87 unit: the NaN with the larger significand,
        # the positive one on a tie.
        u = "uint" if ctx.result.itemsize <= 4 else "ulong"
        mask = "0x7fffffffU" if u == "uint" else "0x7fffffffffffffffUL"
        name = ctx.helper(f"sx_mod_{t}", f"{t} sx_mod_{t}({t} a, {t} b) {{\n"
                                         f"    {t} m; if (b == 0) m = fmod(a, b); else {dm}(a, b, &m);\n"
                                         f"    if (!isnan(m)) return m;\n"
                                         f"    if (isnan(a) && isnan(b)) {{\n"
                                         f"        {u} ma = as_{u}(a) & {mask}, mb = as_{u}(b) & {mask};\n"
                                         f"        return ma > mb ? a : mb > ma ? b : signbit(a) ? b : a;\n"
                                         f"    }}\n"
                                         f"    return isnan(a) ? a : isnan(b) ? b : {default_nan(ctx)};\n}}")
        return f"{name}({a}, {b})"
    _, mod = _int_div_helpers(ctx)
    return f"{ctx.helper(f'sx_mod_{t}', mod)}({a}, {b})"


_POWER_FAST_PATHS = (-1.0, 0.0, 0.5, 1.0, 2.0)


def _power_fast(ctx, a, e: float) -> str:
    """NumPy's power loop for an exponent that does not vary along it: 1/x, 1, sqrt(x), x, x*x
    instead of pow (sqrt(-0.0) is -0.0, pow(-0.0, 0.5) is +0.0)."""
    one = ctx.const(1)
    return {-1.0: f"({one} / {a})", 0.0: one, 0.5: f"sqrt({a})", 1.0: a, 2.0: f"({a} * {a})"}[e]


def power(ctx, a, b):
    if ctx.result.kind == "c":
        return c_complex.render(ctx, "power", a, b)
    if ctx.result.kind == "f":
        # An invalid power (a negative base, a fractional exponent) gives x86's default NaN, as the
        # C library's pow does on NumPy's side. (pow itself is not exact: within ulps, NaN payloads
        # from NaN operands as the library has them.)
        r = f"pow({a}, {b})"
        general = ctx.sel(f"(isnan({r}) & !isnan({a}) & !isnan({b}))" if not ctx.vector else
                          f"(isnan({r}) & ~isnan({a}) & ~isnan({b}))", default_nan(ctx), r)
        uniform = ctx.uniform[1] if len(ctx.uniform) > 1 else None
        if uniform is None:
            return general
        exponent = ctx.node.inputs[1]
        if exponent.op == "constant" and uniform == "":
            e = float(exponent.value)
            return _power_fast(ctx, a, e) if e in _POWER_FAST_PATHS else general
        fast = general
        for e in reversed(_POWER_FAST_PATHS):
            fast = ctx.sel(f"({b} == {ctx.const(e)})", _power_fast(ctx, a, e), fast)
        return fast if uniform == "" else f"(({uniform}) ? {fast} : {general})"
    t = ctx.t()
    r = ctx.result
    # NumPy: repeated squaring, wrapping; a negative exponent is an error (flagged, raised after the kernel).
    u = _UNSIGNED.get(r.name, t)
    signed = r.kind == "i"
    check = "    if (b < 0) { *err = 1; return 0; }\n" if signed else ""
    src = (f"{t} sx_pow_{t}({t} a, {t} b{', __global int* err' if signed else ''}) {{\n"
           f"{check}"
           f"    {u} base = ({u})a, out = 1;\n"
           f"    while (b > 0) {{ if (b & 1) out *= base; base *= base; b >>= 1; }}\n"
           f"    return ({t})out;\n}}")
    if r.kind == "b":
        return f"({a} | !{b})"  # NumPy never gives a bool power; kept total
    return f"{ctx.helper(f'sx_pow_{t}', src)}({a}, {b}{', sx_err' if signed else ''})"


def bitwise(op):
    def render(ctx, a, b):
        if ctx.vector or ctx.result.kind == "b":
            return f"({a} {op} {b})"
        return f"({ctx.t()})({a} {op} {b})"
    return render


def fmod(ctx, a, b):
    if ctx.result.kind == "f":
        return f"fmod({a}, {b})"
    t = ctx.t()
    # C's % truncates, as fmod does; NumPy gives 0 for x fmod 0 and MIN fmod -1, where C is undefined.
    minus_one = " || b == -1" if ctx.result.kind == "i" else ""
    src = f"{t} sx_fmod_{t}({t} a, {t} b) {{ return (b == 0{minus_one}) ? ({t})0 : ({t})(a % b); }}"
    return f"{ctx.helper(f'sx_fmod_{t}', src)}({a}, {b})"


def shift(direction):
    """NumPy's npy_lshift/npy_rshift: a count at or beyond the bit width, or negative (taken as a huge
    unsigned count), shifts everything out (0, or -1 for a negative value shifted right). OpenCL C
    would take the count modulo the width instead, and a negative value shifted left is undefined
    in C: it is shifted as unsigned."""
    def render(ctx, a, b):
        t, r = ctx.t(), ctx.result
        bits = 8 * r.itemsize
        u = _UNSIGNED.get(r.name, t)
        if direction == "left":
            body = f"(ulong)b < {bits} ? ({t})(({u})a << b) : ({t})0"
        elif r.kind == "i":
            body = f"(ulong)b < {bits} ? ({t})(a >> b) : (a < 0 ? ({t})-1 : ({t})0)"
        else:
            body = f"(ulong)b < {bits} ? ({t})(a >> b) : ({t})0"
        name = f"sx_{direction}_shift_{t}"
        return f"{ctx.helper(name, f'{t} {name}({t} a, {t} b) {{ return {body}; }}')}({a}, {b})"
    return render

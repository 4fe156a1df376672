"""Complex numbers in OpenCL C: the elementary functions exp, log, log10, log2, sqrt, sin, cos, tan,
sinh, cosh, tanh, sign and **, and (at the end) the arithmetic * / and abs with NumPy's loops'
formulas, and real, imag, conjugate and angle.

NumPy computes them with the C library's complex functions (glibc's cexp, clog, csqrt, ...), which
follow C99's Annex G for infinities, NaN and signed zeros; the helpers here give the same special
values and agree with NumPy within the ulps the real functions are allowed. Each is written once,
on `double2`, with the special cases first and the finite case scaled where an intermediate value
would overflow or lose its precision to underflow (`exp(x)` beyond 709, `|z|` near 1 in `log`,
subnormal parts in `sqrt`). complex64 values are computed in double and rounded once, which keeps
them within an ulp or so of the correctly rounded result.

`**` is NumPy's `npy_cpow`: an exponent of 0 gives 1, a zero base 0 or NaN, an integer exponent
below 100 in magnitude repeated squaring in the value's own precision (plain multiplies, then
Smith's division for a negative exponent: bit for bit NumPy's), anything else `exp(b * log(a))`
with C99's complex multiply (which recovers infinities from NaN products).

`render(ctx, op, *args)` returns the C call and registers the helpers (with the ones they call
first) in the kernel's `helpers`.
"""
from __future__ import annotations

import math

import numpy as np

from .c_types import COMPLEX_PART, cl_type, convert

# Each helper: (C source, the helpers it calls). The sources are for double2; complex64 values are
# converted to double2 and back around them (`_on_double`).
_LN2 = repr(math.log(2))
_HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {}


def _helper(name: str, source: str, needs: tuple[str, ...] = ()) -> None:
    _HELPERS[name] = (source.strip("\n"), needs)


# exp(x) * (cos y, sin y) for 709 < x < 1455, where exp(x) alone overflows but the product may
# not: exp(x - k ln2) scaled back by 2**k with ldexp, each factor's exponent taken apart (frexp).
_helper("sx_cexp_scaled", f"""
double2 sx_cexp_scaled(double x, double y, int expt) {{
    int ex, ec, es;
    const double m = frexp(exp(x - {repr(1799 * math.log(2))}), &ex);
    const double mc = frexp(cos(y), &ec), ms = frexp(sin(y), &es);
    expt += ex + 1799;
    /* (2**n for n > 1023 is not a double: the scaling goes in two steps) */
    const int hc = (expt + ec) / 2, hs = (expt + es) / 2;
    return (double2)(ldexp(ldexp(m * mc, hc), expt + ec - hc), ldexp(ldexp(m * ms, hs), expt + es - hs));
}}""")

_helper("sx_cexp", """
double2 sx_cexp(double2 z) {
    const double r = z.x, i = z.y;
    if (isfinite(r)) {
        if (!isfinite(i)) return (double2)((double)NAN, (double)NAN);
        if (i == 0) return (double2)(exp(r), i);
        if (r > 709.0895657128241 && r <= 1454.9159319953251) return sx_cexp_scaled(r, i, 0);
        const double e = exp(r);
        return (double2)(e * cos(i), e * sin(i));
    }
    if (isnan(r)) return i == 0 ? z : (double2)((double)NAN, (double)NAN);
    if (r > 0) {                                   /* +inf */
        if (i == 0) return z;
        if (isfinite(i)) return (double2)(r * cos(i), r * sin(i));
        return (double2)(r, (double)NAN);
    }
    if (isfinite(i)) return (double2)(0.0 * cos(i), 0.0 * sin(i));   /* -inf: a signed zero */
    return (double2)(0.0, copysign(0.0, i));
}""", ("sx_cexp_scaled",))

# x*x + y*y - 1 for x >= y, |z| near 1, without cancelling: the squares' rounding errors (fma)
# and the sums' (two-sum) carried to the end.
_helper("sx_x2y2m1", """
double sx_x2y2m1(double x, double y) {
    const double p = x * x, ep = fma(x, x, -p), q = y * y, eq = fma(y, y, -q);
    double s = p - 1.0, v = s - p, e = (p - (s - v)) + (-1.0 - v);
    const double t = s + q;
    v = t - s;
    e += (s - (t - v)) + (q - v);
    return t + (e + (ep + eq));
}""")

_helper("sx_clog", f"""
double2 sx_clog(double2 z) {{
    const double ax = fabs(z.x), ay = fabs(z.y);
    double rr;
    if (isnan(ax) && isfinite(ay)) return (double2)((double)NAN, (double)NAN);
    if (isinf(ax) || isinf(ay)) return (double2)((double)INFINITY, atan2(z.y, z.x));
    if (ax > 0x1p1021 || ay > 0x1p1021) {{
        rr = log(hypot(ax * 0.5, ay * 0.5)) + {_LN2};
    }} else if (ax < 0x1p-1022 && ay < 0x1p-1022) {{
        if (ax == 0 && ay == 0) return (double2)(-(double)INFINITY, atan2(z.y, z.x));
        rr = log(hypot(ax * 0x1p53, ay * 0x1p53)) - {repr(53 * math.log(2))};
    }} else {{
        const double h = hypot(ax, ay);
        rr = (0.71 <= h && h <= 1.73) ? log1p(sx_x2y2m1(fmax(ax, ay), fmin(ax, ay))) * 0.5 : log(h);
    }}
    /* atan2 of a tiny ratio is the ratio, rounded once (a subnormal angle keeps its bits) */
    return (double2)(rr, (z.x > 0 && ay < z.x * 0x1p-60) ? z.y / z.x : atan2(z.y, z.x));
}}""", ("sx_x2y2m1",))

# Algorithm 312 (CACM 10, 1967), scaled where a part is near overflow or subnormal.
_helper("sx_csqrt", """
double2 sx_csqrt(double2 z) {
    double a = z.x, b = z.y, scale = 1.0;
    if (a == 0 && b == 0) return (double2)(0.0, b);
    if (isinf(b)) return (double2)((double)INFINITY, b);
    if (isnan(a)) return (double2)(a, (double)NAN);
    if (isinf(a)) {
        if (signbit(a))  /* -inf: NaN +- inf i beside a NaN, else 0 + inf i with b's sign */
            return (double2)(isnan(b) ? (double)NAN : 0.0, isnan(b) ? (double)INFINITY : copysign((double)INFINITY, b));
        return (double2)(a, isnan(b) ? b : copysign(0.0, b));
    }
    if (fabs(a) >= 7.446288774449766e307 || fabs(b) >= 7.446288774449766e307) {
        a *= 0.25; b *= 0.25; scale = 2.0;
    } else if (fabs(a) < 0x1p-1020 && fabs(b) < 0x1p-1020) {
        a *= 0x1p54; b *= 0x1p54; scale = 0x1p-27;
    }
    double t;
    double2 r;
    if (a >= 0) {
        t = sqrt((a + hypot(a, b)) * 0.5);
        r = (double2)(t, b / (2 * t));
    } else {
        t = sqrt((-a + hypot(a, b)) * 0.5);
        r = (double2)(fabs(b) / (2 * t), copysign(t, b));
    }
    return r * scale;
}""")

# v times a factor beyond every double: +-inf, and a zero kept a zero with its sign.
_helper("sx_huge", """
double sx_huge(double v) {
    return ((v * 0x1p1000) * 0x1p1000) * 0x1p1000;
}""")

# cosh and sinh of x + iy: cosh(x) cos(y) + i sinh(x) sin(y) while cosh(x) is finite, exp(|x|)/2
# scaled beyond; the infinite and NaN cases as glibc gives them (C99's Annex G, and where the sign
# of a zero or an infinity is left open, glibc's choice, which is NumPy's).
_helper("sx_ccosh", """
double2 sx_ccosh(double2 z) {
    const double x = z.x, y = z.y;
    const int xf = isfinite(x), yf = isfinite(y);
    if (xf && yf) {
        const double s = fabs(y) > 0x1p-1022 ? sin(y) : y, c = fabs(y) > 0x1p-1022 ? cos(y) : 1.0;
        const double ax = fabs(x);
        if (ax <= 709.0895657128241) return (double2)(cosh(x) * c, sinh(x) * s);
        if (ax < 1454.9159319953251) {
            const double2 r = sx_cexp_scaled(ax, y, -1);
            return (double2)(r.x, r.y * copysign(1.0, x));
        }
        return (double2)(sx_huge(c), sx_huge(s) * copysign(1.0, x));
    }
    if (xf) return (double2)((double)NAN, x == 0 ? 0.0 : (double)NAN);
    if (isinf(x)) {
        if (y == 0) return (double2)((double)INFINITY, y * copysign(1.0, x));
        if (yf) return (double2)(copysign((double)INFINITY, cos(y)),
                                 copysign((double)INFINITY, sin(y)) * copysign(1.0, x));
        return (double2)((double)INFINITY, (double)NAN);
    }
    return (double2)((double)NAN, y == 0 ? y : (double)NAN);
}""", ("sx_cexp_scaled", "sx_huge"))

_helper("sx_csinh", """
double2 sx_csinh(double2 z) {
    const double x = z.x, y = z.y;
    const int xf = isfinite(x), yf = isfinite(y);
    if (xf && yf) {
        const double s = fabs(y) > 0x1p-1022 ? sin(y) : y, c = fabs(y) > 0x1p-1022 ? cos(y) : 1.0;
        const double ax = fabs(x);
        if (ax <= 709.0895657128241) return (double2)(sinh(x) * c, cosh(x) * s);
        if (ax < 1454.9159319953251) {
            const double2 r = sx_cexp_scaled(ax, y, -1);
            return (double2)(r.x * copysign(1.0, x), r.y);
        }
        return (double2)(sx_huge(c) * copysign(1.0, x), sx_huge(s));
    }
    if (xf) return (double2)(x == 0 ? x : (double)NAN, (double)NAN);
    if (isinf(x)) {
        if (y == 0) return z;
        if (yf) return (double2)(copysign((double)INFINITY, cos(y)) * copysign(1.0, x),
                                 copysign((double)INFINITY, sin(y)));
        return (double2)((double)INFINITY, (double)NAN);
    }
    return (double2)((double)NAN, y == 0 ? y : (double)NAN);
}""", ("sx_cexp_scaled", "sx_huge"))

# tanh(x + iy) = (sinh(x) cosh(x) + i sin(y) cos(y)) / (sinh(x)**2 + cos(y)**2), as glibc computes it;
# beyond |x| = 354 the imaginary part 4 sin(y) cos(y) / exp(2|x|) with exp(2|x|) taken in two factors.
_helper("sx_ctanh", """
double2 sx_ctanh(double2 z) {
    const double x = z.x, y = z.y;
    if (!isfinite(x) || !isfinite(y)) {
        if (isinf(x)) {
            const double im = (isfinite(y) && fabs(y) > 1) ? sin(y) * cos(y) : y;
            return (double2)(copysign(1.0, x), copysign(0.0, im));
        }
        if (y == 0) return z;
        return (double2)(x == 0 ? x : (double)NAN, (double)NAN);
    }
    const double s = fabs(y) > 0x1p-1022 ? sin(y) : y, c = fabs(y) > 0x1p-1022 ? cos(y) : 1.0;
    const double t = 354.54478285641204;
    if (fabs(x) > t) {
        const double e2t = exp(2 * t), rx = fabs(x) - t;
        double im = 4 * s * c / e2t;
        im = rx > t ? im / e2t : im / exp(2 * rx);
        return (double2)(copysign(1.0, x), im);
    }
    const double sh = fabs(x) > 0x1p-1022 ? sinh(x) : x, ch = fabs(x) > 0x1p-1022 ? cosh(x) : 1.0;
    const double d = fabs(sh) > fabs(c) * 0x1p-52 ? sh * sh + c * c : c * c;
    return (double2)(sh * ch / d, s * c / d);
}""")

# C99's complex multiply (GCC's __muldc3), in the value's type `t` with parts `p`: the plain
# products, and where both parts come out NaN with an infinite operand or product, the infinities
# recovered as Annex G asks. The C library's cpow multiplies with it.
def _cmul_annex_g(t: str, p: str) -> str:
    return f"""
{t} sx_cmul_annex_g_{t}({t} u, {t} v) {{
    {p} a = u.x, b = u.y, c = v.x, d = v.y;
    const {p} ac = a * c, bd = b * d, ad = a * d, bc = b * c;
    {p} x = ac - bd, y = ad + bc;
    if (isnan(x) && isnan(y)) {{
        int again = 0;
        if (isinf(a) || isinf(b)) {{
            a = copysign(isinf(a) ? ({p})1 : ({p})0, a); b = copysign(isinf(b) ? ({p})1 : ({p})0, b);
            if (isnan(c)) c = copysign(({p})0, c);
            if (isnan(d)) d = copysign(({p})0, d);
            again = 1;
        }}
        if (isinf(c) || isinf(d)) {{
            c = copysign(isinf(c) ? ({p})1 : ({p})0, c); d = copysign(isinf(d) ? ({p})1 : ({p})0, d);
            if (isnan(a)) a = copysign(({p})0, a);
            if (isnan(b)) b = copysign(({p})0, b);
            again = 1;
        }}
        if (!again && (isinf(ac) || isinf(bd) || isinf(ad) || isinf(bc))) {{
            if (isnan(a)) a = copysign(({p})0, a);
            if (isnan(b)) b = copysign(({p})0, b);
            if (isnan(c)) c = copysign(({p})0, c);
            if (isnan(d)) d = copysign(({p})0, d);
            again = 1;
        }}
        if (again) {{ x = ({p})INFINITY * (a * c - b * d); y = ({p})INFINITY * (a * d + b * c); }}
    }}
    return ({t})(x, y);
}}"""


# a ** b other than NumPy's special exponents: the C library's cpow, exp(b * log(a)), with its
# roundings: complex64's log rounded to float2 and multiplied in float, as cpowf does.
_GENERAL_POWER = {
    "double2": "sx_cexp(sx_cmul_annex_g_double2(b, sx_clog(a)))",
    "float2": ("convert_float2(sx_cexp(convert_double2(sx_cmul_annex_g_float2(b, "
               "convert_float2(sx_clog(convert_double2(a)))))))"),
}


def _cpow_source(t: str, p: str, general: str) -> str:
    """npy_cpow in the value's own type `t` (float2/double2; parts `p`): its special exponents, then
    `general`, the C library's cpow of a and b."""
    mul = f"sx_cmul_plain_{t}"
    return f"""
{t} {mul}({t} a, {t} b) {{
    return ({t})(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}}

{t} sx_cpow_{t}({t} a, {t} b) {{
    if (b.x == 0 && b.y == 0) return ({t})(1, 0);
    if (a.x == 0 && a.y == 0) return b.x > 0 ? ({t})(0, 0) : ({t})(NAN, NAN);
    if (b.y == 0 && b.x > -100 && b.x < 100 && ({p})(int)b.x == b.x) {{
        int n = (int)b.x;
        if (n == 1) return a;
        if (n == 2) return {mul}(a, a);
        if (n == 3) return {mul}(a, {mul}(a, a));
        if (n < 0) n = -n;
        {t} r = ({t})(1, 0), q = a;
        int mask = 1;
        while (1) {{
            if (n & mask) r = {mul}(r, q);
            mask <<= 1;
            if (n < mask) break;
            q = {mul}(q, q);
        }}
        return b.x < 0 ? sx_cdiv_{t}(({t})(1, 0), r) : r;
    }}
    return {general};
}}"""


# The functions, by op: the double2 helper each calls.
FUNCTIONS = {"exp": "sx_cexp", "log": "sx_clog", "sqrt": "sx_csqrt", "cosh": "sx_ccosh", "sinh": "sx_csinh",
             "tanh": "sx_ctanh"}
# cos(z) = cosh(iz); sin(z) = -i sinh(iz); tan(z) = -i tanh(iz).
# (glibc's csin gives NaN + inf i for a real part inf or NaN with an infinite imaginary one.)
ROTATED = {"cos": ("sx_ccosh", "({r})"),
           "sin": ("sx_csinh", "(isinf(z.y) && !isfinite(z.x)) ? ({t})(NAN, INFINITY) : ({t})({r}.y, -{r}.x)"),
           "tan": ("sx_ctanh", "(({t})({r}.y, -{r}.x))")}
# log10 and log2 are NumPy's: log's parts times log10(e) or log2(e), rounded to the part's type.
SCALED_LOG = {"log10": math.log10(math.e), "log2": math.log2(math.e)}
OPS = frozenset(FUNCTIONS) | frozenset(ROTATED) | frozenset(SCALED_LOG) | {"power", "sign"}


def _sign_source(t: str, p: str) -> str:
    """NumPy's sign of a complex z: z / |z| with |z| its hypot in the part's type (rounded once from
    double for complex64), so that it overflows where NumPy's does (`sign(3e38 + 3e38j)` in complex64
    is 1j); NaN where |z| is NaN or both parts are infinite, +-1 or +-1j for one infinite part, 0 for 0."""
    hypot = "hypot(z.x, z.y)" if p == "double" else "(float)hypot((double)z.x, (double)z.y)"
    return f"""
{t} sx_csign_{t}({t} z) {{
    const {p} a = {hypot};
    if (isnan(a)) return ({t})(NAN, NAN);
    if (isinf(a)) {{
        if (isinf(z.x)) return isinf(z.y) ? ({t})(NAN, NAN) : ({t})(z.x > 0 ? 1 : -1, 0);
        return ({t})(0, z.y > 0 ? 1 : -1);
    }}
    if (a == 0) return ({t})(0, 0);
    return ({t})(z.x / a, z.y / a);
}}"""


def _need(ctx, name: str) -> str:
    """Register helper `name` and, before it, those it calls."""
    source, needs = _HELPERS[name]
    for dep in needs:
        _need(ctx, dep)
    return ctx.helper(name, source)


def _on_double(ctx, name: str, arg: str) -> str:
    """`name`(arg) for the result's type: complex64 promoted to double2 and rounded back once."""
    _need(ctx, name)
    if ctx.t() == "double2":
        return f"{name}({arg})"
    return f"convert_float2({name}(convert_double2({arg})))"


def render(ctx, op: str, *args: str) -> str:
    """The C expression of complex `op` of `args` (operands already in the result's complex type)."""
    t, p = ctx.t(), _part(ctx)
    if op in FUNCTIONS:
        return _on_double(ctx, FUNCTIONS[op], args[0])
    if op == "sign":
        return f"{ctx.helper(f'sx_csign_{t}', _sign_source(t, p))}({args[0]})"
    if op in SCALED_LOG:
        factor = (f"{np.float32(SCALED_LOG[op])}f" if t == "float2" else repr(SCALED_LOG[op]))
        return f"({_on_double(ctx, 'sx_clog', args[0])} * {factor})"
    if op in ROTATED:
        name, back = ROTATED[op]
        z = args[0]
        rotated = _on_double(ctx, name, f"(({t})(-z.y, z.x))")
        helper = f"sx_c{op}_{t}"
        ctx.helper(helper, f"{t} {helper}({t} z) {{\n    const {t} r = {rotated};\n"
                           f"    return {back.format(r='r', t=t)};\n}}")
        return f"{helper}({z})"
    a, b = args
    ctx.helper(f"sx_cdiv_{t}", _cdiv_source(t, p))  # what a negative integer exponent divides with
    _need(ctx, "sx_cexp")
    _need(ctx, "sx_clog")
    ctx.helper(f"sx_cmul_annex_g_{t}", _cmul_annex_g(t, p))
    return f"{ctx.helper(f'sx_cpow_{t}', _cpow_source(t, p, _GENERAL_POWER[t]))}({a}, {b})"


# -- arithmetic: (re, im) pairs, float2/double2, with NumPy's loops' formulas ----------------------
def _part(ctx) -> str:
    return cl_type(COMPLEX_PART[ctx.result.name])


def multiply(ctx, a, b):
    """NumPy's complex multiply loop: re = ar*br - ai*bi and im = ar*bi + ai*br, each with one fused
    multiply-add (its SIMD loop's, on CPUs with FMA)."""
    t = ctx.t()
    src = (f"{t} sx_cmul_{t}({t} a, {t} b) {{\n"
           f"    return ({t})(fma(a.x, b.x, -(a.y * b.y)), fma(a.x, b.y, a.y * b.x));\n}}")
    return f"{ctx.helper(f'sx_cmul_{t}', src)}({a}, {b})"


def divide(ctx, a, b):
    """NumPy's complex division: Smith's algorithm, scaling by the larger part of the divisor (a
    zero divisor gives NumPy's infinities and NaNs)."""
    t = ctx.t()
    return f"{ctx.helper(f'sx_cdiv_{t}', _cdiv_source(t, _part(ctx)))}({a}, {b})"


def _cdiv_source(t: str, p: str) -> str:
    return (f"{t} sx_cdiv_{t}({t} a, {t} b) {{\n"
            f"    const {p} br = fabs(b.x), bi = fabs(b.y);\n"
            f"    if (br >= bi) {{\n"
            f"        if (br == 0 && bi == 0) return ({t})(a.x / br, a.y / br);\n"
            f"        const {p} rat = b.y / b.x, scl = ({p})1 / (b.x + b.y * rat);\n"
            f"        return ({t})((a.x + a.y * rat) * scl, (a.y - a.x * rat) * scl);\n"
            f"    }}\n"
            f"    const {p} rat = b.x / b.y, scl = ({p})1 / (b.y + b.x * rat);\n"
            f"    return ({t})((a.x * rat + a.y) * scl, (a.y * rat - a.x) * scl);\n}}")


def absolute(ctx, a):
    """NumPy's complex absolute value: an infinite part gives inf, else a NaN part NaN, else
    larger * sqrt(1 + (smaller / larger)**2), with one fused multiply-add."""
    t = cl_type(ctx.operand_dtypes[0])
    p = ctx.t()
    src = (f"{p} sx_cabs_{t}({t} z) {{\n"
           f"    const {p} r = fabs(z.x), i = fabs(z.y);\n"
           f"    if (isinf(r) || isinf(i)) return ({p})INFINITY;\n"
           f"    if (isnan(r) || isnan(i)) return ({p})NAN;\n"
           f"    const {p} larger = fmax(r, i), smaller = fmin(r, i);\n"
           f"    if (larger == 0) return ({p})0;\n"
           f"    const {p} ratio = smaller / larger;\n"
           f"    return sqrt(fma(ratio, ratio, ({p})1)) * larger;\n}}")
    return f"{ctx.helper(f'sx_cabs_{t}', src)}({a})"


def real(ctx, a):
    return f"{a}.x" if ctx.operand_dtypes[0].kind == "c" else a


def imag(ctx, a):
    return f"{a}.y" if ctx.operand_dtypes[0].kind == "c" else ctx.const(0)


def conjugate(ctx, a):
    return f"(({ctx.t()})({a}.x, -{a}.y))" if ctx.result.kind == "c" else a


def angle(ctx, a):
    d = ctx.operand_dtypes[0]
    if d.kind == "c":
        return f"atan2({a}.y, {a}.x)"
    return f"atan2({ctx.const(0)}, {convert(a, d, ctx.result, ctx)})"  # 0 or pi (and -0.0, -pi)

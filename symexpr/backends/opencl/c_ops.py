"""The per-op OpenCL C table: each element-wise op's rendering, keyed by op name (`CL_OPS`).

Every kind of kernel renders its element-wise work through this table (`values.render_values`):
each value is one `const` line, named after the source variable (mangled: `v_<name>_<k>`, so no
user name can be an OpenCL keyword, builtin or one of the kernel's own names, which never start
with `v_`), with the statement it came from in a comment above it.

`CL_OPS` holds each op's OpenCL C rendering, keyed by op name; one entry per op
of `ops.OPS` whose kind is element-wise (a test checks it). A rendering is a function of a `Ctx`, which
knows the node's operand and result dtypes and whether the code is for one
element or for a W-wide vector (the contiguous fast path, see `vector_width`):
in vector code a bool is a mask (-1/0, of the same width as the graph's float
type) instead of a uchar 0/1, and `select` replaces `?:`.

NumPy's semantics are the reference; the comments say where they differ from C.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...graph import Node
from ...ops import CASTS, power_of_ten
from ...infer import Kind
from . import c_complex
from .c_types import _FLOAT16, _MASK, _UNSIGNED, COMPLEX_PART, HALF_HELPERS, cl_type, convert, is_int, literal

# -- per-op renderings ------------------------------------------------------------------------

@dataclass(slots=True)
class Ctx:
    """What a rendering knows: operand/result dtypes, and the vector width (1: scalar code)."""

    node: Node
    operand_dtypes: tuple[np.dtype, ...]   # the dtype each operand was converted to
    result: np.dtype
    width: int = 1
    helpers: dict | None = None            # helper name -> C source, filled in as needed
    # Per operand: None where it varies along NumPy's inner loop, "" where it never does (a constant,
    # a scalar), or the C condition under which it does not (see `uniformity`). NumPy's power
    # takes fast paths for an exponent that is the same all along its inner loop.
    uniform: tuple = ()
    # `pick_nan` as OpenCL's ?: (fast on PoCL); False in very long kernels, where a chain of thousands
    # of them crashed PoCL's compiler (a stack overflow in LLVM; 5,000 chained additions did).
    blend: bool = True

    @property
    def vector(self) -> bool:
        return self.width > 1

    def t(self, dtype=None) -> str:
        """The C type of a value of `dtype` (the result by default), vector-wide in vector code."""
        dtype = self.result if dtype is None else np.dtype(dtype)
        if self.vector:
            base = _MASK[self.float_dtype.name] if dtype.kind == "b" else cl_type(dtype)
            return f"{base}{self.width}"
        return cl_type(dtype)

    float_dtype: np.dtype = np.dtype("float32")

    def const(self, value, dtype=None) -> str:
        """A literal of `dtype` (the result's by default), broadcast to a vector in vector code."""
        dtype = self.result if dtype is None else np.dtype(dtype)
        if self.vector and dtype.kind == "b":
            return f"(({self.t(dtype)})({-1 if value else 0}))"
        lit = literal(value, dtype)
        return f"(({self.t(dtype)}){lit})" if self.vector else lit

    def sel(self, cond: str, a: str, b: str) -> str:
        """`cond ? a : b`, where cond is a truth value (int 0/1 in scalar code, a mask in vector code)."""
        if self.vector:
            return f"select({b}, {a}, {cond})"
        if self.result.kind == "f":
            # OpenCL's select, not `?:`, for floats: the compiler turned `b > 0 ? -0.0 : b` into a
            # min instruction, which does not tell -0.0 from +0.0 (it gave -0.0 for b = +0.0).
            return f"select({b}, {a}, ({'int' if self.result.itemsize <= 4 else 'long'})({cond}))"
        return f"(({cond}) ? {a} : {b})"

    def pick_nan(self, cond: str, a: str, b: str) -> str:
        """`cond ? a : b` where `cond` tests for NaN: OpenCL's `?:`, which PoCL compiles to a blend,
        where its select() of vectors is a slow library call (it made `a * b + c` three times
        slower). A NaN test cannot be read as a min or max, the reason `sel` avoids `?:` on floats."""
        if self.blend:
            return f"(({cond}) ? {a} : {b})"
        if self.vector:
            return f"select({b}, {a}, {cond})"
        return f"select({b}, {a}, ({'int' if self.result.itemsize <= 4 else 'long'})({cond}))"

    @staticmethod
    def isnan(x: str) -> str:
        """NaN test as a comparison (a mask in vector code), which compiles to one instruction."""
        return f"({x} != {x})"

    def truth(self, expr: str, dtype) -> str:
        """Whether a value is non-zero (NaN is), as a truth value."""
        dtype = np.dtype(dtype)
        if dtype.kind == "b":
            return expr  # uchar 0/1, or a mask in vector code
        if self.vector and dtype.kind == "f" and dtype != self.float_dtype:
            # A weak float64 literal in float32 vector code (`inf and a`): its mask is long-wide.
            return f"convert_{self.t('bool')}({expr} != {self.const(0, dtype)})"
        return f"({expr} != {self.const(0, dtype)})"

    def as_bool(self, truth: str) -> str:
        """A truth value (C int 0/1 or a vector mask) as this backend's bool value."""
        return truth if self.vector else f"(uchar)({truth})"

    def helper(self, name: str, source: str) -> str:
        if self.helpers is not None:
            self.helpers.setdefault(name, source)
        return name


def _default_nan(ctx: Ctx) -> str:
    """The NaN x86 makes for an invalid operation (0/0, inf - inf): sign set, no payload. NumPy's
    results carry it; a compiler folding the same operation makes a positive one."""
    single = ctx.result.itemsize <= 4  # float16 computes in float: its NaN is float's, rounded
    return ctx.const(float(np.array(0xFFC00000 if single else 0xFFF8000000000000, "uint32" if single else "uint64")
                           .view("float32" if single else "float64")), ctx.result)


def _x86_nan(ctx: Ctx, expr: str, a: str, b: str) -> str:
    """`expr` (a op b, floats), with the NaN NumPy's x86 loops give: a's if a is NaN, else b's,
    else (an invalid operation, 0/0) x86's default NaN.

    The hardware does the same, but the OpenCL compiler may swap the operands of + and * or fold a
    negation into a constant (`-x * 2` -> `x * -2`), and folds an operation on operands it knows
    (0.0 / 0.0 from a bool that is always False) to a positive NaN; IEEE allows all of it, and it
    changes the sign or payload of a NaN result. Choosing the NaN explicitly keeps NumPy's bits.
    """
    nan = ctx.pick_nan(ctx.isnan(a), a, ctx.pick_nan(ctx.isnan(b), b, _default_nan(ctx)))
    return ctx.pick_nan(ctx.isnan(expr), nan, expr)


def _wrap(ctx: Ctx, a: str, op: str, b: str) -> str:
    """a op b in the result dtype, wrapping on overflow as NumPy does (signed ints go through unsigned)."""
    if ctx.result.kind == "c":
        return f"({a} {op} {b})"  # part by part
    if ctx.result.kind == "f":
        return _x86_nan(ctx, f"({a} {op} {b})", a, b)
    if ctx.vector or ctx.result.kind not in "iu":
        return f"({a} {op} {b})"
    r = ctx.result.name
    if r in _UNSIGNED:
        u = _UNSIGNED[r]
        return f"({ctx.t()})(({u}){a} {op} ({u}){b})"
    return f"({ctx.t()})({a} {op} {b})"


# -- complex numbers: (re, im) pairs, float2/double2, with NumPy's loops' formulas ------------------
def _part(ctx) -> str:
    return cl_type(COMPLEX_PART[ctx.result.name])


def _cmul(ctx, a, b):
    """NumPy's complex multiply loop: re = ar*br - ai*bi and im = ar*bi + ai*br, each with one fused
    multiply-add (its SIMD loop's, on CPUs with FMA)."""
    t = ctx.t()
    src = (f"{t} sx_cmul_{t}({t} a, {t} b) {{\n"
           f"    return ({t})(fma(a.x, b.x, -(a.y * b.y)), fma(a.x, b.y, a.y * b.x));\n}}")
    return f"{ctx.helper(f'sx_cmul_{t}', src)}({a}, {b})"


def _cdiv(ctx, a, b):
    """NumPy's complex division: Smith's algorithm, scaling by the larger part of the divisor (a
    zero divisor gives NumPy's infinities and NaNs)."""
    t, p = ctx.t(), _part(ctx)
    src = (f"{t} sx_cdiv_{t}({t} a, {t} b) {{\n"
           f"    const {p} br = fabs(b.x), bi = fabs(b.y);\n"
           f"    if (br >= bi) {{\n"
           f"        if (br == 0 && bi == 0) return ({t})(a.x / br, a.y / br);\n"
           f"        const {p} rat = b.y / b.x, scl = ({p})1 / (b.x + b.y * rat);\n"
           f"        return ({t})((a.x + a.y * rat) * scl, (a.y - a.x * rat) * scl);\n"
           f"    }}\n"
           f"    const {p} rat = b.x / b.y, scl = ({p})1 / (b.y + b.x * rat);\n"
           f"    return ({t})((a.x * rat + a.y) * scl, (a.y * rat - a.x) * scl);\n}}")
    return f"{ctx.helper(f'sx_cdiv_{t}', src)}({a}, {b})"


def _cabs(ctx, a):
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


def _real(ctx, a):
    return f"{a}.x" if ctx.operand_dtypes[0].kind == "c" else a


def _imag(ctx, a):
    return f"{a}.y" if ctx.operand_dtypes[0].kind == "c" else ctx.const(0)


def _conjugate(ctx, a):
    return f"(({ctx.t()})({a}.x, -{a}.y))" if ctx.result.kind == "c" else a


def _angle(ctx, a):
    d = ctx.operand_dtypes[0]
    if d.kind == "c":
        return f"atan2({a}.y, {a}.x)"
    return f"atan2({ctx.const(0)}, {convert(a, d, ctx.result, ctx)})"  # 0 or pi (and -0.0, -pi)


def _add(ctx, a, b):
    if ctx.result.kind == "c":
        return f"({a} + {b})"
    if ctx.result.kind == "b":
        return f"({a} | {b})"  # NumPy: bool + bool is logical or
    return _wrap(ctx, a, "+", b)


def _multiply(ctx, a, b):
    if ctx.result.kind == "c":
        return _cmul(ctx, a, b)
    if ctx.result.kind == "b":
        return f"({a} & {b})"
    return _wrap(ctx, a, "*", b)


def _negative(ctx, a):
    if is_int(ctx.result):
        return _wrap(ctx, ctx.const(0), "-", a)
    return f"(-{a})"


def _square(ctx, a):
    return _multiply(ctx, a, a)


def _absolute(ctx, a):
    if ctx.operand_dtypes[0].kind == "c":
        return _cabs(ctx, a)
    if ctx.result.kind == "f":
        return f"fabs({a})"
    if ctx.result.kind == "i":
        return f"({ctx.t()})abs({a})"  # abs() returns the unsigned type: abs(INT_MIN) wraps back to INT_MIN
    return a


def _divide(ctx, a, b):
    if ctx.result.kind == "c":
        return _cdiv(ctx, a, b)
    if ctx.result.kind == "f":
        return _x86_nan(ctx, f"({a} / {b})", a, b)
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


def _floor_divide(ctx, a, b):
    t = ctx.t()
    if ctx.result.kind == "f":
        dm = _float_divmod_helper(ctx)
        # A NaN result is a's NaN, else b's, else x86's default NaN, as NumPy's loop gives it (the
        # helper's own NaN depends on how the compiler folded fmod and the division).
        name = ctx.helper(f"sx_fdiv_{t}", f"{t} sx_fdiv_{t}({t} a, {t} b) {{\n"
                                          f"    {t} m; {t} r = b == 0 ? a / b : {dm}(a, b, &m);\n"
                                          f"    return isnan(r) ? (isnan(a) ? a : isnan(b) ? b : {_default_nan(ctx)}) : r;\n}}")
        return f"{name}({a}, {b})"
    div, _ = _int_div_helpers(ctx)
    return f"{ctx.helper(f'sx_fdiv_{t}', div)}({a}, {b})"


def _remainder(ctx, a, b):
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
                                         f"    return isnan(a) ? a : isnan(b) ? b : {_default_nan(ctx)};\n}}")
        return f"{name}({a}, {b})"
    _, mod = _int_div_helpers(ctx)
    return f"{ctx.helper(f'sx_mod_{t}', mod)}({a}, {b})"


_POWER_FAST_PATHS = (-1.0, 0.0, 0.5, 1.0, 2.0)


def _power_fast(ctx, a, e: float) -> str:
    """NumPy's power loop for an exponent that does not vary along it: 1/x, 1, sqrt(x), x, x*x
    instead of pow (sqrt(-0.0) is -0.0, pow(-0.0, 0.5) is +0.0)."""
    one = ctx.const(1)
    return {-1.0: f"({one} / {a})", 0.0: one, 0.5: f"sqrt({a})", 1.0: a, 2.0: f"({a} * {a})"}[e]


def _power(ctx, a, b):
    if ctx.result.kind == "c":
        _cdiv(ctx, a, b)  # the helper a negative integer exponent divides with
        return c_complex.render(ctx, "power", a, b)
    if ctx.result.kind == "f":
        # An invalid power (a negative base, a fractional exponent) gives x86's default NaN, as the
        # C library's pow does on NumPy's side. (pow itself is not exact: within ulps, NaN payloads
        # from NaN operands as the library has them.)
        r = f"pow({a}, {b})"
        general = ctx.sel(f"(isnan({r}) & !isnan({a}) & !isnan({b}))" if not ctx.vector else
                          f"(isnan({r}) & ~isnan({a}) & ~isnan({b}))", _default_nan(ctx), r)
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


def _bitwise(op):
    def render(ctx, a, b):
        if ctx.vector or ctx.result.kind == "b":
            return f"({a} {op} {b})"
        return f"({ctx.t()})({a} {op} {b})"
    return render


def _fmod(ctx, a, b):
    if ctx.result.kind == "f":
        return f"fmod({a}, {b})"
    t = ctx.t()
    # C's % truncates, as fmod does; NumPy gives 0 for x fmod 0 and MIN fmod -1, where C is undefined.
    minus_one = " || b == -1" if ctx.result.kind == "i" else ""
    src = f"{t} sx_fmod_{t}({t} a, {t} b) {{ return (b == 0{minus_one}) ? ({t})0 : ({t})(a % b); }}"
    return f"{ctx.helper(f'sx_fmod_{t}', src)}({a}, {b})"


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


def _nextafter(ctx, a, b):
    if ctx.result == _FLOAT16:
        # NumPy's npy_half_nextafter: the next float16, on the bits (x == y gives x, so +0.0 towards
        # -0.0 stays +0.0; a NaN gives NumPy's half NaN).
        for name in ("sx_to_half", "sx_from_half"):
            ctx.helper(name, HALF_HELPERS[name])
        return f"{ctx.helper('sx_nextafter_half', _HALF_NEXTAFTER)}({a}, {b})"
    return f"nextafter({a}, {b})"


def _signbit(ctx, a):
    (da,) = ctx.operand_dtypes
    if da.kind == "f":
        return ctx.as_bool(f"signbit({a})")
    if da.kind == "i":
        return ctx.as_bool(f"({a} < 0)")
    return ctx.const(False, "bool")  # unsigned and bool: never negative


def _shift(direction):
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


# sin and cos of float vectors whose lanes are all within SINCOS_BOUND: a polynomial of our own,
# measured faster than PoCL 3.0-rc2's (`benchmarks/sincos_poly.py`: the float8 kernel alone at 1e7,
# 1.4x to 1.7x in runs on a shared 2-core machine) and within 3 ulps of NumPy's over that range.
# The reduction is Cody-Waite's, k = rint(x * 2/pi) and r = x - k*pi/2 with pi/2 in four parts,
# the first three of 8, 11 and 11 bits, so that each k * part is exact for |k| < 2^12; then
# cephes' minimax polynomials on [-pi/4, pi/4], and the quadrant k & 3 picks sin or cos and the
# sign. Lanes beyond the bound, NaN and inf send the whole vector to the built-in.
SINCOS_BOUND = 4096.0

_SINCOS_POLY = """\
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


def _trig(name):
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
            poly = ctx.helper(f"sx_sincos_poly_float{w}", _SINCOS_POLY.replace("W", str(w)))
            fast = (f"    if (all(fabs(x) <= {SINCOS_BOUND:.1f}f)) return {poly}(x, {int(name == 'cos')});\n")
        helper = f"sx_{name}_float{w}"
        src = (f"float{w} {helper}(float{w} x) {{\n{fast}"
               f"    if (any(fabs(x) > 1.0e5f)) return {slow};\n"
               f"    return {name}(x);\n}}")
        return f"{ctx.helper(helper, src)}({a})"
    return render


def _rounding(name):
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


def _round(ctx, a):
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


def _sign(ctx, a):
    if ctx.result.kind == "f":
        one, minus, zero = ctx.const(1), ctx.const(-1), ctx.const(0)
        # NaN stays NaN; -0.0 gives +0.0.
        return ctx.sel(f"isnan({a})", a, ctx.sel(f"({a} > {zero})", one, ctx.sel(f"({a} < {zero})", minus, zero)))
    if ctx.result.kind == "u":
        return f"({ctx.t()})({a} > 0)"
    return f"({ctx.t()})(({a} > 0) - ({a} < 0))"


def _classify(name, int_value):
    def render(ctx, a):
        (da,) = ctx.operand_dtypes
        if da.kind == "f":
            return ctx.as_bool(f"{name}({a})")
        return ctx.const(int_value, "bool")
    return render


def _extremum(c_op):
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


_maximum = _extremum(">")
_minimum = _extremum("<")


def _where(ctx, c, x, y):
    return ctx.sel(ctx.truth(c, ctx.operand_dtypes[0]), x, y)


def _clip(ctx, x, lo, hi):
    # np.clip with array bounds: minimum(maximum(x, lo), hi), NaN anywhere giving NaN; a tie
    # (x = -0.0, lo = +0.0) gives the bound.
    by_array = _minimum(ctx, f"{_maximum(ctx, x, lo)}", hi)
    uniform = ctx.uniform[1:] if len(ctx.uniform) == 3 else (None, None)
    if ctx.result.kind != "f" or None in uniform:
        return by_array
    # With bounds that do not vary along its loop (scalars) NumPy's clip gives x on a tie.
    above = ctx.sel(f"({lo} > {x}) | isnan({lo})", lo, x)
    by_scalar = ctx.sel(f"({hi} < {above}) | isnan({hi})", hi, above)
    cond = max(uniform)
    return by_scalar if cond == "" else f"(({cond}) ? {by_scalar} : {by_array})"


def _relu(ctx, x):
    return _maximum(ctx, x, ctx.const(0))


def _sigmoid(ctx, x):
    (dx,) = ctx.operand_dtypes
    # As ops.py: e = exp(-|x|) in x's dtype (NumPy's integer abs and negative wrap), then two branches.
    sub = Ctx(ctx.node, (dx,), dx, ctx.width, ctx.helpers, ctx.float_dtype)
    neg_abs = _negative(sub, _absolute(sub, x))
    e = f"exp({convert(neg_abs, dx, ctx.result, ctx)})"
    one = ctx.const(1)
    ge = f"({x} >= {ctx.const(0, dx) if ctx.vector else literal(0, dx)})"
    return ctx.sel(ge, f"({one} / ({one} + {e}))", f"({e} / ({one} + {e}))")


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
    "add": ClOp(_add),
    "subtract": ClOp(lambda ctx, a, b: _wrap(ctx, a, "-", b)),
    "multiply": ClOp(_multiply),
    "divide": ClOp(_divide),
    "floor_divide": ClOp(_floor_divide, vector=False),
    "remainder": ClOp(_remainder, vector=False),
    "power": ClOp(_power),
    "bitwise_and": ClOp(_bitwise("&")),
    "bitwise_or": ClOp(_bitwise("|")),
    "bitwise_xor": ClOp(_bitwise("^")),
    "left_shift": ClOp(_shift("left"), vector=False),
    "right_shift": ClOp(_shift("right"), vector=False),
    "less": ClOp(_compare("less", "<"), "common"),
    "less_equal": ClOp(_compare("less_equal", "<="), "common"),
    "greater": ClOp(_compare("greater", ">"), "common"),
    "greater_equal": ClOp(_compare("greater_equal", ">="), "common"),
    "equal": ClOp(_compare("equal", "=="), "common"),
    "not_equal": ClOp(_compare("not_equal", "!="), "common"),
    "logical_and": ClOp(_logical("&"), "own"),
    "logical_or": ClOp(_logical("|"), "own"),
    "negative": ClOp(_negative),
    "positive": ClOp(_identity),
    "invert": ClOp(_invert),
    "logical_not": ClOp(_logical_not, "own"),
    "absolute": ClOp(_absolute),
    "square": ClOp(_square),
    **{name: ClOp(_func(cname)) for name, cname in _FUNCS.items()},
    "sin": ClOp(_trig("sin")),
    "cos": ClOp(_trig("cos")),
    "tan": ClOp(_trig("tan")),
    # exp, log, log10, log2, sqrt and the (hyperbolic) sine, cosine and tangent of complex values: c_complex.py
    **{name: ClOp(_complex_or(name, _trig(name) if name in ("sin", "cos", "tan") else _func(_FUNCS[name])))
       for name in sorted(c_complex.OPS - {"power", "sign"})},
    "floor": ClOp(_rounding("floor")),
    "ceil": ClOp(_rounding("ceil")),
    "trunc": ClOp(_rounding("trunc")),
    "rint": ClOp(_rounding("rint")),
    "round": ClOp(_round),
    "sign": ClOp(_complex_or("sign", _sign)),
    "isnan": ClOp(_classify("isnan", 0), "own"),
    "isinf": ClOp(_classify("isinf", 0), "own"),
    "isfinite": ClOp(_classify("isfinite", 1), "own"),
    "signbit": ClOp(_signbit, "own"),
    "fmod": ClOp(_fmod),
    "real": ClOp(_real, "own", vector=False),
    "imag": ClOp(_imag, "own", vector=False),
    "conjugate": ClOp(_conjugate, "own", vector=False),
    "angle": ClOp(_angle, "own", vector=False),
    "copysign": ClOp(_func("copysign")),
    "nextafter": ClOp(_nextafter),
    "minimum": ClOp(_minimum),
    "maximum": ClOp(_maximum),
    "where": ClOp(_where, "where"),
    "clip": ClOp(_clip),
    "sigmoid": ClOp(_sigmoid, "own"),
    "relu": ClOp(_relu),
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



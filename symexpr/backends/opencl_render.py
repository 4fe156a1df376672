"""Graph -> OpenCL C: one `__kernel` for a whole specialized graph, as a pure function.

`render_kernel(graph, kinds, signature)` returns the source text and nothing
else: building, caching and launching live in `opencl.py`. Every value of the
graph is one `const` line of the kernel, named after the source variable
(mangled: `v_<name>_<k>`, so no user name can be an OpenCL keyword, builtin or
one of the kernel's own names, which never start with `v_`), with the
statement it came from in a comment above it.

`CL_OPS` holds each op's OpenCL C rendering, keyed by op name; one entry per op
of `ops.OPS` (a test checks it). A rendering is a function of a `Ctx`, which
knows the node's operand and result dtypes and whether the code is for one
element or for a W-wide vector (the contiguous fast path, see `vector_width`):
in vector code a bool is a mask (-1/0, of the same width as the graph's float
type) instead of a uchar 0/1, and `select` replaces `?:`.

NumPy's semantics are the reference; the comments say where they differ from C.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..graph import Graph, Node, collector_paused
from ..infer import Kind
from ..ops import CASTS

# -- types ------------------------------------------------------------------------------------

CL_TYPES = {
    "bool": "uchar", "int8": "char", "int16": "short", "int32": "int", "int64": "long",
    "uint8": "uchar", "uint16": "ushort", "uint32": "uint", "uint64": "ulong",
    "float32": "float", "float64": "double",
}
_CL_BY_DTYPE = {np.dtype(name): t for name, t in CL_TYPES.items()}
_FLOAT64 = np.dtype("float64")
# Same-size unsigned types, for wrapping signed arithmetic (signed overflow is undefined in C).
_UNSIGNED = {"int8": "uchar", "int16": "ushort", "int32": "uint", "int64": "ulong"}
# The integer type of a vector comparison's result, per element type.
_MASK = {"float32": "int", "float64": "long"}

COMPARISONS = frozenset(("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"))


def cl_type(dtype) -> str:
    t = _CL_BY_DTYPE.get(dtype)  # (np.dtype.name is slow enough to show in a large kernel's rendering)
    return t if t is not None else CL_TYPES[np.dtype(dtype).name]


def is_int(dtype) -> bool:
    return np.dtype(dtype).kind in "iu"


# -- the call signature a kernel is specialized for --------------------------------------------

@dataclass(frozen=True)
class Layout:
    """How one array (input or output) is addressed in the kernel.

    how:   "scalar" (a kernel scalar argument: a weak Python scalar or a one-element array),
           "none" (an output the host computes: a weak value),
           "flat" (C-contiguous with the iteration shape: index i), or
           "strided" (an element offset plus a stride per dimension, in elements).
    skip:  for "strided": per dimension of the iteration space, True where the array does not
           move along it (a broadcast or length-1 dimension), so its stride is left out.
    """

    how: str
    skip: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Signature:
    """What a kernel is specialized on, besides the graph and its dtypes.

    inputs:  a Layout per graph input, in graph.inputs order.
    outputs: a Layout per graph output, in graph.outputs order.
    ndim:    0 for the flat-index fast path, else the iteration space's number of dimensions.
    width:   elements per vector on the flat path (1: scalar code only).
    scalars: nodes computed on the host (weak values read by the kernel), passed as arguments;
             given as indices into graph.nodes.
    streaming: the vector path writes its outputs with non-temporal stores, which do not read
             the output's cache lines first nor keep them: for data larger than the caches
             (outputs aligned to 16 bytes; the engine decides per call).
    """

    inputs: tuple[Layout, ...]
    outputs: tuple[Layout, ...]
    ndim: int = 0
    width: int = 1
    scalars: tuple[int, ...] = ()
    streaming: bool = False


def contiguous_signature(graph: Graph, kinds: dict[Node, Kind]) -> Signature:
    """The signature of a call with same-shape contiguous arrays (weak inputs as scalars)."""
    ins = tuple(Layout("scalar") if kinds[n].weak else Layout("flat") for n in graph.inputs)
    outs = tuple(Layout("none") if kinds[n].weak else Layout("flat") for _, n in graph.outputs)
    return Signature(ins, outs, 0, 1, host_nodes(graph, kinds))


def host_nodes(graph: Graph, kinds: dict[Node, Kind]) -> tuple[int, ...]:
    """Weak non-constant nodes read by a strong node: the host computes them, the kernel takes them as arguments."""
    index = {n: k for k, n in enumerate(graph.nodes)}
    wanted = set()
    for n in graph.nodes:
        if kinds[n].weak:
            continue
        for i in n.inputs:
            if kinds[i].weak and i.op != "constant":
                wanted.add(index[i])
    return tuple(sorted(wanted))


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
            return f"select({b}, {a}, ({'int' if self.result.itemsize == 4 else 'long'})({cond}))"
        return f"(({cond}) ? {a} : {b})"

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
    return ctx.const(float(np.array(0xFFC00000 if ctx.result.itemsize == 4 else 0xFFF8000000000000,
                                    "uint32" if ctx.result.itemsize == 4 else "uint64")
                           .view(ctx.result)), ctx.result)


def _x86_nan(ctx: Ctx, expr: str, a: str, b: str) -> str:
    """`expr` (a op b, floats), with the NaN NumPy's x86 loops give: a's if a is NaN, else b's,
    else (an invalid operation, 0/0) x86's default NaN.

    The hardware does the same, but the OpenCL compiler may swap the operands of + and * or fold a
    negation into a constant (`-x * 2` -> `x * -2`), and folds an operation on operands it knows
    (0.0 / 0.0 from a bool that is always False) to a positive NaN; IEEE allows all of it, and it
    changes the sign or payload of a NaN result. Choosing the NaN explicitly keeps NumPy's bits.
    """
    nan = ctx.sel(f"isnan({a})", a, ctx.sel(f"isnan({b})", b, _default_nan(ctx)))
    return ctx.sel(f"isnan({expr})", nan, expr)


def _wrap(ctx: Ctx, a: str, op: str, b: str) -> str:
    """a op b in the result dtype, wrapping on overflow as NumPy does (signed ints go through unsigned)."""
    if ctx.result.kind == "f":
        return _x86_nan(ctx, f"({a} {op} {b})", a, b)
    if ctx.vector or ctx.result.kind not in "iu":
        return f"({a} {op} {b})"
    r = ctx.result.name
    if r in _UNSIGNED:
        u = _UNSIGNED[r]
        return f"({ctx.t()})(({u}){a} {op} ({u}){b})"
    return f"({ctx.t()})({a} {op} {b})"


def _add(ctx, a, b):
    if ctx.result.kind == "b":
        return f"({a} | {b})"  # NumPy: bool + bool is logical or
    return _wrap(ctx, a, "+", b)


def _multiply(ctx, a, b):
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
    if ctx.result.kind == "f":
        return f"fabs({a})"
    if ctx.result.kind == "i":
        return f"({ctx.t()})abs({a})"  # abs() returns the unsigned type: abs(INT_MIN) wraps back to INT_MIN
    return a


def _divide(ctx, a, b):
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
        u = "uint" if ctx.result.itemsize == 4 else "ulong"
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


def _compare(op, c_op):
    def render(ctx, a, b):
        da, db = ctx.operand_dtypes
        if da.kind == "b" and ctx.vector and op not in ("equal", "not_equal"):
            raise NotImplementedError("ordering of bools in vector code")
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


def _trig(name):
    """sin/cos/tan. PoCL 3.0's float vector versions go wrong in every lane when one lane is
    beyond about 1e6 (small lanes come out wrong); such vectors are computed in double
    (rounded once, within 1 ulp)."""
    def render(ctx, a):
        if not (ctx.vector and ctx.result.name == "float32"):
            return f"{name}({a})"
        w, h = ctx.width, ctx.width // 2
        if h >= 2:
            slow = (f"(float{w})(convert_float{h}({name}(convert_double{h}(x.lo))), "
                    f"convert_float{h}({name}(convert_double{h}(x.hi))))")
        else:
            slow = f"(float{w})((float){name}((double)x.x), (float){name}((double)x.y))"
        helper = f"sx_{name}_float{w}"
        src = (f"float{w} {helper}(float{w} x) {{\n"
               f"    if (any(fabs(x) > 1.0e5f)) return {slow};\n"
               f"    return {name}(x);\n}}")
        return f"{ctx.helper(helper, src)}({a})"
    return render


def _rounding(name):
    def render(ctx, a):
        return f"{name}({a})" if ctx.result.kind == "f" else a  # NumPy keeps ints as they are
    return render


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
        # NumPy propagates NaN, and on equal operands (-0.0 and 0.0) returns the second.
        if ctx.result.kind == "f":
            return ctx.sel(f"({a} {c_op} {b}) | isnan({a})", a, b)
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
    "floor": ClOp(_rounding("floor")),
    "ceil": ClOp(_rounding("ceil")),
    "trunc": ClOp(_rounding("trunc")),
    "rint": ClOp(_rounding("rint")),
    "sign": ClOp(_sign),
    "isnan": ClOp(_classify("isnan", 0), "own"),
    "isinf": ClOp(_classify("isinf", 0), "own"),
    "isfinite": ClOp(_classify("isfinite", 1), "own"),
    "minimum": ClOp(_minimum),
    "maximum": ClOp(_maximum),
    "where": ClOp(_where, "where"),
    "clip": ClOp(_clip),
    "sigmoid": ClOp(_sigmoid, "own"),
    "relu": ClOp(_relu),
    **{name: ClOp(_cast, "own") for name in CASTS},
}


# -- literals and conversions -----------------------------------------------------------------

def literal(value, dtype) -> str:
    """An exact OpenCL C literal of `value` converted to `dtype` as NumPy converts it."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "((uchar)1)" if value else "((uchar)0)"
    if dtype.kind in "iu":
        v = int(value)
        info = np.iinfo(dtype)
        if not info.min <= v <= info.max:
            v = int(np.array(v).astype(dtype))
        t = cl_type(dtype)
        if dtype.kind == "u":
            return f"(({t}){v}UL)"
        if v == -(2**63):
            return f"(({t})(-9223372036854775807L - 1))"
        return f"(({t}){v}L)"
    as_dtype = np.array(value).astype(dtype)
    f = float(as_dtype)
    t = cl_type(dtype)
    if math.isnan(f):
        # NaN's sign and payload as NumPy has them (OpenCL's NAN is another bit pattern).
        bits = int(as_dtype.view(np.uint32 if t == "float" else np.uint64))
        return f"as_float(0x{bits:08x}U)" if t == "float" else f"as_double(0x{bits:016x}UL)"
    if math.isinf(f):
        return f"(({t})INFINITY)" if f > 0 else f"(-({t})INFINITY)"
    # The shortest decimal that reads back as the same value (C rounds decimal literals correctly).
    text = str(np.float32(f)) if t == "float" else repr(f)
    suffix = "f" if t == "float" else ""
    return f"({text}{suffix})" if text.startswith("-") else f"{text}{suffix}"


def convert(expr: str, src, dst, ctx: Ctx) -> str:
    """A value of dtype `src` as dtype `dst`, as NumPy's astype (in-range values exactly)."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst:
        return expr
    # A float to an integer type saturates (NaN gives 0), as ops.py's casts: C's conversion is
    # undefined beyond the type's range.
    sat = "_sat_rtz" if src.kind == "f" and dst.kind in "iu" else ""
    if ctx.vector:
        if dst.kind == "b":
            return f"({expr} != {ctx.const(0, src)})"
        if src.kind == "b":
            return f"convert_{ctx.t(dst)}(-{expr})"  # mask -1/0 -> 1/0
        return f"convert_{ctx.t(dst)}{sat}({expr})"
    if dst.kind == "b":
        return f"(uchar)({expr} != 0)"
    if sat:  # (PoCL's saturating conversion of NaN is not 0, as OpenCL says it is)
        return f"(isnan({expr}) ? ({cl_type(dst)})0 : convert_{cl_type(dst)}{sat}({expr}))"
    return f"({cl_type(dst)}){expr}"


def operand_dtypes(node: Node, kinds: dict[Node, Kind]) -> tuple[np.dtype, ...]:
    """The dtype each operand is converted to before the op: NumPy's loop dtypes."""
    mode = CL_OPS[node.op].operands
    result = kinds[node].dtype
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


# -- the kernel ---------------------------------------------------------------------------------

KERNEL_NAME = "symexpr_kernel"


def var_names(graph: Graph) -> dict[Node, str]:
    """The kernel variable of every node: `v_<name>_<k>` (user names mangled), `t_<k>` for temporaries."""
    names = {}
    for k, n in enumerate(graph.nodes):
        base = n.input_name if n.op == "input" else n.name
        names[n] = f"v_{base}_{k}" if base else f"t_{k}"
    return names


def comment_text(graph: Graph, node: Node) -> str:
    """The statement a node came from, made safe for a `//` comment (no backslash, `?` or control characters)."""
    if node.statement is None or not graph.source:
        return ""
    text = " ".join(node.statement.text(graph.source).split())
    return f"line {node.statement.line}: {_UNSAFE_IN_COMMENT.sub(' ', text)}"


_UNSAFE_IN_COMMENT = re.compile(r"[^\x20-\x7e]|[\\?]")


# The ops whose vector code takes bool operands (as masks).
_VECTOR_BOOL_OPS = frozenset(("logical_and", "logical_or", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
                              "invert", "equal", "not_equal", "where", *CASTS))


def vector_width(graph: Graph, kinds: dict[Node, Kind], preferred: dict[str, int]) -> int:
    """The vector width for the flat path: the device's width for the graph's one float dtype, or 1.

    Vector code is used when every array value is that float dtype or bool, and every op
    has a vector rendering for its operands.
    """
    strong = [n for n in graph.nodes if not kinds[n].weak]
    floats = {kinds[n].dtype for n in strong if kinds[n].dtype.kind != "b"}
    if len(floats) != 1:
        return 1
    (f,) = floats
    if f.kind != "f" or preferred.get(f.name, 1) <= 1:
        return 1
    for n in strong:
        if n.op in ("input", "constant"):
            continue
        if not CL_OPS[n.op].vector:
            return 1
        ods = operand_dtypes(n, kinds)
        letters = {d.kind for d in ods}
        if not letters <= {"b", "f"}:
            return 1
        if "b" in letters and n.op not in _VECTOR_BOOL_OPS:
            return 1
        if n.op == "where" and any(d.kind == "b" for d in ods[1:]):
            return 1
    return preferred[f.name]


def uniformity(graph: Graph, kinds: dict[Node, Kind], signature: Signature) -> dict[Node, str | None]:
    """Per node, whether its value is the same all along NumPy's inner loop (a stride of 0 there),
    as the NumPy engine computes it: "" always (constants, Python scalars and what is computed from
    them), "n > 1" for a one-element array or one broadcast along the last dimension (NumPy's loop
    over a single element has a stride), None where it varies."""
    host = {graph.nodes[k] for k in signature.scalars}
    layout = dict(zip(graph.inputs, signature.inputs))
    out: dict[Node, str | None] = {}
    for n in graph.nodes:
        if n.op == "constant" or kinds[n].weak or n in host:
            out[n] = ""
        elif n.op == "input":
            lay = layout[n]
            broadcast = lay.how == "scalar" or (lay.how == "strided" and signature.ndim and lay.skip[-1])
            out[n] = "n > 1" if broadcast else None
        else:
            parts = [out[i] for i in n.inputs]
            out[n] = None if None in parts else max(parts)
    return out


@collector_paused()
def render_kernel(graph: Graph, kinds: dict[Node, Kind], signature: Signature) -> str:
    """The OpenCL C source of one kernel computing every output of `graph` for this signature."""
    names = var_names(graph)
    helpers: dict[str, str] = {}
    host = {graph.nodes[k] for k in signature.scalars}
    uses_double = any(kinds[n].dtype == _FLOAT64 for n in graph.nodes)
    floats = {kinds[n].dtype for n in graph.nodes if not kinds[n].weak and kinds[n].dtype.kind == "f"}
    float_dtype = next(iter(floats)) if len(floats) == 1 else np.dtype("float32")
    ndim = signature.ndim

    uniform = uniformity(graph, kinds, signature)
    params = [f"{'const ' + cl_type(a.dtype) if a.dtype is not None else a.pointer} {a.name}"
              for a in kernel_arguments(graph, kinds, signature)]
    in_layout = dict(zip(graph.inputs, signature.inputs))

    def index(prefix: str, lay: Layout) -> str:
        if lay.how == "flat":
            return "i"
        terms = [f"{prefix}_off"] + [f"sx_i{d} * {prefix}_st{d}" for d in range(ndim) if not lay.skip[d]]
        return " + ".join(terms)

    # Array inputs, loaded at the top of each iteration (scalars arrive as arguments).
    input_index = {n: k for k, n in enumerate(graph.inputs)}
    loaded = [n for n in graph.nodes if n.op == "input" and n not in host and not kinds[n].weak
              and in_layout[n].how != "scalar"]

    def loads(width: int, pointer) -> list[str]:
        """Each array input's value; `pointer(k)`: where vector code reads input k's elements."""
        lines = []
        for node in loaded:
            k, dt = input_index[node], kinds[node].dtype
            if width > 1:
                load = f"vload{width}(0, {pointer(k)})"
                if dt.kind == "b":
                    load = f"(convert_{_MASK[float_dtype.name]}{width}({load}) != 0)"
                t = f"{_MASK[float_dtype.name] if dt.kind == 'b' else cl_type(dt)}{width}"
                lines.append(f"const {t} {names[node]} = {load};")
            else:
                lines.append(f"const {cl_type(dt)} {names[node]} = sx_in{k}[{index(f'sx_in{k}', in_layout[node])}];")
        return lines

    def compute(width: int) -> tuple[list[str], set]:
        """Every operation's line, and the nodes that are vectors (width > 1: the rest are scalars)."""
        lines = []
        vec = width > 1
        vector_nodes = set(loaded) if vec else set()
        said = None  # the statement whose comment was written last
        constants = {}  # (constant node, dtype, width) -> its text: a program reads few constants many times
        for node in graph.nodes:
            if node.op in ("constant", "input") or node in host or kinds[node].weak:
                continue
            is_vec = vec and not vector_nodes.isdisjoint(node.inputs)
            w = width if is_vec else 1
            ods = operand_dtypes(node, kinds)
            ctx = Ctx(node, ods, kinds[node].dtype, w, helpers, float_dtype=float_dtype,
                      uniform=tuple(uniform[i] for i in node.inputs) if node.op in ("power", "clip") else ())
            args = []
            for pos, (i, d) in enumerate(zip(node.inputs, ods)):
                bound = clip_bound(node, pos, kinds)
                if bound is not None:
                    args.append(_clip_bound(i, d, bound, names))
                elif i.op == "constant":
                    text = constants.get((i, d, w))
                    if text is None:
                        text = constants[i, d, w] = _operand(i, d, kinds, names, ctx, vector_nodes)
                    args.append(text)
                else:
                    args.append(_operand(i, d, kinds, names, ctx, vector_nodes))
            if node.op in COMPARISONS and "uint64" in (ods[0].name, ods[1].name) and ods[0] != ods[1]:
                expr = _compare_uint64_weak(node, args, kinds, ctx)
            else:
                expr = CL_OPS[node.op].render(ctx, *args)
            if is_vec:
                vector_nodes.add(node)
            if node.statement is not said:  # the statement once, above its first operation
                said = node.statement
                comment = comment_text(graph, node)
                if comment:
                    lines.append(f"// {comment}")
            lines.append(f"const {ctx.t()} {names[node]} = {expr};")
        return lines, vector_nodes

    def results(width: int, vector_nodes: set) -> list[tuple]:
        """(output index, name, dtype, value expression, layout) for each output the kernel writes."""
        out = []
        for k, ((oname, node), lay) in enumerate(zip(graph.outputs, signature.outputs)):
            if lay.how == "none":
                continue
            dt = kinds[node].dtype
            value = literal(node.value, dt) if node.op == "constant" else names[node]
            if width > 1:
                if node not in vector_nodes:
                    value = f"(({cl_type(dt)}{width})({value}))"
                elif dt.kind == "b":
                    value = f"convert_uchar{width}(-{value})"
            out.append((k, oname, dt, value, lay))
        return out

    width = signature.width
    if width > 1:
        compute_lines, vector_nodes = compute(width)
        outputs = results(width, vector_nodes)
        main_lines = loads(width, lambda k: f"sx_in{k} + i") + compute_lines
        for k, oname, dt, value, _ in outputs:
            if signature.streaming and width * dt.itemsize % 16 == 0:
                main_lines += _streaming_store(value, f"sx_out{k}", dt, width, oname)
            else:
                main_lines.append(f"vstore{width}({value}, 0, sx_out{k} + i);  // output {oname}")
        # The last end - i < width elements: the same vector code, on inputs padded with their first
        # element, and only the real lanes stored (a scalar copy of the body would double the kernel).
        tail_lines = ["const long sx_rem = end - i;"]
        tail_lines += [f"{cl_type(kinds[n].dtype)} sx_pad{input_index[n]}[{width}];" for n in loaded]
        if loaded:
            tail_lines.append(f"for (long l = 0; l < {width}; ++l) {{")
            tail_lines += [f"    sx_pad{input_index[n]}[l] = sx_in{input_index[n]}[i + (l < sx_rem ? l : 0)];"
                           for n in loaded]
            tail_lines.append("}")
        tail_lines += loads(width, lambda k: f"sx_pad{k}") + compute_lines
        for ct in dict.fromkeys(cl_type(dt) for _, _, dt, _, _ in outputs):
            tail_lines.append(f"{ct} sx_lanes_{ct}[{width}];")
        for k, oname, dt, value, _ in outputs:
            ct = cl_type(dt)
            tail_lines.append(f"vstore{width}({value}, 0, sx_lanes_{ct});  // output {oname}")
            tail_lines.append(f"for (long l = 0; l < sx_rem; ++l) sx_out{k}[i + l] = sx_lanes_{ct}[l];")
    else:
        compute_lines, vector_nodes = compute(1)
        main_lines = loads(1, None) + compute_lines
        for k, oname, dt, value, lay in results(1, vector_nodes):
            store = f"sx_out{k}[{index(f'sx_out{k}', lay)}] = {value};  // output {oname}"
            if lay.how == "strided" and any(lay.skip):
                # An output smaller than the iteration space is written once per element.
                cond = " && ".join(f"sx_i{d} == 0" for d in range(ndim) if lay.skip[d])
                store = f"if ({cond}) {store}"
            main_lines.append(store)

    out = [f"// symexpr: {len([n for n in graph.nodes if n.op not in ('input', 'constant')])} operations, "
           f"outputs {', '.join(graph.output_names)}; "
           + ("flat index" + (f", {signature.width}-wide vectors" if signature.width > 1 else "")
              if ndim == 0 else f"{ndim}-d strided"),
           "#pragma OPENCL FP_CONTRACT OFF"]
    if uses_double:
        out.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    out.append("")
    for src in helpers.values():
        out += [src, ""]
    out.append(f"__kernel void {KERNEL_NAME}(")
    out.append(",\n".join(f"    {p}" for p in params) + ")")
    out.append("{")
    out.append("    const long start = (long)get_global_id(0) * chunk;")
    out.append("    const long end = min(start + chunk, n);")
    out.append("    long i = start;")
    if width > 1:
        out.append(f"    for (; i + {width} <= end; i += {width}) {{")
        out += [f"        {ln}" for ln in main_lines]
        out.append("    }")
        out.append("    if (i < end) {")
        out += [f"        {ln}" for ln in tail_lines]
        out.append("    }")
        if signature.streaming:
            out.append("    mem_fence(CLK_GLOBAL_MEM_FENCE);  // non-temporal stores are weakly ordered")
    else:
        out.append("    for (; i < end; ++i) {")
        if ndim:
            out.append("        long sx_r = i;")
            for d in reversed(range(ndim)):
                if d == 0:
                    out.append("        const long sx_i0 = sx_r;")
                else:
                    out.append(f"        const long sx_i{d} = sx_r % sx_shape{d}; sx_r /= sx_shape{d};")
        out += [f"        {ln}" for ln in main_lines]
        out.append("    }")
    out.append("}")
    return "\n".join(out) + "\n"


def _streaming_store(value: str, pointer: str, dt, width: int, oname: str) -> list[str]:
    """A vector's non-temporal store, in 16-byte parts (wider pointer types crash PoCL 3.0)."""
    lanes = 16 // dt.itemsize
    parts = width // lanes
    lines = []
    for c in range(parts):
        part = value if parts == 1 else f"({value}).s{'0123456789abcdef'[c * lanes:(c + 1) * lanes]}"
        lines.append(f"__builtin_nontemporal_store({part}, (__global {cl_type(dt)}{lanes}*)({pointer} + i + {c * lanes}));"
                     + (f"  // output {oname}" if c == 0 else ""))
    return lines


def _operand(i: Node, d, kinds, names, ctx: Ctx, vector_nodes) -> str:
    """Operand `i` converted to dtype `d`, broadcast to a vector when the op is vector-wide."""
    src = kinds[i].dtype
    if i.op == "constant":
        if ctx.vector:
            if np.dtype(d).kind == "b":
                return ctx.const(bool(i.value), "bool")
            return ctx.const(i.value, d)
        return literal(i.value, d)
    name = names[i]
    if ctx.vector and i not in vector_nodes:
        # A scalar (host value or one-element input) meeting vector code: convert, then broadcast.
        scalar = convert(name, src, d, Ctx(ctx.node, (), np.dtype(d), 1))
        if np.dtype(d).kind == "b":
            return f"(({ctx.t('bool')})(-({_MASK[ctx.float_dtype.name]})({scalar})))"
        return f"(({ctx.t(d)})({scalar}))"
    return convert(name, src, d, ctx)


def clip_bound(node: Node, pos: int, kinds) -> tuple | None:
    """np.clip of an integer array drops a Python-int bound beyond the array's range
    (uint8 clipped below -1 is not clipped below): (side, array dtype) for such a bound, else None."""
    if node.op != "clip" or pos == 0 or kinds[node].weak:
        return None
    x, b = node.inputs[0], node.inputs[pos]
    if kinds[x].weak or kinds[x].dtype.kind not in "iu" or not (kinds[b].weak and kinds[b].dtype.kind == "i"):
        return None
    return ("lower" if pos == 1 else "upper", kinds[x].dtype)


def _clip_bound(i: Node, d, bound: tuple, names) -> str:
    """A Python-int clip bound: past the array's range it is no bound, the extreme of the dtype `d`."""
    side, xdt = bound
    d = np.dtype(d)
    xinfo = np.iinfo(xdt)
    none = (np.iinfo(d).min if side == "lower" else np.iinfo(d).max) if d.kind in "iu" else \
        (-math.inf if side == "lower" else math.inf)
    if i.op == "constant":
        v = i.value
        beyond = v <= xinfo.min if side == "lower" else v >= xinfo.max
        return literal(none if beyond else v, d)
    w = names[i]
    limit = literal(xinfo.min if side == "lower" else xinfo.max, "int64") if xdt.name != "uint64" else None
    if limit is None:  # a uint64 array: no Python int (an int64) is at or past its top
        cond = f"({w} <= 0)" if side == "lower" else "0"
    else:
        cond = f"({w} {'<=' if side == 'lower' else '>='} {limit})"
    return f"({cond} ? {literal(none, d)} : ({cl_type(d)}){w})"


def _compare_uint64_weak(node: Node, args: list[str], kinds, ctx: Ctx) -> str:
    """uint64 against a signed integer (a Python int or a signed array, given as a long, maybe
    negative), exactly, as NumPy 2 compares them (not through float64, which rounds above 2**53)."""
    op = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=", "equal": "==", "not_equal": "!="}[node.op]
    weak_first = ctx.operand_dtypes[0].name != "uint64"
    w, x = (args[0], args[1]) if weak_first else (args[1], args[0])
    # A negative signed value is below every uint64.
    below = {"<": True, "<=": True, ">": False, ">=": False, "==": False, "!=": True}[op]
    neg = below if weak_first else not below if op not in ("==", "!=") else below
    cmp = f"((ulong){w} {op} {x})" if weak_first else f"({x} {op} (ulong){w})"
    return f"(uchar)(({w} < 0) ? {int(neg)} : {cmp})"


@dataclass(frozen=True)
class Arg:
    """One kernel argument: its name in the kernel, what the runtime passes, and its scalar dtype (None: a buffer).

    what: ("n",) ("chunk",) ("shape", d) ("in", k) ("in_off", k) ("in_st", k, d) ("scalar_in", k)
          ("host", node index) ("out", k) ("out_off", k) ("out_st", k, d) ("err",)
    """

    name: str
    what: tuple
    dtype: np.dtype | None = None
    pointer: str = ""


def kernel_arguments(graph: Graph, kinds: dict[Node, Kind], signature: Signature) -> list[Arg]:
    """The kernel's arguments in order; the runtime builds its argument list from the same records."""
    names = var_names(graph)
    i64 = np.dtype("int64")
    ndim = signature.ndim
    args = [Arg("n", ("n",), i64), Arg("chunk", ("chunk",), i64)]
    args += [Arg(f"sx_shape{d}", ("shape", d), i64) for d in range(ndim)]
    host = set(signature.scalars)
    for k, (node, lay) in enumerate(zip(graph.inputs, signature.inputs)):
        dt = kinds[node].dtype
        if lay.how == "scalar":
            if not kinds[node].weak:
                args.append(Arg(names[node], ("scalar_in", k), dt))
            continue
        args.append(Arg(f"sx_in{k}", ("in", k), None, f"__global const {cl_type(dt)}*"))
        if lay.how == "strided":
            args.append(Arg(f"sx_in{k}_off", ("in_off", k), i64))
            args += [Arg(f"sx_in{k}_st{d}", ("in_st", k, d), i64) for d in range(ndim) if not lay.skip[d]]
    for j in sorted(host):
        node = graph.nodes[j]
        args.append(Arg(names[node], ("host", j), kinds[node].dtype))
    for k, ((_, node), lay) in enumerate(zip(graph.outputs, signature.outputs)):
        if lay.how == "none":
            continue
        args.append(Arg(f"sx_out{k}", ("out", k), None, f"__global {cl_type(kinds[node].dtype)}*"))
        if lay.how == "strided":
            args.append(Arg(f"sx_out{k}_off", ("out_off", k), i64))
            args += [Arg(f"sx_out{k}_st{d}", ("out_st", k, d), i64) for d in range(ndim) if not lay.skip[d]]
    if needs_error_flag(graph, kinds):
        args.append(Arg("sx_err", ("err",), None, "__global int*"))
    return args


def needs_error_flag(graph: Graph, kinds: dict[Node, Kind]) -> bool:
    """An integer power in the kernel: a negative exponent sets a flag the runtime turns into an error."""
    return any(n.op == "power" and kinds[n].dtype.kind == "i" and not kinds[n].weak for n in graph.nodes)

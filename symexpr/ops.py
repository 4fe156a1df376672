"""The op table: every operation symexpr knows, declared once.

An `Op` record holds everything about an operation that does not depend on a
backend's runtime: its name (NumPy's ufunc name where one exists), its arity,
the names it is called by in the language, its NumPy implementation (the
reference semantics, also used to infer dtypes and to fold constants, so none
of them can disagree with NumPy), and its algebra.

Adding an operation means one `_op(...)` line here and, if it has new syntax,
one grammar alternative, and its OpenCL C in backends/opencl/c_ops.py CL_OPS;
`tests/test_ops_table.py` checks that every op is complete and that every
grammar alias resolves to an op, `tests/test_opencl_render.py` that every op
renders.
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np

from . import shapes


class Op:
    """One operation.

    name:        the graph's `node.op`; NumPy's ufunc name where there is one.
    arity:       number of operands.
    numpy:       the reference implementation, called with NumPy arrays or weak
                 Python scalars; it must follow NumPy's dtype rules.
    functions:   the names that call it as a function in the language (`sin(x)`).
    symbol:      the operator that spells it in the language, for printing.
    commutative: f(a, b) == f(b, a) in value for every input. Bit for bit too
                 except for floats, where + and * of two NaNs return the first
                 one's sign and payload: passes/common_subexpressions.py matches
                 either order only where the bits agree. maximum/minimum are not
                 commutative: they differ on -0.0/+0.0.
    kind:        how the result's shape follows from the operands': "elementwise" (they
                 broadcast), "reduction" (axes removed or kept as 1), "rowwise" (the
                 operand's shape, each element depending on its whole `axis`),
                 "matmul", "view" (a transpose or a new axis: the operand's memory seen another
                 way), or "gradient" (what differentiation makes; lowered before a kernel plan).
    keywords:    the keyword arguments it takes, with their defaults, in order: a node's
                 `attrs` holds every one of them as (name, value) pairs, defaults filled
                 in, so `sum(x)` and `sum(x, axis=None)` are one computation.
    positional:  how many of `keywords` may also be given by position after the
                 operands (`sum(x, 1)` as `np.sum(x, 1)`; `transpose(x, (1, 0))`).
    shape:       for kinds other than "elementwise", the rule (shapes.py) giving the
                 result's shape from the operands' shapes and the keywords.
    grad:        the reverse-mode rule, `grad(d, g, *operands)` -> each operand's share of the
                 gradient `g` of the result (None: none), written in the graph's own ops through
                 `d` (passes/differentiate.py: `d.out` is the result, `d.cos(x)` makes a node,
                 `+ - * /` work on the operands). ZERO: piecewise constant, no gradient; None: no
                 rule, and differentiating through the op is an error naming its line.
    internal:    for an op the language has no name for: what makes it (the gradient rules, or
                 lowering for a kernel).

    The OpenCL C rendering of each element-wise op is backends/opencl/c_ops.py's CL_OPS[name]
    (tests/test_opencl_render.py checks every op has one).
    """

    # (A plain class rather than a dataclass: making one costs a new process about 3 ms.)
    __slots__ = ("name", "arity", "numpy", "functions", "symbol", "commutative", "kind", "doc", "keywords",
                 "positional", "shape", "grad", "internal")

    def __init__(self, name: str, arity: int, numpy: Callable, functions: tuple[str, ...] = (),
                 symbol: str | None = None, commutative: bool = False, kind: str = "elementwise", doc: str = "",
                 keywords: tuple[tuple[str, object], ...] = (), positional: int = 0, shape: Callable | None = None,
                 grad: Callable | str | None = None, internal: str = ""):
        self.name, self.arity, self.numpy, self.functions, self.symbol = name, arity, numpy, functions, symbol
        self.commutative, self.kind, self.doc, self.keywords, self.positional = commutative, kind, doc, keywords, positional
        self.shape, self.grad, self.internal = shape, grad, internal

    def __repr__(self) -> str:
        return f"Op({self.name!r}, arity={self.arity}, kind={self.kind!r})"

    def function(self, attrs: tuple = ()) -> Callable:
        """The NumPy implementation with a node's keywords (its `attrs`) bound."""
        return functools.partial(self.numpy, **dict(attrs)) if attrs else self.numpy


def _sigmoid(x):
    # Two branches so that neither overflows: exp(-|x|) is at most 1.
    x = np.asarray(x) if not isinstance(x, (int, float, bool)) else x
    e = np.exp(-np.abs(x))
    return np.where(np.greater_equal(x, 0), 1 / (1 + e), e / (1 + e))


def _relu(x):
    return np.maximum(x, 0)


def _cast(dtype):
    target = np.dtype(dtype)

    def cast(x):
        x = np.asarray(x)
        if x.dtype.kind == "f" and target.kind in "iu":
            return _saturating_cast(x, target)
        return x.astype(target)
    cast.__name__ = target.name
    return cast


def _saturating_cast(x: np.ndarray, target: np.dtype) -> np.ndarray:
    """A float to an integer dtype, truncating; NaN gives 0 and values beyond the dtype its min or max.

    NumPy leaves these undefined, and is not consistent with itself: on x86, float64 -1e10 to
    uint32 is 2884901888 in a short array and 2147483648 in a long one (its SIMD loop). Saturation
    is one answer for every size and both engines (OpenCL's convert_<type>_sat_rtz)."""
    info = np.iinfo(target)
    # min - 1 and max + 1 as floats: powers of two, or values that round onto min itself.
    above = x >= float(info.max) + 1
    below = x <= float(info.min) - 1
    with np.errstate(invalid="ignore"):
        safe = np.where(above | below | np.isnan(x), 0, x).astype(target)
    return np.where(above, info.max, np.where(below, info.min, safe)).astype(target, copy=False)


def _where(c, x, y):
    if isinstance(c, np.ndarray) and c.dtype == np.bool_ and c.ndim:
        shape = np.broadcast_shapes(c.shape, np.shape(x), np.shape(y))
        if shape:
            # np.where's own dtype and shape rules (weak scalars included), computed as where_into does.
            return where_into(c, x, y, np.empty(shape, np.result_type(x, y)))
    return np.where(c, x, y)


_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def where_into(c, x, y, out):
    """np.where(c, x, y) into `out`, for a bool c (the NumPy engine's planned buffers, passes/memory_plan.py writes_into): y is read first.

    As a select of bits, out = y ^ ((x ^ y) & -c): exact for every value (NaN payloads, -0.0), and some
    8 times faster than np.where or a masked copy on a mask without runs (a ReLU's, a comparison's),
    where those branch on every element; small arrays take the masked copy (two calls, not eight)."""
    np.copyto(out, y, casting="unsafe")
    bits = _BITS.get(out.dtype.itemsize) if out.flags.c_contiguous and out.size > 2048 else None
    if bits is None or not isinstance(c, np.ndarray) or c.dtype != np.bool_:
        np.copyto(out, x, where=c, casting="unsafe")
        return out
    mask = np.negative(c.view(np.uint8).astype(bits))          # all ones where c
    xb = np.asarray(x, out.dtype)
    ob = out.view(bits)
    diff = np.bitwise_xor(np.broadcast_to(xb, out.shape).view(bits) if xb.ndim else xb.view(bits)[()], ob)
    np.bitwise_and(diff, mask, out=diff)
    np.bitwise_xor(ob, diff, out=ob)
    return out




OPS: dict[str, Op] = {}


def _op(name, arity, numpy, functions=(), symbol=None, commutative=False, doc="", grad=None):
    OPS[name] = Op(name, arity, numpy, tuple(functions), symbol, commutative, doc=doc, grad=grad)


# Gradient rules: `grad=` on each op below. Conventions are JAX's (README, "Gradients").
ZERO = "zero"          # piecewise constant (floor, sign, comparisons, ...): no gradient flows
LN2, LN10 = float(np.log(2)), float(np.log(10))


def _balanced(g, a, b, out, d):
    """maximum/minimum at a tie send half the gradient to each operand (JAX's convention); an
    operand that is not the result (or a NaN result) gets none."""
    return (d.where(a == out, d.where(b == out, g * 0.5, g), 0.0),
            d.where(b == out, d.where(a == out, g * 0.5, g), 0.0))


def _d_clip(d, g, x, lo, hi):
    # clip(x, lo, hi) is minimum(maximum(x, lo), hi), as JAX's jnp.clip: the two rules chained.
    m = d.maximum(x, lo)
    gm, ghi = _balanced(g, m, hi, d.out, d)
    gx, glo = _balanced(gm, x, lo, m, d)
    return gx, glo, ghi


def _d_power(d, g, x, y):
    # JAX's: no x-gradient where y == 0 (x ** 0 is 1 everywhere), and log(x) taken at 1 where x == 0.
    return (d.where(y == 0, 0.0, g * y * x ** (y - 1)),
            g * d.log(d.where(x == 0, 1.0, x)) * d.out)


def _d_copysign(d, g, x, y):
    s = d.where(x >= 0, g, -g)  # |x|'s rule (abs), then y's sign
    return d.where(d.signbit(y), -s, s), None


# Binary operators (Python's precedence is in the grammar).
_op("add", 2, np.add, symbol="+", commutative=True, grad=lambda d, g, x, y: (g, g))
_op("subtract", 2, np.subtract, symbol="-", grad=lambda d, g, x, y: (g, -g))
_op("multiply", 2, np.multiply, symbol="*", commutative=True, grad=lambda d, g, x, y: (g * y, g * x))
_op("divide", 2, np.divide, symbol="/", doc="true division; int / int is float64",
    grad=lambda d, g, x, y: (g / y, -(g * d.out) / y))
_op("floor_divide", 2, np.floor_divide, symbol="//", doc="Python's floor division; int // 0 is 0",
    grad=ZERO)
_op("remainder", 2, np.remainder, symbol="%", doc="sign of the divisor, as Python's %",
    grad=lambda d, g, x, y: (g, -(g * d.floor(x / y))))
_op("power", 2, np.power, ("pow",), symbol="**", doc="int ** negative int is an error", grad=_d_power)
_op("bitwise_and", 2, np.bitwise_and, symbol="&", commutative=True, doc="logical and on bool",
    grad=ZERO)
_op("bitwise_or", 2, np.bitwise_or, symbol="|", commutative=True, doc="logical or on bool", grad=ZERO)
_op("bitwise_xor", 2, np.bitwise_xor, symbol="^", commutative=True, grad=ZERO)
_op("left_shift", 2, np.left_shift, symbol="<<", doc="integers; a count beyond the bit width or negative gives 0",
    grad=ZERO)
_op("right_shift", 2, np.right_shift, symbol=">>",
    doc="integers, arithmetic on signed; a count beyond the bit width or negative gives 0 or -1",
    grad=ZERO)
_op("less", 2, np.less, symbol="<", grad=ZERO)
_op("less_equal", 2, np.less_equal, symbol="<=", grad=ZERO)
_op("greater", 2, np.greater, symbol=">", grad=ZERO)
_op("greater_equal", 2, np.greater_equal, symbol=">=", grad=ZERO)
_op("equal", 2, np.equal, symbol="==", commutative=True, grad=ZERO)
_op("not_equal", 2, np.not_equal, symbol="!=", commutative=True, grad=ZERO)
_op("logical_and", 2, np.logical_and, symbol="and", commutative=True, grad=ZERO)
_op("logical_or", 2, np.logical_or, symbol="or", commutative=True, grad=ZERO)

# Unary operators.
_op("negative", 1, np.negative, symbol="-", grad=lambda d, g, x: (-g,))
_op("positive", 1, np.positive, symbol="+", grad=lambda d, g, x: (g,))
_op("invert", 1, np.invert, symbol="~", doc="bitwise not; logical not on bool", grad=ZERO)
_op("logical_not", 1, np.logical_not, symbol="not", grad=ZERO)

# Functions, with NumPy's names and semantics.
_op("absolute", 1, np.absolute, ("abs", "absolute"), grad=lambda d, g, x: (d.where(x >= 0, g, -g),))
_op("sqrt", 1, np.sqrt, ("sqrt",), grad=lambda d, g, x: (g / (d.out * 2),))
_op("cbrt", 1, np.cbrt, ("cbrt",), grad=lambda d, g, x: (g / (d.out * d.out * 3),))
_op("square", 1, np.square, ("square",), grad=lambda d, g, x: (g * x * 2,))
_op("exp", 1, np.exp, ("exp",), grad=lambda d, g, x: (g * d.out,))
_op("exp2", 1, np.exp2, ("exp2",), grad=lambda d, g, x: (g * d.out * LN2,))
_op("expm1", 1, np.expm1, ("expm1",), grad=lambda d, g, x: (g * (d.out + 1),))
_op("log", 1, np.log, ("log",), grad=lambda d, g, x: (g / x,))
_op("log2", 1, np.log2, ("log2",), grad=lambda d, g, x: (g / (x * LN2),))
_op("log10", 1, np.log10, ("log10",), grad=lambda d, g, x: (g / (x * LN10),))
_op("log1p", 1, np.log1p, ("log1p",), grad=lambda d, g, x: (g / (x + 1),))
_op("sin", 1, np.sin, ("sin",), grad=lambda d, g, x: (g * d.cos(x),))
_op("cos", 1, np.cos, ("cos",), grad=lambda d, g, x: (-(g * d.sin(x)),))
_op("tan", 1, np.tan, ("tan",), grad=lambda d, g, x: (g * (d.out * d.out + 1),))
_op("arcsin", 1, np.arcsin, ("arcsin", "asin"), grad=lambda d, g, x: (g / d.sqrt(1 - x * x),))
_op("arccos", 1, np.arccos, ("arccos", "acos"), grad=lambda d, g, x: (-(g / d.sqrt(1 - x * x)),))
_op("arctan", 1, np.arctan, ("arctan", "atan"), grad=lambda d, g, x: (g / (x * x + 1),))
_op("arctan2", 2, np.arctan2, ("arctan2", "atan2"),
    grad=lambda d, g, y, x: (g * x / (x * x + y * y), -(g * y) / (x * x + y * y)))
_op("hypot", 2, np.hypot, ("hypot",), commutative=True,
    grad=lambda d, g, x, y: (d.where(d.out == 0, 0.0, g * x / d.out), d.where(d.out == 0, 0.0, g * y / d.out)))
_op("fmod", 2, np.fmod, ("fmod",), doc="C's fmod: the remainder has the dividend's sign; int fmod 0 is 0",
    grad=lambda d, g, x, y: (g, -(g * d.trunc(x / y))))
_op("copysign", 2, np.copysign, ("copysign",), doc="x's magnitude with y's sign bit (-0.0 and NaN's too)",
    grad=_d_copysign)
_op("nextafter", 2, np.nextafter, ("nextafter",), doc="the next float after x towards y")
_op("sinh", 1, np.sinh, ("sinh",), grad=lambda d, g, x: (g * d.cosh(x),))
_op("cosh", 1, np.cosh, ("cosh",), grad=lambda d, g, x: (g * d.sinh(x),))
_op("tanh", 1, np.tanh, ("tanh",), grad=lambda d, g, x: (g * (1 - d.out * d.out),))
_op("arcsinh", 1, np.arcsinh, ("arcsinh", "asinh"), grad=lambda d, g, x: (g / d.sqrt(x * x + 1),))
_op("arccosh", 1, np.arccosh, ("arccosh", "acosh"), grad=lambda d, g, x: (g / d.sqrt(x * x - 1),))
_op("arctanh", 1, np.arctanh, ("arctanh", "atanh"), grad=lambda d, g, x: (g / (1 - x * x),))
_op("floor", 1, np.floor, ("floor",), grad=ZERO)
_op("ceil", 1, np.ceil, ("ceil",), grad=ZERO)
_op("trunc", 1, np.trunc, ("trunc",), grad=ZERO)
_op("rint", 1, np.rint, ("rint",), doc="round half to even", grad=ZERO)
_op("sign", 1, np.sign, ("sign",), grad=ZERO)
_op("isnan", 1, np.isnan, ("isnan",), grad=ZERO)
_op("isinf", 1, np.isinf, ("isinf",), grad=ZERO)
_op("isfinite", 1, np.isfinite, ("isfinite",), grad=ZERO)
_op("signbit", 1, np.signbit, ("signbit",), doc="the sign bit: true for -0.0 and negative NaN",
    grad=ZERO)
_op("minimum", 2, np.minimum, ("minimum",), doc="propagates NaN",
    grad=lambda d, g, x, y: _balanced(g, x, y, d.out, d))
_op("maximum", 2, np.maximum, ("maximum",), doc="propagates NaN",
    grad=lambda d, g, x, y: _balanced(g, x, y, d.out, d))
_op("where", 3, _where, ("where",), doc="where(cond, x, y): x where cond is true (non-zero)",
    grad=lambda d, g, c, x, y: (None, d.where(c, g, 0.0), d.where(c, 0.0, g)))
_op("clip", 3, np.clip, ("clip",), doc="clip(x, lo, hi) = minimum(maximum(x, lo), hi)", grad=_d_clip)
_op("sigmoid", 1, _sigmoid, ("sigmoid",), doc="1 / (1 + exp(-x)), without overflow",
    grad=lambda d, g, x: (g * d.out * (1 - d.out),))
_op("relu", 1, _relu, ("relu",), doc="maximum(x, 0)", grad=lambda d, g, x: (d.where(x > 0, g, 0.0),))

def power_of_ten(n: int) -> float:
    """10**n as NumPy's round computes it (calculation.c): a table to 1e8, then repeated * 10."""
    if n < 9:
        return float(10 ** n)
    ret = 1e9
    for _ in range(n - 9):
        ret *= 10.0
    return ret


def _round(x, decimals=0):
    """np.round: half to even at `decimals` places (negative: left of the point). Floats compute
    rint(x * 10**d) / 10**d in their own dtype (rint(x / 10**-d) * 10**-d for d < 0); ints are
    unchanged for d >= 0 and go through float64 for d < 0."""
    return np.round(x, decimals)


OPS["round"] = Op("round", 1, _round, ("round", "around"), keywords=(("decimals", 0),), positional=1,
                  doc="round(x, decimals=0): NumPy's round, half to even; decimals may be negative", grad=ZERO)

# Casts, as NumPy's astype.
# A float cast passes the gradient back (cast to the operand's dtype by the generic step); a cast to
# an integer or bool is piecewise constant.
for _t in ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"):
    _op(_t, 1, _cast(_t), (_t,), doc=f"x.astype({_t})",
        grad=(lambda d, g, x: (g,)) if _t.startswith("float") else ZERO)
_op("float16", 1, _cast("float16"), ("float16",), doc="x.astype(float16): rounded to nearest even, as NumPy",
    grad=lambda d, g, x: (g,))
# Complex numbers (no gradients yet: grad=None refuses to differentiate them).
for _t in ("complex64", "complex128"):
    _op(_t, 1, _cast(_t), (_t,), doc=f"x.astype({_t}): a real x gets imaginary part 0")
CASTS = frozenset(("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                   "uint64", "bool", "complex64", "complex128"))

# Complex numbers' parts, as NumPy's functions (of real numbers too: imag(x) is 0, angle(x) 0 or pi).
# Gradients of real operands only (a complex value is refused by `grad`, as by every op outside
# COMPLEX_OPS): real and conj pass it, imag and angle are constant.
_op("real", 1, np.real, ("real",), doc="the real part", grad=lambda d, g, x: (g,))
_op("imag", 1, np.imag, ("imag",), doc="the imaginary part", grad=ZERO)
_op("conjugate", 1, np.conjugate, ("conj", "conjugate"), doc="the complex conjugate", grad=lambda d, g, x: (g,))
_op("angle", 1, np.angle, ("angle",), doc="the argument, arctan2(imag, real), in radians", grad=ZERO)

# The ops that take complex operands so far; the others refuse them (infer.py), naming the op.
COMPLEX_OPS = frozenset(("add", "subtract", "multiply", "divide", "negative", "positive", "absolute", "equal",
                         "not_equal", "where", "real", "imag", "conjugate", "angle", "complex64", "complex128",
                         "exp", "log", "log10", "log2", "sqrt", "square", "sin", "cos", "tan", "sinh", "cosh",
                         "tanh", "power", "sign",
                         "sum", "prod", "mean", "var", "std"))

# Reductions, with NumPy's names, keywords and semantics (np.max propagates NaN; np.argmax gives the
# first index of a tie; the sum of int32 is int64; the mean of ints is float64).
_AXIS = (("axis", None), ("keepdims", False))


def _reduction(name, numpy, functions, doc="", keywords=_AXIS, shape=shapes.reduce_shape, grad=None):
    OPS[name] = Op(name, 1, numpy, tuple(functions), kind="reduction", doc=doc, keywords=keywords,
                   positional=1, shape=shape, grad=grad)


def _logsumexp(x, axis=None, keepdims=False):
    # log(sum(exp(x))) without overflow: shift by the maximum (0 where the maximum is not finite,
    # so that all -inf gives -inf and an inf gives inf, as scipy.special.logsumexp).
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(m.dtype)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _shifted(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return x - np.where(np.isfinite(m), m, 0).astype(m.dtype)


def _softmax(x, axis=-1):
    e = np.exp(_shifted(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    s = _shifted(x, axis)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


# Gradients of reductions: `d.keep(v)` is a reduced value with the reduced axes kept (as 1), so it
# broadcasts against the operand; the generic step broadcasts each share to the operand's shape.
def _d_prod(d, g, x):
    # The product of the others, without dividing by zero: with one zero in a row, only that
    # element has a gradient (the product of the rest); with two or more, none has.
    axis = d.kw["axis"]
    zero = x == 0
    p = d.prod(d.where(zero, 1.0, x), axis=axis, keepdims=True)
    zeros = d.sum(zero, axis=axis, keepdims=True)
    others = d.where(zeros == 0, p / d.where(zero, 1.0, x), d.where((zeros == 1) & zero, p, 0.0))
    return (d.keep(g) * others,)


def _d_extremum(d, g, x):
    # Split evenly among the tied elements (JAX's convention); a NaN result gives NaN.
    m = d.keep(d.out)
    at = x == m
    count = d.sum_to(d.sum(at, axis=d.kw["axis"], keepdims=True), m)
    return (d.sum_to(at, x) * (d.keep(g) / count),)


def _d_var(d, g, x, root=False):
    n = d.count(x, axis=d.kw["axis"]) - d.kw["ddof"]
    centered = x - d.mean(x, axis=d.kw["axis"], keepdims=True)
    return ((d.keep(g) * centered / (n * d.keep(d.out))) if root else (d.keep(g) * centered * 2 / n),)


_reduction("sum", np.sum, ("sum",), "pairwise-accurate for floats; ints sum in (u)int64",
           grad=lambda d, g, x: (d.keep(g),))
_reduction("prod", np.prod, ("prod",), grad=_d_prod)
_reduction("mean", np.mean, ("mean",), "ints give float64",
           grad=lambda d, g, x: (d.keep(g) / d.count(x, axis=d.kw["axis"]),))
_reduction("max", np.max, ("max", "amax"), "propagates NaN; an empty axis is an error", grad=_d_extremum)
_reduction("min", np.min, ("min", "amin"), "propagates NaN; an empty axis is an error", grad=_d_extremum)
_reduction("argmax", np.argmax, ("argmax",), "the first index of the largest (or of the first NaN)",
           shape=shapes.index_reduce_shape, grad=ZERO)
_reduction("argmin", np.argmin, ("argmin",), "the first index of the smallest (or of the first NaN)",
           shape=shapes.index_reduce_shape, grad=ZERO)
_reduction("any", np.any, ("any",), grad=ZERO)
_reduction("all", np.all, ("all",), grad=ZERO)
_reduction("var", np.var, ("var",), "ddof: divide by n - ddof", keywords=_AXIS + (("ddof", 0),), grad=_d_var)
_reduction("std", np.std, ("std",), "ddof: divide by n - ddof", keywords=_AXIS + (("ddof", 0),),
           grad=lambda d, g, x: _d_var(d, g, x, root=True))
_reduction("logsumexp", _logsumexp, ("logsumexp",), "log(sum(exp(x))), shifted by the maximum",
           grad=lambda d, g, x: (d.keep(g) * d.exp(x - d.keep(d.out)),))
OPS["softmax"] = Op("softmax", 1, _softmax, ("softmax",), kind="rowwise", keywords=(("axis", -1),),
                    positional=1, shape=shapes.same_shape, doc="exp(x - max) / sum(exp(x - max)) along axis",
                    grad=lambda d, g, x: (d.out * (g - d.sum(g * d.out, axis=d.kw["axis"], keepdims=True)),))
OPS["log_softmax"] = Op("log_softmax", 1, _log_softmax, ("log_softmax",), kind="rowwise", keywords=(("axis", -1),),
                        positional=1, shape=shapes.same_shape, doc="x - logsumexp(x) along axis",
                        grad=lambda d, g, x: (g - d.exp(d.out) * d.sum(g, axis=d.kw["axis"], keepdims=True),))


def _d_transpose(d, g, x):
    axes = d.kw["axes"]
    if axes is None:
        return (d.transpose(g),)  # a reversal undoes itself
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    return (d.transpose(g, axes=tuple(int(k) for k in np.argsort([a % len(axes) for a in axes]))),)


# Matrix products and transposes.
OPS["matmul"] = Op("matmul", 2, np.matmul, ("matmul",), symbol="@", kind="matmul", shape=shapes.matmul_shape,
                   doc="np.matmul: 1-d operands, batched broadcasting",
                   grad=lambda d, g, a, b: (d.matmul_grad(g, a, b, operand=0), d.matmul_grad(g, a, b, operand=1)))
OPS["transpose"] = Op("transpose", 1, np.transpose, ("transpose",), kind="view", keywords=(("axes", None),),
                      positional=1, shape=shapes.transpose_shape, doc="reversed axes, or the permutation `axes`",
                      grad=_d_transpose)
OPS["expand_dims"] = Op("expand_dims", 1, lambda x, axis=0: np.expand_dims(x, axis), ("expand_dims",), kind="view",
                        keywords=(("axis", None),), positional=1, shape=shapes.expand_dims_shape,
                        doc="a new axis of length 1 at `axis` (an int or a tuple), as np.expand_dims",
                        grad=lambda d, g, x: (d.sum(g, axis=d.kw["axis"]),))  # the new axes summed away
REDUCTIONS = frozenset(n for n, op in OPS.items() if op.kind == "reduction")
# Ops whose result may be a view of their operand's memory (no copy): the memory plan keeps the
# operand's buffer for as long as the view is read.
VIEWS = frozenset(("transpose", "expand_dims", "sum_to"))


# -- What differentiation makes (passes/differentiate.py), and the language's `grad(y, x)`.
def _grad_unexpanded(y, x):
    raise TypeError("grad(y, x) is expanded into its gradient program when the program is compiled")


def _sum_to(g, like):
    """`g` summed over the axes it was broadcast along, or broadcast along the axes it lacks, to
    `like`'s shape, in `like`'s dtype: the step that takes each operand its share of a gradient."""
    like_dtype = np.result_type(like)
    if like_dtype.kind != "f":
        raise GradientError("a gradient is defined for float values only (a float input, or a float "
                            "cast of an integer one)")
    g = np.asarray(g)
    shape = np.shape(like)
    if g.shape == shape:
        return g if g.dtype == like_dtype else g.astype(like_dtype)
    extra = g.ndim - len(shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(extra)))
    offset = len(shape) - g.ndim
    ones = tuple(k for k in range(g.ndim) if shape[offset + k] == 1 and g.shape[k] != 1)
    if ones:
        g = np.sum(g, axis=ones, keepdims=True)
    return np.broadcast_to(g, shape).astype(like_dtype)


class GradientError(TypeError):
    """A value differentiated that has no gradient (an integer): its message is the whole story."""


def _seed(y):
    """The gradient of y with respect to itself: 1 in y's dtype (infer checks y is a scalar)."""
    return np.ones((), np.result_type(y) if np.result_type(y).kind == "f" else np.float64)


def _count(x, axis=None):
    """How many elements a reduction over `axis` reads, in x's (float) dtype: a mean's divisor."""
    dtype = np.result_type(x) if np.result_type(x).kind == "f" else np.float64
    return np.asarray(math.prod(np.shape(x)[k] for k in shapes.reduced_axes(np.shape(x), axis)), dtype)


def _matmul_grad(g, a, b, operand=0):
    """The gradient of `a @ b` with respect to one operand, with np.matmul's rules for 1-d operands
    (a row for a, a column for b) and batch axes (summed back by the generic step)."""
    a, b, g = np.asarray(a), np.asarray(b), np.asarray(g)
    if a.ndim == 1 and b.ndim == 1:
        return g * (b if operand == 0 else a)
    if operand == 1 and b.ndim == 1:
        return np.matmul(np.expand_dims(g, -2), a)  # a row per batch: (..., 1, k), summed to (k,)
    g2 = np.expand_dims(g, -2) if a.ndim == 1 else g
    g2 = np.expand_dims(g2, -1) if b.ndim == 1 else g2
    if operand == 0:
        return np.matmul(g2, np.swapaxes(b[:, None] if b.ndim == 1 else b, -1, -2))
    return np.matmul(np.swapaxes(a[None, :] if a.ndim == 1 else a, -1, -2), g2)


_GRAD = "made by the gradient rules (sx.grad, grad(y, x))"
OPS["grad"] = Op("grad", 2, _grad_unexpanded, ("grad",), kind="gradient", shape=shapes.first_shape,
                 doc="grad(y, x): the gradient of the scalar y with respect to the variable x")
OPS["sum_to"] = Op("sum_to", 2, _sum_to, kind="gradient", shape=shapes.second_shape, internal=_GRAD,
                   doc="sum_to(g, x): g summed or broadcast to x's shape, in x's dtype")
OPS["seed"] = Op("seed", 1, _seed, kind="gradient", shape=shapes.seed_shape, internal=_GRAD,
                 doc="seed(y): 1 in y's dtype; y must be a scalar")
OPS["count"] = Op("count", 1, _count, kind="gradient", keywords=(("axis", None),), shape=shapes.scalar_shape,
                  internal=_GRAD, doc="count(x, axis): how many elements a reduction over axis reads")
OPS["matmul_grad"] = Op("matmul_grad", 3, _matmul_grad, kind="gradient", keywords=(("operand", 0),),
                        shape=shapes.matmul_grad_shape, internal=_GRAD,
                        doc="the gradient of a @ b with respect to a (operand=0) or b (operand=1)")



def keeps_weak(name: str) -> bool:
    """Whether the op of weak operands alone is weak. An operator on Python scalars is Python's own
    arithmetic (`2 + 3` is an int, weak); a NumPy function of them returns a NumPy scalar (`np.cos(3)`
    is a float64, strong), and a cast names its dtype (`float32(2)` is as strong as np.float32(2))."""
    return OPS[name].symbol is not None


# Leaves: they have no NumPy implementation of their own.
LEAVES = frozenset(("input", "constant"))

# Function names in the language -> op.
FUNCTIONS: dict[str, Op] = {f: op for op in OPS.values() for f in op.functions}

# Function names programs also use for their own values (`angle = ...`, an input `real`): such a
# name is the function where it is called, `angle(z)`, and a variable or input anywhere else.
VALUE_NAMES = frozenset(("real", "imag", "angle", "conj", "conjugate", "round", "around"))

# Named constants in the language (weak Python floats, as in NumPy).
CONSTANTS: dict[str, float] = {"pi": float(np.pi), "inf": float("inf"), "nan": float("nan")}

# The dtypes symexpr computes with, on every backend. float16 is NumPy's: each operation computed in
# float32 and rounded to float16 (the kernels hold float16 values as floats, c_types.HALF_HELPERS).
SUPPORTED_DTYPES = tuple(np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
    "float64", "complex64", "complex128"))

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
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import shapes


@dataclass(frozen=True)
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
                 "matmul" or "transpose".
    keywords:    the keyword arguments it takes, with their defaults, in order: a node's
                 `attrs` holds every one of them as (name, value) pairs, defaults filled
                 in, so `sum(x)` and `sum(x, axis=None)` are one computation.
    positional:  how many of `keywords` may also be given by position after the
                 operands (`sum(x, 1)` as `np.sum(x, 1)`; `transpose(x, (1, 0))`).
    shape:       for kinds other than "elementwise", the rule (shapes.py) giving the
                 result's shape from the operands' shapes and the keywords.

    The OpenCL C rendering of each element-wise op is backends/opencl/c_ops.py's CL_OPS[name]
    (tests/test_opencl_render.py checks every op has one).
    """

    name: str
    arity: int
    numpy: Callable
    functions: tuple[str, ...] = ()
    symbol: str | None = None
    commutative: bool = False
    kind: str = "elementwise"
    doc: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    keywords: tuple[tuple[str, object], ...] = ()
    positional: int = 0
    shape: Callable | None = None

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
    return np.where(c, x, y)


OPS: dict[str, Op] = {}


def _op(name, arity, numpy, functions=(), symbol=None, commutative=False, doc=""):
    OPS[name] = Op(name, arity, numpy, tuple(functions), symbol, commutative, doc=doc)


# Binary operators (Python's precedence is in the grammar).
_op("add", 2, np.add, symbol="+", commutative=True)
_op("subtract", 2, np.subtract, symbol="-")
_op("multiply", 2, np.multiply, symbol="*", commutative=True)
_op("divide", 2, np.divide, symbol="/", doc="true division; int / int is float64")
_op("floor_divide", 2, np.floor_divide, symbol="//", doc="Python's floor division; int // 0 is 0")
_op("remainder", 2, np.remainder, symbol="%", doc="sign of the divisor, as Python's %")
_op("power", 2, np.power, ("pow",), symbol="**", doc="int ** negative int is an error")
_op("bitwise_and", 2, np.bitwise_and, symbol="&", commutative=True, doc="logical and on bool")
_op("bitwise_or", 2, np.bitwise_or, symbol="|", commutative=True, doc="logical or on bool")
_op("bitwise_xor", 2, np.bitwise_xor, symbol="^", commutative=True)
_op("left_shift", 2, np.left_shift, symbol="<<", doc="integers; a count beyond the bit width or negative gives 0")
_op("right_shift", 2, np.right_shift, symbol=">>",
    doc="integers, arithmetic on signed; a count beyond the bit width or negative gives 0 or -1")
_op("less", 2, np.less, symbol="<")
_op("less_equal", 2, np.less_equal, symbol="<=")
_op("greater", 2, np.greater, symbol=">")
_op("greater_equal", 2, np.greater_equal, symbol=">=")
_op("equal", 2, np.equal, symbol="==", commutative=True)
_op("not_equal", 2, np.not_equal, symbol="!=", commutative=True)
_op("logical_and", 2, np.logical_and, symbol="and", commutative=True)
_op("logical_or", 2, np.logical_or, symbol="or", commutative=True)

# Unary operators.
_op("negative", 1, np.negative, symbol="-")
_op("positive", 1, np.positive, symbol="+")
_op("invert", 1, np.invert, symbol="~", doc="bitwise not; logical not on bool")
_op("logical_not", 1, np.logical_not, symbol="not")

# Functions, with NumPy's names and semantics.
_op("absolute", 1, np.absolute, ("abs", "absolute"))
_op("sqrt", 1, np.sqrt, ("sqrt",))
_op("cbrt", 1, np.cbrt, ("cbrt",))
_op("square", 1, np.square, ("square",))
_op("exp", 1, np.exp, ("exp",))
_op("exp2", 1, np.exp2, ("exp2",))
_op("expm1", 1, np.expm1, ("expm1",))
_op("log", 1, np.log, ("log",))
_op("log2", 1, np.log2, ("log2",))
_op("log10", 1, np.log10, ("log10",))
_op("log1p", 1, np.log1p, ("log1p",))
_op("sin", 1, np.sin, ("sin",))
_op("cos", 1, np.cos, ("cos",))
_op("tan", 1, np.tan, ("tan",))
_op("arcsin", 1, np.arcsin, ("arcsin", "asin"))
_op("arccos", 1, np.arccos, ("arccos", "acos"))
_op("arctan", 1, np.arctan, ("arctan", "atan"))
_op("arctan2", 2, np.arctan2, ("arctan2", "atan2"))
_op("hypot", 2, np.hypot, ("hypot",), commutative=True)
_op("fmod", 2, np.fmod, ("fmod",), doc="C's fmod: the remainder has the dividend's sign; int fmod 0 is 0")
_op("copysign", 2, np.copysign, ("copysign",), doc="x's magnitude with y's sign bit (-0.0 and NaN's too)")
_op("nextafter", 2, np.nextafter, ("nextafter",), doc="the next float after x towards y")
_op("sinh", 1, np.sinh, ("sinh",))
_op("cosh", 1, np.cosh, ("cosh",))
_op("tanh", 1, np.tanh, ("tanh",))
_op("arcsinh", 1, np.arcsinh, ("arcsinh", "asinh"))
_op("arccosh", 1, np.arccosh, ("arccosh", "acosh"))
_op("arctanh", 1, np.arctanh, ("arctanh", "atanh"))
_op("floor", 1, np.floor, ("floor",))
_op("ceil", 1, np.ceil, ("ceil",))
_op("trunc", 1, np.trunc, ("trunc",))
_op("rint", 1, np.rint, ("rint",), doc="round half to even")
_op("sign", 1, np.sign, ("sign",))
_op("isnan", 1, np.isnan, ("isnan",))
_op("isinf", 1, np.isinf, ("isinf",))
_op("isfinite", 1, np.isfinite, ("isfinite",))
_op("signbit", 1, np.signbit, ("signbit",), doc="the sign bit: true for -0.0 and negative NaN")
_op("minimum", 2, np.minimum, ("minimum",), doc="propagates NaN")
_op("maximum", 2, np.maximum, ("maximum",), doc="propagates NaN")
_op("where", 3, _where, ("where",), doc="where(cond, x, y): x where cond is true (non-zero)")
_op("clip", 3, np.clip, ("clip",), doc="clip(x, lo, hi) = minimum(maximum(x, lo), hi)")
_op("sigmoid", 1, _sigmoid, ("sigmoid",), doc="1 / (1 + exp(-x)), without overflow")
_op("relu", 1, _relu, ("relu",), doc="maximum(x, 0)")

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
                  doc="round(x, decimals=0): NumPy's round, half to even; decimals may be negative")

# Casts, as NumPy's astype.
for _t in ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"):
    _op(_t, 1, _cast(_t), (_t,), doc=f"x.astype({_t})")
_op("float16", 1, _cast("float16"), ("float16",), doc="x.astype(float16): rounded to nearest even, as NumPy")
for _t in ("complex64", "complex128"):
    _op(_t, 1, _cast(_t), (_t,), doc=f"x.astype({_t}): a real x gets imaginary part 0")
CASTS = frozenset(("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                   "uint64", "bool", "complex64", "complex128"))

# Complex numbers' parts, as NumPy's functions (of real numbers too: imag(x) is 0, angle(x) 0 or pi).
_op("real", 1, np.real, ("real",), doc="the real part")
_op("imag", 1, np.imag, ("imag",), doc="the imaginary part")
_op("conjugate", 1, np.conjugate, ("conj", "conjugate"), doc="the complex conjugate")
_op("angle", 1, np.angle, ("angle",), doc="the argument, arctan2(imag, real), in radians")

# The ops that take complex operands so far; the others refuse them (infer.py), naming the op.
COMPLEX_OPS = frozenset(("add", "subtract", "multiply", "divide", "negative", "positive", "absolute", "equal",
                         "not_equal", "where", "real", "imag", "conjugate", "angle", "complex64", "complex128"))

# Reductions, with NumPy's names, keywords and semantics (np.max propagates NaN; np.argmax gives the
# first index of a tie; the sum of int32 is int64; the mean of ints is float64).
_AXIS = (("axis", None), ("keepdims", False))


def _reduction(name, numpy, functions, doc="", keywords=_AXIS, shape=shapes.reduce_shape):
    OPS[name] = Op(name, 1, numpy, tuple(functions), kind="reduction", doc=doc, keywords=keywords,
                   positional=1, shape=shape)


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


_reduction("sum", np.sum, ("sum",), "pairwise-accurate for floats; ints sum in (u)int64")
_reduction("prod", np.prod, ("prod",))
_reduction("mean", np.mean, ("mean",), "ints give float64")
_reduction("max", np.max, ("max", "amax"), "propagates NaN; an empty axis is an error")
_reduction("min", np.min, ("min", "amin"), "propagates NaN; an empty axis is an error")
_reduction("argmax", np.argmax, ("argmax",), "the first index of the largest (or of the first NaN)",
           shape=shapes.index_reduce_shape)
_reduction("argmin", np.argmin, ("argmin",), "the first index of the smallest (or of the first NaN)",
           shape=shapes.index_reduce_shape)
_reduction("any", np.any, ("any",))
_reduction("all", np.all, ("all",))
_reduction("var", np.var, ("var",), "ddof: divide by n - ddof", keywords=_AXIS + (("ddof", 0),))
_reduction("std", np.std, ("std",), "ddof: divide by n - ddof", keywords=_AXIS + (("ddof", 0),))
_reduction("logsumexp", _logsumexp, ("logsumexp",), "log(sum(exp(x))), shifted by the maximum")
OPS["softmax"] = Op("softmax", 1, _softmax, ("softmax",), kind="rowwise", keywords=(("axis", -1),),
                    positional=1, shape=shapes.same_shape, doc="exp(x - max) / sum(exp(x - max)) along axis")
OPS["log_softmax"] = Op("log_softmax", 1, _log_softmax, ("log_softmax",), kind="rowwise", keywords=(("axis", -1),),
                        positional=1, shape=shapes.same_shape, doc="x - logsumexp(x) along axis")

# Matrix products and transposes.
OPS["matmul"] = Op("matmul", 2, np.matmul, ("matmul",), symbol="@", kind="matmul", shape=shapes.matmul_shape,
                   doc="np.matmul: 1-d operands, batched broadcasting")
OPS["transpose"] = Op("transpose", 1, np.transpose, ("transpose",), kind="transpose", keywords=(("axes", None),),
                      positional=1, shape=shapes.transpose_shape, doc="reversed axes, or the permutation `axes`")
REDUCTIONS = frozenset(n for n, op in OPS.items() if op.kind == "reduction")



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

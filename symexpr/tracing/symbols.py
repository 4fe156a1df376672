"""Symbols: the placeholders a traced function computes with; each operation on them records a
statement of the program being traced. Also what tracing errors say and where they point."""
from __future__ import annotations

import linecache
import math
import os
import sys

import numpy as np

from ..errors import SymExprError
from ..ops import CASTS, CONSTANTS, FUNCTIONS, OPS

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # symexpr/: frames in it are not the user's
ALIAS = "alias"  # a statement `y = x` that only names a value (an output returned twice, an input returned)
_PYTHON_SCALARS = (bool, int, float, complex)  # weak, as NumPy 2 takes them
_RESERVED = set(FUNCTIONS) | set(CONSTANTS) | {"True", "False", "and", "or", "not"}


class TracingError(SymExprError, TypeError):
    """A traced function did something that needs values, which symbols do not have."""


class _AttributeTracingError(TracingError, AttributeError):
    """An array attribute a symbol cannot have (`x.shape`, `x.reshape`): also an AttributeError,
    so that hasattr() and getattr(x, name, default) keep working."""


# What to write instead of array methods that a traced program cannot express.
_METHOD_HINTS = {
    "reshape": "symexpr programs keep their inputs' shapes; reshape the arguments before the call",
    "ravel": "symexpr programs keep their inputs' shapes; flatten the arguments before the call",
    "flatten": "symexpr programs keep their inputs' shapes; flatten the arguments before the call",
    "squeeze": "symexpr programs keep their inputs' shapes; squeeze the arguments before the call",
    "item": "a symbol has no value while tracing; return it and read the result",
    "tolist": "a symbol has no value while tracing; return it and read the result",
    "cumsum": "symexpr has no cumulative sums; compute them with np.cumsum outside the function",
    "cumprod": "symexpr has no cumulative products; compute them with np.cumprod outside the function",
    "fill": "symbols are immutable: write `x = sx.where(True, value, x)` or build a new array",
    "sort": "symexpr programs are element-wise and cannot sort",
    "argsort": "symexpr programs are element-wise and cannot sort",
    "view": "write x.astype(dtype) for a conversion of values",
    "ptp": "write x.max(axis) - x.min(axis)",
    "swapaxes": "write x.transpose(axes)",
    "nonzero": "a symbol has no values while tracing; use sx.where(cond, x, y)",
}


def _user_frame():
    """The innermost frame outside symexpr: the user's line that is being traced."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE + os.sep):
        f = f.f_back
    return f


def _where_in_user_code() -> str:
    """`line 5 of adam (train.py): `m = beta1 * m``, for error messages."""
    f = _user_frame()
    if f is None:
        return ""
    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    filename = f.f_code.co_filename
    # A notebook cell's file is a numbered temporary: its name tells the reader nothing.
    shown = "" if "ipykernel_" in filename or filename.startswith("<") else f" ({os.path.basename(filename)})"
    where = f"line {f.f_lineno} of {f.f_code.co_name}{shown}"
    return f"{where}: `{line}`" if line else where


def _origin() -> tuple[str, int | None]:
    """(`line 5: m = beta1 * m + (1 - beta1) * g`, 5): the Python line a traced statement came from."""
    f = _user_frame()
    if f is None:
        return "", None
    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return (f"line {f.f_lineno}: {line}" if line else f"line {f.f_lineno}"), f.f_lineno


# -- symbols -----------------------------------------------------------------------------------
class Symbol:
    """A placeholder for an array while a function is traced: an input, or one recorded operation.

    It has no value. Arithmetic on it records a statement and returns a new Symbol;
    asking for a value (`bool`, `float`, `len`, iteration, `np.asarray`) is a TracingError.
    """

    __slots__ = ("_trace", "name", "op", "operands", "origin", "keywords", "lineno", "__weakref__")
    # NumPy: `array + symbol` must come to us (see __array_ufunc__), not loop over the symbol.
    __array_priority__ = 1000

    def __init__(self, trace, name, op=None, operands=(), origin="", keywords=(), lineno=None):
        self._trace = trace
        self.name = name
        self.op = op
        self.operands = tuple(operands)
        self.origin = origin
        self.keywords = tuple(keywords)  # (name, value) pairs given to a reduction or transpose
        self.lineno = lineno              # the Python line that recorded it

    # What a print shows inside a traced function.
    def expression(self) -> str:
        if self.op == ALIAS:
            return _operand_text(self.operands[0])
        return render_expression(self.op, [_operand_text(o) for o in self.operands], self.keywords)

    def __repr__(self) -> str:
        if self.op is None:
            return f"<Symbol {self.name}: input {self._trace.kinds.get(self.name, '')}>".replace(" >", ">")
        return f"<Symbol {self.name} = {self.expression()}>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if spec:
            self._no_value(f"format it with {spec!r}")
        return repr(self)

    # -- operators record statements --------------------------------------------------------
    def _binary(self, opname, other, reflected=False):
        args = (other, self) if reflected else (self, other)
        return self._trace.record(opname, args)

    def __add__(self, o): return self._binary("add", o)
    def __radd__(self, o): return self._binary("add", o, True)
    def __sub__(self, o): return self._binary("subtract", o)
    def __rsub__(self, o): return self._binary("subtract", o, True)
    def __mul__(self, o): return self._binary("multiply", o)
    def __rmul__(self, o): return self._binary("multiply", o, True)
    def __truediv__(self, o): return self._binary("divide", o)
    def __rtruediv__(self, o): return self._binary("divide", o, True)
    def __floordiv__(self, o): return self._binary("floor_divide", o)
    def __rfloordiv__(self, o): return self._binary("floor_divide", o, True)
    def __mod__(self, o): return self._binary("remainder", o)
    def __rmod__(self, o): return self._binary("remainder", o, True)
    def __pow__(self, o): return self._binary("power", o)
    def __rpow__(self, o): return self._binary("power", o, True)
    def __and__(self, o): return self._binary("bitwise_and", o)
    def __rand__(self, o): return self._binary("bitwise_and", o, True)
    def __or__(self, o): return self._binary("bitwise_or", o)
    def __ror__(self, o): return self._binary("bitwise_or", o, True)
    def __xor__(self, o): return self._binary("bitwise_xor", o)
    def __rxor__(self, o): return self._binary("bitwise_xor", o, True)
    def __lt__(self, o): return self._binary("less", o)
    def __le__(self, o): return self._binary("less_equal", o)
    def __gt__(self, o): return self._binary("greater", o)
    def __ge__(self, o): return self._binary("greater_equal", o)
    def __eq__(self, o): return self._binary("equal", o)  # noqa: PLE0307 - element-wise, as NumPy
    def __ne__(self, o): return self._binary("not_equal", o)
    def __neg__(self): return self._trace.record("negative", (self,))
    def __pos__(self): return self._trace.record("positive", (self,))
    def __invert__(self): return self._trace.record("invert", (self,))
    def __abs__(self): return self._trace.record("absolute", (self,))
    def __matmul__(self, o): return self._binary("matmul", o)
    def __rmatmul__(self, o): return self._binary("matmul", o, True)

    # -- NumPy's array methods, as the language's reductions and transpose --------------------
    def sum(self, axis=None, keepdims=False): return _reduce("sum", self, axis=axis, keepdims=keepdims)
    def prod(self, axis=None, keepdims=False): return _reduce("prod", self, axis=axis, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return _reduce("mean", self, axis=axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return _reduce("max", self, axis=axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _reduce("min", self, axis=axis, keepdims=keepdims)
    def any(self, axis=None, keepdims=False): return _reduce("any", self, axis=axis, keepdims=keepdims)
    def all(self, axis=None, keepdims=False): return _reduce("all", self, axis=axis, keepdims=keepdims)
    def argmax(self, axis=None, keepdims=False): return _reduce("argmax", self, axis=axis, keepdims=keepdims)
    def argmin(self, axis=None, keepdims=False): return _reduce("argmin", self, axis=axis, keepdims=keepdims)
    def var(self, axis=None, ddof=0, keepdims=False): return _reduce("var", self, axis=axis, ddof=ddof, keepdims=keepdims)
    def std(self, axis=None, ddof=0, keepdims=False): return _reduce("std", self, axis=axis, ddof=ddof, keepdims=keepdims)

    def transpose(self, *axes):
        """`x.transpose()`, `x.transpose(1, 0)`, `x.transpose((1, 0))`, as NumPy's."""
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _reduce("transpose", self, axes=tuple(axes) if axes else None)

    @property
    def T(self) -> "Symbol":
        return _reduce("transpose", self, axes=None)

    def dot(self, other) -> "Symbol":
        return self._binary("matmul", other)

    __hash__ = object.__hash__

    def astype(self, dtype) -> "Symbol":
        """`x.astype(np.float32)`: the language's cast, as NumPy's astype."""
        name = np.dtype(dtype).name
        if name not in CASTS:
            raise TracingError(f"{_where_in_user_code()}: cannot cast to {name}: symexpr computes with "
                               f"{', '.join(sorted(CASTS))}")
        return self._trace.record(name, (self,))

    def copy(self) -> "Symbol":
        """`x.copy()`: a symbol is immutable, so it is its own copy."""
        return self

    def round(self, decimals=0) -> "Symbol":
        """`x.round(2)`, `np.round(x, 2)`: the language's round, NumPy's half to even. (Python's
        round(x) is refused by arrays, and so by symbols.)"""
        return _reduce("round", self, decimals=decimals)

    @property
    def real(self) -> "Symbol":
        return self._trace.record("real", (self,))

    @property
    def imag(self) -> "Symbol":
        return self._trace.record("imag", (self,))

    def conj(self) -> "Symbol":
        return self._trace.record("conjugate", (self,))

    conjugate = conj

    def clip(self, lo, hi) -> "Symbol":
        return self._trace.record("clip", (self, lo, hi))

    # What NumPy's arrays tell of themselves, as far as the traced signature knows it.
    @property
    def ndim(self) -> int:
        return self._trace.sample(self, "ndim").ndim

    @property
    def dtype(self) -> np.dtype:
        return self._trace.sample(self, "dtype").dtype

    @property
    def shape(self):
        self._no_shape("shape")

    @property
    def size(self):
        self._no_shape("size")

    def _no_shape(self, what: str):
        raise _AttributeTracingError(
            f"{_where_in_user_code()}: `{self.name}.{what}` is not known while tracing: one traced program "
            f"serves every shape of its inputs' dtypes and ndims (x.ndim and x.dtype are known). Use the "
            "reductions (sx.mean rather than sum / len), or pass the number as a static argument "
            "(@sx.hybridize(static_argnames=(...)))")

    def __getattr__(self, name: str):
        # Only names the class does not have reach here. Python's protocols (`__array_interface__`,
        # `_repr_html_`) must stay AttributeErrors that hasattr() understands: so is this error.
        if name.startswith("__") or name.startswith("_repr"):
            raise AttributeError(name)
        hint = _METHOD_HINTS.get(name)
        if hint is None and hasattr(np.ndarray, name):
            hint = ("symexpr traces element-wise operations, reductions, products and transposes; "
                    "call the function without hybridizing it to use this")
        elif hint is None:
            hint = "a symbol stands for a NumPy array, and arrays have no such attribute"
        raise _AttributeTracingError(f"{_where_in_user_code()}: `x.{name}` cannot be traced: {hint}")

    # -- in-place updates: a hybridized function's array arguments are read-only ----------------
    def _inplace(self, opname, other):
        if self.op is None and self.name in self._trace.arrays:
            raise TracingError(
                f"{_where_in_user_code()}: cannot update the argument `{self.name}` in place: a hybridized "
                f"function's array arguments are read-only, called as is or traced (as JAX's arrays are "
                f"immutable). Write `{self.name} = {self.name} {OPS[opname].symbol} ...`, which makes a new array")
        return self._binary(opname, other)

    def __iadd__(self, o): return self._inplace("add", o)
    def __isub__(self, o): return self._inplace("subtract", o)
    def __imul__(self, o): return self._inplace("multiply", o)
    def __itruediv__(self, o): return self._inplace("divide", o)
    def __ifloordiv__(self, o): return self._inplace("floor_divide", o)
    def __imod__(self, o): return self._inplace("remainder", o)
    def __ipow__(self, o): return self._inplace("power", o)
    def __iand__(self, o): return self._inplace("bitwise_and", o)
    def __ior__(self, o): return self._inplace("bitwise_or", o)
    def __ixor__(self, o): return self._inplace("bitwise_xor", o)
    def __imatmul__(self, o): return self._inplace("matmul", o)

    # -- NumPy's protocols: ufuncs trace, everything else is a clear error --------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = {"true_divide": "divide"}.get(ufunc.__name__, ufunc.__name__)
        if method != "__call__" or kwargs or name not in OPS or OPS[name].arity != len(inputs):
            what = f"np.{ufunc.__name__}" + (f".{method}" if method != "__call__" else "")
            extra = f" with {', '.join(kwargs)}=" if kwargs else ""
            raise TracingError(f"{_where_in_user_code()}: {what}{extra} cannot be traced; "
                               "use the element-wise operators and sx.* functions")
        return self._trace.record(name, inputs)

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, "__name__", str(func))
        if name in ("where", "clip") and not kwargs and len(args) == 3:
            return self._trace.record(name, args)
        if name in ("real", "imag", "angle") and not kwargs and len(args) == 1:
            return self._trace.record(name, args)
        if name in ("round", "around") and set(kwargs) <= {"decimals"} and 1 <= len(args) <= 2:
            from .trace import FUNCTION_WRAPPERS  # (trace.py builds on this module)

            return FUNCTION_WRAPPERS["round"](*args, **kwargs)
        if name in ("dot", "matmul", "inner", "tensordot", "einsum", "outer"):
            hint = "write `a @ b` or sx.matmul(a, b)"
        elif name in FUNCTIONS:
            hint = f"write sx.{name}(...)" + (f" or the method x.{name}(...)" if hasattr(Symbol, name) else "")
        elif name in ("amax", "amin"):
            hint = f"write sx.{name[1:]}(...)"
        else:
            hint = "use the sx.* functions and the operators"
        raise TracingError(f"{_where_in_user_code()}: np.{name} cannot be traced: a symbol has no "
                           f"values yet; {hint}")

    def __array__(self, dtype=None, copy=None):
        self._no_value("make a NumPy array of it")

    # -- everything that needs a value -------------------------------------------------------
    def _no_value(self, what: str):
        if self.op is None and self.name in self._trace.weak:
            hint = (f"`{self.name}` is a Python number the function's control flow depends on (a loop "
                    f"count, a mode): declare it static, @sx.hybridize(static_argnames=(\"{self.name}\",)), "
                    "and each value of it is traced once")
        else:
            hint = ("Python control flow that depends on values cannot be hybridized: use "
                    "sx.where(cond, x, y) for element-wise choices, or call the function without hybridizing it")
        raise TracingError(
            f"{_where_in_user_code()}: cannot {what}: `{self.name}` is a symbol while the function is "
            f"traced ({self!r}), it has no value yet. {hint}")

    def __bool__(self):
        self._no_value("use its truth value (an `if`, `while`, `and`, `or` or `not` on it)")

    def __float__(self):
        self._no_value("convert it to float")

    def __int__(self):
        self._no_value("convert it to int")

    def __index__(self):
        self._no_value("use it as an index")

    def __complex__(self):
        self._no_value("convert it to complex")

    def __len__(self):
        self._no_value("take its len()")

    def __iter__(self):
        self._no_value("iterate over it")

    def __getitem__(self, key):
        self._no_value("index it (symexpr programs are element-wise)")

    def __setitem__(self, key, value):
        self._no_value("assign into it (symbols are immutable: write `x = ...` instead)")


def _literal_text(value) -> str:
    """A Python scalar as a symexpr literal (weak, as in the language)."""
    if type(value) is bool:
        return "True" if value else "False"
    if type(value) is float:
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "(-inf)"
        text = repr(value)
    elif type(value) is complex:
        if not (math.isfinite(value.real) and math.isfinite(value.imag)):
            raise TracingError(f"{_where_in_user_code()}: the complex constant {value!r} has an infinite or NaN "
                               "part, which a program cannot write: pass it as an argument")
        text = f"({value.real!r} + {value.imag!r}j)" if value.real else f"{value.imag!r}j"
    else:
        text = repr(value)
    return f"({text})" if text.startswith("-") else text


def _static_text(value) -> str:
    """An axis, a tuple of axes, None, a bool or a number, as the language writes it."""
    if isinstance(value, (tuple, list)):
        items = [_static_text(v) for v in value]
        return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    if value is None or type(value) is bool:
        return repr(value)
    return _literal_text(value)


def _reduce(opname: str, x, **keywords):
    """A reduction (or transpose) of a symbol: recorded with its keywords, checked as the language checks them."""
    op = OPS[opname]
    known = dict(op.keywords)
    for k, v in keywords.items():
        if k not in known:
            raise TypeError(f"{opname}() takes no keyword {k!r} (it takes {', '.join(known) or 'none'})")
        if k in ("axis", "axes") and v is not None:
            try:
                v = int(v) if not isinstance(v, (tuple, list)) else tuple(int(a) for a in v)
            except TypeError:
                raise TracingError(f"{_where_in_user_code()}: {opname}(): `{k}` must be an int, a tuple of ints "
                                   "or None, known while tracing") from None
            keywords[k] = v
        if k == "decimals":
            if isinstance(v, Symbol) or type(v) is bool or not isinstance(v, (int, np.integer)):
                raise TracingError(f"{_where_in_user_code()}: {opname}(): `decimals` must be an int known "
                                   "while tracing (a static argument, or a number in the code)")
            keywords[k] = int(v)
    if isinstance(x, Symbol):
        return x._trace.record(opname, (x,), tuple((k, keywords.get(k, d)) for k, d in op.keywords))
    return op.numpy(x, **keywords)


def _operand_text(o) -> str:
    return o.name if isinstance(o, Symbol) else _literal_text(o)


def render_expression(op: str | None, operands: list[str], keywords: tuple = ()) -> str:
    """One statement's right-hand side, operands already atoms: `a * b`, `-a`, `sin(a)`,
    `sum(a, axis=1)` (keywords that differ from the op's defaults)."""
    rec = OPS[op]
    if rec.keywords:
        defaults = dict(rec.keywords)
        given = [f"{k}={_static_text(v)}" for k, v in keywords if defaults.get(k) != v]
        return f"{rec.functions[0]}({', '.join(list(operands) + given)})"
    if rec.symbol and rec.arity == 2 and rec.symbol not in ("and", "or"):
        return f"{operands[0]} {rec.symbol} {operands[1]}"
    if rec.symbol and rec.arity == 1 and rec.symbol not in ("not",):
        return f"{rec.symbol}{operands[0]}"
    fname = rec.functions[0] if rec.functions else {"logical_and": "and", "logical_or": "or"}.get(op)
    if rec.functions:
        return f"{fname}({', '.join(operands)})"
    if op == "logical_not":
        return f"not {operands[0]}"
    return f" {fname} ".join(operands)



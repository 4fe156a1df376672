"""`@sx.hybridize`: a Python function of arrays, run imperatively or traced into one symexpr program.

Called as is, a hybridized function is the plain Python function: every
operation runs at once with NumPy, and a `print` shows real values. After
`f.hybridize()` (or with `@sx.hybridize(active=True)`), the first call of each
input signature *traces* the function: its arguments are replaced by `Symbol`
placeholders, and every operator and `sx.sin`-style function applied to them
records one statement of a symexpr program instead of computing anything. The
program text goes through the real grammar and parser, is compiled once, and
every later call with that signature runs the fused kernel.

The trade-off is the lecture's: inside a traced function a `print` shows a
symbol (`<Symbol t3 = a * b>`), not numbers, and Python control flow that
depends on values (`if x > 0:`) cannot work, because there are no values yet;
it raises a `TracingError` that says so and points at the line.

Values a traced function reads but was not given are frozen at tracing time:
Python scalars become weak literals in the program text, NumPy arrays and
scalars become hidden inputs bound to the captured value on every call.

As in JAX: arguments named in `static_argnames` (or at `static_argnums`) are
passed as they are and their values are part of the signature, so Python loops
over them unroll; a symbol knows its `ndim` and `dtype` (not its shape: one
trace serves every shape); array arguments are read-only in both modes, so
`x += 1` on an input is a TracingError rather than a change the traced
function could not make. The traced program's inputs follow the arguments'
order, and its graph is labelled with the function's own line numbers.
"""
from __future__ import annotations

import functools
import inspect
import linecache
import math
import os
import sys
import threading
import warnings

import numpy as np

from .errors import SymExprError
from .ops import CASTS, CONSTANTS, FUNCTIONS, OPS

_HERE = os.path.abspath(__file__)
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
    package = os.path.dirname(_HERE)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(package + os.sep):
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


# -- tracing -----------------------------------------------------------------------------------
class _Trace:
    """The statements recorded while one call of a function is traced."""

    def __init__(self, fname: str, kinds: dict[str, str]):
        self.fname = fname
        self.kinds = kinds            # input name -> "float32[2-D]" etc, for printing
        self.inputs: list[Symbol] = []
        self.statements: list[Symbol] = []
        self.hidden: list[tuple[Symbol, object]] = []  # captured arrays: (input symbol, value)
        self._hidden_ids: dict[int, Symbol] = {}
        self.taken: set[str] = set()
        self.count = 0
        self.arrays: set[str] = set()  # inputs given as NumPy arrays (mutable, hence read-only here)
        self.samples: dict[int, object] = {}  # symbol -> a one-element value of its dtype and ndim
        self.weak: set[str] = set()    # inputs given as Python scalars

    def sample(self, sym: Symbol, what: str):
        """A value of `sym`'s dtype and ndim, made by NumPy from one-element samples of the inputs,
        so x.dtype and x.ndim follow NumPy's rules by construction."""
        if self._weak(sym):
            raise _AttributeTracingError(
                f"{_where_in_user_code()}: `{sym.name}` has no {what}: it is computed from Python scalars "
                "only, which are weak (they take the dtype of the arrays they meet), as in NumPy")
        for s in [*self.statements, sym]:
            if id(s) in self.samples or s.op is None:
                continue
            args = [self.samples[id(o)] if isinstance(o, Symbol) else o for o in s.operands]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = args[0] if s.op == ALIAS else OPS[s.op].numpy(*args, **dict(s.keywords))
            self.samples[id(s)] = np.asarray(value)
            if s is sym:
                break
        return self.samples[id(sym)]

    def _weak(self, sym: Symbol) -> bool:
        if sym.op is None:
            return sym.name in self.weak
        return all(self._weak(o) if isinstance(o, Symbol) else type(o) in _PYTHON_SCALARS for o in sym.operands)

    def fresh(self, base: str) -> str:
        """An unused name for the program text, from `base` (symexpr names are ASCII identifiers)."""
        if not (base.isascii() and base.isidentifier()):
            base = "arg"
        name = base
        while name in self.taken or name in _RESERVED:
            self.count += 1
            name = f"{base}{self.count}"
        self.taken.add(name)
        return name

    def input(self, name: str, value) -> Symbol:
        sym = Symbol(self, self.fresh(name))
        self.inputs.append(sym)
        if type(value) in _PYTHON_SCALARS:
            self.weak.add(sym.name)
            self.samples[id(sym)] = value
        else:
            self.samples[id(sym)] = np.ones((1,) * np.ndim(value), np.asarray(value).dtype)
            if isinstance(value, np.ndarray):
                self.arrays.add(sym.name)
        return sym

    def operand(self, value):
        """A recorded operand: a symbol of this trace, a weak Python scalar, or a captured array."""
        if isinstance(value, Symbol):
            if value._trace is not self:
                raise TracingError(f"{_where_in_user_code()}: {value!r} comes from another trace "
                                   "(a symbol kept from an earlier call); pass the value as an argument")
            return value
        if type(value) in _PYTHON_SCALARS:
            if type(value) is int and not -(2**63) <= value < 2**63:
                raise TracingError(f"{_where_in_user_code()}: the Python int {value} does not fit in int64")
            return value
        if not isinstance(value, (np.generic, np.ndarray)):
            # Subclasses of Python scalars (an IntEnum, a bool-like flag) are weak literals too.
            for py in (bool, int, float):
                if isinstance(value, py):
                    return self.operand(py(value))
        if id(value) in self._hidden_ids:
            return self._hidden_ids[id(value)]
        try:
            arr = np.asarray(value)
        except Exception as err:  # noqa: BLE001
            raise TracingError(f"{_where_in_user_code()}: cannot use a {type(value).__name__} in a "
                               f"traced computation: {err}") from None
        if arr.dtype.kind not in "biufc":
            raise TracingError(f"{_where_in_user_code()}: cannot use a {type(value).__name__} of dtype "
                               f"{arr.dtype} in a traced computation")
        sym = Symbol(self, self.fresh("captured"))
        self.samples[id(sym)] = arr
        self.hidden.append((sym, value))
        self._hidden_ids[id(value)] = sym
        self.kinds[sym.name] = f"captured {arr.dtype}{list(arr.shape)}"
        return sym

    def record(self, opname: str, args, keywords: tuple = ()) -> Symbol:
        operands = [self.operand(a) for a in args]
        self.count += 1
        origin, lineno = _origin()
        sym = Symbol(self, self.fresh(f"t{self.count}"), opname, operands, origin, keywords, lineno)
        self.statements.append(sym)
        return sym


def _make_function(fname: str, op):
    """`sx.sin` and friends: NumPy on values, a recorded statement on symbols."""

    def function(*args, **keywords):
        if op.keywords:
            # sx.sum(x, 1) as np.sum(x, 1): keywords may come by position after the operands.
            extra = args[op.arity:]
            if len(extra) > op.positional:
                raise TypeError(f"sx.{fname}() takes at most {op.arity + op.positional} arguments by position")
            for (k, _), v in zip(op.keywords, extra):
                if k in keywords:
                    raise TypeError(f"sx.{fname}() got {k!r} twice")
                keywords[k] = v
            return _reduce(op.name, *args[:op.arity], **keywords)
        if keywords:
            raise TypeError(f"sx.{fname}() takes no keyword arguments")
        if len(args) != op.arity:
            raise TypeError(f"sx.{fname}() takes {op.arity} argument{'s' * (op.arity != 1)}, got {len(args)}")
        for a in args:
            if isinstance(a, Symbol):
                return a._trace.record(op.name, args)
        return op.numpy(*args)

    function.__name__ = function.__qualname__ = fname
    function.__doc__ = (f"{fname}({', '.join('xyz'[:op.arity])}): the symexpr function `{fname}`, "
                        f"NumPy's {op.name} on arrays; recorded as a statement on symbols while tracing."
                        + (f" {op.doc}" if op.doc else ""))
    return function


#: Every function of the language, by its language name: sx.sin, sx.where, sx.maximum, sx.float32, ...
FUNCTION_WRAPPERS = {fname: _make_function(fname, op) for fname, op in FUNCTIONS.items()}


# -- turning a trace into a program ------------------------------------------------------------
def _name_statements(trace: _Trace, *preferences: dict[int, str]) -> dict[int, str]:
    """Final names: the first name each symbol may take from `preferences` (a dict's keys, the
    function's local variables, out0/out1...), else its t-name from the trace.

    A local may take an input's name (`m = beta1 * m + ...`) only when nothing after it reads that
    input, because later statements would then read the new value.
    """
    last_read: dict[int, int] = {}
    for k, s in enumerate(trace.statements):
        for o in s.operands:
            if isinstance(o, Symbol):
                last_read[id(o)] = k
    input_names = {s.name: s for s in trace.inputs + [h for h, _ in trace.hidden]}
    names: dict[int, str] = {}
    used = set(input_names)
    position = {id(s): k for k, s in enumerate(trace.statements)}

    statement_names: set[str] = set()

    def can_take(sym: Symbol, name: str) -> bool:
        if not (name.isidentifier() and name.isascii()) or name in _RESERVED or name in statement_names:
            return False
        if name in input_names:
            # Overwriting an input: fine when no statement after this one reads the input.
            return last_read.get(id(input_names[name]), -1) <= position[id(sym)]
        return name not in used

    for preferred in preferences:
        for sym in trace.statements:
            if id(sym) in names or id(sym) not in preferred:
                continue
            name = preferred[id(sym)]
            if can_take(sym, name):
                names[id(sym)] = name
                used.add(name)
                statement_names.add(name)
    for sym in trace.statements:
        if id(sym) not in names:
            name = sym.name
            while name in used:
                name += "_"
            names[id(sym)] = name
            used.add(name)
    return names


def program_text(trace: _Trace, names: dict[int, str]) -> str:
    """One statement per traced operation, with the Python line it came from as a comment."""
    def text(o):
        if isinstance(o, Symbol):
            return names.get(id(o), o.name)
        return _literal_text(o)

    lines = []
    rows = []
    for sym in trace.statements:
        lhs = names[id(sym)]
        if sym.op == ALIAS:
            rhs = text(sym.operands[0])
        else:
            rhs = render_expression(sym.op, [text(o) for o in sym.operands], sym.keywords)
        note = sym.origin
        if lhs != sym.name:  # renamed after a local variable: say which symbol a print showed
            note = f"{sym.name}, {note}" if note else sym.name
        rows.append((f"{lhs} = {rhs}", note))
    width = max((len(r[0]) for r in rows), default=0)
    for stmt, note in rows:
        lines.append(f"{stmt:<{width}}  # {note}" if note else stmt)
    return "\n".join(lines) + "\n"


# -- the decorator -----------------------------------------------------------------------------
def _kind(value) -> str:
    if type(value) in _PYTHON_SCALARS:
        return f"weak {type(value).__name__}"
    return f"{value.dtype}[{value.ndim}-D]"


def _argument(value):
    """An argument as the program takes it, and its part of the call signature.

    Arrays and NumPy scalars: their dtype and ndim. Python scalars: weak inputs, by type. Lists and
    other unhashable values become arrays. Anything else (a string, None, an object) is *static*:
    passed to the function as it is while tracing, and part of the signature by its value.
    """
    part = _signature_part(value)
    if part is not None:
        return value, part
    try:
        hash(value)
    except TypeError:
        hashable = False
    else:
        hashable = not isinstance(value, (list, tuple))
    if not hashable:
        arr = np.asarray(value)
        return arr, _signature_part(arr)
    return value, ("static", value)


def _signature_part(value):
    if isinstance(value, Symbol):
        raise TracingError("a hybridized function was called with a Symbol: call it with arrays")
    if type(value) in _PYTHON_SCALARS:
        return ("weak", type(value).__name__)
    if isinstance(value, (np.ndarray, np.generic)):
        return ("array", value.dtype.str, value.ndim)
    return None


class HybridFunction:
    """A Python function of arrays that runs imperatively, or, once hybridized, as one fused kernel.

    f(...)            imperative (NumPy) until `f.hybridize()`; then traced once per signature
    f.hybridize()     switch to tracing (active=False switches back); returns f
    f.program         the Program of the most recent traced signature (graph, kernel_source, explain)
    f.programs        every traced signature -> its Program
    f.source          the traced program text of the most recent signature
    """

    def __init__(self, fn, *, active: bool = False, backend: str = "auto", optimize: bool = True,
                 static_argnames=(), static_argnums=()):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.active = active
        self.backend = backend
        self.optimize = optimize
        self._compiled: dict[tuple, _Compiled] = {}
        self.traces = 0  # how many times the function was traced, for tests and curious users
        self._signature = inspect.signature(fn)
        self.static_argnames, self.static_argnums = _static_names(self._signature, fn, static_argnames,
                                                                  static_argnums)
        self._lock = threading.Lock()
        self._last: _Compiled | None = None

    def hybridize(self, active: bool = True, *, backend: str | None = None) -> "HybridFunction":
        """Trace and compile on the next call of each signature (active=False: back to imperative)."""
        self.active = active
        if backend is not None and backend != self.backend:
            self.backend = backend
            self._compiled.clear()
        return self

    @property
    def programs(self) -> dict:
        """Every traced signature -> its Program."""
        return {key: c.program for key, c in self._compiled.items()}

    @property
    def program(self):
        """The traced Program of the most recent signature (None before the first traced call)."""
        return self._last.program if self._last is not None else None

    @property
    def source(self) -> str | None:
        return self._last.program.source if self._last is not None else None

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        if any(isinstance(a, Symbol) for a in (*args, *kwargs.values())):
            # Called from a function being traced: traced into its program, inline.
            return self.fn(*args, **kwargs)
        if not self.active:
            return self._call_imperatively(args, kwargs)
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        flat = self._flatten(bound)
        static = self._static(args)
        values, key = {}, []
        for name, value in flat.items():
            if name in static:
                values[name], part = value, _static_part(name, value)
            else:
                values[name], part = _argument(value)
            key.append((name, part))
        key = tuple(key)
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is None:
                compiled = self._trace(values, key)
                self._compiled[key] = compiled
            self._last = compiled
        return compiled.run(values)

    def _static(self, args: tuple) -> set[str]:
        """The flattened names of the static arguments of this call (numbers count positions)."""
        static = set(self.static_argnames)
        for k in self.static_argnums:
            k = k + len(args) if k < 0 else k
            name = _positional_name(self._signature, k)
            if name is not None:
                static.add(name)
        return static

    def _call_imperatively(self, args, kwargs):
        """The plain function, with its array arguments read-only: an in-place update (`x += 1`)
        would change the caller's array, which the traced function cannot do."""
        views = {}  # id(read-only view) -> the caller's array, to hand back an argument returned as is
        args = [_read_only(a, views) for a in args]
        kwargs = {k: _read_only(v, views) for k, v in kwargs.items()}
        try:
            result = self.fn(*args, **kwargs)
        except ValueError as err:
            if "read-only" not in str(err):
                raise
            raise TracingError(
                f"{self.fn.__qualname__} updates an array argument in place ({err}): a hybridized "
                "function's array arguments are read-only, called as is or traced (as JAX's arrays are "
                "immutable). Write `x = x + 1` rather than `x += 1`, which makes a new array") from err
        if not views:
            return result
        back = lambda v: views.get(id(v), v)  # noqa: E731
        if isinstance(result, dict):
            return {k: back(v) for k, v in result.items()}
        if type(result) in (tuple, list):
            return type(result)(back(v) for v in result)
        return back(result)

    def _flatten(self, bound) -> dict[str, object]:
        """Arguments by name; *args as name0, name1, ...; **kwargs by their keys."""
        flat = {}
        for pname, value in bound.arguments.items():
            kind = self._signature.parameters[pname].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                for k, v in enumerate(value):
                    flat[f"{pname}{k}"] = v
            elif kind is inspect.Parameter.VAR_KEYWORD:
                flat.update(value)
            else:
                flat[pname] = value
        return flat

    def _trace(self, values: dict[str, object], key: tuple) -> "_Compiled":
        from .program import Program

        static = {name for name, part in key if part[0] == "static"}
        kinds = {n: _kind(v) for n, v in values.items() if n not in static}
        trace = _Trace(self.fn.__name__, dict(kinds))
        symbols: dict[str, object] = {}
        input_names: dict[str, str] = {}
        for name, value in values.items():
            if name in kinds:
                sym = trace.input(name, value)
                symbols[name] = sym
                input_names[sym.name] = name
            else:
                symbols[name] = value
        args, kwargs = self._rebuild_call(symbols)
        result, local_vars, return_line = _call_recording_locals(self.fn, args, kwargs)
        self.traces += 1

        structure, outputs = _flatten_result(result, trace)
        result_names = {}
        for out_name, sym in outputs:
            result_names.setdefault(id(sym), out_name)
        local_names = {}
        for lname, lval in (local_vars or {}).items():
            if isinstance(lval, Symbol) and lval._trace is trace and lval.op is not None:
                local_names.setdefault(id(lval), lname)

        # Outputs that are not a statement of their own (an input returned as is, a symbol returned
        # twice, a literal) get an alias statement, so every output has its own name.
        seen: set[int] = set()
        for k, (out_name, sym) in enumerate(outputs):
            if not isinstance(sym, Symbol) or sym.op is None or id(sym) in seen:
                trace.count += 1
                alias = Symbol(trace, trace.fresh(f"t{trace.count}"), ALIAS, [sym], "", lineno=return_line)
                trace.statements.append(alias)
                outputs[k] = (out_name, alias)
                result_names[id(alias)] = out_name
            seen.add(id(outputs[k][1]))

        keyed = result_names if structure[0] == "dict" else {}
        names = _name_statements(trace, keyed, local_names, result_names)
        text = program_text(trace, names)
        out_names = [names[id(sym)] for _, sym in outputs]
        statics = "".join(f", {n}={values[n]!r}" for n in values if n in static)
        header = (f"# traced from {self.fn.__qualname__}("
                  f"{', '.join(f'{n}: {kinds[n]}' for n in kinds)}{statics})\n")
        # The graph's inputs in the function's argument order, its statements labelled with the
        # Python lines they came from (the text's line 1 is the header: the `def` line).
        first = getattr(getattr(self.fn, "__code__", None), "co_firstlineno", 1)
        lines = [first] + [sym.lineno or first for sym in trace.statements]
        order = [sym.name for sym in trace.inputs] + [sym.name for sym, _ in trace.hidden]
        program = Program(header + text, outputs=out_names, backend=self.backend, optimize=self.optimize,
                          input_order=order, line_numbers=lines)
        hidden = {sym.name: value for sym, value in trace.hidden}
        return _Compiled(program, structure, out_names, input_names, hidden)

    def _rebuild_call(self, symbols: dict[str, object]):
        args, kwargs = [], {}
        for pname, param in self._signature.parameters.items():
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                k = 0
                while f"{pname}{k}" in symbols:
                    args.append(symbols.pop(f"{pname}{k}"))
                    k += 1
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            elif param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
                args.append(symbols.pop(pname))
            else:
                kwargs[pname] = symbols.pop(pname)
        kwargs.update(symbols)  # what is left came through **kwargs
        return args, kwargs

    def __repr__(self) -> str:
        state = "hybridized" if self.active else "imperative"
        return f"<symexpr.hybridize {self.fn.__qualname__} ({state}, {len(self._compiled)} traced signatures)>"


class _Compiled:
    """One traced signature: its Program and how to rebuild the function's return value."""

    def __init__(self, program, structure, out_names, input_names, hidden):
        self.program = program
        self.structure = structure
        self.out_names = out_names
        self.input_names = input_names  # program input name -> argument name
        self.hidden = hidden

    def run(self, values: dict[str, object]):
        inputs = {}
        for pname, aname in self.input_names.items():
            if pname in self.program.inputs:
                inputs[pname] = values[aname]
        for pname, value in self.hidden.items():
            if pname in self.program.inputs:
                inputs[pname] = value
        results = self.program.run(inputs)
        if len(self.out_names) == 1:
            results = (results,)
        return _unflatten_result(self.structure, list(results))


def _flatten_result(result, trace: _Trace):
    """The function's return value -> (structure, [(output name, symbol or literal)])."""
    if isinstance(result, dict):
        keys = list(result)
        outputs = [(str(k), trace.operand(result[k]) if not isinstance(result[k], Symbol) else result[k])
                   for k in keys]
        return ("dict", keys), outputs
    if isinstance(result, (tuple, list)):
        if not result:
            raise TracingError(f"{trace.fname} returned an empty {type(result).__name__}: nothing to compute")
        outputs = [(f"out{k}", v if isinstance(v, Symbol) else trace.operand(v)) for k, v in enumerate(result)]
        return (type(result), len(result)), outputs
    if result is None:
        raise TracingError(f"{trace.fname} returned None: a hybridized function must return its results "
                           "(an array, a tuple of arrays or a dict of arrays)")
    value = result if isinstance(result, Symbol) else trace.operand(result)
    return ("single",), [("out", value)]


def _unflatten_result(structure, values: list):
    if structure[0] == "single":
        return values[0]
    if structure[0] == "dict":
        return dict(zip(structure[1], values))
    kind = structure[0]
    if kind is tuple or kind is list:
        return kind(values)
    return kind(*values)  # a namedtuple


def _call_recording_locals(fn, args, kwargs):
    """Call fn, and keep its local variables as they were when it returned (to name statements)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return fn(*args, **kwargs), {}, None
    captured: dict[str, object] = {}
    line = []
    previous = sys.getprofile()

    def profiler(frame, event, arg):
        if event == "return" and frame.f_code is code:
            captured.update(frame.f_locals)
            line.append(frame.f_lineno)
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profiler)
    try:
        result = fn(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    return result, captured, (line[-1] if line else None)


def _static_names(signature, fn, names, nums) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """static_argnames and static_argnums as JAX takes them: a name or a sequence, checked against
    the function's parameters."""
    names = (names,) if isinstance(names, str) else tuple(names)
    nums = (nums,) if isinstance(nums, int) else tuple(nums)
    params = signature.parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for n in names:
        if not isinstance(n, str) or (n not in params and not takes_kwargs):
            raise TracingError(f"hybridize: static_argnames names {n!r}, which "
                               f"{getattr(fn, '__qualname__', fn)}({', '.join(params)}) does not take")
    for k in nums:
        if type(k) is not int:
            raise TracingError(f"hybridize: static_argnums holds positions (ints), not {k!r}")
    return names, nums


def _positional_name(signature, k: int) -> str | None:
    """The flattened name of the k-th positional argument (`args2` for the third of *args)."""
    position = 0
    for pname, param in signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return f"{pname}{k - position}" if k >= position else None
        if param.kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            return None
        if position == k:
            return pname
        position += 1
    return None


def _static_part(name: str, value):
    """A static argument's part of the call signature: its value, which must be hashable."""
    try:
        hash(value)
    except TypeError:
        raise TracingError(f"the static argument `{name}` is a {type(value).__name__}, which is not hashable: "
                           "a static argument's value is part of the traced signature (a new value traces "
                           "again), so pass a hashable value (a tuple rather than a list, a number, a string)"
                           ) from None
    return ("static", type(value).__name__, value)


def _read_only(value, views: dict):
    """An array as a read-only view (anything else as it is), remembered in `views`."""
    if isinstance(value, np.ndarray) and value.flags.writeable:
        view = value.view()
        view.flags.writeable = False
        views[id(view)] = value
        return view
    return value


def hybridize(fn=None, *, active: bool = False, backend: str = "auto", optimize: bool = True,
              static_argnames=(), static_argnums=()):
    """Decorate a Python function of arrays; `f.hybridize()` (or active=True) traces it into one kernel.

        @sx.hybridize
        def f(a, b):
            d = a * b
            return sx.where(d > 0, d, 0)

        f(x, y)            # imperative: NumPy, one operation at a time
        f.hybridize()
        f(x, y)            # traced once for this signature, compiled, run as one kernel
        print(f.program.source)

    static_argnames / static_argnums: arguments passed to the traced function as they are (a loop
    count, a mode), hashable; each value is traced once.
    """
    options = dict(active=active, backend=backend, optimize=optimize, static_argnames=static_argnames,
                   static_argnums=static_argnums)
    if fn is None:
        return lambda f: HybridFunction(f, **options)
    return HybridFunction(fn, **options)

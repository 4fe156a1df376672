"""The trace of one call: the statements recorded, the `sx.sin`-style functions that record them
on symbols (and run NumPy on arrays), and the program text a trace becomes."""
from __future__ import annotations

import warnings

import numpy as np

from ..ops import FUNCTIONS, OPS
from .symbols import (ALIAS, _PYTHON_SCALARS, _RESERVED, Symbol, TracingError, _AttributeTracingError, _literal_text,
                      _origin, _reduce, _where_in_user_code, render_expression)


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
    if fname != "grad":  # pickled by reference as `symexpr.sin` (sx.grad is the gradient of a function)
        function.__module__ = "symexpr"
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



"""`@sx.hybridize` and the HybridFunction it makes: arguments, signatures, static arguments, and
the program compiled for each signature."""
from __future__ import annotations

import functools
import inspect
import sys
from _thread import allocate_lock  # (threading.Lock: see backends/numpy.py)

import numpy as np

from .symbols import ALIAS, _PYTHON_SCALARS, Symbol, TracingError
from .trace import _name_statements, _Trace, program_text


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
        self._lock = allocate_lock()
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
        from ..program import Program

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


"""`Program`: a compiled symexpr program, called with data.

Define, then run: `compile` parses and optimizes once; each call binds the
arguments to the inputs, checks them, and hands them to the backend.
"""
from __future__ import annotations

import operator
import warnings
from collections.abc import Mapping

import numpy as np

from .errors import CallError, DTypeError, ShapeError, SymExprError
from .graph import Graph, relabel, render_graph
from .infer import check_dtype, is_weak_value
from .parse import parse
from .passes import Rewrite, optimize as run_passes
from .tables import MISSING, column, is_dask, is_path, is_table, load_path

BACKENDS = ("auto", "numpy", "opencl")
_ndarray = np.ndarray  # (a global, not an attribute of one: the fast path reads it for every argument)
INT64 = (-(2**63), 2**63 - 1)


class Results(tuple):
    """Several outputs: a tuple in `prog.outputs` order, with attribute and key access by name."""

    def __new__(cls, names, values):
        self = super().__new__(cls, values)
        self.__dict__["\0names"] = {n: k for k, n in enumerate(names)}
        return self

    def __getattribute__(self, attr):
        index = object.__getattribute__(self, "__dict__").get("\0names", {})
        if attr in index:
            return tuple.__getitem__(self, index[attr])
        return super().__getattribute__(attr)

    def __getitem__(self, key):
        if isinstance(key, str):
            index = object.__getattribute__(self, "__dict__")["\0names"]
            if key not in index:
                raise KeyError(key)
            return tuple.__getitem__(self, index[key])
        return tuple.__getitem__(self, key)

    def names(self) -> tuple[str, ...]:
        return tuple(object.__getattribute__(self, "__dict__")["\0names"])

    def __getnewargs__(self):
        # pickle and copy rebuild a tuple subclass from these: the names too, not only the values.
        return (tuple(object.__getattribute__(self, "__dict__")["\0names"]), tuple(self))

    def __repr__(self):
        names = object.__getattribute__(self, "__dict__")["\0names"]
        body = ", ".join(f"{n}={tuple.__getitem__(self, k)!r}" for n, k in names.items())
        return f"Results({body})"


class Program:
    """A compiled program. Call it with data: `prog(a=..., b=...)`."""

    # What Dask and xarray call a task that runs it (dask.utils.funcname; apply_gufunc's task names
    # must have no `-`, which the repr has).
    __name__ = "symexpr_program"

    def __init__(self, source: str, *, outputs=None, backend: str = "auto", optimize: bool = True,
                 device=None, fast_math: bool = False, input_order=None, line_numbers=None):
        """input_order: input names to come first, in that order (else: order of first use);
        line_numbers: the line each line of `source` is labelled with (a traced Python function's)."""
        if backend not in BACKENDS:
            raise SymExprError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        parsed = parse(source, outputs)
        if any(n.op == "grad" for n in parsed.nodes):  # (the backward pass's module loads only for one)
            from .passes.differentiate import expand_gradients

            parsed = expand_gradients(parsed)
        if input_order is not None or line_numbers is not None:
            parsed = relabel(parsed, input_order, line_numbers)
        graph, rewrites = run_passes(parsed, fast_math=fast_math) if optimize else (parsed, [])
        self._setup(source, {"outputs": None if outputs is None else list(outputs), "backend": backend,
                             "optimize": optimize, "fast_math": fast_math, "input_order": input_order,
                             "line_numbers": line_numbers}, parsed, graph, rewrites, {}, device)

    @classmethod
    def _from_graphs(cls, source: str, options: dict, parsed: Graph, graph: Graph, rewrites: list,
                     params: dict | None = None, device=None) -> "Program":
        """A program of graphs already made (symexpr.load), not parsed again; `params` binds inputs."""
        if options.get("backend", "auto") not in BACKENDS:
            raise SymExprError(f"backend must be one of {', '.join(BACKENDS)}, not {options.get('backend')!r}")
        self = cls.__new__(cls)
        self._setup(source, options, parsed, graph, rewrites, dict(params or {}), device)
        return self

    def _setup(self, source, options, parsed, graph, rewrites, params, device):
        self.source = source
        self.parsed: Graph = parsed
        self._options = {"outputs": options.get("outputs"), "backend": options.get("backend", "auto"),
                         "optimize": bool(options.get("optimize", True)),
                         "fast_math": bool(options.get("fast_math", False))}
        for key in ("input_order", "line_numbers"):  # a traced function's program (tracing/)
            if options.get(key) is not None:
                self._options[key] = list(options[key])
        self.optimized = self._options["optimize"]
        self.fast_math = self._options["fast_math"]
        self.graph, self.rewrites = graph, rewrites
        # Inputs bound to saved arrays (symexpr.load of a file saved with params=): not the caller's.
        self.params: dict[str, np.ndarray] = params
        self.inputs: tuple[str, ...] = tuple(n for n in self.graph.input_names if n not in params)
        # The inputs out of a call's keywords, in order (itemgetter: a third of the time of a loop).
        self._by_name = (operator.itemgetter(*self.inputs) if len(self.inputs) > 1 else
                         (lambda kwargs, name=self.inputs[0]: (kwargs[name],)) if self.inputs else None)
        self.outputs: tuple[str, ...] = self.graph.output_names
        self._all_inputs = frozenset(self.parsed.input_names)
        self._engine = self._make_engine(self._options["backend"], device)
        self._fast: dict[tuple, object] = {}  # (dtype, shape) of each input -> the engine's fast runner

    # -- backends ---------------------------------------------------------------------------
    def _make_engine(self, backend: str, device):
        from .backends.numpy import NumpyEngine

        numpy = NumpyEngine(self.graph, optimize=self.optimized, fast_math=self.fast_math)
        if backend == "numpy":
            return numpy
        if backend == "opencl":
            return self._opencl_engine(device)
        # auto: the OpenCL engine (importing pyopencl, a context: 100 ms or more) is made when a call
        # first needs it; a program whose calls stay small never pays for it.
        from .backends.auto import AutoEngine, low_latency_named

        def make():
            try:
                return self._opencl_engine(device)
            except SymExprError as err:
                _warn_fallback(err.message)
                return None

        def make_basic():  # (where POCL_DEVICES names the low-latency device; none: small calls stay on NumPy)
            try:
                from .backends.opencl.runtime import low_latency_queue
                queue = low_latency_queue()
                if queue is None:
                    return None
                engine = self._opencl_engine(queue)
            except (ImportError, SymExprError):
                return None
            engine.name = "opencl-basic"
            return engine
        return AutoEngine(make, numpy, options={"optimize": self.optimized, "fast_math": self.fast_math},
                          device_given=device is not None,
                          make_basic=make_basic if device is None and low_latency_named() else None)

    def _opencl_engine(self, device):
        try:
            from .backends.opencl import OpenCLEngine
        except ImportError as err:
            raise SymExprError(f"the OpenCL backend is not available: {err}") from None
        return OpenCLEngine(self.graph, device=device, optimize=self.optimized, fast_math=self.fast_math)

    @property
    def backend(self) -> str:
        """The engine that runs this program: "numpy", or "opencl" (also for backend="auto" where an
        OpenCL device exists; asking makes sure it does)."""
        return self._engine.name

    @property
    def kernel_source(self) -> str | None:
        """The OpenCL C source of the fused kernel (opencl backend), else None."""
        return getattr(self._engine, "kernel_source", None)

    # -- calling ----------------------------------------------------------------------------
    def bind(self, args: tuple, kwargs: dict) -> dict[str, object]:
        """Arguments -> {input name: value}, as the call would bind them.

        One positional table (a mapping, a DataFrame, a structured array, an .npz or its path) gives
        the inputs it has a column for; keywords give the rest, or override a column."""
        if args and isinstance(args[0], str) and args[0].lower().endswith(".npz"):
            args = (load_path(args[0]), *args[1:])
        args = tuple(load_path(a, n) if is_path(a) else a
                     for a, n in zip(args, self.inputs)) + args[len(self.inputs):]
        kwargs = {n: load_path(v, n) if is_path(v) else v for n, v in kwargs.items()}
        if len(args) == 1 and is_table(args[0]) and not (
                len(self.inputs) == 1 and isinstance(args[0], np.ndarray) and args[0].dtype.names is None):
            table = args[0]
            self._check_names(kwargs)
            bound = {}
            for name in self.inputs:
                if name in kwargs:
                    bound[name] = kwargs[name]
                    continue
                value = column(table, name)
                if value is MISSING:
                    raise CallError(f"missing input `{name}`: the table given has no such column and no "
                                    f"keyword gives it" + self._where_read(name))
                bound[name] = value
            bound.update(self.params)
            return bound
        if len(args) > len(self.inputs):
            raise CallError(f"too many positional arguments: the program takes {len(self.inputs)} "
                            f"({', '.join(self.inputs) or 'none'}), got {len(args)}")
        bound = dict(zip(self.inputs, args))
        self._check_names(kwargs)
        for name, value in kwargs.items():
            if name in bound:
                raise CallError(f"input `{name}` given twice, by position and by name")
            if name in self.inputs:
                bound[name] = value
        for name in self.inputs:
            if name not in bound:
                raise CallError(f"missing input `{name}`{self._where_read(name)}")
        bound.update(self.params)
        return bound

    def _check_names(self, kwargs: dict) -> None:
        for name in kwargs:
            if name in self.params:
                raise CallError(f"input `{name}` is bound to the parameters saved with the program; "
                                f"the inputs are {', '.join(self.inputs) or 'none'}")
            if name not in self._all_inputs:
                import difflib  # (only for an error)

                close = difflib.get_close_matches(name, list(self._all_inputs), n=1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                raise CallError(f"unknown input `{name}`: the inputs are {', '.join(self.inputs) or 'none'}{hint}")

    def _where_read(self, name: str) -> str:
        for node in self.graph.inputs:
            if node.input_name == name and node.statement is not None:
                text = " ".join(node.statement.text(self.source).split())
                return f" (read on line {node.statement.line}, `{text}`)"
        return ""

    def convert(self, bound: dict[str, object]) -> dict[str, object]:
        """Values as the engines take them: weak Python scalars, NumPy arrays, or device arrays."""
        values = {}
        for name, value in bound.items():
            try:
                if is_weak_value(value):
                    if type(value) is int and not INT64[0] <= value <= INT64[1]:
                        raise DTypeError(f"input `{name}` = {value} does not fit in int64")
                    values[name] = value
                    continue
                if self._engine.accepts(value):
                    values[name] = value
                    continue
                try:
                    arr = np.asarray(value)
                except Exception as err:  # noqa: BLE001 - anything np.asarray refuses
                    raise DTypeError(f"input `{name}`: cannot make an array of {type(value).__name__}: "
                                     f"{err}") from None
                if not arr.dtype.isnative:
                    # Big-endian data (FITS, network formats): NumPy computes on it natively, and so do we.
                    arr = arr.astype(arr.dtype.newbyteorder("="))
                check_dtype(name, arr.dtype)
                values[name] = arr
            except DTypeError as err:
                # Name the statement that reads the input, and carry its line.
                statement = next((n.statement for n in self.graph.inputs if n.input_name == name), None)
                hint = "; a path to data must name an .npz file (a table) or an .npy file" if isinstance(value, str) else ""
                raise DTypeError(err.message + hint + self._where_read(name), statement=statement) from None
        return values

    def __call__(self, /, *args, **kwargs):
        # `self` is positional-only so that an input named `self` can be passed by keyword.
        out = None
        if "out" in kwargs and "out" not in self._all_inputs:
            kwargs = dict(kwargs)
            out = kwargs.pop("out")
        if self.params:  # bound inputs: the general path, which adds them
            return self.run(self.bind(args, kwargs), out=out)
        # The fast path: every input a NumPy array, a signature (dtypes and shapes) seen before.
        by_name = kwargs
        if kwargs and not args and len(kwargs) == len(self.inputs):
            try:
                args = self._by_name(kwargs)
            except KeyError:
                args = None
            else:
                kwargs = {}
        if not kwargs and args is not None and len(args) == len(self.inputs):
            key = []
            for a in args:
                if type(a) is not _ndarray:
                    break
                key.append((a.dtype, a.shape))
            else:
                run = self._fast.get(tuple(key))
                if run is not None:
                    results = run(args, out)
                    if results is not None:
                        return results[0] if len(results) == 1 else Results(self.outputs, results)
                elif args:
                    return self._run_and_learn(tuple(key), args, by_name, out)
        if by_name and not kwargs:
            args, kwargs = (), by_name  # by name as given: one argument is never taken for a table
        return self.run(self.bind(args or (), kwargs), out=out)

    def assign(self, table, /, **kwargs):
        """The table with the outputs as new columns (or replacing columns of the same name), as
        `df.assign` and `df.eval("e = ...")` do: a DataFrame keeps its index, a mapping becomes a new
        dict. The inputs are bound as `prog(table, **kwargs)` binds them."""
        results = self(table, **kwargs)
        named = dict(zip(self.outputs, (results,) if len(self.outputs) == 1 else results))
        if hasattr(table, "assign") and hasattr(table, "index"):
            import pandas as pd

            columns = {}
            for name, value in named.items():
                value = np.asarray(value)
                if value.ndim == 0:
                    columns[name] = value[()]
                elif value.shape == (len(table.index),):
                    columns[name] = pd.Series(value, index=table.index, copy=False)
                else:
                    raise ShapeError(f"assign: output `{name}` has shape {value.shape}, not a column of "
                                     f"the table's {len(table.index)} rows")
            return table.assign(**columns)
        if isinstance(table, Mapping):
            return {**table, **named}
        raise CallError(f"assign() takes a pandas DataFrame or a mapping, not {type(table).__name__}")

    def _run_and_learn(self, key: tuple, args: tuple, by_name: dict, out):
        """A call on NumPy arrays of a signature not seen before: the general path, then the fast
        runner for the next calls of the signature (native, supported dtypes only)."""
        values = self.convert(self.bind((), by_name) if by_name else self.bind(args, {}))
        results = self.run(values, out)
        if all(values[n] is a for n, a in zip(self.inputs, args)):
            runner = getattr(self._engine, "fast_runner", lambda values: None)(values)
            if runner is not None:
                if len(self._fast) >= 256:
                    self._fast.clear()
                self._fast[key] = runner
        return results

    def run(self, inputs: Mapping[str, object], out=None):
        """Run on a mapping of inputs; `out=` an array, or a tuple/mapping of arrays, to write results into."""
        if not isinstance(inputs, Mapping):
            if not is_table(inputs) and not is_path(inputs):
                raise CallError(f"run() takes the inputs by name, as a mapping or a table, "
                                f"not {type(inputs).__name__}")
            inputs = self.bind((inputs,), {})
        if set(inputs) != set(self.inputs) | set(self.params):
            inputs = self.bind((), {k: v for k, v in inputs.items()})
        if any(is_dask(v) for v in inputs.values()):
            from .dask import run as run_on_dask  # Dask arrays in: Dask arrays out (symexpr/dask/)
            return run_on_dask(self, dict(inputs), out)
        results = self._engine.run(self.convert(dict(inputs)), out)
        if len(self.outputs) == 1:
            return results[0]
        return Results(self.outputs, results)

    # -- seeing it --------------------------------------------------------------------------
    def warm_up(self, /, *args, timeout: float | None = None, **inputs) -> str:
        """Get this call signature (the inputs' dtypes and shapes) ready: run the program once, wait
        for kernels being built in the background (backend="auto"; at most `timeout` seconds), and
        run it again so that the engine is chosen. Returns the engine that will run such calls
        ("numpy" or "opencl"). For benchmarks, services and tests that want steady calls at once;
        calling the program does the same over its first calls without waiting."""
        values = self.convert(self.bind(args, inputs))
        self.run(values)
        wait = getattr(self._engine, "wait", None)
        if wait is not None and wait(values, timeout):
            self.run(values)
        engine_for = getattr(self._engine, "engine_for", None)
        return engine_for(values) if engine_for is not None else self._engine.name

    def explain(self, /, *args, **inputs) -> str:
        """The graph before and after optimization and the rewrites, one line each; given inputs
        (arrays, or anything with .dtype and .shape), also that signature's rewrites and memory plan."""
        lines = ["# as written", render_graph(self.parsed), ""]
        if self.optimized:
            lines += ["# rewrites"]
            lines += [f"line {r.line}: {r.message}" if r.line else r.message for r in self.rewrites] or ["(none)"]
            lines += ["", "# optimized", render_graph(self.graph)]
        if args or inputs:
            sig = self._signature(args, inputs)
            what = ", ".join(f"{n}: {k}{list(sig.shapes[node]) if sig.shapes[node] else ''}"
                             for n, node, k in ((n.input_name, n, sig.kinds[n]) for n in sig.graph.inputs))
            lines += ["", f"# for {what or 'no inputs'}"]
            describe = getattr(self._engine, "describe", None)
            if describe is not None:
                lines += [f"engine: {describe(self.bind(args, inputs))}"]
            if self.optimized:
                lines += [f"line {r.line}: {r.message}" if r.line else r.message for r in sig.rewrites] or ["(no rewrites)"]
                if sig.graph is not self.graph:
                    lines += ["", "# specialized", render_graph(sig.graph)]
                lines += ["", "# memory plan", str(sig.plan)]
            bound = self.bind(args, inputs)
            if any(is_dask(v) for v in bound.values()):
                from .dask import explain as explain_dask
                lines += [""] + explain_dask(self, bound)
            kernel_plan = getattr(self._engine, "kernel_plan", None)
            if kernel_plan is not None:
                lines += ["", "# kernels (the OpenCL engine)"] + kernel_plan(self._spec_values(args, inputs))
            else:
                lines += [f"optimize=False: every value kept to the end, {sig.plan.peak_bytes_unplanned} bytes "
                          f"of intermediates (planned: {sig.plan.peak_bytes})"]
        return "\n".join(lines)

    def memory_plan(self, /, *args, **inputs):
        """The `MemoryPlan` (buffers, lifetimes, peak bytes) for these inputs' dtypes and shapes."""
        return self._signature(args, inputs).plan

    def specialized(self, /, *args, **inputs) -> tuple[Graph, list[Rewrite]]:
        """The graph specialized for these inputs' dtypes, and the per-signature rewrites."""
        sig = self._signature(args, inputs)
        return sig.graph, sig.rewrites

    def _signature(self, args: tuple, inputs: dict):
        """The NumPy engine's `Signature` for these values (only their dtypes and shapes are read)."""
        from .backends.numpy import NumpyEngine

        values = self._spec_values(args, inputs)
        planner = self.__dict__.get("_planner")
        if planner is None:
            planner = self._engine if isinstance(self._engine, NumpyEngine) else NumpyEngine(
                self.graph, optimize=self.optimized, fast_math=self.fast_math)
            self.__dict__["_planner"] = planner
        return planner.signature(values)

    def _spec_values(self, args: tuple, inputs: dict) -> dict:
        """Values for these arguments as a call converts them, specs (.dtype and .shape) as zero-strided views."""
        bound = self.bind(args, inputs)
        # A spec (anything with .dtype and .shape that is not an array) is taken as it is; data is
        # converted as a call converts it (checks, native byte order).
        specs = {n: v for n, v in bound.items() if not isinstance(v, np.ndarray) and not is_weak_value(v)
                 and hasattr(v, "dtype") and hasattr(v, "shape")}
        values = self.convert({n: v for n, v in bound.items() if n not in specs})
        # A zero-strided view stands for it: its dtype and shape, no memory.
        for n, v in specs.items():
            try:
                shape = tuple(int(d) for d in v.shape)
                if any(d < 0 for d in shape):
                    raise ValueError("negative dimensions are not allowed")
                values[n] = np.broadcast_to(np.zeros((), v.dtype), shape)
            except (TypeError, ValueError, OverflowError) as err:
                raise ShapeError(f"input `{n}`: the shape {tuple(v.shape)!r} is not an array's shape ({err})"
                                 + self._where_read(n)) from None
        return values

    def __reduce__(self):
        # A program pickles (and deep-copies) as its source and options: compiled again on load,
        # on that process's device. A device= given at compile time is not kept.
        if self.params:
            return (_rebuild, (self.source, self._options, self.params))
        return (_rebuild, (self.source, self._options))

    # -- ways out of Python (symexpr/export/) -----------------------------------------------
    def save(self, path, params=None) -> None:
        """Write the program to `path` as JSON (see README, "Saving programs"); `params`, a mapping
        of input name -> array, binds those inputs to arrays saved beside it (an .npz): the program
        `symexpr.load` gives back takes only the other inputs."""
        from .export.json_format import save
        save(self, path, params)

    def to_c(self, directory, /, **signature) -> dict:
        """Write a self-contained C99 export for one call signature (`a="float32[n]"`, or an array):
        the program's .c and .h, a main.c reading and writing .npy files, and a Makefile. Returns
        the paths written, by role. `name="..."` names the files and the C function (default
        program) unless the program has an input called `name`."""
        from .export.c_export import export_c
        return export_c(self, directory, signature)

    def to_onnx(self, path, /, **signature):
        """Write an ONNX model of the program for one call signature (`a="float32[n]"`, or an array);
        returns the onnx.ModelProto."""
        from .export.onnx_export import export_onnx
        return export_onnx(self, path, signature)

    def __repr__(self) -> str:
        return (f"<symexpr.Program ({', '.join(self.inputs)}) -> ({', '.join(self.outputs)}) "
                f"backend={self.backend}, {len(self.graph.nodes)} nodes>")

    # -- pictures and debugging (symexpr/dot.py, symexpr/debug.py) -------------------------
    def to_dot(self, show_removed: bool = False) -> str:
        """Graphviz DOT text of the graph; `show_removed=True` adds the pruned nodes, greyed."""
        from .dot import render_dot
        return render_dot(self.graph, self.parsed if show_removed else None, rewrites=self.rewrites)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter: an SVG picture when Graphviz `dot` is installed, else an HTML table."""
        from .dot import mimebundle
        return mimebundle(self)

    def debug(self, /, *args, **kwargs):
        """Every named intermediate by the NumPy engine, checked against this program's backend."""
        from .debug import debug
        return debug(self, args, kwargs)


def _rebuild(source: str, options: dict, params: dict | None = None) -> "Program":
    if params:
        prog = Program(source, **options)
        return Program._from_graphs(source, options, prog.parsed, prog.graph, prog.rewrites, params)
    # A Dask worker unpickles a program once per task: a program of the same source and options
    # unpickled before in this process lends it its compiled engine (kernels, engine choices; an
    # engine may be called from many threads), so that only the first one builds anything.
    key = (source, repr(sorted(options.items())))
    twin = _UNPICKLED.get(key)
    if twin is None:
        twin = _UNPICKLED[key] = Program(source, **options)
        if len(_UNPICKLED) > 64:
            _UNPICKLED.pop(next(iter(_UNPICKLED)))
    prog = object.__new__(Program)
    prog.__dict__.update(twin.__dict__)
    prog._fast = {}
    return prog


_UNPICKLED: dict[tuple, Program] = {}


_warned = False


def _warn_fallback(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"symexpr: no OpenCL device ({reason}); using the NumPy engine", RuntimeWarning, stacklevel=4)


def compile(source: str, *, outputs=None, backend: str = "auto", optimize: bool = True, device=None,
            fast_math: bool = False) -> Program:
    """Compile a program once; call the result with data."""
    return Program(source, outputs=outputs, backend=backend, optimize=optimize, device=device, fast_math=fast_math)

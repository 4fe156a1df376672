"""Programs on Dask arrays: Dask plans, ships and retries; symexpr computes each chunk as one fused kernel.

A call with a Dask array among its inputs (`prog(a=darr, b=np_array_or_scalar)`) returns Dask
arrays, one per output, lazily. The program's graph is cut into *stages* at its reductions and
products:

- an element-wise stage (element-wise and row-wise work) is one `dask.array.blockwise` layer:
  ONE task per output chunk runs the stage as one program on that chunk of every input, and the
  stage's outputs of one shape come from that one call (Dask's `getitem` picks each out);
- a reduction (`sum`, `mean`, `var`, ... of an expression) is a blockwise layer whose task runs the
  expression *and* the reduction of its chunk as one program (the partial: a sum, a maximum, a
  count with a mean and squared deviations, ...), then `dask.array.reduction` combines the
  partials in a tree (sums of sums, maxima of maxima, Chan's merge of counts, means and M2);
- what reads a reduction's result is a later stage, which takes the reduced Dask array as an input.

Each stage's program is rendered back to symexpr source (`_render`), so a task carries a few
strings, not a compiled program: each worker process compiles a stage once (`stage_program`, a
cache per process; the OpenCL binaries come from the disk cache) and reuses it for every chunk.

Chunks are aligned as Dask aligns them (`unify_chunks`, through blockwise); NumPy arrays become
one-chunk Dask arrays and are aligned too; Python scalars stay weak constants of the stage (NumPy's
promotion rules hold as they do on NumPy data). Row-wise ops (softmax) need their axis in one
chunk: a `ShapeError` naming the line, or a rechunk with `apply(prog, ..., allow_rechunk=True)`.
A matrix product (a transpose, a new axis) is Dask's own blocked `da.matmul` (`da.transpose`,
`da.expand_dims`) of operands computed by element-wise stages; the work after it (a bias, an
activation) is a later stage. Any other kind of op (gradients) is a `SymExprError` naming the line.
"""
from __future__ import annotations

import math
import operator
import threading
from dataclasses import dataclass, field

import numpy as np
import dask.array as da

from .errors import CallError, EvaluationError, ShapeError, SymExprError
from .graph import Graph, Node, statement_text, topological
from .infer import infer_kinds, infer_shapes, is_weak_value, kind_of_value
from .ops import OPS
from .program import _is_dask as is_dask_array
from .shapes import reduced_axes

__all__ = ["apply", "explain", "is_dask_array", "stage_program", "stage_programs"]

# The partial each reduction computes per chunk, and how partials combine (`_combine`).
_SAME = frozenset(("sum", "prod", "max", "min", "any", "all", "logsumexp"))
_MOMENTS = frozenset(("mean", "var", "std"))
_ARG = frozenset(("argmax", "argmin"))
_NO_IDENTITY = frozenset(("max", "min", "logsumexp"))  # refuse an empty operand, as NumPy does
# Ops Dask computes itself, on the Dask arrays of their operands (the stage before computes those).
_DASK_OPS = {
    "matmul": da.matmul,
    "transpose": lambda x, axes=None: da.transpose(x, axes),
    "expand_dims": lambda x, axis=0: da.expand_dims(x, axis),
}


# -- the program as stages -------------------------------------------------------------------
@dataclass
class Stage:
    """One layer of the task graph: a program over some inputs, run on each chunk.

    kind:     "elementwise" (a blockwise layer) or the reduction's op name (a blockwise partial,
              then dask.array.reduction).
    source:   the stage as symexpr source; its outputs are `_o0, _o1, ...`.
    inputs:   the names it reads, in the order its tasks receive them.
    outputs:  the graph's values it gives (for a reduction: the reduction node).
    ndim:     the number of dimensions of its blockwise index (its largest value's).
    node:     a reduction stage's reduction node.
    """

    kind: str
    source: str
    inputs: tuple[str, ...]
    outputs: tuple[Node, ...]
    ndim: int
    node: Node | None = None
    rowwise_axes: dict = field(default_factory=dict)  # blockwise dimension -> the row-wise node needing it whole
    origins: tuple = ()  # per line of `source`: the user's statement (text, span) it computes

    @property
    def partials(self) -> int:
        """A reduction stage's partial results per chunk (its first results)."""
        return 0 if self.kind == "elementwise" else 2 if self.kind in ("var", "std") else 1

    @property
    def results(self) -> int:
        """How many results (`_o0, _o1, ...`) its program gives per chunk: a reduction stage's
        partials, then the outputs it gives beside them."""
        return len(self.outputs) if self.kind == "elementwise" else self.partials + len(self.outputs) - 1


def _literal(value) -> str:
    """A constant as symexpr source: weak Python scalars as literals, NumPy scalars through their cast."""
    if type(value) is bool:
        return repr(value)
    if type(value) in (int, float):
        if value != value:
            return "nan"
        if value in (math.inf, -math.inf):
            return "inf" if value > 0 else "(-inf)"
        if value < 0 or (value == 0 and math.copysign(1.0, value) < 0):
            return f"(-{_literal(-value)})"
        return repr(value)
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise SymExprError("a constant array cannot be written as symexpr source")
    scalar = arr.item()
    return f"{arr.dtype.name}({_literal(bool(scalar) if arr.dtype.kind == 'b' else scalar)})"


def _expression(node: Node, names: dict[Node, str]) -> str:
    args = [names[i] if i in names else _literal(i.value) for i in node.inputs]
    op = OPS[node.op]
    if op.symbol is not None and op.kind == "elementwise":
        if len(args) == 2:
            return f"({args[0]} {op.symbol} {args[1]})"
        return f"({op.symbol} {args[0]})" if op.symbol == "not" else f"({op.symbol}{args[0]})"
    args += [f"{k}={v!r}" for k, v in node.attrs]
    return f"{op.functions[0]}({', '.join(args)})"


def _name(node: Node, names: dict) -> str:
    return names[node] if node in names else _literal(node.value)


def _subgraph(roots, leaves) -> tuple[Node, ...]:
    """Nodes that `roots` need, stopping at `leaves` (which are included)."""
    order, seen, stack = [], set(), list(roots)
    keep = set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        keep.add(n)
        if n not in leaves:
            stack.extend(n.inputs)
    for n in topological(roots):  # topological order, restricted
        if n in keep:
            order.append(n)
    return tuple(order)


@dataclass
class Plan:
    """How a program maps onto Dask's task graph for one call's input kinds and shapes."""

    stages: list[Stage]
    results: dict[Node, str]      # each reduction node -> the name its result is read under
    kinds: dict
    shapes: dict
    graph: Graph


def plan(graph: Graph, kinds: dict, shapes: dict) -> Plan:
    """Cut the graph into stages: one per reduction (innermost first), then element-wise stages
    giving the outputs, one per output shape."""
    node_kinds = infer_kinds(graph, kinds)
    node_shapes = infer_shapes(graph, shapes)
    leaves: dict[Node, str] = {n: n.input_name for n in graph.inputs}
    taken = set(graph.input_names)
    stages: list[Stage] = []
    results: dict[Node, str] = {}

    def computed_as(node: Node) -> None:
        results[node] = leaves[node] = _fresh(f"_r{len(results)}", taken)

    outputs = {n for _, n in graph.outputs}
    for node in graph.nodes:  # topological: what a reduction or product reads comes first
        kind = OPS[node.op].kind if node.op in OPS else None
        if kind == "reduction":
            operand = node.inputs[0]
            shape = node_shapes[operand]
            # Outputs of the operand's shape that its stage computes anyway (`z` of `mean(z)`): the
            # same program call on the chunk gives them beside the partial.
            along = [x for x in _subgraph([operand], leaves)
                     if x in outputs and x not in leaves and node_shapes[x] == shape]
            stages.append(_reduction_stage(graph, node, operand, leaves, len(shape), node_kinds, node_shapes,
                                           along))
            for x in (node, *along):
                computed_as(x)
        elif node.op in _DASK_OPS:
            # Dask's own blocked product (NumPy's on each pair of blocks), transpose or new axis, of
            # operands computed by an element-wise stage each; what reads the result is a later
            # stage (a product's epilogue, fused there).
            for x in node.inputs:
                if x not in leaves:
                    stages.append(_elementwise_stage(graph, [x], leaves, len(node_shapes[x]), node_shapes))
                    computed_as(x)
            stages.append(Stage(node.op, "", tuple(leaves[x] for x in node.inputs), (node,),
                                len(node_shapes[node]), node=node))
            computed_as(node)
        elif kind not in (None, "elementwise", "rowwise"):
            # Run chunk by chunk, anything else would be wrong: say so, before any task is made.
            what = "gradients" if kind == "gradient" else f"`{node.op}`"
            raise SymExprError(f"{statement_text(graph.source, node)}: {what} on Dask arrays are not supported "
                               f"yet; compute on NumPy arrays, or with dask.array", statement=node.statement)
    # The outputs: grouped by shape, each group one element-wise stage.
    groups: dict[tuple, list[Node]] = {}
    for _, node in graph.outputs:
        if node in results:
            continue  # a reduction's result is itself an output: its Dask array as it is
        groups.setdefault(node_shapes[node], [])
        if node not in groups[node_shapes[node]]:
            groups[node_shapes[node]].append(node)
    for shape, nodes in groups.items():
        stages.append(_elementwise_stage(graph, nodes, leaves, len(shape), node_shapes))
    return Plan(stages, results, node_kinds, node_shapes, graph)


def _fresh(name: str, taken: set) -> str:
    while name in taken:
        name = "_" + name
    taken.add(name)
    return name


def _rowwise_axes(nodes, shapes: dict, ndim: int) -> dict:
    """blockwise dimension -> the row-wise node that needs it in one chunk."""
    need = {}
    for node in nodes:
        if node.op in OPS and OPS[node.op].kind == "rowwise":
            shape = shapes[node.inputs[0]]
            for d in reduced_axes(shape, dict(node.attrs).get("axis")):
                need.setdefault(ndim - len(shape) + d, node)
    return need


def _stage_inputs(nodes, leaves) -> tuple[str, ...]:
    return tuple(dict.fromkeys(leaves[n] for n in nodes if n in leaves))


def _elementwise_stage(graph, outputs, leaves, ndim, shapes) -> Stage:
    nodes = _subgraph(outputs, leaves)
    names = {}
    source, origins = _render(nodes, leaves, names, [f"_o{k}" for k in range(len(outputs))], outputs)
    return Stage("elementwise", source, _stage_inputs(nodes, leaves), tuple(outputs), ndim,
                 rowwise_axes=_rowwise_axes(nodes, shapes, ndim), origins=_origins(graph, origins))


def _render(nodes, leaves, names, result_names, result_nodes, extra=(), extra_node=None) -> tuple[str, tuple]:
    """The stage as symexpr source: one statement per value, named after the user's variable where
    it has one (`_t<k>` where not), then the results `_o<k>`; `extra` lines may read `{0}`...
    Also, for each line, the user's statement it computes (`origins`: text and span), so that an
    error a task meets names the user's line, not the stage's."""
    names.update(leaves)
    taken = set(leaves.values())
    lines, origins = [], []
    for node in nodes:
        if node in names or node.op == "constant":
            continue
        if node.name and node.name not in taken and not node.name.startswith("_"):
            name = node.name
            taken.add(name)
        else:
            name = _fresh(f"_t{len(lines)}", taken)
        names[node] = name
        lines.append(f"{name} = {_expression(node, names)}")
        origins.append(node)
    lines += [f"{r} = {_name(n, names)}" for r, n in zip(result_names, result_nodes)]
    origins += result_nodes[:len(result_names)]
    lines += [line.format(*(_name(n, names) for n in result_nodes)) for line in extra]
    origins += [extra_node] * len(extra)
    return "\n".join(lines), tuple(origins)


def _origins(graph: Graph, nodes) -> tuple:
    return tuple((statement_text(graph.source, n), n.statement) for n in nodes)


def _reduction_stage(graph, node, operand, leaves, ndim, kinds, shapes, along=()) -> Stage:
    nodes = _subgraph([operand], leaves)
    names: dict = {}
    axes = reduced_axes(shapes[operand], dict(node.attrs).get("axis"))
    ax = repr(axes)
    if node.op in _SAME:
        extra = [f"_o0 = {node.op}({{0}}, axis={ax}, keepdims=True)"]
    elif node.op in _MOMENTS:
        # In the operand's float dtype, as NumPy's mean and var compute (ints and bools in float64);
        # the partials are merged in float64.
        x = "{0}" if kinds[operand].dtype.kind == "f" else "float64({0})"
        extra = ([f"_o0 = sum({x}, axis={ax}, keepdims=True)"] if node.op == "mean" else
                 [f"_o0 = mean({x}, axis={ax}, keepdims=True)",
                  f"_o1 = sum(square({x} - _o0), axis={ax}, keepdims=True)"])
    else:  # argmax, argmin: the operand itself, reduced by dask.array's own arg reduction
        extra = ["_o0 = {0}"]
    source, origins = _render(nodes, leaves, names, [], [operand], extra, extra_node=node)
    more = [f"_o{len(extra) + k} = {_name(x, names)}" for k, x in enumerate(along)]
    return Stage(node.op, "\n".join([source, *more]), _stage_inputs(nodes, leaves), (node, *along), ndim,
                 node=node, rowwise_axes=_rowwise_axes(nodes, shapes, ndim),
                 origins=_origins(graph, (*origins, *along)))


# -- the worker's side -----------------------------------------------------------------------
_PROGRAMS: dict[tuple, object] = {}
_PROGRAMS_LOCK = threading.Lock()
_MAX_PROGRAMS = 256


def stage_program(source: str, options: tuple, outputs: int):
    """The compiled program of a stage, once per process (a task runs it on every chunk it gets)."""
    key = (source, options, outputs)
    prog = _PROGRAMS.get(key)
    if prog is None:
        from .program import Program

        with _PROGRAMS_LOCK:
            prog = _PROGRAMS.get(key)
            if prog is None:
                prog = Program(source, outputs=[f"_o{k}" for k in range(outputs)], **dict(options))
                if len(_PROGRAMS) >= _MAX_PROGRAMS:  # a long-lived worker running many programs
                    _PROGRAMS.pop(next(iter(_PROGRAMS)))
                _PROGRAMS[key] = prog
    return prog


class ChunkTask:
    """A stage on one chunk of each of its inputs: pickles as a few strings and constants."""

    def __init__(self, stage: Stage, options: tuple, constants: dict):
        self.source, self.options, self.inputs = stage.source, options, stage.inputs
        self.constants, self.outputs, self.origins = constants, stage.results, stage.origins

    def results(self, *chunks) -> tuple:
        values = dict(self.constants)
        values.update(zip([n for n in self.inputs if n not in self.constants], chunks))
        prog = stage_program(self.source, self.options, self.outputs)
        try:
            results = prog.run(values)
        except SymExprError as err:
            raise self._at_user_line(err) from None
        return tuple(np.asarray(r) for r in (results if self.outputs > 1 else (results,)))

    def _at_user_line(self, err: SymExprError) -> SymExprError:
        """An error on a line of the stage's source, told at the user's statement it computes."""
        if err.line is None or not 0 < err.line <= len(self.origins):
            return err
        text, statement = self.origins[err.line - 1]
        line = " ".join(self.source.splitlines()[err.line - 1].split())
        message = err.message.removeprefix(f"line {err.line}, `{line}`: ")
        try:
            return type(err)(f"{text}: {message}", statement=statement)
        except TypeError:  # an error class of another signature: as it was
            return err

    def __call__(self, *chunks):
        """One result: the chunk; several: a tuple of them (Dask's getitem picks each out)."""
        results = self.results(*chunks)
        return results if self.outputs > 1 else results[0]


class _PartialTask(ChunkTask):
    """A reduction stage on one chunk: its partial, as one array (a structured one for moments)."""

    def __init__(self, stage: Stage, options: tuple, constants: dict, *, op: str, axes: tuple, dtypes: tuple):
        super().__init__(stage, options, constants)
        self.op, self.axes, self.ndim, self.partials = op, axes, stage.ndim, stage.partials
        self.dtypes = dtypes  # of the partial (or operand), then of the outputs given beside it

    def __call__(self, *chunks):
        """The partial; with the outputs given beside it, a tuple (partial, output, ...)."""
        shape = np.broadcast_shapes(*(np.shape(c) for c in chunks)) if chunks else ()
        shape = (1,) * (self.ndim - len(shape)) + tuple(shape)
        if self.op in _NO_IDENTITY and any(shape[d] == 0 for d in self.axes):
            # An empty chunk (slicing makes them) has no maximum: an empty partial, which the
            # combine's concatenation drops, as Dask's own max does.
            part = tuple(0 if n == 0 else 1 if d in self.axes else n for d, n in enumerate(shape))
            parts = (np.empty(shape if self.op in _ARG else part, self.dtypes[0]),
                     *(np.empty(shape, dt) for dt in self.dtypes[1:]))
            return parts if len(parts) > 1 else parts[0]
        parts = self.results(*chunks)
        partial = self._partial(parts[:self.partials], shape)
        return (partial, *parts[self.partials:]) if len(parts) > self.partials else partial

    def _partial(self, parts, shape):
        if self.op in _SAME or self.op in _ARG:
            return parts[0]
        count = math.prod(shape[d] for d in self.axes)
        out = np.empty(np.shape(parts[0]), _MOMENT_DTYPES[self.op])
        out["n"] = count
        if self.op == "mean":
            out["t"] = parts[0]
        else:
            out["m"], out["M2"] = parts[0], parts[1]
        return out


_MEAN = np.dtype([("n", "f8"), ("t", "f8")])
_VAR = np.dtype([("n", "f8"), ("m", "f8"), ("M2", "f8")])
_MOMENT_DTYPES = {"mean": _MEAN, "var": _VAR, "std": _VAR}


def _keep(x, axis=None, keepdims=True, dtype=None, computing_meta=False):
    # The partials are made by the stage's blockwise layer (which Dask fuses with this one); only
    # Dask's meta inference sees anything else here, and is told the result's dtype.
    return np.empty((0,) * x.ndim, dtype) if computing_meta else x


def _combine(x, axis=None, keepdims=True, op="sum", where=None):
    """Partials concatenated along `axis` -> one partial (keepdims). `where`: the reduction's
    statement (text and span), for NumPy's refusal (the maximum of nothing) at the user's line."""
    with np.errstate(all="ignore"):  # NaN and inf follow NumPy's values; a task has nobody to warn
        try:
            return _combine_partials(x, axis, op)
        except ValueError as err:
            if where is None:
                raise
            raise EvaluationError(f"{where[0]}: {err}", statement=where[1]) from None


def _combine_partials(x, axis, op):
    if op in _SAME:  # sums of sums, maxima of maxima, logsumexp of logsumexps, ...
        return OPS[op].numpy(x, axis=axis, keepdims=True)
    n = np.sum(x["n"], axis=axis, keepdims=True)
    out = np.empty(n.shape, x.dtype)
    out["n"] = n
    if op == "mean":
        out["t"] = np.sum(x["t"], axis=axis, keepdims=True)
        return out
    # Chan et al.: the merged mean, and M2 as the parts' M2 plus their counts' squared distance
    # from it. Parts of no elements (empty chunks) take no part.
    some = x["n"] > 0
    mean = np.sum(np.where(some, x["n"] * x["m"], 0), axis=axis, keepdims=True) / n
    dev = np.where(some, x["m"] - mean, 0)
    out["m"] = mean
    out["M2"] = (np.sum(np.where(some, x["M2"], 0), axis=axis, keepdims=True)
                 + np.sum(x["n"] * dev * dev, axis=axis, keepdims=True))
    return out


def _aggregate(x, axis=None, keepdims=False, op="sum", dtype=None, ddof=0, where=None):
    part = _combine(x, axis=axis, op=op, where=where)
    with np.errstate(invalid="ignore", divide="ignore"):
        if op in _SAME:
            value = part
        elif op == "mean":
            value = part["t"] / part["n"]
        else:
            value = part["M2"] / np.maximum(part["n"] - ddof, 0)
            if op == "std":
                value = np.sqrt(value)
    value = np.asarray(value).astype(dtype, copy=False)
    return value if keepdims else np.squeeze(value, axis=axis)


# -- the client's side -----------------------------------------------------------------------
def _options(prog) -> tuple:
    opts = dict(prog._options)
    opts.pop("outputs", None)
    return tuple(sorted(opts.items()))


def _as_dask(name, value):
    """Dask arrays as they are; NumPy data as a one-chunk Dask array (blockwise aligns it);
    weak Python scalars and NumPy 0-d values as constants of the stage."""
    if is_dask_array(value):
        return value
    if is_weak_value(value):
        return value
    arr = np.asarray(value)
    if arr.ndim == 0:
        return arr[()]
    return da.from_array(arr, chunks=arr.shape)


def apply(prog, /, *args, allow_rechunk: bool = False, **inputs):
    """`prog(...)` on Dask arrays, with options: `allow_rechunk=True` puts an axis a row-wise op
    (softmax) needs whole into one chunk, as `dask.array.apply_gufunc(..., allow_rechunk=True)`."""
    return run(prog, prog.bind(args, inputs), allow_rechunk=allow_rechunk)


def run(prog, bound: dict, out=None, *, allow_rechunk: bool = False):
    """The program on these inputs (some of them Dask arrays): Dask arrays, one per output."""
    if out is not None:
        raise CallError("out= is not taken with Dask inputs: the results are Dask arrays; "
                        "store them with dask.array.store or .to_zarr")
    values, the_plan = _plan_call(prog, bound)
    options = _options(prog)
    arrays = dict(values)
    computed: dict[Node, object] = {}
    for stage in the_plan.stages:
        _rechunk_rows(stage, arrays, the_plan, allow_rechunk)
        made = _run_stage(stage, arrays, the_plan, options)
        for node, arr in zip(stage.outputs, made):
            computed[node] = arr
            if node in the_plan.results:
                arrays[the_plan.results[node]] = arr
    results = tuple(computed[node] for _, node in prog.graph.outputs)
    if len(results) == 1:
        return results[0]
    from .program import Results
    return Results(prog.outputs, results)


def _plan_call(prog, bound: dict) -> tuple[dict, Plan]:
    """The call's values (Dask arrays and constants) and its plan, checked as a call on NumPy
    data of the same dtypes and shapes would be, before any task is made."""
    values = {n: _as_dask(n, v) for n, v in bound.items()}
    _check_known_shapes(prog, values)
    # Each Dask array stands as a zero-strided view of its dtype and shape: checked, no memory.
    spec = prog.convert({n: (np.broadcast_to(np.zeros((), v.dtype), v.shape) if is_dask_array(v) else v)
                         for n, v in values.items()})
    return values, plan(prog.graph, {n: kind_of_value(v) for n, v in spec.items()},
                        {n: np.shape(v) for n, v in spec.items()})


def _check_known_shapes(prog, values: dict) -> None:
    for name, v in values.items():
        if is_dask_array(v) and any(math.isnan(d) for d in v.shape):
            raise ShapeError(f"input `{name}` has unknown chunk sizes {v.shape}: call .compute_chunk_sizes() "
                             f"on it first" + prog._where_read(name))


def _index(arr, ndim: int) -> tuple:
    """The blockwise index of an operand of `arr.ndim` dimensions, right-aligned in `ndim`."""
    return tuple(range(ndim - arr.ndim, ndim))


def _rechunk_rows(stage: Stage, arrays: dict, the_plan: Plan, allow_rechunk: bool) -> None:
    """Row-wise ops need their axis in one chunk: rechunk it (when allowed), else say which line."""
    for dim, node in stage.rowwise_axes.items():
        for name in stage.inputs:
            arr = arrays[name]
            if not is_dask_array(arr) or arr.ndim < stage.ndim - dim:
                continue
            axis = arr.ndim - (stage.ndim - dim)
            if len(arr.chunks[axis]) > 1:
                if not allow_rechunk:
                    raise ShapeError(
                        f"{statement_text(the_plan.graph.source, node)}: `{node.op}` needs its axis whole in each "
                        f"chunk, and `{name}` has {len(arr.chunks[axis])} chunks along axis {axis} "
                        f"{arr.chunks[axis]}: rechunk it ({name}.rechunk({{{axis}: -1}})) or call "
                        f"symexpr.dask.apply(prog, ..., allow_rechunk=True)", statement=node.statement)
                arrays[name] = arr.rechunk({axis: -1})


def _run_stage(stage: Stage, arrays: dict, the_plan: Plan, options: tuple) -> list:
    constants = {n: arrays[n] for n in stage.inputs if not is_dask_array(arrays[n])}
    operands = [arrays[n] for n in stage.inputs if n not in constants]
    pairs = []
    for arr in operands:
        pairs += [arr, _index(arr, stage.ndim)]
    out_ind = tuple(range(stage.ndim))
    kinds = [the_plan.kinds[n] for n in stage.outputs]
    if stage.kind == "elementwise":
        return _elementwise(stage, pairs, out_ind, kinds, constants, options)
    if stage.kind in _DASK_OPS:
        return [_dask_op(stage, arrays, the_plan)]
    return _reduction(stage, pairs, out_ind, the_plan, constants, options)


def _dask_op(stage, arrays, the_plan):
    node = stage.node
    operands = [arrays[n] for n in stage.inputs]
    for name, x in zip(stage.inputs, operands):
        if not is_dask_array(x):
            raise SymExprError(f"{statement_text(the_plan.graph.source, node)}: `{node.op}` of a scalar "
                               f"(`{name}`)", statement=node.statement)
    result = _DASK_OPS[node.op](*operands, **dict(node.attrs))
    dtype = the_plan.kinds[node].dtype
    return result if result.dtype == dtype else result.astype(dtype)


def _meta(ndim: int, dtype) -> np.ndarray:
    return np.empty((0,) * ndim, dtype)


def _elementwise(stage, pairs, out_ind, kinds, constants, options) -> list:
    task = ChunkTask(stage, options, constants)
    if not pairs:  # only constants: one chunk
        return [da.from_array(v, chunks=-1) for v in task.results()]
    name = f"symexpr-{_token(stage.source, pairs, constants, options)}"
    if len(kinds) == 1:
        return [da.blockwise(task, out_ind, *pairs, name=name, meta=_meta(stage.ndim, kinds[0].dtype),
                             concatenate=True)]
    tuples = da.blockwise(task, out_ind, *pairs, name=name, meta=_meta(stage.ndim, object),
                          concatenate=True)
    return [tuples.map_blocks(operator.getitem, k, dtype=kind.dtype, meta=_meta(stage.ndim, kind.dtype),
                              name=f"{name}-{k}")
            for k, kind in enumerate(kinds)]


def _token(*parts) -> str:
    from dask.base import tokenize
    return tokenize(*parts)


def _reduction(stage, pairs, out_ind, the_plan, constants, options):
    node = stage.node
    kw = dict(node.attrs)
    operand_shape = the_plan.shapes[node.inputs[0]]
    axes = reduced_axes(operand_shape, kw.get("axis"))
    dtype = the_plan.kinds[node].dtype
    part_dtype = the_plan.kinds[node.inputs[0]].dtype if node.op in _ARG else _MOMENT_DTYPES.get(node.op, dtype)
    beside = [the_plan.kinds[x].dtype for x in stage.outputs[1:]]
    task = _PartialTask(stage, options, constants, op=node.op, axes=axes, dtypes=(part_dtype, *beside))
    if not pairs:
        raise SymExprError(f"{statement_text(the_plan.graph.source, node)}: a reduction of constants alone on Dask",
                           statement=node.statement)
    name = f"symexpr-{node.op}-{_token(stage.source, pairs, constants, options)}"
    part_chunks = None if node.op in _ARG else {d: 1 for d in axes}
    if not beside:
        partials = da.blockwise(task, out_ind, *pairs, name=name, concatenate=True,
                                adjust_chunks=part_chunks, meta=_meta(stage.ndim, part_dtype))
    else:  # (partial, output, ...) from each task: Dask's getitem picks each out
        tuples = da.blockwise(task, out_ind, *pairs, name=name, concatenate=True, meta=_meta(stage.ndim, object))
        chunks = tuple((1,) * len(c) if d in (part_chunks or ()) else c for d, c in enumerate(tuples.chunks))
        partials = tuples.map_blocks(operator.getitem, 0, chunks=chunks, meta=_meta(stage.ndim, part_dtype),
                                     name=f"{name}-partial")
        beside = [tuples.map_blocks(operator.getitem, k, meta=_meta(stage.ndim, dt), name=f"{name}-{k}")
                  for k, dt in enumerate(beside, 1)]
    return [_combine_partials_of(node, partials, axes, dtype, the_plan, name), *beside]


def _combine_partials_of(node, partials, axes, dtype, the_plan, name):
    """The reduction's result from its partials: dask.array.reduction's tree (or Dask's own arg
    reduction of the operand)."""
    kw = dict(node.attrs)
    if node.op in _ARG:
        reducer = da.argmax if node.op == "argmax" else da.argmin
        if any(0 in c for c in partials.chunks):  # Dask's arg reduction refuses empty chunks
            partials = partials.rechunk(tuple(tuple(n for n in c if n) or (0,) for c in partials.chunks))
        if kw.get("axis") is None and partials.ndim > 1:
            # Over every axis, Dask's arg reduction of a grid of blocks breaks ties (and picks among
            # NaNs) in block order, not in C order as NumPy does: flattened first, it agrees.
            flat = reducer(partials.reshape(-1), axis=0)
            return flat.reshape((1,) * partials.ndim) if kw.get("keepdims") else flat
        return reducer(partials, axis=kw.get("axis"), keepdims=kw.get("keepdims", False))
    from functools import partial

    where = (statement_text(the_plan.graph.source, node), node.statement)
    return da.reduction(partials, _keep, partial(_aggregate, op=node.op, dtype=dtype, ddof=kw.get("ddof", 0),
                                                 where=where),
                        axis=axes, keepdims=kw.get("keepdims", False), dtype=dtype,
                        combine=partial(_combine, op=node.op, where=where), concatenate=True,
                        meta=_meta(len(the_plan.shapes[node]), dtype), name=f"{name}-combine")


def stage_programs(prog, /, *args, **inputs) -> list:
    """The programs a call's tasks run, one per stage that runs one (products and transposes are
    Dask's own), as each worker compiles them: `.kernel_source`, `.explain(...)` on a chunk."""
    _, the_plan = _plan_call(prog, prog.bind(args, inputs))
    options = _options(prog)
    return [stage_program(st.source, options, st.results) for st in the_plan.stages if st.source]


# -- explain ---------------------------------------------------------------------------------
def explain(prog, bound: dict) -> list[str]:
    """How the program maps onto Dask's task graph for these inputs: a few lines per stage."""
    values, the_plan = _plan_call(prog, bound)
    lines = ["# on Dask"]
    for n, v in values.items():
        if is_dask_array(v):
            lines.append(f"input {n}: {v.dtype}{list(v.shape)}, {v.npartitions} chunks {v.chunksize}")
    for k, stage in enumerate(the_plan.stages, 1):
        if stage.kind == "elementwise":
            outs = ", ".join(_output_names(prog, the_plan, stage.outputs))
            head = (f"stage {k}: blockwise, one task per output chunk runs the program below once and gives "
                    f"{outs}")
        elif stage.kind in _DASK_OPS:
            head = (f"stage {k}: `{stage.kind}` on {statement_text(prog.source, stage.node)}: "
                    f"dask.array.{stage.kind} of {', '.join(stage.inputs)} (NumPy's on each block)")
        elif stage.kind in _ARG:
            head = (f"stage {k}: `{stage.kind}` on {statement_text(prog.source, stage.node)}: one task per chunk "
                    f"computes its operand; dask.array.{stage.kind} finds the index")
        else:
            how = {"mean": "totals and counts summed", "var": "counts, means and M2 merged (Chan)",
                   "std": "counts, means and M2 merged (Chan)", "logsumexp": "logsumexp of the partials"}.get(
                stage.kind, f"{stage.kind} of the partials")
            beside = _output_names(prog, the_plan, stage.outputs[1:]) if len(stage.outputs) > 1 else []
            head = (f"stage {k}: `{stage.kind}` on {statement_text(prog.source, stage.node)}: one task per chunk "
                    f"runs the program below (the partial{''.join(', and ' + n for n in beside)}); "
                    f"dask.array.reduction combines the partials: {how}")
        lines += ["", head]
        if stage.rowwise_axes:
            lines.append("needs whole along blockwise dimension(s) " + ", ".join(map(str, stage.rowwise_axes)))
        lines += ["    " + line for line in stage.source.splitlines()]
    return lines


def _output_names(prog, the_plan, nodes) -> list[str]:
    names = [name for name, node in prog.graph.outputs if node in nodes]
    return names or [f"the operand of {statement_text(prog.source, n)}" for n in nodes]

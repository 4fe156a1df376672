"""A program cut into stages at its reductions and products, each stage rendered back to symexpr source.

`plan(graph, kinds, shapes)` is a pure function of the graph and a call's input kinds and shapes:
it says which stages the call takes, which values each gives, and which row-wise axes each needs
whole; the tasks (tasks.py) and Dask's layers (layers.py) are built from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import dask.array as da

from ..errors import SymExprError
from ..graph import Graph, Node, statement_text, topological
from ..infer import infer_kinds, infer_shapes
from ..ops import OPS
from ..shapes import reduced_axes


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
    results: dict[Node, str]      # a value an earlier stage computes -> its name in later stages
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
        # In the operand's float (or complex) dtype, as NumPy's mean and var compute (ints and bools
        # in float64); the partials are merged in float64 (complex128). A complex deviation d
        # counts real(d)**2 + imag(d)**2, as in NumPy's var.
        x = "{0}" if kinds[operand].dtype.kind in "fc" else "float64({0})"
        d = f"({x} - _o0)"
        squares = (f"real({d}) * real({d}) + imag({d}) * imag({d})" if kinds[operand].dtype.kind == "c"
                   else f"square({d})")
        extra = ([f"_o0 = sum({x}, axis={ax}, keepdims=True)"] if node.op == "mean" else
                 [f"_o0 = mean({x}, axis={ax}, keepdims=True)",
                  f"_o1 = sum({squares}, axis={ax}, keepdims=True)"])
    else:  # argmax, argmin: the operand itself, reduced by dask.array's own arg reduction
        extra = ["_o0 = {0}"]
    source, origins = _render(nodes, leaves, names, [], [operand], extra, extra_node=node)
    more = [f"_o{len(extra) + k} = {_name(x, names)}" for k, x in enumerate(along)]
    return Stage(node.op, "\n".join([source, *more]), _stage_inputs(nodes, leaves), (node, *along), ndim,
                 node=node, rowwise_axes=_rowwise_axes(nodes, shapes, ndim),
                 origins=_origins(graph, (*origins, *along)))


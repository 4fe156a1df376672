"""The imperative engine: one NumPy call per operation, the reference semantics.

Every other backend is checked against this one. It runs the graph in
topological order, as an interpreter would, and drops each intermediate as
soon as nothing later reads it (`keep_all=True` keeps every value until the
call returns, as a plain interpreter does: the baseline that `optimize=False`
measures against).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import EvaluationError, SymExprError
from ..graph import Graph, Node, statement_text
from ..infer import Kind, infer_kinds, infer_shapes, is_weak_value, kind_of_value
from ..ops import OPS

_WEAK_TYPES = {"b": bool, "i": int, "u": int, "f": float}


def last_uses(graph: Graph) -> dict[Node, int]:
    """For each node, the index of the last node that reads it (outputs: past the end)."""
    last = {n: -1 for n in graph.nodes}
    for k, n in enumerate(graph.nodes):
        for i in n.inputs:
            last[i] = k
    for _, n in graph.outputs:
        last[n] = len(graph.nodes)
    return last


def evaluate(node: Node, args: list):
    """One op with NumPy, weak in, weak out: a result of weak operands only stays a Python scalar."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = OPS[node.op].numpy(*args)
    if all(is_weak_value(a) for a in args):
        out = _WEAK_TYPES[np.asarray(out).dtype.kind](np.asarray(out)[()])
    return out


def as_result(value, inputs_seen: set[int]):
    """What NumPy would return: an ndarray, or a NumPy scalar for a 0-d result; never a user's array."""
    if is_weak_value(value):
        return np.asarray(value)[()]
    arr = np.asarray(value)
    if arr.ndim == 0:
        return arr[()]
    if id(value) in inputs_seen:
        return arr.copy()
    return arr


class NumpyEngine:
    """Runs a graph with NumPy, one call per op."""

    name = "numpy"

    def __init__(self, graph: Graph, *, keep_all: bool = False):
        self.graph = graph
        self.keep_all = keep_all
        self._last = last_uses(graph)
        self._kinds_cache: dict[tuple, dict[Node, Kind]] = {}

    @staticmethod
    def accepts(value) -> bool:
        """Values this engine takes as they are, without np.asarray (none: it computes on NumPy arrays)."""
        return False

    def check(self, values: dict[str, object]) -> None:
        """DTypeError/ShapeError with positions before anything runs."""
        names = self.graph.input_names
        key = tuple(kind_of_value(values[n]) for n in names)
        if key not in self._kinds_cache:
            self._kinds_cache[key] = infer_kinds(self.graph, dict(zip(names, key)))
        infer_shapes(self.graph, {n: np.shape(values[n]) for n in names})

    def run(self, values: dict[str, object], out=None) -> list:
        self.check(values)
        graph = self.graph
        env: dict[Node, object] = {}
        for k, node in enumerate(graph.nodes):
            if node.op == "input":
                env[node] = values[node.input_name]
            elif node.op == "constant":
                env[node] = node.value
            else:
                try:
                    env[node] = evaluate(node, [env[i] for i in node.inputs])
                except (ValueError, OverflowError, TypeError, ZeroDivisionError) as err:
                    raise EvaluationError(f"{statement_text(graph.source, node)}: {err}") from None
                if not self.keep_all:
                    for i in node.inputs:
                        if self._last[i] == k:
                            env.pop(i, None)
        seen = {id(v) for v in values.values()}
        results = []
        for _, node in graph.outputs:
            r = as_result(env[node], seen)
            if isinstance(r, np.ndarray):
                seen.add(id(r))
            results.append(r)
        return deliver(results, out, graph)


def deliver(results: list, out, graph: Graph) -> list:
    """Copy results into user-given output arrays (`out=`), checking shape and dtype as NumPy would."""
    if out is None:
        return results
    names = graph.output_names
    if isinstance(out, dict):
        targets = [out.get(n) for n in names]
        unknown = set(out) - set(names)
        if unknown:
            raise SymExprError(f"out= names {sorted(unknown)}, which are not outputs {list(names)}")
    elif isinstance(out, (tuple, list)):
        if len(out) != len(names):
            raise SymExprError(f"out= has {len(out)} arrays for {len(names)} outputs {list(names)}")
        targets = list(out)
    else:
        if len(names) != 1:
            raise SymExprError(f"out= is one array but the program has {len(names)} outputs {list(names)}")
        targets = [out]
    delivered = []
    for name, r, t in zip(names, results, targets):
        if t is None:
            delivered.append(r)
            continue
        check_out(name, t, np.shape(r), np.asarray(r).dtype)
        t[...] = r
        delivered.append(t)
    return delivered


def check_out(name: str, target, shape, dtype) -> None:
    if not isinstance(target, np.ndarray):
        raise SymExprError(f"out= for `{name}` must be a NumPy array, not {type(target).__name__}")
    if target.shape != tuple(shape) or target.dtype != dtype:
        raise SymExprError(f"out= for `{name}` is {target.dtype}{list(target.shape)}; "
                           f"the result is {dtype}{list(shape)}")
    if not target.flags.writeable:
        raise SymExprError(f"out= for `{name}` is read-only")

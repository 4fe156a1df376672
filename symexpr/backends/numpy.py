"""The imperative engine: one NumPy call per operation, the reference semantics.

Every other backend is checked against this one. It runs the graph in
topological order, as an interpreter would. Optimized (the default), it
specializes the graph once per call signature (`passes.specialize`) and
follows that signature's memory plan (`passes.memory_plan`): each ufunc writes
through `out=` into a dead buffer or in place into an operand that dies at
that step, dead values are dropped at their last use, and a result the caller
gave an `out=` array for is written straight into it. `optimize=False` runs
every statement as written, each into a new array, and keeps every value
until the call returns: the baseline the optimizer is measured against.
"""
from __future__ import annotations

import threading
import warnings
from collections import OrderedDict

import numpy as np

from ..errors import EvaluationError, SymExprError
from ..graph import Graph, Node, statement_text
from ..infer import Kind, infer_kinds, infer_shapes, is_weak_value, kind_of_value
from ..ops import CASTS, OPS
from ..passes.memory_plan import writes_into

_WEAK_TYPES = {"b": bool, "i": int, "u": int, "f": float}
_RAISES = (ValueError, OverflowError, TypeError, ZeroDivisionError)


def last_uses(graph: Graph) -> dict[Node, int]:
    """For each node, the index of the last node that reads it (outputs: past the end)."""
    from ..passes.liveness import liveness

    return {n: life.last for n, life in liveness(graph).items()}


def _where_into(c, x, y, out):
    # np.where(c, x, y) into `out`, for a bool c (see passes/memory_plan.py writes_into): y is read first.
    np.copyto(out, y, casting="unsafe")
    np.copyto(out, x, where=c, casting="unsafe")
    return out


# Ops that are not ufuncs but can write into a given array.
INTO = {
    "where": _where_into,
    "clip": lambda x, lo, hi, out: np.clip(x, lo, hi, out=out),
    "relu": lambda x, out: np.maximum(x, 0, out=out),
}


def evaluate(node: Node, args: list, out=None):
    """One op with NumPy, weak in, weak out: a result of weak operands only stays a Python scalar
    (but a cast names its dtype: `float32(2)` is a strong np.float32, as infer.py says).

    `out` is the array to write the result into, for the ops `memory_plan.writes_into` allows.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _apply(node.op, args, out)


def _apply(opname: str, args: list, out=None):
    """`evaluate` without its warning guards, for a loop that sets them once."""
    if out is not None:
        return INTO.get(opname, OPS[opname].numpy)(*args, out=out)
    result = OPS[opname].numpy(*args)
    if opname not in CASTS and all(is_weak_value(a) for a in args):
        result = _WEAK_TYPES[np.asarray(result).dtype.kind](np.asarray(result)[()])
    return result


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


class Signature:
    """What the engine knows of one call signature: the specialized graph, its rewrites, and its memory plan."""

    def __init__(self, graph: Graph, rewrites: list, plan, kinds: dict, shapes: dict):
        self.graph = graph
        self.rewrites = rewrites
        self.plan = plan
        self.kinds = kinds
        self.shapes = shapes
        self.last = {n: life.last for n, life in plan.lifetimes.items()}
        # The plan as one instruction per operation, so a call does no analysis:
        # (node, its buffer or None, shape, dtype, whether it can write into a buffer,
        #  the nodes that die here, the buffers no later step needs).
        dying: dict[int, list[Node]] = {}
        for n, k in self.last.items():
            dying.setdefault(k, []).append(n)
        self.steps = []
        for k, node in enumerate(graph.nodes):
            if node.op in ("input", "constant"):
                continue
            b = plan.buffer_of.get(node)
            self.steps.append((node, b, shapes[node], kinds[node].dtype, writes_into(node, kinds),
                               tuple(dying.get(k, ())), plan.free_after.get(k, ())))


class NumpyEngine:
    """Runs a graph with NumPy, one call per op."""

    name = "numpy"
    max_signatures = 64

    def __init__(self, graph: Graph, *, optimize: bool = True, fast_math: bool = False, keep_all: bool | None = None):
        self.graph = graph
        self.optimize = optimize if keep_all is None else not keep_all
        self.fast_math = fast_math
        self._kinds_cache: dict[tuple, dict[Node, Kind]] = {}
        self._signatures: OrderedDict[tuple, Signature] = OrderedDict()
        self._lock = threading.Lock()  # one Program may be called from many threads

    @property
    def keep_all(self) -> bool:
        return not self.optimize

    @staticmethod
    def accepts(value) -> bool:
        """Values this engine takes as they are, without np.asarray (none: it computes on NumPy arrays)."""
        return False

    def check(self, values: dict[str, object]) -> tuple:
        """DTypeError/ShapeError with positions before anything runs; the signature's key."""
        names = self.graph.input_names
        kinds = tuple(kind_of_value(values[n]) for n in names)
        shapes = tuple(np.shape(values[n]) for n in names)
        if kinds not in self._kinds_cache:
            self._kinds_cache[kinds] = infer_kinds(self.graph, dict(zip(names, kinds)))
        if (kinds, shapes) not in self._signatures:
            infer_shapes(self.graph, dict(zip(names, shapes)))
        return kinds, shapes

    def signature(self, values: dict[str, object]) -> Signature:
        """The specialized graph and memory plan for these values' dtypes and shapes, made once and cached."""
        key = self.check(values)
        with self._lock:
            sig = self._signatures.get(key)
            if sig is not None:
                self._signatures.move_to_end(key)
                return sig
        from ..passes import specialize
        from ..passes.memory_plan import plan_memory

        names = self.graph.input_names
        kinds, shapes = dict(zip(names, key[0])), dict(zip(names, key[1]))
        if self.optimize:
            graph, rewrites = specialize(self.graph, kinds, fast_math=self.fast_math)
        else:
            graph, rewrites = self.graph, []
        node_kinds = infer_kinds(graph, {n: kinds[n] for n in graph.input_names})
        node_shapes = infer_shapes(graph, {n: shapes[n] for n in graph.input_names})
        plan = plan_memory(graph, node_kinds, node_shapes)
        sig = Signature(graph, rewrites, plan, node_kinds, node_shapes)
        with self._lock:
            self._signatures[key] = sig
            if len(self._signatures) > self.max_signatures:
                self._signatures.popitem(last=False)
        return sig

    def run(self, values: dict[str, object], out=None) -> list:
        sig = self.signature(values)
        graph = sig.graph
        targets = direct_targets(graph, sig, out, values) if (out is not None and self.optimize) else {}
        planned = self.optimize
        env: dict[Node, object] = {}
        for node in graph.nodes:
            if node.op == "input":
                env[node] = values[node.input_name]
            elif node.op == "constant":
                env[node] = node.value
        buffers: dict[int, np.ndarray] = {}
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for node, b, shape, dtype, into, dying, free in sig.steps:
                args = [env[i] for i in node.inputs]
                dest = None
                if not planned:
                    b = None
                elif node in targets:
                    dest = targets[node]
                elif b is not None and into:
                    dest = buffers.get(b)
                    if dest is None:
                        dest = buffers[b] = np.empty(shape, dtype)
                    elif dest.shape != shape:
                        dest = dest.reshape(shape)  # same dtype and byte size; C-contiguous, so a view
                try:
                    result = evaluate(node, args, dest)  # through `evaluate`: the seam tests and debug tools patch
                except _RAISES as err:
                    raise EvaluationError(f"{statement_text(graph.source, node)}: {err}") from None
                env[node] = result
                if planned:
                    if b is not None and dest is None and b not in buffers and isinstance(result, np.ndarray) \
                            and result.flags.c_contiguous and result.flags.writeable:
                        buffers[b] = result  # a new array from an op without out=: later steps may reuse it
                    for n in dying:
                        env.pop(n, None)
                    for freed in free:
                        buffers.pop(freed, None)
        seen = {id(v) for v in values.values()}
        results = []
        for _, node in graph.outputs:
            r = env[node]
            if node in targets and r is targets[node]:
                results.append(r)
                seen.add(id(r))
                continue
            r = as_result(r, seen)
            if isinstance(r, np.ndarray):
                seen.add(id(r))
            results.append(r)
        return deliver(results, out, graph)


def direct_targets(graph: Graph, sig: Signature, out, values: dict) -> dict[Node, np.ndarray]:
    """Outputs a ufunc may write straight into the caller's `out=` array.

    Only where that cannot change a result: the target has the result's dtype and shape, shares
    no memory with an input or with another target, and its node is the first output it is for.
    Anything else is copied into its target at the end, by `deliver`.
    """
    targets = _targets(graph, out)
    chosen: dict[Node, np.ndarray] = {}
    arrays = [v for v in values.values() if isinstance(v, np.ndarray)]
    given = [t for t in targets if isinstance(t, np.ndarray)]
    for (name, node), t in zip(graph.outputs, targets):
        if not isinstance(t, np.ndarray) or node in chosen or node.op not in OPS:
            continue
        if not writes_into(node, sig.kinds) or sig.kinds[node].weak:
            continue
        if t.shape != tuple(sig.shapes[node]) or t.dtype != sig.kinds[node].dtype or not t.flags.writeable:
            continue
        if any(np.may_share_memory(t, a) for a in arrays) or \
                any(u is not t and np.may_share_memory(t, u) for u in given) or sum(u is t for u in given) > 1:
            continue
        chosen[node] = t
    return chosen


def _targets(graph: Graph, out) -> list:
    """The caller's `out=` as one entry (an array or None) per output, checked for form."""
    names = graph.output_names
    if isinstance(out, dict):
        unknown = set(out) - set(names)
        if unknown:
            raise SymExprError(f"out= names {sorted(unknown)}, which are not outputs {list(names)}")
        return [out.get(n) for n in names]
    if isinstance(out, (tuple, list)):
        if len(out) != len(names):
            raise SymExprError(f"out= has {len(out)} arrays for {len(names)} outputs {list(names)}")
        return list(out)
    if len(names) != 1:
        raise SymExprError(f"out= is one array but the program has {len(names)} outputs {list(names)}")
    return [out]


def deliver(results: list, out, graph: Graph) -> list:
    """Copy results into user-given output arrays (`out=`), checking shape and dtype as NumPy would."""
    if out is None:
        return results
    delivered = []
    for name, r, t in zip(graph.output_names, results, _targets(graph, out)):
        if t is None:
            delivered.append(r)
            continue
        if r is t:  # written there already
            delivered.append(t)
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

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

import math
from _thread import allocate_lock  # threading.Lock, without importing threading: 1.5 ms of a new process
import warnings
from collections import OrderedDict

import numpy as np

from ..errors import EvaluationError
from ..graph import Graph, Node, statement_text
from ..infer import Kind, infer_kinds, infer_shapes, is_weak_value, kind_of_value
from ..ops import OPS, keeps_weak, where_into
from ..passes.memory_plan import writes_into
from .out_arrays import deliver, out_targets

_WEAK_TYPES = {"b": bool, "i": int, "u": int, "f": float, "c": complex}
_RAISES = (ValueError, OverflowError, TypeError, ZeroDivisionError)


def last_uses(graph: Graph) -> dict[Node, int]:
    """For each node, the index of the last node that reads it (outputs: past the end)."""
    from ..passes.liveness import liveness

    return {n: life.last for n, life in liveness(graph).items()}


# Ops that are not ufuncs but can write into a given array.
INTO = {
    "where": where_into,
    "clip": lambda x, lo, hi, out: np.clip(x, lo, hi, out=out),
    "relu": lambda x, out: np.maximum(x, 0, out=out),
}


def evaluate(node: Node, args: list, out=None):
    """One op with NumPy, weak in, weak out for operators: an operator of weak operands only gives a
    Python scalar, as Python's arithmetic does; a function of them gives NumPy's scalar, strong
    (`cos(3)` is np.float64, `float32(2)` np.float32), as infer.py says.

    `out` is the array to write the result into, for the ops `memory_plan.writes_into` allows.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _apply(node.op, args, out, node.attrs)


def _apply(opname: str, args: list, out=None, attrs: tuple = ()):
    """`evaluate` without its warning guards, for a loop that sets them once."""
    if out is not None:
        return INTO.get(opname, OPS[opname].numpy)(*args, out=out)
    op = OPS[opname]
    result = op.function(attrs)(*args)
    if keeps_weak(opname) and op.kind == "elementwise" and all(is_weak_value(a) for a in args):
        result = _WEAK_TYPES[np.asarray(result).dtype.kind](np.asarray(result)[()])
        if opname in _EXACT_INT and type(result) is int and all(type(a) is int for a in args):
            _check_int64(opname, args, result)
    return result


# Operators on integer literals: Python's arithmetic, computed in int64 (as a kernel can); one whose
# exact value is beyond int64 is refused rather than wrapped (`a + 2**64` would otherwise be `a`).
_EXACT_INT = {"add": lambda x, y: x + y, "subtract": lambda x, y: x - y, "multiply": lambda x, y: x * y,
              "power": pow, "negative": lambda x: -x, "absolute": abs}
_SPELLED = {"add": "{} + {}", "subtract": "{} - {}", "multiply": "{} * {}", "power": "{} ** {}",
            "negative": "-({})", "absolute": "abs({})"}


def _check_int64(opname: str, args: list, result: int) -> None:
    if opname == "power" and abs(args[0]) > 1 and args[1] > 64:
        exact = None  # beyond int64 for sure (and not worth computing: 2 ** 10**9)
    else:
        exact = _EXACT_INT[opname](*args)
    if exact != result:
        raise OverflowError(f"{_SPELLED[opname].format(*args)} is beyond int64, in which integer literals are "
                            "computed: write a float (as 2.0 ** 64) for a float result")


def evaluate_on_host(nodes, env: dict, source: str) -> None:
    """Weak values (Python scalars, and what is computed from them alone) into `env`, in order, as this
    engine computes them: what the OpenCL engines hand their kernels as scalar arguments. `env` holds
    the inputs already."""
    with np.errstate(all="ignore"), warnings.catch_warnings():  # once: it costs more than a small op
        warnings.simplefilter("ignore")
        for node in nodes:
            if node.op == "constant":
                env[node] = node.value
            elif node.op != "input":
                try:
                    env[node] = _apply(node.op, [env[i] for i in node.inputs], None, node.attrs)
                except _RAISES as err:
                    raise EvaluationError(f"{statement_text(source, node)}: {err}",
                                          statement=node.statement) from None


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
        self.straight_line = False  # not made yet; see `straight_line`
        self.python_source = None
        self.steps = []
        for k, node in enumerate(graph.nodes):
            if node.op in ("input", "constant"):
                continue
            # A view holds its operand's buffer in the plan, but computes nothing into it.
            b = None if node in plan.views else plan.buffer_of.get(node)
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
        self._lock = allocate_lock()  # one Program may be called from many threads

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
        written = self._kinds_cache.get(key[0]) or infer_kinds(self.graph, kinds)  # from check()
        if self.optimize:
            graph, rewrites = specialize(self.graph, kinds, fast_math=self.fast_math, known=written)
        else:
            graph, rewrites = self.graph, []
        node_kinds = written if graph is self.graph else infer_kinds(
            graph, {n: kinds[n] for n in graph.input_names}, written)
        node_shapes = infer_shapes(graph, {n: shapes[n] for n in graph.input_names})
        plan = plan_memory(graph, node_kinds, node_shapes)
        sig = Signature(graph, rewrites, plan, node_kinds, node_shapes)
        with self._lock:
            self._signatures[key] = sig
            if len(self._signatures) > self.max_signatures:
                self._signatures.popitem(last=False)
        return sig

    def fast_runner(self, values: dict[str, object]):
        """For calls with these values' dtypes and shapes (all NumPy arrays): a function of the
        inputs, in order, that returns the results or None (then call `run`); None if there is none."""
        if not self.optimize:
            return None
        sig = self.signature(values)
        if sig.straight_line is False:
            # Compiled at the signature's second call, not its first: a shape met once (a stream of
            # records of varying length, a last partial batch) never pays the compile.
            def lazy(args, out=None):
                if sig.straight_line is lazy:
                    made = straight_line(sig, {n: k for k, n in enumerate(self.graph.input_names)})
                    sig.python_source = made[0] if made else None
                    sig.straight_line = _with_out(made[1], sig, self.graph) if made else None
                run = sig.straight_line
                return None if run is None else run(args, out)
            sig.straight_line = lazy
        return sig.straight_line

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
                    result = _apply(node.op, args, dest, node.attrs)  # the loop holds the warning guards
                except _RAISES as err:
                    raise EvaluationError(f"{statement_text(graph.source, node)}: {err}", statement=node.statement) from None
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


# Above this many operations a signature runs through `NumpyEngine.run`'s loop: the straight-line
# function would save a few microseconds per operation and call, but compiling it is superlinear.
STRAIGHT_LINE_STEPS = 4096


# What the straight-line functions run under: np.errstate(all="ignore"), switched cheaply. NumPy 2 keeps
# its floating-point error state in a context variable; setting and resetting it takes 0.3 µs where
# entering and leaving np.errstate takes 2 µs, a third of a small call. Elsewhere, np.errstate.
try:
    from numpy._core._ufunc_config import _extobj_contextvar as _ERRORS

    with np.errstate(all="ignore"):
        _IGNORED = _ERRORS.get()
except (ImportError, AttributeError):  # pragma: no cover - another NumPy
    _ERRORS = _IGNORED = None


def straight_line(sig: Signature, input_index: dict[str, int]):
    """One signature as a Python function of straight-line NumPy calls, or None where it does not apply.

    The fast path of a call whose inputs are all NumPy arrays: the same calls as `NumpyEngine.run`
    makes (the same functions, the same `out=` buffers of the memory plan, the same frees), with
    the interpreting done once, here, instead of on every call. The function takes the inputs in
    `input_index` order and returns the results, or None when anything raises (the caller then
    takes the general path, which raises the positioned error). Returns (source, function).
    """
    graph, plan = sig.graph, sig.plan
    if any(sig.shapes[n] == () or sig.kinds[n].weak for _, n in graph.outputs):
        return None  # NumPy scalars and weak results: the general path's `as_result`
    if len(sig.steps) > STRAIGHT_LINE_STEPS:
        return None  # Python's compile() of one function grows faster than its length (40,000 steps: 4 s)
    index = {node: k for k, node in enumerate(graph.nodes)}
    scope = {"_errstate": np.errstate, "_RAISES": _RAISES}
    if _ERRORS is not None:
        scope.update(_set=_ERRORS.set, _reset=_ERRORS.reset, _IGNORED=_IGNORED)
        lines, indent = ["def run(args):", "    _token = _set(_IGNORED)", "    try:"], " " * 8
    else:
        lines, indent = ["def run(args):", "    try:", "        with _errstate(all='ignore'):"], " " * 12
    body = []
    for node in graph.nodes:
        k = index[node]
        if node.op == "input":
            body.append(f"v{k} = args[{input_index[node.input_name]}]")
        elif node.op == "constant":
            scope[f"v{k}"] = node.value
    held: dict[int, str] = {}  # buffer id -> the local that holds its array
    outputs = {index[n] for _, n in graph.outputs}
    for node, b, shape, dtype, into, dying, free in sig.steps:
        k = index[node]
        if sig.kinds[node].weak or any(sig.kinds[i].weak and i.op != "constant" for i in node.inputs):
            return None
        operands = [f"v{index[i]}" for i in node.inputs]
        strong = node.op in STRONG_CONSTANT_OPS and _common_dtype(node, sig.kinds)
        for j, i in enumerate(node.inputs):
            value = _strong_constant(i, strong) if strong else None
            if value is not None:
                operands[j] = f"s{index[i]}_{strong.char}"
                scope[operands[j]] = value
        call = f"f{k}({', '.join(operands)}"
        if b is not None and into and b in held:
            # Into the planned buffer; where/clip/relu through their `INTO` forms, as `run` does.
            scope[f"f{k}"] = INTO.get(node.op, OPS[node.op].numpy)
            dest = held[b] if plan.buffers[b].shape == tuple(shape) else \
                f"{held[b]}.reshape({tuple(shape)!r}, copy=False)"
            # A ufunc's output given by position: parsing `out=` costs a tenth of a small call.
            fn = OPS[node.op].numpy
            by_position = node.op not in INTO and isinstance(fn, np.ufunc) and fn.nin == len(node.inputs) \
                and fn not in _OUT_BY_KEYWORD
            body.append(f"v{k} = {call}, {dest})" if by_position else f"v{k} = {call}, out={dest})")
        else:
            scope[f"f{k}"] = OPS[node.op].function(node.attrs)
            body.append(f"v{k} = {call})")
            if b is not None and b not in held:
                body.append(f"b{b} = v{k}")
                held[b] = f"b{b}"
                if node.op not in OPS or not isinstance(OPS[node.op].numpy, np.ufunc):
                    # Adopted as a buffer: later steps write into it, so it must be a C-contiguous array.
                    body.append(f"if not b{b}.flags.c_contiguous: return None")
        body += [f"del v{index[n]}" for n in dying if n.op != "constant" and index[n] not in outputs]
        for freed in free:
            if held.pop(freed, None) is not None:
                body.append(f"del b{freed}")
    results, seen = [], set()
    for _, node in graph.outputs:
        k = index[node]
        results.append(f"v{k}.copy()" if (node.op in ("input", "constant") or k in seen) else f"v{k}")
        seen.add(k)
    body.append(f"return [{', '.join(results)}]")
    lines += [indent + line for line in body]
    lines += ["    except _RAISES:", "        return None"]
    if _ERRORS is not None:
        lines += ["    finally:", "        _reset(_token)"]
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<symexpr numpy signature>", "exec"), scope)
    return source, scope["run"]


# Ufuncs that take their output only as `out=`: NumPy 2.4 deprecates a third positional argument of
# maximum and minimum (a DeprecationWarning on every call, and in time an error or a third operand).
_OUT_BY_KEYWORD = (np.maximum, np.minimum)


# Ufuncs whose weak Python constant operand the straight-line code passes as the NumPy scalar NumPy
# makes of it (NEP 50: the array operand's dtype), where that scalar holds the value exactly: the same
# loop runs on the same values, and a ufunc resolves a weak scalar's dtype for a third of a call of it.
# (Not `power`, whose Python-scalar exponents NumPy treats on fast paths of their own.)
STRONG_CONSTANT_OPS = frozenset(("add", "subtract", "multiply", "divide", "minimum", "maximum", "less",
                                 "less_equal", "greater", "greater_equal", "equal", "not_equal"))


def _common_dtype(node: Node, kinds: dict):
    """The one dtype of a node's strong operands, if they have one and it is a real number's."""
    dtypes = {kinds[i].dtype for i in node.inputs if not kinds[i].weak}
    if len(dtypes) != 1:
        return None
    (dtype,) = dtypes
    return dtype if dtype.kind in "iuf" else None


def _strong_constant(node: Node, dtype: np.dtype):
    """A weak constant as a NumPy scalar of `dtype`, where it holds the constant's value exactly."""
    if node.op != "constant" or not node.is_weak:
        return None
    value = node.value
    if not (type(value) is float and dtype.kind == "f" or type(value) is int and dtype.kind in "iuf"):
        return None
    # A value beyond the dtype's range casts to inf (NumPy warns; int(inf) raises) or refuses (ints):
    # not exact either way, so left weak, without a warning the program's own NumPy call would not give.
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            strong = dtype.type(value)
            exact = type(value)(strong) == value  # (NaN is never equal: left weak)
        except OverflowError:
            return None
    return strong if exact else None


def _with_out(run, sig: Signature, graph: Graph):
    """A straight-line runner that also takes `out=`: small results are copied into the targets
    (as `deliver` does); large ones go to the general path, which computes straight into them."""
    small = all(math.prod(sig.shapes[n]) <= OUT_COPY_LIMIT for _, n in sig.graph.outputs)

    def runner(args, out=None):
        if out is None:
            return run(args)
        if not small:
            return None
        results = run(args)
        return None if results is None else deliver(results, out, graph)
    runner.__wrapped__ = run
    return runner


OUT_COPY_LIMIT = 1 << 16  # elements


def direct_targets(graph: Graph, sig: Signature, out, values: dict) -> dict[Node, np.ndarray]:
    """Outputs a ufunc may write straight into the caller's `out=` array.

    Only where that cannot change a result: the target has the result's dtype and shape, shares
    no memory with an input or with another target, and its node is the first output it is for.
    Anything else is copied into its target at the end, by `deliver`.
    """
    targets = out_targets(graph, out)
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

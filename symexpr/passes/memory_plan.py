"""Memory planning: which intermediates share storage, for one call signature.

Given every value's Kind and shape (infer.py) and its lifetime (liveness.py),
each array an operation makes gets a buffer id. Walking the steps in order, a
step's result goes, by preference,

1. in place into an operand that dies at this step (same dtype and shape; an
   element-wise ufunc reads each element before it writes it, so `out=` may be
   an operand), never into a user's input array or a weak scalar;
2. into a dead buffer of the same dtype and byte size;
3. into a new buffer.

Only ufuncs (and `where`, `clip`, `relu`, see INTO_OPS) can write into a given
array (`out=`); other operations (casts, `sigmoid`...) get a new buffer, which later steps may reuse once it is
dead. Scalars (0-d values and weak Python scalars) are not planned. Buffers a
later step will reuse stay allocated in between; the others are freed at their
holder's last use. `peak_bytes` is the most bytes the planned buffers hold at
once; `peak_bytes_unplanned` is what a plain interpreter holds that keeps every
value until the call returns (`optimize=False`). Neither counts the inputs.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..graph import Graph, Node
from ..infer import Kind
from ..ops import OPS, VIEWS
from .liveness import liveness


# Non-ufunc ops the NumPy engine can also compute into a given array (backends/numpy.py INTO).
# where(c, x, y) is written as copyto(out, y); copyto(out, x, where=c), which is np.where bit for
# bit when c is bool, and, with a Python scalar operand, when the result is float or bool (np.where
# wraps an out-of-range Python int where copyto refuses it). It reads y first: only y may be `out`.
INTO_OPS = frozenset(("where", "clip", "relu"))


def writes_into(node: Node, kinds: dict[Node, Kind]) -> bool:
    """Whether the NumPy engine can compute `node` into a given array (`out=`)."""
    if node.op not in OPS:
        return False
    if isinstance(OPS[node.op].numpy, np.ufunc) or node.op in ("clip", "relu"):
        return True
    if node.op == "where":
        c, x, y = node.inputs
        weak = kinds[x].weak or kinds[y].weak
        return kinds[c].dtype == np.bool_ and not kinds[c].weak and (not weak or kinds[node].dtype.kind in "fb")
    return False


def is_view(node: Node, kinds: dict, shapes: dict) -> bool:
    """Whether the node's value may be its operand's memory: a transpose or a new axis, and a
    `sum_to` with nothing to sum (it returns its operand as it is)."""
    if node.op == "sum_to":
        g, x = node.inputs
        return tuple(shapes[g]) == tuple(shapes[x]) and kinds[g].dtype == kinds[x].dtype and not kinds[g].weak
    return node.op in VIEWS


def overwritable(node: Node) -> tuple[Node, ...]:
    """The operands `node` may be computed in place of: all of an element-wise ufunc's; where's y only;
    none of a matrix product's (each result element reads a whole row and column)."""
    if node.op in OPS and OPS[node.op].kind != "elementwise":
        return ()
    return node.inputs[2:] if node.op == "where" else node.inputs


class Buffer(NamedTuple):
    """One allocation: its dtype and shape as first allocated, its byte size, and the steps it is held for."""

    id: int
    dtype: np.dtype
    shape: tuple
    nbytes: int
    first: int
    last: int


class MemoryPlan:
    """Where each intermediate of one call signature lives.

    graph:                the (specialized) graph the plan is for; steps index graph.nodes.
    buffer_of:            node -> buffer id, for every planned (array-valued, computed) node.
    in_place:             node -> the operand whose buffer it overwrites.
    lifetimes:            node -> Lifetime(first step, last use) for every node.
    buffers:              the buffers, by id.
    free_after:           step -> ids of buffers no later step needs, to free after that step.
    views:                nodes whose value is their operand's memory (they hold its buffer).
    peak_bytes:           most bytes the planned buffers hold at once.
    peak_bytes_unplanned: bytes held when every intermediate has its own array and is kept to the end.
    """

    __slots__ = ("graph", "buffer_of", "in_place", "lifetimes", "buffers", "free_after", "peak_bytes",
                 "peak_bytes_unplanned", "views")

    def __init__(self, graph: Graph, buffer_of: dict, in_place: dict, lifetimes: dict, buffers: tuple,
                 free_after: dict, peak_bytes: int, peak_bytes_unplanned: int, views: frozenset = frozenset()):
        self.graph, self.buffer_of, self.in_place, self.lifetimes = graph, buffer_of, in_place, lifetimes
        self.buffers, self.free_after, self.views = buffers, free_after, views
        self.peak_bytes, self.peak_bytes_unplanned = peak_bytes, peak_bytes_unplanned

    def __repr__(self) -> str:
        return (f"MemoryPlan({len(self.buffers)} buffers, peak {self.peak_bytes} bytes, "
                f"unplanned {self.peak_bytes_unplanned} bytes)")

    def __str__(self) -> str:
        return render_plan(self)


def plan_memory(graph: Graph, kinds: dict[Node, Kind], shapes: dict[Node, tuple]) -> MemoryPlan:
    """Assign buffers to the intermediates of `graph`, given every node's Kind and shape."""
    lifetimes = liveness(graph)
    buffer_of: dict[Node, int] = {}
    in_place: dict[Node, Node] = {}
    sizes: list[tuple[np.dtype, tuple, int]] = []    # buffer id -> (dtype, shape, nbytes)
    since: list[int] = []                            # buffer id -> the step its first value is made at
    until: list[int] = []                            # buffer id -> the last step any value it holds is read at
    pool: dict[tuple, list[int]] = {}                # (dtype, nbytes) -> dead buffer ids
    unplanned = 0

    def dead(b: int, k: int) -> bool:
        """Buffer b is free after step k: every value it holds (a view's base and its views) is dead."""
        return until[b] <= k

    def hold(b: int, node: Node) -> None:
        until[b] = max(until[b], lifetimes[node].last)

    for k, node in enumerate(graph.nodes):
        if node.op in ("input", "constant") or kinds[node].weak or shapes[node] == ():
            continue
        if is_view(node, kinds, shapes):
            # A view of its operand (np.transpose copies nothing; sum_to may return its operand as
            # it is): it holds the operand's buffer, which stays taken until the view's last use too.
            b = buffer_of.get(node.inputs[0])
            if b is not None:
                buffer_of[node] = b
                hold(b, node)
            continue
        dtype, shape = kinds[node].dtype, tuple(shapes[node])
        nbytes = math.prod(shape) * dtype.itemsize
        unplanned += nbytes
        buf = None
        if writes_into(node, kinds):
            for operand in overwritable(node):
                if (operand in buffer_of and dead(buffer_of[operand], k)
                        and kinds[operand].dtype == dtype and tuple(shapes[operand]) == shape):
                    buf = buffer_of[operand]
                    in_place[node] = operand
                    break
            if buf is None and pool.get((dtype, nbytes)):
                buf = pool[(dtype, nbytes)].pop()
        if buf is None:
            buf = len(sizes)
            sizes.append((dtype, shape, nbytes))
            since.append(lifetimes[node].first)
            until.append(-1)
        buffer_of[node] = buf
        hold(buf, node)
        # Operands that die here give their buffers back, unless this step took it over.
        for b in dict.fromkeys(buffer_of.get(operand) for operand in node.inputs):
            if b is not None and b != buf and dead(b, k):
                d, _, size = sizes[b]
                pool.setdefault((d, size), []).append(b)
        if lifetimes[node].last == k:  # never read: dead at once
            pool.setdefault((dtype, nbytes), []).append(buf)

    buffers = []
    free_after: dict[int, list[int]] = {}
    for b, (dtype, shape, nbytes) in enumerate(sizes):
        buffers.append(Buffer(b, dtype, shape, nbytes, since[b], until[b]))
        free_after.setdefault(until[b], []).append(b)
    # Peak: sweep the buffers' [first, last] intervals.
    delta = [0] * (len(graph.nodes) + 2)
    for b in buffers:
        delta[b.first] += b.nbytes
        delta[b.last + 1] -= b.nbytes
    peak = live = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return MemoryPlan(graph, buffer_of, in_place, lifetimes, tuple(buffers),
                      {k: tuple(v) for k, v in free_after.items()}, peak, unplanned,
                      frozenset(n for n in buffer_of if is_view(n, kinds, shapes)))


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB" if nbytes >= 2**20 else f"{nbytes} B"


def render_plan(plan: MemoryPlan) -> str:
    """One line per planned value: its buffer, where it came from, and its lifetime; then the peaks."""
    labels = plan.graph.labels()
    lines = []
    for node in plan.graph.nodes:
        if node not in plan.buffer_of:
            continue
        b = plan.buffers[plan.buffer_of[node]]
        life = plan.lifetimes[node]
        last = "end" if life.last == len(plan.graph.nodes) else str(life.last)
        how = (f"in place of {labels[plan.in_place[node]]}" if node in plan.in_place
               else f"a view of {labels[node.inputs[0]]}" if node in plan.views
               else "new" if plan.buffers[b.id].first == life.first else "reused")
        lines.append(f"{labels[node]:<8} buffer {b.id:<3} {b.dtype.name}{list(b.shape)} {how}, "
                     f"steps {life.first}..{last}")
    lines.append(f"buffers: {len(plan.buffers)}; peak {_mb(plan.peak_bytes)} planned, "
                 f"{_mb(plan.peak_bytes_unplanned)} unplanned (inputs not counted)")
    return "\n".join(lines)

"""The kernel plan: a graph with reductions and matrix products cut into as few kernels as its data allow.

A pure function of a lowered, specialized graph, its kinds and shapes (`plan_kernels`): no device
is touched. Element-wise work is never a kernel of its own when it can ride along with another:

- **prologue**: the element-wise work that feeds a reduction runs inside the reduction's kernel
  (`sum(a * b)` reads `a` and `b` once and writes no intermediate);
- **siblings**: reductions of one array shape over the same axes share a kernel (`mean` and `var`);
- **rows**: a reduction, and the element-wise work that uses its result per row (through
  `keepdims=True`, or over leading axes), run in one kernel that makes one pass over each row per
  reduction level (softmax over rows: the maximum, then the sum, then the outputs);
- **epilogue**: the element-wise consumers of a matrix product run in the next kernel, which reads
  the product once (`relu(x @ W + b)`).

A kernel boundary is needed where a value depends on a reduction of data that the same kernel is
still producing across work-items (`x - mean(x)` over all elements: the mean needs every element
first), at matrix products and transposes (their operands must be in memory), and between
element-wise values of different shapes. Each step says why it is there (`Step.why`).

Matrix products run as host BLAS calls on CPU devices (NumPy's `matmul`, on the memory the kernels
share with the host): on this kind of device BLAS is some 25x faster than a tiled OpenCL kernel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...graph import Graph, Node
from ...ops import OPS
from ...passes.lower import PRIMITIVE_REDUCTIONS
from ...shapes import reduced_axes

# Steps over fewer elements than this run on the host with NumPy (the reference's own calls): a
# kernel launch and the wait for it cost 40 to 65 us back to back on a CPU device, and 0.3 to 0.6 ms
# measured inside a training step, between BLAS calls (PoCL's threads wake up again), where NumPy
# takes some 30 us an operation on 64K floats. Reductions across rows (not along the last axis) are
# a kernel's weak case and stay on the host up to more elements. 0 turns it off (the tests do, to
# test the kernels themselves).
HOST_ELEMENTS = 1 << 17
HOST_ELEMENTS_ACROSS_ROWS = 1 << 18


def is_elementwise(node: Node) -> bool:
    return node.op in OPS and OPS[node.op].kind == "elementwise"


@dataclass(eq=False)
class Step:
    """One kernel (or host call) of a plan.

    kind:       "reduce" (a reduction kernel with its prologue and epilogue), "elementwise"
                (a fused element-wise kernel), "matmul" (a host BLAS call) or "view" (a transpose or a new axis:
                no work, a view of memory).
    nodes:      what it produces: the reductions, then the element-wise values it stores; for
                "matmul" and "view", the one node.
    space:      for "reduce": the shape iterated (the reductions' operand shape); for
                "elementwise": the shape of its values.
    axes:       for "reduce": the reduced axes of `space`.
    split:      for "reduce": work-items sharing one row (1: a row per work-item); partials are
                combined on the host.
    host:       small enough that NumPy on the host computes it faster than a kernel is launched
                (HOST_ELEMENTS): the step's nodes are the NumPy engine's calls.
    why:        why it is a kernel of its own, for `explain()`.
    """

    kind: str
    nodes: list = field(default_factory=list)
    space: tuple = ()
    axes: tuple = ()
    split: int = 1
    why: str = ""
    index: int = 0
    host: bool = False

    @property
    def reductions(self) -> list:
        return [n for n in self.nodes if n.op in PRIMITIVE_REDUCTIONS]

    @property
    def epilogue(self) -> list:
        return [n for n in self.nodes if n.op not in PRIMITIVE_REDUCTIONS]


@dataclass
class KernelPlan:
    """The steps in the order they run, which step produces each value in memory, and what each stores."""

    graph: Graph
    steps: list
    producer: dict          # node -> the Step that produces it in memory (inputs: none)
    stores: dict            # Step -> the nodes it writes to memory (the others stay in registers)
    kinds: dict = field(default_factory=dict)
    shapes: dict = field(default_factory=dict)

    def describe(self, labels=None) -> list[str]:
        """One line per kernel: its kind, the lines it covers, what it stores and why it is a boundary."""
        labels = labels or self.graph.labels()
        lines = []
        for s in self.steps:
            lines_of = sorted({n.statement.line for n in covered(s, self) if n.statement is not None})
            what = {"reduce": "reduction kernel", "elementwise": "element-wise kernel",
                    "matmul": "matrix product (host BLAS)", "view": f"{s.nodes[0].op} (a view, no work)"}[s.kind]
            if s.kind == "reduce":
                what += f" over {list(s.space)} axes {list(s.axes)}" + (f", {s.split} work-items a row" if s.split > 1 else "")
            if s.host:
                what = what.replace("reduction kernel", "reduction").replace("element-wise kernel", "element-wise step")
                what += f", on the host with NumPy ({math.prod(s.space)} elements: less than a kernel launch costs)"
            stored = ", ".join(self._value(n, labels) for n in self.stores.get(s, ())) or "nothing"
            lines.append(f"{s.index + 1}. {what}; lines {', '.join(map(str, lines_of)) or '-'}; stores {stored}; {s.why}")
        between = {n for s in self.steps for n in self.stores.get(s, ())} - {n for _, n in self.graph.outputs}
        if between and self.kinds:
            size = sum(math.prod(self.shapes[n]) * self.kinds[n].dtype.itemsize for n in between)
            lines.append(f"between kernels: {len(between)} arrays, {size} bytes in memory, each freed after "
                         f"its last reader (large ones reuse the result pool's blocks)")
        return lines

    def _value(self, n, labels) -> str:
        if n in self.kinds and n in self.shapes:
            return f"{labels[n]} {self.kinds[n].dtype.name}{list(self.shapes[n])}"
        return labels[n]


def covered(step: Step, plan: KernelPlan) -> list:
    """The nodes a step computes: what it produces and the element-wise work it recomputes for them."""
    out = list(step.nodes)
    for n in step.nodes:
        if n.op in PRIMITIVE_REDUCTIONS or is_elementwise(n):
            roots = n.inputs if n.op in PRIMITIVE_REDUCTIONS else (n,)
            out += cone(roots, plan.producer, step)[0]
    return out


def cone(roots, producer: dict, step: Step | None = None) -> tuple[list, list]:
    """(element-wise nodes computed from `roots` back to values in memory or in `step`'s registers,
    in topological order; the values read at that boundary).

    Seen from `step`, an element-wise value is read from memory only if an earlier step stored it;
    if `step` or a later one stores it, `step` computes it again (element-wise work is cheap, and a
    later step's value is not there yet). With no step, every stored value is read."""
    seen: set = set()
    order: list = []
    boundary: dict = {}
    stack = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        if node.op in ("input", "constant") or not is_elementwise(node) or (
                node in producer and (step is None or producer[node].index < step.index)):
            boundary[node] = True
            continue
        stack.append((node, True))
        stack += [(i, False) for i in reversed(node.inputs) if i not in seen]
    return order, list(boundary)


def plan_kernels(graph: Graph, kinds: dict, shapes: dict, units: int = 1) -> KernelPlan:
    """Cut a lowered graph into steps (see the module's docstring for the rules)."""
    steps: list[Step] = []
    producer: dict[Node, Step] = {}

    def new_step(kind, **kw) -> Step:
        s = Step(kind, index=len(steps), **kw)
        steps.append(s)
        return s

    def after(deps) -> int:
        """The first step index at which every value of `deps` is in memory."""
        return max((producer[d].index + 1 for d in deps if d in producer), default=0)

    def row_consistent(r: Node) -> bool:
        """A reduction read by element-wise work in its own kernel gives one value per row (an
        epilogue value does not: it is made in the kernel's last pass)."""
        if r.op not in PRIMITIVE_REDUCTIONS:
            return False
        shape = shapes[r.inputs[0]]
        axes = reduced_axes(shape, dict(r.attrs)["axis"])
        return dict(r.attrs)["keepdims"] or axes == tuple(range(len(axes)))

    def materialize(v: Node, why: str) -> None:
        """Put an element-wise value in memory: in a reduction kernel's epilogue, else an element-wise kernel."""
        if v in producer or v.op in ("input", "constant") or kinds[v].weak:
            return
        _, deps = cone([v], producer)
        # A reduction kernel over v's shape whose reductions it reads per row: v is its epilogue;
        # or a value per row made of its reductions (a mean from its sum), stored once per row.
        for s in reversed(steps):
            if s.kind != "reduce" or s.split > 1:
                continue
            outer = tuple(n for d, n in enumerate(s.space) if d not in s.axes)
            kept = tuple(1 if d in s.axes else n for d, n in enumerate(s.space))
            per_row = tuple(shapes[v]) in (outer, kept) and s.axes
            if tuple(shapes[v]) != s.space and not per_row:
                continue
            if per_row and any(producer.get(d) is not s and shapes[d] != () for d in deps):
                continue  # it reads arrays of its own: not made of this kernel's row values alone
            own = [d for d in deps if producer.get(d) is s]
            fits = all(d.op in PRIMITIVE_REDUCTIONS for d in own) if per_row else all(row_consistent(d) for d in own)
            if own and fits and after(d for d in deps if producer.get(d) is not s) <= s.index:
                s.nodes.append(v)
                producer[v] = s
                return
        for s in steps:
            if s.kind == "elementwise" and s.space == tuple(shapes[v]):
                # Values this kernel computes anyway are computed again here, not read.
                _, own_deps = cone([v], producer, s)
                if after(d for d in own_deps if producer.get(d) is not s) <= s.index:
                    s.nodes.append(v)
                    producer[v] = s
                    return
        producer[v] = new_step("elementwise", nodes=[v], space=tuple(shapes[v]), why=why)

    for node in graph.nodes:
        if node.op in PRIMITIVE_REDUCTIONS:
            x = node.inputs[0]
            space = tuple(shapes[x])
            axes = reduced_axes(space, dict(node.attrs)["axis"])
            outer = math.prod(n for d, n in enumerate(space) if d not in axes)
            inner = math.prod(space[d] for d in axes)
            split = _split(outer, inner, units)
            _, deps = cone([x], producer)
            placed = None
            for s in reversed(steps):
                if s.kind != "reduce" or s.space != space or s.axes != axes or s.split != split:
                    continue
                own = [d for d in deps if producer.get(d) is s]
                if own and (split > 1 or not all(row_consistent(d) for d in own)):
                    continue
                if after(d for d in deps if producer.get(d) is not s) <= s.index:
                    placed = s
                    break
            if placed is None:
                why = ("a reduction over data in memory" if not steps else
                       "it reads values that earlier kernels finish" if any(d in producer for d in deps) else
                       "another shape or other axes than the kernels before it")
                placed = new_step("reduce", space=space, axes=axes, split=split, why=why)
            placed.nodes.append(node)
            producer[node] = placed
        elif node.op in OPS and OPS[node.op].kind in ("matmul", "view"):
            for operand in node.inputs:
                materialize(operand, f"the operand of a {'matrix product' if node.op == 'matmul' else node.op} "
                                     f"must be in memory")
            kind = "matmul" if node.op == "matmul" else "view"
            why = "BLAS on the host memory the kernels share" if kind == "matmul" else "no work: strides"
            producer[node] = new_step(kind, nodes=[node], why=why)
        elif not is_elementwise(node) and node.op not in ("input", "constant"):
            raise NotImplementedError(f"no kernel for {node.op}; lower it first")  # pragma: no cover
    for _, node in graph.outputs:
        if is_elementwise(node):
            materialize(node, "the program's outputs")

    # What each step writes to memory: the values another step, or the caller, reads. A reduction
    # read only by its own kernel's later passes stays in registers.
    wanted = {n for _, n in graph.outputs}
    for s in steps:
        for n in s.nodes:
            if s.kind in ("matmul", "view"):
                wanted.update(n.inputs)
                continue
            roots = n.inputs if n.op in PRIMITIVE_REDUCTIONS else [n]
            _, deps = cone(roots, producer, s)
            wanted.update(d for d in deps if producer.get(d) is not s)
    stores = {s: [n for n in s.nodes if n in wanted or s.kind != "reduce"] for s in steps}
    # An element-wise kernel whose operands broadcast (a bias added to a product's rows) runs a row
    # per work-item with vector code along the rows, as reduction kernels do, not the strided path.
    for s in steps:
        if s.kind == "elementwise" and len(s.space) >= 2:
            reads = {b for n in s.nodes for b in cone([n], producer, s)[1] if b.op != "constant" and shapes[b] != ()}
            if any(tuple(shapes[b]) != s.space for b in reads):
                s.axes = (len(s.space) - 1,)
                s.why += "; operands broadcast: by rows"
    for s in steps:
        if s.kind in ("reduce", "elementwise") and s.split == 1:
            across = s.kind == "reduce" and len(s.space) - 1 not in s.axes
            s.host = math.prod(s.space) < (HOST_ELEMENTS_ACROSS_ROWS if across and HOST_ELEMENTS else HOST_ELEMENTS)
    return KernelPlan(graph, steps, producer, stores, kinds, shapes)


def _split(outer: int, inner: int, units: int) -> int:
    """Work-items per row: rows enough for every compute unit run a row each; a few rows of much
    data are split into contiguous chunks, each reduced by one work-item, and the partials combined."""
    if outer >= 4 * units or inner < 16384:
        return 1
    return max(1, min(-(-4 * units // max(outer, 1)) * 2, inner // 8192, 64))

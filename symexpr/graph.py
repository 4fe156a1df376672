"""The dataflow graph: immutable nodes, a graph in topological order, and its printing.

A `Node` is one operation applied to other nodes. Leaves are `input` (attrs holds
the input's name) and `constant` (attrs holds the value: a Python int, float or
bool is *weak*, as literals are in NumPy 2; a NumPy scalar is strong). Nodes
hash and compare by identity, so a set or dict of nodes is one of identities;
common-subexpression elimination keys a node by one level (op, attrs and the
operands themselves), which never recurses, so graphs of any depth are fine.
The source span and the variable name are carried for messages and readable
kernels, and are never part of a key.
"""
from __future__ import annotations

import functools
import gc
from contextlib import contextmanager
from typing import Iterable, Iterator

from .errors import Span, source_line
from .ops import OPS

_set = object.__setattr__


@contextmanager
def collector_paused():
    """Parsing, passes and code generation make an object or more per node, and graphs are acyclic
    (reference counting frees them all), yet each of CPython's full collections walks every live
    object: at 10,000 statements that was a third of the parse and 40% of the optimizer, and it
    grows faster than the program. Pause the cyclic collector while one of them runs."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class FrozenError(AttributeError):
    """A node or a graph is not changed in place: make a new one (`Node.replace`)."""


# Plain classes rather than dataclasses: making the two dataclasses, and importing `dataclasses`,
# was a quarter of `import symexpr` (about 6 ms) in every new process.
class _Immutable:
    """Fields in __slots__, set once by __init__ (object.__setattr__); pickled and copied by them."""

    __slots__ = ()

    def __setattr__(self, attr, value):
        raise FrozenError(f"a {type(self).__name__} is immutable (its {attr!r} too): make a new one"
                          + (" with node.replace()" if isinstance(self, Node) else ""))

    def __delattr__(self, attr):
        self.__setattr__(attr, None)  # refused, as an assignment is: FrozenError

    def __reduce__(self):
        return type(self), tuple(getattr(self, field) for field in self.__slots__)


class Node(_Immutable):
    """One value of the program. Immutable; compares and hashes by identity.

    op:        an op name from `ops.OPS`, or "input" / "constant".
    inputs:    the nodes this one reads, in operand order.
    attrs:     op parameters: the input's name, the constant's value; later an axis.
    name:      the variable the source assigned this value to, if any (SSA-free name).
    span:      the expression's place in the source.
    statement: the whole statement's place in the source.
    """

    __slots__ = ("op", "inputs", "attrs", "name", "span", "statement")
    op: str
    inputs: tuple["Node", ...]
    attrs: tuple
    name: str | None
    span: Span | None
    statement: Span | None

    def __init__(self, op: str, inputs: tuple["Node", ...] = (), attrs: tuple = (), name: str | None = None,
                 span: Span | None = None, statement: Span | None = None):
        _set(self, "op", op)
        _set(self, "inputs", inputs)
        _set(self, "attrs", attrs)
        _set(self, "name", name)
        _set(self, "span", span)
        _set(self, "statement", statement)

    def replace(self, **changes) -> "Node":
        """A new node with these fields changed (op, inputs, attrs, name, span, statement)."""
        fields = {"op": self.op, "inputs": self.inputs, "attrs": self.attrs, "name": self.name,
                  "span": self.span, "statement": self.statement}
        unknown = changes.keys() - fields.keys()
        if unknown:
            raise TypeError(f"Node has no field {sorted(unknown)[0]!r}")
        fields.update(changes)
        return Node(**fields)

    @property
    def value(self):
        """A constant's value."""
        assert self.op == "constant"
        return self.attrs[0]

    @property
    def input_name(self) -> str:
        assert self.op == "input"
        return self.attrs[0]

    @property
    def is_weak(self) -> bool:
        """A weak constant: a Python scalar, which takes the other operand's dtype."""
        return self.op == "constant" and type(self.attrs[0]) in (int, float, bool, complex)

    def with_inputs(self, inputs: Iterable["Node"]) -> "Node":
        """This node reading other inputs; itself when they are the same objects."""
        inputs = tuple(inputs)
        if len(inputs) == len(self.inputs) and all(a is b for a, b in zip(inputs, self.inputs)):
            return self
        return self.replace(inputs=inputs)

    def __repr__(self) -> str:
        return f"Node({self.op}, {len(self.inputs)} inputs{', ' + self.name if self.name else ''})"


def constant(value, *, span=None, statement=None) -> Node:
    return Node("constant", (), (value,), None, span, statement)


class Graph(_Immutable):
    """A program as a dataflow graph. Immutable; compares by identity.

    nodes:   every node, in topological order (a node after all of its inputs).
    inputs:  the input nodes, in order of first appearance in the source.
    outputs: (name, node) pairs, in the order results are returned.
    source:  the program text, for messages.
    """

    __slots__ = ("nodes", "inputs", "outputs", "source")
    nodes: tuple[Node, ...]
    inputs: tuple[Node, ...]
    outputs: tuple[tuple[str, Node], ...]
    source: str

    def __init__(self, nodes: tuple[Node, ...], inputs: tuple[Node, ...], outputs: tuple[tuple[str, Node], ...],
                 source: str = ""):
        _set(self, "nodes", nodes)
        _set(self, "inputs", inputs)
        _set(self, "outputs", outputs)
        _set(self, "source", source)

    def __repr__(self) -> str:
        return (f"Graph({len(self.nodes)} nodes, inputs {list(self.input_names)}, "
                f"outputs {list(self.output_names)})")

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(n.input_name for n in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.outputs)

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def users(self) -> dict[Node, list[Node]]:
        """For each node, the nodes that read it (in topological order)."""
        users: dict[Node, list[Node]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                users[i].append(n)
        return users

    def labels(self) -> dict[Node, str]:
        """A short, unique, readable label for every node: its variable name, else %k."""
        labels: dict[Node, str] = {}
        taken: set[str] = set()
        for k, n in enumerate(self.nodes):
            base = n.input_name if n.op == "input" else n.name
            label = base if base and base not in taken else (f"{base}.{k}" if base else f"%{k}")
            taken.add(label)
            labels[n] = label
        return labels

    def __str__(self) -> str:
        return render_graph(self)


def render_operand(node: Node, labels: dict[Node, str]) -> str:
    if node.op == "constant":
        return repr(node.value) if node.is_weak else f"{node.value!r}"
    return labels[node]


def render_keywords(node: Node) -> list[str]:
    """`axis=1`, `keepdims=True`: a node's keywords that differ from the op's defaults."""
    if not node.attrs or node.op not in OPS:
        return []
    defaults = dict(OPS[node.op].keywords)
    return [f"{k}={v!r}" for k, v in node.attrs if defaults.get(k, object()) != v or type(defaults[k]) is not type(v)]


def render_graph(graph: Graph, removed: Iterable[Node] = ()) -> str:
    """One node a line, `label = op operands`, with the source line it came from."""
    labels = graph.labels()
    rows = []
    texts: dict[tuple, str] = {}  # each statement's text once: a long statement has many nodes
    for n in graph.nodes:
        if n.op == "constant":
            continue  # constants are shown inline where they are used
        if n.op == "input":
            rhs = "input"
        else:
            rhs = f"{n.op}({', '.join([render_operand(i, labels) for i in n.inputs] + render_keywords(n))})"
        where = ""
        if n.statement is not None and graph.source and n.op != "input":
            key = (n.statement.start, n.statement.end)
            if key not in texts:
                texts[key] = shorten(" ".join(n.statement.text(graph.source).split()))
            where = f"line {n.statement.line}: {texts[key]}"
        rows.append((labels[n], rhs, where))
    width_l = max((len(r[0]) for r in rows), default=0)
    width_r = max((len(r[1]) for r in rows), default=0)
    lines = [f"{l:<{width_l}} = {r:<{width_r}}   # {w}".rstrip(" #") if w else f"{l:<{width_l}} = {r}"
             for l, r, w in rows]
    outs = ", ".join(name if labels[n] == name else f"{name} = {render_operand(n, labels)}"
                     for name, n in graph.outputs)
    lines.append(f"outputs: {outs}")
    return "\n".join(lines)


def shorten(text: str, width: int = 72) -> str:
    """A statement's text for a one-line display: long statements keep their start and end."""
    if len(text) <= width:
        return text
    half = (width - 5) // 2
    return f"{text[:half]} ... {text[-half:]}"


def topological(roots: Iterable[Node]) -> tuple[Node, ...]:
    """Every node reachable from `roots`, inputs before users, in a stable order.

    Iterative, so a chain of any length is fine.
    """
    order: list[Node] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, 0)]
        while stack:
            node, k = stack.pop()
            if k == 0 and id(node) in seen:
                continue
            if k < len(node.inputs):
                stack.append((node, k + 1))
                child = node.inputs[k]
                if id(child) not in seen:
                    stack.append((child, 0))
            else:
                seen.add(id(node))
                order.append(node)
    return tuple(order)


def rebuild(graph: Graph, nodes: tuple[Node, ...] | None = None, outputs=None) -> Graph:
    """A graph with the given outputs whose inputs keep the original input order."""
    outputs = graph.outputs if outputs is None else tuple(outputs)
    nodes = nodes if nodes is not None else topological(n for _, n in outputs)
    present = set(nodes)
    inputs = tuple(n for n in graph.inputs if n in present)
    return Graph(nodes, inputs, outputs, graph.source)


def relabel(graph: Graph, input_order=None, line_numbers=None) -> Graph:
    """The graph with its inputs in `input_order` (names first in that order, the rest after) and
    each span's line read through `line_numbers` (line k of the text is labelled line_numbers[k-1]):
    a program traced from Python is labelled with the Python function's lines. Offsets stay, so
    a span's text is still the program's."""
    def span(s):
        if s is None or not line_numbers or not 1 <= s.line <= len(line_numbers):
            return s
        end_line = s.end_line
        if end_line is not None and 1 <= end_line <= len(line_numbers):
            end_line = line_numbers[end_line - 1]
        return s._replace(line=line_numbers[s.line - 1], end_line=end_line)

    new: dict[int, Node] = {}
    for n in graph.nodes:
        new[id(n)] = n.replace(inputs=tuple(new[id(i)] for i in n.inputs), span=span(n.span),
                               statement=span(n.statement))
    inputs = [new[id(n)] for n in graph.inputs]
    if input_order is not None:
        rank = {name: k for k, name in enumerate(input_order)}
        inputs.sort(key=lambda n: rank.get(n.input_name, len(rank)))
    outputs = tuple((name, new[id(n)]) for name, n in graph.outputs)
    return Graph(tuple(new[id(n)] for n in graph.nodes), tuple(inputs), outputs, graph.source)


def statement_text(graph_source: str, node: Node) -> str:
    """`line 2, `c = a + b`` for messages about a node."""
    if node.statement is None:
        return ""
    return _statement_text(graph_source, node.statement)


@functools.lru_cache(maxsize=256)
def _statement_text(graph_source: str, statement) -> str:
    # Cached: a rewrite report names the statement of each of thousands of nodes of one long
    # statement, and normalizing its text each time made that quadratic (40,000 terms: seconds).
    text = " ".join(statement.text(graph_source).split()) or source_line(graph_source, statement.line).strip()
    return f"line {statement.line}, `{text}`"

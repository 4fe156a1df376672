"""Common subexpression elimination: one node for each distinct computation.

One walk in topological order with a dict from a node's one-level key (its op,
its attributes, the identities of its already de-duplicated operands) to the
first node that had it, so the pass is linear in the size of the graph and
never recurses. The first node keeps its name and source position.

Operands of a commutative op are keyed in sorted order (so `b * a` shares
`a * b`) only where f(a, b) and f(b, a) agree bit for bit:

- always for ops whose result is never a float (`&`, `|`, `^`, `==`, `!=`,
  `and`, `or`), so the compile-time pipeline does it;
- for `+`, `*`, `hypot` only when the result is not a float, which only the
  per-signature run (from `specialize`, with `kinds`) knows. A float `a + b`
  and `b + a` differ when both operands are NaNs of different sign or payload:
  the result is the first operand's NaN (x86, and NumPy on it), so
  np.signbit(nan + -nan) is False and np.signbit(-nan + nan) is True.
  `fast_math=True` shares them anyway.

`maximum(a, b)` and `maximum(b, a)` never share: they differ on -0.0 against
+0.0 as well.
"""
from __future__ import annotations

import struct

from ..graph import Graph, Node, rebuild, statement_text
from ..ops import OPS
from .walk import reading

# Commutative ops whose result is never a float: either operand order is always the same bits.
NEVER_FLOAT = frozenset(("bitwise_and", "bitwise_or", "bitwise_xor", "equal", "not_equal",
                         "logical_and", "logical_or"))


def _constant_key(value) -> tuple:
    """Constants share only when bit-identical and of one type: 0.0 and -0.0, or two NaNs of other payloads, do not."""
    if hasattr(value, "dtype"):  # first: np.float64 is a subclass of float, and strong
        return (value.dtype.str, value.tobytes())
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    return (type(value).__name__, value)


def _key(node: Node, swappable: bool) -> tuple:
    if node.op == "constant":
        return ("constant", _constant_key(node.value))
    # The operands themselves: nodes hash and compare by identity.
    return (node.op, node.attrs, tuple(sorted(node.inputs, key=id)) if swappable else node.inputs)


def _swappable(node: Node, kinds: dict | None, fast_math: bool) -> bool:
    return node.op in OPS and OPS[node.op].commutative and (
        node.op in NEVER_FLOAT or (kinds is not None and (fast_math or kinds[node].dtype.kind != "f")))


def shares_more_with_kinds(graph: Graph, kinds: dict, fast_math: bool = False) -> bool:
    """Whether these node kinds let the pass key some node in either operand order that it keys in
    written order without them: if not, a graph the pass ran on already has nothing more to share."""
    return any(node.op not in NEVER_FLOAT and _swappable(node, kinds, fast_math) for node in graph.nodes)


def eliminate_common_subexpressions(graph: Graph, records: list, kinds: dict | None = None,
                                    fast_math: bool = False) -> Graph:
    """Share every computation that is written more than once.

    `kinds` (node -> infer.Kind, for this graph) lets commutative float-free ops share in either order.
    """
    from . import Rewrite

    first: dict[tuple, Node] = {}
    new: dict[Node, Node] = {}
    changed = False
    for node in graph.nodes:
        replaced = reading(node, tuple([new[i] for i in node.inputs]))
        key = _key(replaced, _swappable(node, kinds, fast_math))
        if key in first:
            kept = first[key]
            new[node] = kept
            changed = True
            if node.op != "constant" and node.statement is not None and node.span is not None:
                text = " ".join(node.span.text(graph.source).split())
                where = statement_text(graph.source, kept) or "an earlier statement"
                records.append(Rewrite("eliminate_common_subexpressions",
                                       f"`{text}` is computed already ({where}): shared", node))
            continue
        first[key] = replaced
        new[node] = replaced
        changed |= replaced is not node
    if not changed:
        return graph
    outputs = tuple((name, new[n]) for name, n in graph.outputs)
    nodes = tuple(dict.fromkeys(new[n] for n in graph.nodes))
    return rebuild(graph, nodes, outputs)

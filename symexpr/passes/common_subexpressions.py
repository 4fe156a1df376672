"""Common subexpression elimination: one node for each distinct computation.

One walk in topological order with a dict from a node's one-level key (its op,
its attributes, the identities of its already de-duplicated operands) to the
first node that had it, so the pass is linear in the size of the graph and
never recurses. Operands of commutative ops (`ops.Op.commutative`, set only
where f(a, b) and f(b, a) agree bit for bit) are keyed in sorted order, so
`a * b` and `b * a` share; `maximum(a, b)` and `maximum(b, a)` do not (they
differ on -0.0 against +0.0 and on which NaN comes out). The first node keeps
its name and source position.
"""
from __future__ import annotations

import struct

from ..graph import Graph, Node, rebuild, statement_text
from ..ops import OPS


def _constant_key(value) -> tuple:
    """Constants share only when bit-identical and of one type: 0.0 and -0.0, or two NaNs of other payloads, do not."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if hasattr(value, "dtype"):
        return (value.dtype.str, value.tobytes())
    return (type(value).__name__, value)


def _key(node: Node) -> tuple:
    if node.op == "constant":
        return ("constant", _constant_key(node.value))
    operands = tuple(id(i) for i in node.inputs)
    if node.op in OPS and OPS[node.op].commutative:
        operands = tuple(sorted(operands))
    return (node.op, node.attrs, operands)


def eliminate_common_subexpressions(graph: Graph, records: list) -> Graph:
    """Share every computation that is written more than once."""
    from . import Rewrite

    first: dict[tuple, Node] = {}
    new: dict[Node, Node] = {}
    changed = False
    for node in graph.nodes:
        replaced = node.with_inputs(new[i] for i in node.inputs)
        key = _key(replaced)
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

"""What every pass uses to walk a graph: liveness by a backward sweep, and cheap node rewiring."""
from __future__ import annotations

from typing import Iterable

from ..graph import Node


def live_nodes(nodes: tuple[Node, ...], outputs: Iterable[Node]) -> set[Node]:
    """The nodes the outputs read, directly or not: one backward sweep over topological `nodes`
    (a set of nodes is a set of identities: nodes hash and compare by identity)."""
    live = set(outputs)
    for n in reversed(nodes):
        if n in live:
            live.update(n.inputs)
    return live


def reading(node: Node, inputs: tuple[Node, ...]) -> Node:
    """`node` reading `inputs` instead; the node itself when they are the same objects.

    Node.with_inputs, without Node.replace: passes call it for every node, and at
    10,000 statements replace() was a third of the optimizer's time. (Nodes compare by
    identity, so the tuple comparison is one `is` per operand.)
    """
    if inputs == node.inputs:
        return node
    return Node(node.op, inputs, node.attrs, node.name, node.span, node.statement)

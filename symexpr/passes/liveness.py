"""Liveness: for each value of a graph, the step that computes it and the last step that reads it.

Steps are indices into `graph.nodes`, the order every engine runs them in. An
output is read by the caller, after the last step: its last use is
`len(graph.nodes)`. A value nothing reads dies where it is made.
"""
from __future__ import annotations

from typing import NamedTuple

from ..graph import Graph, Node


class Lifetime(NamedTuple):
    """A value is alive from the step that makes it to its last use, both included."""

    first: int
    last: int


def liveness(graph: Graph) -> dict[Node, Lifetime]:
    """Every node's lifetime, in one pass over the graph."""
    first = {n: k for k, n in enumerate(graph.nodes)}
    last = dict(first)
    for k, n in enumerate(graph.nodes):
        for i in n.inputs:
            last[i] = k
    end = len(graph.nodes)
    for _, n in graph.outputs:
        last[n] = end
    return {n: Lifetime(first[n], last[n]) for n in graph.nodes}

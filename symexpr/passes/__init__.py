"""The optimizer: a visible tuple of passes, each a plain function graph -> graph.

Each pass takes a graph and a list to append `Rewrite` records to, never
mutates its input, and returns the same graph object when it had nothing to
do. `optimize` runs the pipeline in order; `prog.explain()` reports what each
pass did.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph import Graph, Node
from .dead_code import eliminate_dead_code


@dataclass(frozen=True)
class Rewrite:
    """One change a pass made: which pass, the node it touched (with its source position), and what it did."""

    pass_name: str
    message: str
    node: Node | None = None

    @property
    def line(self) -> int | None:
        return self.node.statement.line if self.node is not None and self.node.statement else None


PIPELINE = (
    eliminate_dead_code,
)


def optimize(graph: Graph, *, fast_math: bool = False) -> tuple[Graph, list[Rewrite]]:
    """Run every pass of the pipeline; the optimized graph and the rewrites, in order."""
    records: list[Rewrite] = []
    for p in PIPELINE:
        graph = p(graph, records)
    return graph, records


def specialize(graph: Graph, kinds: dict, *, fast_math: bool = False) -> tuple[Graph, list[Rewrite]]:
    """Passes that need the inputs' dtypes, run by each engine once per call signature.

    `kinds` maps input name -> `infer.Kind`. Algebraic simplification lives here, because
    whether `x * 1` may become `x` depends on x's dtype (bool * 1 is int64 in NumPy).
    """
    return graph, []

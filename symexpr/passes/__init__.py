"""The optimizer: a visible tuple of passes, each a plain function graph -> graph.

Each pass takes a graph and a list to append `Rewrite` records to, never
mutates its input, and returns the same graph object when it had nothing to
do. `optimize` runs the pipeline in order; `prog.explain()` reports what each
pass did.

Two stages:

- `optimize(graph)`, once per program, dtype-agnostic (PIPELINE): dead code,
  constant folding (with NumPy itself), common subexpressions.
- `specialize(graph, kinds)`, once per call signature, by every engine:
  algebraic simplification (simplify.py: which identities are exact depends
  on dtypes), sharing of `b + a` with `a + b` where the dtype makes it exact,
  dead code again.

Analyses for a signature: `liveness.liveness` (first and last use of every
value) and `memory_plan.plan_memory` (buffer sharing, peak bytes).
"""
from __future__ import annotations

from typing import NamedTuple

from ..graph import Graph, Node, collector_paused
from ..infer import infer_kinds
from .common_subexpressions import eliminate_common_subexpressions, shares_more_with_kinds
from .dead_code import eliminate_dead_code
from .fold_constants import fold_constants
from .simplify import simplify


class Rewrite(NamedTuple):
    """One change a pass made: which pass, the node it touched (with its source position), and what it did."""

    pass_name: str
    message: str
    node: Node | None = None

    @property
    def line(self) -> int | None:
        return self.node.statement.line if self.node is not None and self.node.statement else None


# Dtype-agnostic, run once by `compile`. Dead code goes first so that nothing is folded or shared
# for nothing; folding before sharing lets `2 + 3` and `5` share; the last sweep drops the operands
# that folding and sharing left unread.
PIPELINE = (
    eliminate_dead_code,
    fold_constants,
    eliminate_common_subexpressions,
    eliminate_dead_code,
)


def optimize(graph: Graph, *, fast_math: bool = False) -> tuple[Graph, list[Rewrite]]:
    """Run every pass of the pipeline; the optimized graph and the rewrites, in order."""
    records: list[Rewrite] = []
    with collector_paused():
        for p in PIPELINE:
            graph = p(graph, records)
    return graph, records


def specialize(graph: Graph, kinds: dict, *, fast_math: bool = False,
               known: dict | None = None) -> tuple[Graph, list[Rewrite]]:
    """Passes that need the inputs' dtypes, run by each engine once per call signature, on the graph
    the compile-time pipeline made.

    `kinds` maps input name -> `infer.Kind`; `known` may hold the graph's node kinds, already
    inferred for them (infer_kinds). Algebraic simplification lives here, because whether `x * 1`
    may become `x` depends on x's dtype (bool * 1 is int64 in NumPy). The same graph object comes
    back when nothing applies.
    """
    records: list[Rewrite] = []
    with collector_paused():
        node_kinds = known if known is not None else infer_kinds(graph, kinds)
        return _specialize(graph, kinds, records, fast_math, node_kinds)


def _specialize(graph: Graph, kinds: dict, records: list, fast_math: bool, known: dict) -> tuple[Graph, list[Rewrite]]:
    simplified = simplify(graph, kinds, records, fast_math=fast_math, known=known)
    if simplified is graph and not shares_more_with_kinds(graph, known, fast_math):
        return graph, records  # the pipeline shared and swept this graph; the dtypes add nothing to share
    # Share `b + a` with `a + b` where the dtype makes that exact (not for floats: NaN signs), and
    # what `x ** 2 -> x * x` wrote twice; then drop the operands the rules left unread.
    node_kinds = known if simplified is graph else infer_kinds(
        simplified, {n: kinds[n] for n in simplified.input_names}, known)
    simplified = eliminate_common_subexpressions(simplified, records, node_kinds, fast_math)
    simplified = eliminate_dead_code(simplified, records)
    return simplified, records

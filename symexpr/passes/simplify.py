"""Algebraic simplification that cannot change a single bit of any result.

Runs per call signature (from `specialize`), because whether a rule holds
depends on dtypes: `x * 1` is `x` for an int32 x but not for a bool x
(bool * 1 is int64), and `x + 0` is `x` for integers but not for floats
(-0.0 + 0 is +0.0). A rule fires only when

- its algebra holds bit for bit for x's dtype kind (the `kinds` column:
  NumPy's dtype.kind letters b, i, u, f), NaN, inf and -0.0 included, and
- the rewritten value has exactly the node's Kind (dtype and weakness), so
  NumPy's promotion is untouched (`int32 * 1.0` is float64: not rewritten).

No rule removes an operation that can raise, so no NumPy error becomes a
value. `x * 0`, `x - x` and `x / x` are never rewritten: NaN and inf would
change. The one bit these rules may change is a *signaling* NaN's quiet bit:
arithmetic such as `x * 1` quiets a signaling NaN (checked on NumPy 2.4),
the rewritten program returns it as it came; every quiet NaN keeps its payload.

`fast_math=True` adds rules that are wrong for -0.0, NaN or inf, listed in
FAST_MATH_IDENTITIES.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..graph import Graph, Node, rebuild
from ..infer import Kind, _result_kind, infer_kinds
from ..ops import CASTS
from .walk import live_nodes, reading


class Identity(NamedTuple):
    """`op(x, c) -> x` (or `op(c, x)`) for a constant c equal to `value`, when x's dtype kind is in `kinds`."""

    op: str
    positions: tuple[int, ...]   # where the constant may stand
    value: object
    kinds: str
    algebra: str


IDENTITIES = (
    # x * 1 -> x: exact for every int, bool (x * True) and float, -0.0, inf and NaN payloads included.
    Identity("multiply", (0, 1), 1, "biuf", "x * 1 -> x"),
    # x / 1 -> x: exact for floats; an int or bool x gives float64, which the Kind check refuses.
    Identity("divide", (1,), 1, "f", "x / 1 -> x"),
    # x ** 1 -> x: pow(x, 1) is x, NaN and -0.0 included; bool ** 1 is int64 (refused by the Kind check).
    Identity("power", (1,), 1, "iuf", "x ** 1 -> x"),
    # x - 0 -> x: -0.0 - 0 is -0.0 in round-to-nearest, so this holds for floats too (the constant must be +0).
    Identity("subtract", (1,), 0, "iuf", "x - 0 -> x"),
    # x + 0 -> x: integers and bool (x | False) only: for floats -0.0 + 0 is +0.0.
    Identity("add", (0, 1), 0, "biu", "x + 0 -> x"),
    # x | 0 -> x, x ^ 0 -> x: bitwise, exact on integers and bool.
    Identity("bitwise_or", (0, 1), 0, "biu", "x | 0 -> x"),
    Identity("bitwise_xor", (0, 1), 0, "biu", "x ^ 0 -> x"),
    # x and True -> x, x or False -> x: the result is bool(x), which is x only for a bool x.
    Identity("logical_and", (0, 1), True, "b", "x and True -> x"),
    Identity("logical_or", (0, 1), False, "b", "x or False -> x"),
)

FAST_MATH_IDENTITIES = (
    # x + 0 -> x: gives -0.0 where x is -0.0 (IEEE gives +0.0).
    Identity("add", (0, 1), 0, "f", "x + 0 -> x (fast math: -0.0 + 0 is +0.0)"),
)

# op(op(x)) -> x: an involution, for the dtype kinds it holds on.
INVOLUTIONS = {
    "negative": "iuf",     # --x -> x: a sign flip twice (two's complement wraps back, -MIN is MIN); NumPy refuses bool
    "invert": "biu",       # ~~x -> x: bitwise not twice
    "logical_not": "b",    # not not x -> x: only for bool x (otherwise it is bool(x))
}

# op(x) -> x where op does nothing to x's values (the Kind check keeps the dtype).
IDEMPOTENT_ON = {
    "positive": "iuf",     # +x -> x: a copy, bit for bit
    **{cast: "biuf" for cast in CASTS},  # float64(x) -> x for a float64 x: astype to its own dtype is a copy
}

# Strength reduction: x ** 2 -> x * x. NumPy's float power has a fast path that computes x*x for
# an exponent of 2; checked bit for bit on NumPy 2.4 over random bit patterns, denormals, inf and
# NaN in float32 and float64. Integers wrap identically either way.
SQUARE_KINDS = "iuf"


def _is_value(node: Node, value) -> bool:
    """A constant node equal to `value`, and +0 rather than -0.0 (x - -0.0 is not x for x = -0.0)."""
    if node.op != "constant":
        return False
    v = node.value
    if not bool(v == value):
        return False
    return not (np.asarray(v).dtype.kind == "f" and math.copysign(1.0, float(v)) < 0)


def simplify(graph: Graph, kinds: dict, records: list, *, fast_math: bool = False,
             known: dict | None = None) -> Graph:
    """Apply the identities where they hold bit for bit for these input kinds (input name -> Kind);
    `known`: the graph's node kinds, if already inferred for them (infer_kinds)."""
    from . import Rewrite

    old_kinds = known if known is not None else infer_kinds(graph, kinds)
    by_op: dict[str, list[Identity]] = {}
    for rule in IDENTITIES + (FAST_MATH_IDENTITIES if fast_math else ()):
        by_op.setdefault(rule.op, []).append(rule)

    new: dict[Node, Node] = {}
    kind_of: dict[Node, Kind] = {}   # the rewritten nodes' kinds: a rewrite never changes a Kind

    def rewrite(node: Node, inputs: tuple[Node, ...], kind: Kind) -> tuple[Node, str] | None:
        """The node's replacement and the rule's algebra, or None."""
        dkind = kind.dtype.kind
        for rule in by_op.get(node.op, ()):
            for p in rule.positions:
                c, x = inputs[p], inputs[1 - p]
                if dkind in rule.kinds and _is_value(c, rule.value) and kind_of[x] == kind:
                    return x, rule.algebra
        if node.op in INVOLUTIONS and inputs[0].op == node.op:
            x = inputs[0].inputs[0]
            if dkind in INVOLUTIONS[node.op] and kind_of[x] == kind:
                return x, f"{node.op}({node.op}(x)) -> x"
        if node.op in IDEMPOTENT_ON and dkind in IDEMPOTENT_ON[node.op] and kind_of[inputs[0]] == kind:
            return inputs[0], f"{node.op}(x) -> x"
        if node.op == "power" and dkind in SQUARE_KINDS and _is_value(inputs[1], 2):
            x = inputs[0]
            if kind_of[x] == kind and _result_kind("multiply", (kind, kind), (None, None)) == kind:
                return Node("multiply", (x, x), (), node.name, node.span, node.statement), "x ** 2 -> x * x"
        return None

    changed = False
    for node in graph.nodes:
        inputs = tuple([new[i] for i in node.inputs])
        kind = old_kinds[node]
        found = rewrite(node, inputs, kind) if node.inputs else None
        if found is None:
            result = reading(node, inputs)
        else:
            result, algebra = found
            text = " ".join(node.span.text(graph.source).split()) if node.span is not None else node.op
            records.append(Rewrite("simplify", f"`{text}`: {algebra} for {kind}", node))
        changed |= result is not node
        new[node] = result
        kind_of[result] = kind
    if not changed:
        return graph
    outputs = tuple((name, new[n]) for name, n in graph.outputs)
    nodes = tuple(dict.fromkeys(new[n] for n in graph.nodes))
    live = live_nodes(nodes, (n for _, n in outputs))
    nodes = tuple(n for n in nodes if n in live)
    return rebuild(graph, nodes, outputs)

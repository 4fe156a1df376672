"""Reverse-mode differentiation: each `grad(y, x)` of a graph replaced by the graph of its value.

`grad(y, x)` is the gradient of the scalar `y` with respect to the variable `x` (an input or a named
value). For each `y`, one backward sweep visits the nodes between `y` and the variables
differentiated, latest first, and asks each op's rule (`Op.grad` in ops.py) for its operands'
shares of the gradient, written in the graph's own ops. One generic step follows every share of an
operand that may have been broadcast: `sum_to(share, operand)` sums it back to the operand's shape
(and dtype). The forward values the rules read are the forward graph's own nodes, so the backward
pass shares them, and dead code, sharing and folding run on the result like on any program.

Every node made here carries the span and statement of the node it differentiates, so `explain()`,
`to_dot()` and the kernels name the line each gradient step comes from; the gradient of a named
value `h` is named `grad_h`.

Runs once per program, before the optimizer (`Program`), also with `optimize=False`: `grad` is part
of the language, not an optimization. Returns the same graph object when there is no `grad`.
"""
from __future__ import annotations


from ..errors import ParseError, SymExprError
from ..graph import Graph, Node, constant, rebuild, statement_text, topological
from ..ops import CASTS, OPS, ZERO

# Unary element-wise ops keep their operand's shape and dtype, so their shares need no `sum_to`;
# a cast does not keep the dtype.
_SAME_SHAPE = frozenset(n for n, op in OPS.items() if op.kind == "elementwise" and op.arity == 1 and n not in CASTS)


class _Value:
    """A node inside a gradient rule: Python's operators make nodes of the graph's ops."""

    __slots__ = ("node", "d")
    __hash__ = None  # == makes a node, as on arrays

    def __init__(self, node: Node, d: "_Rule"):
        self.node, self.d = node, d

    def _bin(op, reflected=False):  # noqa: N805 - a factory of methods
        def method(self, other):
            return self.d.make(op, (other, self) if reflected else (self, other))
        return method

    __add__, __radd__ = _bin("add"), _bin("add", True)
    __sub__, __rsub__ = _bin("subtract"), _bin("subtract", True)
    __mul__, __rmul__ = _bin("multiply"), _bin("multiply", True)
    __truediv__, __rtruediv__ = _bin("divide"), _bin("divide", True)
    __pow__ = _bin("power")
    __and__ = _bin("bitwise_and")
    __eq__, __ge__, __gt__ = _bin("equal"), _bin("greater_equal"), _bin("greater")
    __le__, __lt__ = _bin("less_equal"), _bin("less")
    del _bin

    def __neg__(self):
        return self.d.make("negative", (self,))


class _Rule:
    """What a rule sees as `d`: the node differentiated (`d.out`, `d.kw`) and a maker of nodes
    (`d.cos(x)`, `d.sum(x, axis=1, keepdims=True)`), each placed at the node's line."""

    def __init__(self, node: Node):
        self.node = node
        self.out = _Value(node, self)
        self.kw = dict(node.attrs)

    def __getattr__(self, opname: str):
        if opname not in OPS:
            raise AttributeError(opname)
        return lambda *args, **kw: self.make(opname, args, kw)

    def make(self, opname: str, args, kw=None) -> _Value:
        op = OPS[opname]
        inputs = tuple(a.node if isinstance(a, _Value) else
                       constant(a, span=self.node.span, statement=self.node.statement) for a in args)
        attrs = tuple((k, (kw or {}).get(k, default)) for k, default in op.keywords)
        return _Value(Node(opname, inputs, attrs, None, self.node.span, self.node.statement), self)

    def keep(self, v: _Value) -> _Value:
        """A value reduced by this node with the reduced axes kept as 1, to broadcast against the operand."""
        axis = self.kw.get("axis")
        if self.kw.get("keepdims") or axis is None:
            return v  # kept already, or a scalar
        return self.make("expand_dims", (v,), {"axis": axis})


def expand_gradients(graph: Graph, records: list | None = None) -> Graph:
    """Replace every `grad(y, x)` node with the gradient's graph; the same graph if there is none."""
    if not any(n.op == "grad" for n in graph.nodes):
        return graph
    # The variables differentiated for each y, so one sweep per y serves every grad(y, .) of it.
    wanted: dict[Node, list[Node]] = {}
    for n in graph.nodes:
        if n.op == "grad":
            y, x = n.inputs
            if x.op != "input" and x.name is None:
                raise ParseError("grad(y, x) differentiates with respect to a variable: x must be an input "
                                 "or a name assigned before, not an expression", source=graph.source,
                                 span=x.span or n.span)
            wanted.setdefault(y, []).append(x)
    new: dict[Node, Node] = {}
    sweeps: dict[Node, dict[Node, Node]] = {}
    for node in graph.nodes:
        inputs = tuple(new[i] for i in node.inputs)
        if node.op != "grad":
            new[node] = node.with_inputs(inputs)
            continue
        y = node.inputs[0]
        if y not in sweeps:
            sweeps[y] = _sweep(graph, new[y], [new[x] for x in wanted[y] if x in new], node)
        x = inputs[1]
        share = sweeps[y].get(x)
        where = dict(span=node.span, statement=node.statement)
        name = node.name or f"grad_{_label(x)}"
        if share is None:  # y does not depend on x: zeros of x's shape
            share = constant(0.0, **where)
        if share.op == "sum_to" and share.inputs[1] is x:
            new[node] = share.replace(name=name, **where)  # in x's shape and dtype already
        else:
            new[node] = Node("sum_to", (share, x), (), name, **where)
        if records is not None:
            from . import Rewrite
            records.append(Rewrite("expand_gradients", f"grad of {_label(y)} with respect to {_label(x)} "
                                   f"expanded into its backward pass", node))
    return rebuild(graph, None, tuple((name, new[n]) for name, n in graph.outputs))


def _label(node: Node) -> str:
    return node.input_name if node.op == "input" else (node.name or node.op)


def differentiable_inputs(graph: Graph, y: Node) -> tuple[str, ...]:
    """The inputs whose gradient `y` has a share of (their names, in the graph's input order): those it
    reads through ops that pass a gradient, not only through a comparison, a `where` condition, or a
    cast to an integer."""
    grads = _sweep(graph, y, list(graph.inputs), y, strict=False)
    return tuple(n.input_name for n in graph.inputs if n in grads)


def _sweep(graph: Graph, y: Node, wrt: list[Node], at: Node, strict: bool = True) -> dict[Node, Node]:
    """The gradient of `y` with respect to every node between it and `wrt`: node -> its gradient.
    An op without a rule on the way is an error (strict), or passes nothing back."""
    order = topological([y])
    targets = set(wrt)
    # Active: depends on a variable differentiated through ops that pass a gradient.
    active: set[Node] = set()
    for n in order:
        if n in targets or (n.op not in ("input", "constant") and OPS[n.op].grad is not ZERO
                            and any(i in active for i in n.inputs)):
            active.add(n)
    if y not in active:
        return {}
    shares: dict[Node, list[Node]] = {y: [Node("seed", (y,), (), None, at.span, at.statement)]}
    grads: dict[Node, Node] = {}
    for n in reversed(order):
        parts = shares.pop(n, None)
        if not parts or n not in active:
            continue
        g = parts[0]
        for p in parts[1:]:
            g = Node("add", (g, p), (), None, n.span, n.statement)
        if n.name or n.op == "input":
            g = _named(g, f"grad_{_label(n)}")
        grads[n] = g
        if n.op == "input" or n in targets and not any(i in active for i in n.inputs):
            continue
        rule = OPS[n.op].grad
        if rule is None and not strict:
            continue
        if rule is None:
            what = "second derivatives are not supported" if OPS[n.op].internal else "it has no gradient rule"
            raise SymExprError(f"{statement_text(graph.source, n)}: cannot differentiate through `{n.op}`: {what}",
                               statement=n.statement)
        d = _Rule(n)
        outs = rule(d, _Value(g, d), *(_Value(i, d) for i in n.inputs))
        for operand, share in zip(n.inputs, outs):
            if share is None or operand not in active:
                continue
            share = share.node
            if n.op not in _SAME_SHAPE:
                share = Node("sum_to", (share, operand), (), None, n.span, n.statement)
            shares.setdefault(operand, []).append(share)
    return grads


def _named(node: Node, name: str) -> Node:
    return node if node.name else node.replace(name=name)

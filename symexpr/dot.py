"""Pictures of a program: Graphviz DOT text, an SVG when `dot` is installed, an HTML table when not.

`render_dot` is a pure function from a graph to DOT text: inputs as ovals,
operations as boxes labelled with their operation and the source line they came
from, outputs as bold boxes. Constants are drawn inline as small plain labels,
one per use, so a `0` read in three places does not pull the picture together.

With `removed=`, the nodes of the graph as written that the optimizer dropped
are drawn greyed and dashed. The optimized graph's nodes are new objects, so a
written node counts as kept when a node with the same operation and the same
source span (or, for inputs, the same name) survives.
"""
from __future__ import annotations

import html
import re
import shutil

from .graph import Graph, Node
from .ops import OPS

# Operators print as their symbol; functions by their first language name.
_GREY = 'color="#b0b0b0", fontcolor="#a0a0a0", style="dashed"'


def _quote(text: str) -> str:
    """A DOT double-quoted string; newlines become left-aligned line breaks."""
    text = _UNSAFE_IN_DOT.sub(" ", text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# Control characters (NUL, ESC, ...) and Unicode line breaks from comments in the source: Graphviz
# fails on them with a syntax error, so they become spaces, as in kernel comments.
_UNSAFE_IN_DOT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def op_text(node: Node) -> str:
    """How an operation reads in a picture: `*`, `sin`, `where`."""
    op = OPS.get(node.op)
    if op is None:
        return node.op
    if op.symbol:
        return op.symbol
    return op.functions[0] if op.functions else op.name


def statement_of(node: Node, source: str) -> str:
    """`line 3: d = a * b`, or "" when the node has no source position."""
    if node.statement is None or not source:
        return ""
    text = " ".join(node.statement.text(source).split())
    return f"line {node.statement.line}: {text}"


def _identity(node: Node):
    """What a node is, across optimization: its input name, else its op and source span."""
    if node.op == "input":
        return ("input", node.input_name)
    span = node.span
    return (node.op, (span.start, span.end) if span is not None else id(node))


def removed_nodes(written: Graph, optimized: Graph) -> list[Node]:
    """Nodes of the graph as written with no counterpart in the optimized graph (constants aside)."""
    kept = {_identity(n) for n in optimized.nodes}
    return [n for n in written.nodes if n.op != "constant" and _identity(n) not in kept]


def _label(node: Node, labels: dict[Node, str], source: str) -> str:
    if node.op == "input":
        return labels[node]
    # The variable as written (`m`, even where the text printing says `m.7` to tell two apart).
    head = f"{node.name} = {op_text(node)}" if node.name else op_text(node)
    where = f"line {node.statement.line}" if node.statement is not None else ""
    return f"{head}\n{where}".rstrip()


def render_dot(graph: Graph, removed: Graph | None = None, *, rewrites=(), name: str = "program") -> str:
    """The graph as Graphviz DOT text; with `removed=` the written graph, its pruned nodes greyed
    (their tooltip says why, from the optimizer's `rewrites` records when given)."""
    reasons = {_identity(r.node): r.message for r in rewrites if getattr(r, "node", None) is not None}
    source = graph.source
    labels = graph.labels()
    ids: dict[int, str] = {}
    lines = [f"digraph {name} {{",
             "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [color="#555555", arrowsize=0.7];']
    counter = [0]

    def const_node(value_node: Node, style: str = "") -> str:
        counter[0] += 1
        cid = f"k{counter[0]}"
        extra = f", {style}" if style else ""
        lines.append(f"  {cid} [label={_quote(repr(value_node.value))}, shape=plaintext, fontsize=10{extra}];")
        return cid

    def add_node(node: Node, nid: str, style: str = "") -> None:
        extra = f", {style}" if style else ""
        tip = statement_of(node, source) or labels.get(node, node.op)
        if style and _identity(node) in reasons:
            tip = f"{tip}\n{reasons[_identity(node)]}"
        tooltip = _quote(tip)
        if node.op == "input":
            shape = 'shape=ellipse, style="filled", fillcolor="#e8f0fe"' if not style else "shape=ellipse"
        else:
            shape = 'shape=box, style="rounded,filled", fillcolor="#fff7e0"' if not style else "shape=box"
        lines.append(f"  {nid} [label={_quote(_label(node, labels, source))}, {shape}, tooltip={tooltip}{extra}];")

    def add_edges(node: Node, style: str = "") -> None:
        extra = f" [{style}]" if style else ""
        for k, operand in enumerate(node.inputs):
            src = const_node(operand, style) if operand.op == "constant" else ids[id(operand)]
            lines.append(f"  {src} -> {ids[id(node)]}{extra};")

    for k, node in enumerate(graph.nodes):
        if node.op == "constant":
            continue
        ids[id(node)] = f"n{k}"
        add_node(node, f"n{k}")
        add_edges(node)

    if removed is not None:
        gone = removed_nodes(removed, graph)
        written_labels = removed.labels()
        # Written nodes that survived stand for themselves in the edges of the greyed ones.
        survivors = {_identity(n): ids[id(n)] for n in graph.nodes if id(n) in ids}
        for k, node in enumerate(removed.nodes):
            if node.op != "constant" and _identity(node) in survivors and id(node) not in ids:
                ids[id(node)] = survivors[_identity(node)]
        for k, node in enumerate(gone):
            ids[id(node)] = f"r{k}"
            labels[node] = written_labels[node]
        for k, node in enumerate(gone):
            add_node(node, f"r{k}", _GREY)
            add_edges(node, _GREY)

    for k, (out, node) in enumerate(graph.outputs):
        oid = f"out{k}"
        lines.append(f"  {oid} [label={_quote(out)}, shape=box, style=bold, penwidth=2];")
        src = const_node(node) if node.op == "constant" else ids[id(node)]
        lines.append(f"  {src} -> {oid};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_available() -> bool:
    """Is the Graphviz `dot` program installed (needed for pictures, not for DOT text)?"""
    return shutil.which("dot") is not None


def render_svg(dot_text: str) -> str | None:
    """DOT text -> SVG through the graphviz package and `dot`; None when either is missing."""
    if not dot_available():
        return None
    try:
        import graphviz
    except ImportError:
        return None
    try:
        return graphviz.Source(dot_text).pipe(format="svg").decode("utf-8")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError):
        return None


def render_html(graph: Graph, *, title: str = "") -> str:
    """The graph as an HTML table, one row per operation: the picture for machines without `dot`."""
    labels = graph.labels()
    esc = html.escape

    def operand(n: Node) -> str:
        return repr(n.value) if n.op == "constant" else labels[n]

    rows = []
    for node in graph.nodes:
        if node.op == "constant":
            continue
        if node.op == "input":
            what, args = "input", ""
        else:
            what, args = node.op, ", ".join(operand(i) for i in node.inputs)
        rows.append(f"<tr><td><b>{esc(labels[node])}</b></td><td>{esc(what)}</td><td>{esc(args)}</td>"
                    f"<td style='text-align:left'><code>{esc(statement_of(node, graph.source))}</code></td></tr>")
    outs = ", ".join(f"{esc(name)}" + ("" if labels.get(n) == name else f" = {esc(operand(n))}")
                     for name, n in graph.outputs)
    caption = f"<caption style='text-align:left'>{esc(title)}</caption>" if title else ""
    return ("<table>" + caption
            + "<tr><th>name</th><th>op</th><th>operands</th><th style='text-align:left'>source</th></tr>"
            + "".join(rows)
            + f"<tr><td colspan='4' style='text-align:left'><b>outputs:</b> {outs}</td></tr></table>")


def mimebundle(prog) -> dict[str, str]:
    """What Jupyter shows for a Program: an SVG picture with `dot`, else an HTML table."""
    bundle = {"text/plain": repr(prog)}
    svg = render_svg(prog.to_dot())
    if svg is not None:
        bundle["image/svg+xml"] = svg
    else:
        bundle["text/html"] = render_html(prog.graph, title=repr(prog))
    return bundle


class Picture:
    """A graph to look at in Jupyter: SVG when `dot` is installed, else the HTML table; `.dot` is the text."""

    def __init__(self, dot_text: str, graph: Graph, title: str = ""):
        self.dot = dot_text
        self.graph = graph
        self.title = title

    def _repr_mimebundle_(self, include=None, exclude=None):
        svg = render_svg(self.dot)
        if svg is not None:
            return {"image/svg+xml": svg, "text/plain": self.title or "<graph>"}
        return {"text/html": render_html(self.graph, title=self.title), "text/plain": self.dot}

    def __repr__(self) -> str:
        return self.dot


def picture(prog, *, show_removed: bool = False, written: bool = False) -> Picture:
    """The optimized graph (or, with written=True, the graph as written) as a Picture."""
    if written:
        return Picture(render_dot(prog.parsed), prog.parsed, "as written")
    return Picture(prog.to_dot(show_removed=show_removed), prog.graph,
                   "optimized" + (", removed nodes greyed" if show_removed else ""))

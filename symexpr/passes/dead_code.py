"""Dead code elimination: only what the requested outputs need survives."""
from __future__ import annotations

from ..graph import Graph, rebuild
from .walk import live_nodes


def eliminate_dead_code(graph: Graph, records: list) -> Graph:
    """Drop every node the outputs do not read; inputs only dead code read stop being inputs."""
    from . import Rewrite

    keep = live_nodes(graph.nodes, (n for _, n in graph.outputs))
    if len(keep) == len(graph.nodes):
        return graph
    outs = ", ".join(graph.output_names)
    for n in graph.nodes:
        if n in keep or n.op == "constant":
            continue
        if n.op == "input":
            records.append(Rewrite("eliminate_dead_code", f"input `{n.input_name}` is only read by dead code: "
                                   "no longer an input", n))
        elif n.name is not None:
            text = " ".join(n.statement.text(graph.source).split()) if n.statement else n.name
            records.append(Rewrite("eliminate_dead_code", f"`{text}` is never used by outputs {outs}: removed", n))
    # Keep the original order of the surviving nodes: stable, readable output.
    nodes = tuple(n for n in graph.nodes if n in keep)
    return rebuild(graph, nodes)

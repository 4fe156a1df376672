"""Pictures: DOT text always; an SVG in Jupyter when Graphviz `dot` exists, an HTML table when not."""
import re

import symexpr as sx
from symexpr import dot

SOURCE = """\
s = sin(a) + sin(a)
k = a * (2 + 3)
u = a - b
c = s * k
"""


def nodes_of(text):
    """DOT node statements: id -> attribute text."""
    found = dict(re.findall(r"^\s+(\w+) \[(.*)\];$", text, re.M))
    return {k: v for k, v in found.items() if k not in ("node", "edge")}


def edges_of(text):
    return re.findall(r"^\s+(\w+) -> (\w+)", text, re.M)


def test_dot_has_inputs_ops_with_lines_and_outputs():
    prog = sx.compile("d = a * b\nc = where(d > 0, d, 0)", backend="numpy")
    text = prog.to_dot()
    assert text.startswith("digraph program {") and text.rstrip().endswith("}")
    nodes = nodes_of(text)
    labels = {nid: re.search(r'label="([^"]*)"', attrs).group(1) for nid, attrs in nodes.items()}
    assert sorted(l for nid, l in labels.items() if "ellipse" in nodes[nid]) == ["a", "b"]
    assert "d = *\\nline 1" in labels.values()
    assert ">\\nline 2" in labels.values()
    assert "c = where\\nline 2" in labels.values()
    outputs = [nid for nid, attrs in nodes.items() if "style=bold" in attrs]
    assert [labels[o] for o in outputs] == ["c"]
    # Every op node has the right number of incoming edges; the output is fed by the where.
    incoming = {}
    for src, dst in edges_of(text):
        incoming.setdefault(dst, []).append(src)
    where = next(n for n, l in labels.items() if l.startswith("c = where"))
    assert len(incoming[where]) == 3
    assert incoming[outputs[0]] == [where]
    assert "dashed" not in text


def test_show_removed_greys_pruned_nodes_with_reasons():
    prog = sx.compile(SOURCE, outputs=["c"], backend="numpy")
    plain = prog.to_dot()
    assert "line 3" not in plain and "dashed" not in plain
    text = prog.to_dot(show_removed=True)
    grey = {nid: attrs for nid, attrs in nodes_of(text).items() if 'style="dashed"' in attrs}
    grey_labels = sorted(re.search(r'label="([^"]*)"', a).group(1) for a in grey.values())
    # dead code (u and the input b only it read), the repeated sin, the folded 2 + 3
    assert grey_labels == ["+\\nline 2", "2", "3", "b", "sin\\nline 1", "u = -\\nline 3"]
    assert any("never used by outputs c" in a for a in grey.values())
    # Greyed nodes hang off the surviving input `a`, not off copies of it.
    a_ids = [nid for nid, attrs in nodes_of(text).items() if 'label="a"' in attrs]
    assert len(a_ids) == 1
    assert (a_ids[0], next(n for n, a in grey.items() if 'label="u' in a)) in edges_of(text)


def test_dot_text_renders_when_graphviz_is_installed():
    prog = sx.compile(SOURCE, outputs=["c"], backend="numpy")
    svg = dot.render_svg(prog.to_dot(show_removed=True))
    if dot.dot_available():
        assert svg is not None and svg.lstrip().startswith("<?xml") and "<svg" in svg
    else:
        assert svg is None


def test_jupyter_shows_svg_with_dot_and_a_table_without(monkeypatch):
    prog = sx.compile("d = a * b\nc = d + 1", backend="numpy")
    bundle = prog._repr_mimebundle_()
    assert bundle["text/plain"] == repr(prog)
    if dot.dot_available():
        assert "<svg" in bundle["image/svg+xml"] and "text/html" not in bundle
    monkeypatch.setattr(dot, "dot_available", lambda: False)
    bundle = prog._repr_mimebundle_()
    assert "image/svg+xml" not in bundle
    table = bundle["text/html"]
    assert table.startswith("<table>") and table.count("<tr>") == 1 + 4 + 1  # header, a b d c, outputs
    assert "<code>line 1: d = a * b</code>" in table and "<b>outputs:</b> c" in table


def test_html_escapes_and_dot_quotes():
    assert dot._quote('say "hi"\\') == '"say \\"hi\\"\\\\"'
    prog = sx.compile("c = a < b", backend="numpy")
    assert "a &lt; b" in dot.render_html(prog.graph)


def test_picture_for_notebooks(monkeypatch):
    prog = sx.compile(SOURCE, outputs=["c"], backend="numpy")
    written = dot.picture(prog, written=True)
    assert "line 3" in written.dot and "dashed" not in written.dot
    both = dot.picture(prog, show_removed=True)
    assert both.dot == prog.to_dot(show_removed=True)
    monkeypatch.setattr(dot, "dot_available", lambda: False)
    bundle = both._repr_mimebundle_()
    assert "image/svg+xml" not in bundle and "<table>" in bundle["text/html"]

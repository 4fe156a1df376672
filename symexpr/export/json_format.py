"""The program file: a compiled program as versioned JSON, and back, without parsing its text again.

The file (format "symexpr-program", version 1) is one JSON object:

    format     "symexpr-program"
    version    1; a reader refuses a larger number (a file from a newer symexpr)
    source     the program text (spans index into it)
    options    {"outputs": [...] | null, "backend": ..., "optimize": ..., "fast_math": ...}
    nodes      every node of the graphs below, once, in topological order (operands first):
               {"op": name, "inputs": [node indices], "name": variable | null,
                "span": [line, column, start, end, end_line, end_column] | null, "statement": same}
               and by op: input: "input": its name; constant: "value"; an op with keywords
               (sum's axis, keepdims): "keywords": {name: value}, every keyword, defaults included
    parsed     {"nodes": [node indices, in order], "inputs": [node indices],
                "outputs": [[name, node index], ...]}: the graph as written
    optimized  the same for the graph the compile-time passes made
    rewrites   [{"pass": name, "message": text, "node": node index | null}, ...]
    params     names of inputs bound to arrays in the .npz beside the file (same name, suffix .npz)

A value (constant, keyword) is JSON: null, true/false, an integer, a finite float (a weak Python
scalar, as literals are), a list (a tuple), or {"dtype": name, "value": v} for a NumPy scalar
(strong) and {"float": "0x<bits>"} / {"dtype": "float32", "bits": "0x<bits>"} for a float kept bit
for bit (non-finite floats, and every strong float: NaN's sign and payload survive); a complex
number is {"complex": [real, imag]} (a weak Python complex, its parts as floats are) or
{"dtype": "complex64", "bits": ["0x<real bits>", "0x<imag bits>"]}.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, SymExprError, Span
from ..graph import Graph, Node, topological
from ..ops import OPS, SUPPORTED_DTYPES
from ..passes import Rewrite

FORMAT = "symexpr-program"
VERSION = 1
_DTYPES = {d.name: d for d in SUPPORTED_DTYPES}
_BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


# -- values -------------------------------------------------------------------------------------

def encode_value(value):
    """A constant's or keyword's value as JSON (see the module's docstring)."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        if math.isfinite(value):
            return value
        return {"float": f"0x{int(np.array(value).view(np.uint64)):016x}"}
    if isinstance(value, tuple):
        return [encode_value(v) for v in value]
    if type(value) is complex:
        return {"complex": [encode_value(value.real), encode_value(value.imag)]}
    if isinstance(value, np.generic) and value.dtype.kind == "c" and value.dtype in SUPPORTED_DTYPES:
        return {"dtype": value.dtype.name, "bits": [encode_value(p)["bits"] for p in (value.real, value.imag)]}
    if isinstance(value, np.generic) and value.dtype in SUPPORTED_DTYPES:
        if value.dtype.kind == "f":
            bits = int(np.array(value).view(_BITS[value.dtype.itemsize]))
            return {"dtype": value.dtype.name, "bits": f"0x{bits:0{2 * value.dtype.itemsize}x}"}
        return {"dtype": value.dtype.name, "value": value.item()}
    raise SymExprError(f"save: a value of type {type(value).__name__} ({value!r}) has no place in the program file")


def decode_value(data):
    """encode_value's inverse."""
    if data is None or type(data) in (bool, int, float, str):
        return data
    if isinstance(data, list):
        return tuple(decode_value(v) for v in data)
    if isinstance(data, dict):
        if set(data) == {"float"}:
            return float(np.array(int(data["float"], 16), np.uint64).view(np.float64))
        if set(data) == {"complex"} and isinstance(data["complex"], list) and len(data["complex"]) == 2:
            re, im = (decode_value(v) for v in data["complex"])
            if type(re) is float and type(im) is float:
                return complex(re, im)
        dtype = _DTYPES.get(data.get("dtype"))
        if dtype is None:
            raise FileFormatError(f"unknown dtype {data.get('dtype')!r}")
        if set(data) == {"dtype", "bits"} and dtype.kind == "c" and isinstance(data["bits"], list) \
                and len(data["bits"]) == 2:
            part = np.dtype(f"f{dtype.itemsize // 2}")
            re, im = (np.array(int(b, 16), _BITS[part.itemsize]).view(part)[()] for b in data["bits"])
            return dtype.type(complex(re, im)) if not (np.isnan(re) or np.isnan(im)) else \
                np.array([re, im], part).view(dtype)[0]
        if set(data) == {"dtype", "bits"} and dtype.kind == "f":
            return np.array(int(data["bits"], 16), _BITS[dtype.itemsize]).view(dtype)[()]
        if set(data) == {"dtype", "value"} and dtype.kind != "f" and type(data["value"]) in (bool, int):
            return dtype.type(data["value"])
    raise FileFormatError(f"a value the format does not have: {data!r}")


# -- writing ------------------------------------------------------------------------------------

def _node_record(node: Node, index: dict[Node, int]) -> dict:
    rec = {"op": node.op, "inputs": [index[i] for i in node.inputs], "name": node.name,
           "span": _span(node.span), "statement": _span(node.statement)}
    if node.op == "input":
        rec["input"] = node.input_name
    elif node.op == "constant":
        rec["value"] = encode_value(node.value)
    elif node.attrs:
        if node.op not in OPS or [k for k, _ in node.attrs] != [k for k, _ in OPS[node.op].keywords]:
            raise SymExprError(f"save: the attributes {node.attrs!r} of op `{node.op}` are not its keywords")
        rec["keywords"] = {k: encode_value(v) for k, v in node.attrs}
    return rec


def _span(span: Span | None):
    return None if span is None else list(span)


def _graph_record(graph: Graph, index: dict[Node, int]) -> dict:
    return {"nodes": [index[n] for n in graph.nodes], "inputs": [index[n] for n in graph.inputs],
            "outputs": [[name, index[n]] for name, n in graph.outputs]}


def program_record(prog) -> dict:
    """The JSON object of a program (without its parameters' arrays)."""
    roots = list(prog.parsed.nodes) + list(prog.graph.nodes)
    roots += [r.node for r in prog.rewrites if r.node is not None]
    nodes = topological(roots)
    index = {n: k for k, n in enumerate(nodes)}
    return {
        "format": FORMAT,
        "version": VERSION,
        "source": prog.source,
        "options": dict(prog._options),
        "nodes": [_node_record(n, index) for n in nodes],
        "parsed": _graph_record(prog.parsed, index),
        "optimized": _graph_record(prog.graph, index),
        "rewrites": [{"pass": r.pass_name, "message": r.message, "node": index.get(r.node)}
                     for r in prog.rewrites],
        "params": [],
    }


def render_record(record: dict) -> str:
    """The JSON text: a key a line, and each node, rewrite and graph on one line of its own."""
    rows = []
    for key, value in record.items():
        if key in ("nodes", "rewrites") and value:
            items = ",\n".join(f"  {json.dumps(v, allow_nan=False)}" for v in value)
            rows.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            rows.append(f" {json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
    return "{\n" + ",\n".join(rows) + "\n}\n"


def params_path(path) -> Path:
    """Where the parameters of the program file `path` are: beside it, suffix .npz."""
    return Path(path).with_suffix(".npz")


def save(prog, path, params=None) -> None:
    """Write `prog` to `path` (JSON) and `params` (input name -> array) beside it as an .npz."""
    record = program_record(prog)
    params = dict(params or {})
    for name in params:
        if name not in prog.inputs:
            raise SymExprError(f"save: params names `{name}`, which is not an input of the program "
                               f"(the inputs are {', '.join(prog.inputs) or 'none'})")
    arrays = {name: np.asarray(value) for name, value in prog.convert(params).items()}
    arrays.update({n: v for n, v in prog.params.items() if n not in arrays})  # a loaded program's own
    record["params"] = sorted(arrays)
    path = Path(path)
    path.write_text(render_record(record))
    if arrays:
        with open(params_path(path), "wb") as f:
            np.savez(f, **arrays)


# -- reading ------------------------------------------------------------------------------------

def _read_span(data) -> Span | None:
    if data is None:
        return None
    if not isinstance(data, list) or len(data) != 6 or not all(v is None or type(v) is int for v in data[:6]) \
            or None in data[:4]:
        raise FileFormatError(f"a span must be 6 integers (the last two may be null), not {data!r}")
    return Span(*data)


def _read_node(k: int, rec: dict, nodes: list[Node]) -> Node:
    op = rec["op"]
    inputs = rec["inputs"]
    if not isinstance(inputs, list) or not all(type(i) is int and 0 <= i < k for i in inputs):
        raise FileFormatError(f"node {k}: operands must be indices of earlier nodes, not {inputs!r}")
    inputs = tuple(nodes[i] for i in inputs)
    name = rec.get("name")
    if name is not None and type(name) is not str:
        raise FileFormatError(f"node {k}: a name must be text")
    if op == "input":
        if inputs or type(rec.get("input")) is not str:
            raise FileFormatError(f"node {k}: an input has a name and no operands")
        attrs = (rec["input"],)
    elif op == "constant":
        if inputs or "value" not in rec:
            raise FileFormatError(f"node {k}: a constant has a value and no operands")
        attrs = (decode_value(rec["value"]),)
        if type(attrs[0]) in (str, tuple) or attrs[0] is None:
            raise FileFormatError(f"node {k}: a constant's value must be a number or a bool")
    elif op in OPS:
        spec = OPS[op]
        if len(inputs) != spec.arity:
            raise FileFormatError(f"node {k}: `{op}` takes {spec.arity} operands, not {len(inputs)}")
        keywords = rec.get("keywords", {})
        if not isinstance(keywords, dict) or list(keywords) != [kw for kw, _ in spec.keywords]:
            raise FileFormatError(f"node {k}: `{op}` takes the keywords "
                                  f"{[kw for kw, _ in spec.keywords]}, not {list(keywords)}")
        attrs = tuple((kw, decode_value(v)) for kw, v in keywords.items())
    else:
        raise FileFormatError(f"node {k}: unknown op `{op}` (a file from a newer symexpr, or damaged)")
    return Node(op, inputs, attrs, name, _read_span(rec.get("span")), _read_span(rec.get("statement")))


def _read_graph(data, nodes: list[Node], source: str) -> Graph:
    indices = list(data["nodes"]) + list(data["inputs"]) + [i for _, i in data["outputs"]]
    if not all(type(i) is int and 0 <= i < len(nodes) for i in indices):
        raise FileFormatError(f"a graph's inputs and outputs must be node indices, not {indices!r}")
    ins = [nodes[i] for i in data["inputs"]]
    if any(n.op != "input" for n in ins):
        raise FileFormatError("a graph's inputs must be input nodes")
    outs = tuple((str(name), nodes[i]) for name, i in data["outputs"])
    order = [nodes[i] for i in data["nodes"]]
    present: set[Node] = set()
    for n in order:
        if any(i not in present for i in n.inputs):
            raise FileFormatError("a graph's nodes must come after their operands")
        present.add(n)
    if any(n not in present for n in ins) or any(n not in present for _, n in outs):
        raise FileFormatError("a graph's nodes must hold its inputs and outputs")
    return Graph(tuple(order), tuple(ins), outs, source)


def read_record(record) -> dict:
    """The parts of a program file, checked: source, options, parsed, graph, rewrites, params names."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise FileFormatError("not a symexpr program file (no \"format\": \"symexpr-program\")")
    version = record.get("version")
    if type(version) is not int or version < 1:
        raise FileFormatError(f"the format version must be a positive integer, not {version!r}")
    if version > VERSION:
        raise FileFormatError(f"the file is format version {version}, written by a newer symexpr; this one "
                              f"reads versions up to {VERSION}: upgrade symexpr to load it")
    try:
        source = record["source"]
        if type(source) is not str:
            raise FileFormatError("the source must be text")
        nodes: list[Node] = []
        for k, rec in enumerate(record["nodes"]):
            nodes.append(_read_node(k, rec, nodes))
        parsed = _read_graph(record["parsed"], nodes, source)
        graph = _read_graph(record["optimized"], nodes, source)
        rewrites = []
        for r in record["rewrites"]:
            node = r["node"]
            if node is not None and not (type(node) is int and 0 <= node < len(nodes)):
                raise FileFormatError("a rewrite's node must be a node index")
            rewrites.append(Rewrite(str(r["pass"]), str(r["message"]), None if node is None else nodes[node]))
        options = dict(record["options"])
        if set(options) - {"outputs", "backend", "optimize", "fast_math"}:
            raise FileFormatError(f"unknown options {sorted(set(options) - {'outputs', 'backend', 'optimize', 'fast_math'})}")
        params = list(record.get("params", []))
        if not all(type(p) is str for p in params):
            raise FileFormatError("params must be input names")
    except FileFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise FileFormatError(f"damaged program file ({type(err).__name__}: {err})") from None
    return {"source": source, "options": options, "parsed": parsed, "graph": graph, "rewrites": rewrites,
            "params": params}


def load(path, *, backend: str | None = None, device=None):
    """A program saved with `Program.save`: the same graphs, results and explain(), not parsed again.

    `backend=` chooses another backend than the one saved; the saved parameters (an .npz beside the
    file) are bound, and the program takes only its other inputs."""
    from ..program import Program

    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise FileFormatError(f"cannot read {path}: {err}") from None
    try:
        record = json.loads(text)
    except ValueError as err:
        raise FileFormatError(f"{path} is not a symexpr program file: not JSON ({err})") from None
    try:
        parts = read_record(record)
    except FileFormatError as err:
        raise FileFormatError(f"{path}: {err.message}") from None
    params = {}
    if parts["params"]:
        try:
            with np.load(params_path(path), allow_pickle=False) as npz:
                params = {name: npz[name] for name in parts["params"]}
        except (OSError, ValueError, KeyError, EOFError) as err:
            raise FileFormatError(f"{path}: cannot read its parameters from {params_path(path)}: {err}") from None
    options = dict(parts["options"])
    if backend is not None:
        options["backend"] = backend
    return Program._from_graphs(parts["source"], options, parts["parsed"], parts["graph"], parts["rewrites"],
                                params=params, device=device)

"""The call signature an export is made for: each input's dtype and shape, dimensions fixed or named.

`prog.to_c(d, a="float32[n]", b="float32[n, 3]")`, `prog.to_onnx(p, a=np.zeros(5, np.float32))`: an
input is given as text (`dtype[dims]`, a dim a number or a name; `dtype` alone for a 0-d array), or
as anything with `.dtype` and `.shape` (an array, a NumPy scalar). Named dimensions are the
exported code's run-time lengths; a name is one length everywhere it appears. Inputs bound to
saved parameters (`Program.params`) take their arrays' dtypes and shapes.

`specialize_for_export` gives the graph the engines would run for such a call (the NumPy engine's
specialization, then constant folding of what no input reaches), each node's dtype and shape, the
named dimensions standing for themselves.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import DTypeError, ShapeError, SymExprError
from ..graph import Graph, Node
from ..infer import Kind, infer_kinds, infer_shapes
from ..ops import SUPPORTED_DTYPES
from ..ops import OPS
from ..passes.fold_constants import fold_constants
from ..passes.lower import lower_composites

_SPEC = re.compile(r"^\s*([a-z0-9]+)\s*(?:\[\s*(.*?)\s*\])?\s*$")
_DIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DTYPES = {d.name: d for d in SUPPORTED_DTYPES}
# Named dimensions are inferred as stand-in lengths from here on, distinct from each other and from
# the signature's fixed lengths, so that NumPy's own shape rules (broadcasting, reductions, products)
# apply to them unchanged. Small enough that a few of them multiplied stay within int64.
_STAND_IN = 10007


class ExportError(SymExprError, ValueError):
    """A program or signature an export cannot express."""


def parse_spec(name: str, spec) -> tuple[np.dtype, tuple]:
    """`float32[n, 3]` (or an object with .dtype and .shape) -> (dtype, shape of ints and names)."""
    if isinstance(spec, str):
        m = _SPEC.match(spec)
        if m is None or m.group(1) not in _DTYPES:
            raise ExportError(f"input `{name}`: {spec!r} is not a signature: write a dtype "
                              f"({', '.join(_DTYPES)}) and the dimensions, as float32[n] or int64[3, n]")
        dims = []
        if m.group(2):
            for part in m.group(2).split(","):
                part = part.strip()
                if part.isdigit():
                    dims.append(int(part))
                elif _DIM_NAME.match(part):
                    dims.append(part)
                else:
                    raise ExportError(f"input `{name}`: dimension {part!r} of {spec!r} is neither a length nor a name")
        return _DTYPES[m.group(1)], tuple(dims)
    if type(spec) in (bool, int, float):
        raise ExportError(f"input `{name}`: a Python {type(spec).__name__} has no dtype of its own; give one, "
                          f"as {name}=\"float64\" or a NumPy scalar")
    if not (hasattr(spec, "dtype") and hasattr(spec, "shape")):
        raise ExportError(f"input `{name}`: give a signature as text (float32[n]) or an array, "
                          f"not {type(spec).__name__}")
    dtype = np.dtype(spec.dtype)
    if dtype not in SUPPORTED_DTYPES:
        raise DTypeError(f"input `{name}` has dtype {dtype}, which symexpr does not support")
    return dtype, tuple(int(d) for d in spec.shape)


@dataclass
class Exported:
    """A program specialized for one signature, as an exporter reads it.

    graph:   the specialized graph (every weak value folded to a constant).
    kinds:   each node's Kind.
    shapes:  each node's shape, a dimension an int or a name.
    inputs:  per graph input name: (dtype, shape).
    dims:    the named dimensions, in order of first appearance.
    params:  inputs bound to arrays (Program.params), by name.
    """

    graph: Graph
    kinds: dict[Node, Kind]
    shapes: dict[Node, tuple]
    inputs: dict[str, tuple]
    dims: tuple[str, ...]
    params: dict[str, np.ndarray]


def specialize_for_export(prog, signature: dict) -> Exported:
    """The program specialized for `signature` (input name -> spec); CallError for a name that is
    not an input (as a call says it), ExportError for an input the signature does not give."""
    params = dict(prog.params)
    prog._check_names(signature)
    missing = [n for n in prog.inputs if n not in signature]
    if missing:
        raise ExportError(f"the signature does not give input `{missing[0]}`: give each input's dtype and "
                          f"shape, as {missing[0]}=\"float32[n]\"")
    specs = {n: parse_spec(n, s) for n, s in signature.items()}
    specs.update({n: (np.asarray(v).dtype, np.asarray(v).shape) for n, v in params.items()})
    dims: list[str] = []
    for _, shape in specs.values():
        dims += [d for d in shape if isinstance(d, str) and d not in dims]
    fixed = {d for _, shape in specs.values() for d in shape if isinstance(d, int)}
    lengths = (v for v in range(_STAND_IN, 1 << 62) if v not in fixed)
    stand_in = {d: next(lengths) for d in dims}
    back = {v: d for d, v in stand_in.items()}

    class Spec:
        def __init__(self, dtype, shape):
            self.dtype, self.shape = dtype, tuple(stand_in.get(d, d) for d in shape)

    try:
        sig = prog._signature((), {n: Spec(*specs[n]) for n in prog.inputs})  # (params: their arrays)
    except ShapeError as err:
        message = err.message
        for d, v in stand_in.items():
            message = message.replace(str(v), d)
        new = ShapeError(message + (" (named dimensions are different lengths unless they have the same name)"
                                    if dims else ""), source=err.source, span=err.span)
        new.line, new.column = err.line, err.column
        raise new from None
    graph = fold_constants(sig.graph, [])
    kinds, shapes = sig.kinds, sig.shapes
    if any(OPS[n.op].kind == "gradient" for n in graph.nodes if n.op in OPS):
        # What differentiation made (sum_to, seed, count, matmul_grad) depends on the shapes: written
        # as sums, views and constants for these ones, which must then be numbers.
        if dims:
            raise ExportError(f"a program with gradients exports for fixed shapes only: give every dimension "
                              f"as a number, not {', '.join(dims)}")
        if graph is not sig.graph:
            kinds = infer_kinds(graph, {n: Kind(specs[n][0]) for n in graph.input_names})
            shapes = infer_shapes(graph, {n: specs[n][1] for n in graph.input_names})
        graph = fold_constants(lower_composites(graph, kinds, shapes), [])
    if graph is not sig.graph:
        input_kinds = {n: Kind(specs[n][0]) for n in graph.input_names}
        kinds = infer_kinds(graph, input_kinds)
        shapes = infer_shapes(graph, {n: tuple(stand_in.get(d, d) for d in specs[n][1]) for n in graph.input_names})
    named = {n: tuple(back.get(d, d) for d in s) for n, s in shapes.items()}
    return Exported(graph, kinds, named, {n: specs[n] for n in graph.input_names}, tuple(dims),
                    {n: np.ascontiguousarray(params[n]) for n in graph.input_names if n in params})

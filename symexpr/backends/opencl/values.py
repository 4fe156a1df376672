"""The body every kind of kernel shares: one `const` line per element-wise operation, named after the
user's variables, with the source line in a comment above each statement (`render_values`), and the
kernel arguments' records."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...graph import Graph, Node
from ...infer import Kind
from ...ops import CASTS
from .c_context import Ctx
from .c_ops import CL_OPS, operand_dtypes
from .c_types import _FLOAT16, _MASK, COMPARISONS, HALF_HELPERS, cl_type, convert, literal

if TYPE_CHECKING:
    from .elementwise import Signature

# -- the kernel ---------------------------------------------------------------------------------

KERNEL_NAME = "symexpr_kernel"


def var_names(graph: Graph) -> dict[Node, str]:
    """The kernel variable of every node: `v_<name>_<k>` (user names mangled), `t_<k>` for temporaries."""
    names = {}
    for k, n in enumerate(graph.nodes):
        base = n.input_name if n.op == "input" else n.name
        names[n] = f"v_{base}_{k}" if base else f"t_{k}"
    return names


def comment_text(graph: Graph, node: Node) -> str:
    """The statement a node came from, made safe for a `//` comment (no backslash, `?` or control characters)."""
    if node.statement is None or not graph.source:
        return ""
    text = " ".join(node.statement.text(graph.source).split())
    return f"line {node.statement.line}: {_UNSAFE_IN_COMMENT.sub(' ', text)}"


_UNSAFE_IN_COMMENT = re.compile(r"[^\x20-\x7e]|[\\?]")


# The ops whose vector code takes bool operands (as masks).
_VECTOR_BOOL_OPS = frozenset(("logical_and", "logical_or", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
                              "invert", "equal", "not_equal", "where", *CASTS))


def vector_width(graph: Graph, kinds: dict[Node, Kind], preferred: dict[str, int]) -> int:
    """The vector width for the flat path: the device's width for the graph's one float dtype, or 1.

    Vector code is used when every array value is that float dtype or bool, and every op
    has a vector rendering for its operands.
    """
    strong = [n for n in graph.nodes if not kinds[n].weak]
    floats = {kinds[n].dtype for n in strong if kinds[n].dtype.kind != "b"}
    if len(floats) != 1:
        return 1
    (f,) = floats
    if f.kind != "f" or preferred.get(f.name, 1) <= 1:
        return 1
    for n in strong:
        if n.op in ("input", "constant"):
            continue
        if not CL_OPS[n.op].vector:
            return 1
        ods = operand_dtypes(n, kinds)
        letters = {d.kind for d in ods}
        if not letters <= {"b", "f"}:
            return 1
        if "b" in letters and n.op not in _VECTOR_BOOL_OPS:
            return 1
        if n.op == "where" and any(d.kind == "b" for d in ods[1:]):
            return 1
    return preferred[f.name]


def uniformity(graph: Graph, kinds: dict[Node, Kind], signature: Signature) -> dict[Node, str | None]:
    """Per node, whether its value is the same all along NumPy's inner loop (a stride of 0 there),
    as the NumPy engine computes it: "" always (constants, Python scalars and what is computed from
    them), "n > 1" for a one-element array or one broadcast along the last dimension (NumPy's loop
    over a single element has a stride), None where it varies."""
    host = {graph.nodes[k] for k in signature.scalars}
    layout = dict(zip(graph.inputs, signature.inputs))
    out: dict[Node, str | None] = {}
    for n in graph.nodes:
        if n.op == "constant" or kinds[n].weak or n in host:
            out[n] = ""
        elif n.op == "input":
            lay = layout[n]
            broadcast = lay.how == "scalar" or (lay.how == "strided" and signature.ndim and lay.skip[-1])
            out[n] = "n > 1" if broadcast else None
        else:
            parts = [out[i] for i in n.inputs]
            out[n] = None if None in parts else max(parts)
    return out



def render_preamble(summary: str, uses_double: bool, helpers: dict, kernel_name: str, args: list) -> list[str]:
    """A kernel's first lines: what it is, the pragmas, the helpers its ops asked for, its signature."""
    out = [f"// symexpr: {summary}", "#pragma OPENCL FP_CONTRACT OFF"]
    # (complex64's exp, log, ... compute in double: c_complex.py)
    if uses_double or any("double" in src for src in helpers.values()):
        out.append("#pragma OPENCL EXTENSION cl_khr_fp64 : enable")
    out.append("")
    for src in helpers.values():
        out += [src, ""]
    out.append(f"__kernel void {kernel_name}(")
    params = [f"{'const ' + cl_type(a.dtype) if a.dtype is not None else a.pointer} {a.name}" for a in args]
    out.append(",\n".join(f"    {p}" for p in params) + ")")
    return out


# Kernels of more operations than this choose NaNs with select(), not ?: (see Ctx.blend).
BLEND_LIMIT = 1000


def render_values(graph: Graph, nodes, kinds: dict[Node, Kind], names: dict[Node, str], helpers: dict,
                  float_dtype, host=frozenset(), width: int = 1, vector_nodes: set | None = None,
                  said: list | None = None, uniform: dict | None = None) -> list[str]:
    """One `const` line per operation of `nodes` (element-wise ops, in order), each statement's source
    line in a comment above its first operation: the body every kind of kernel shares.

    Leaves, host values and weak values are not rendered (they are the kernel's arguments). With
    width > 1, `vector_nodes` holds the nodes that are vectors; the new ones are added to it.
    `said`, a one-element list, carries the statement commented last from one call to the next.
    `uniform` is `uniformity`'s answer per node; without it, constants, weak and host values are
    uniform and everything else varies.
    """
    lines = []
    vec = width > 1
    vector_nodes = vector_nodes if vector_nodes is not None else set()
    said = said if said is not None else [None]  # the statement whose comment was written last
    constants = {}  # (constant node, dtype, width) -> its text: a program reads few constants many times
    nodes = list(nodes)
    blend = len(nodes) <= BLEND_LIMIT
    for node in nodes:
        if node.op in ("constant", "input") or node in host or kinds[node].weak:
            continue
        is_vec = vec and not vector_nodes.isdisjoint(node.inputs)
        w = width if is_vec else 1
        ods = operand_dtypes(node, kinds)
        ctx = Ctx(node, ods, kinds[node].dtype, w, helpers, float_dtype=float_dtype, blend=blend,
                  uniform=tuple(_uniform(i, uniform, kinds, host) for i in node.inputs)
                  if node.op in ("power", "clip") else ())
        args = []
        for pos, (i, d) in enumerate(zip(node.inputs, ods)):
            bound = clip_bound(node, pos, kinds)
            if bound is not None:
                args.append(_clip_bound(i, d, bound, names))
            elif i.op == "constant":
                text = constants.get((i, d, w))
                if text is None:
                    text = constants[i, d, w] = _operand(i, d, kinds, names, ctx, vector_nodes)
                args.append(text)
            else:
                args.append(_operand(i, d, kinds, names, ctx, vector_nodes))
        if node.op in COMPARISONS and "uint64" in (ods[0].name, ods[1].name) and ods[0] != ods[1]:
            expr = _compare_uint64_weak(node, args, kinds, ctx)
        else:
            expr = CL_OPS[node.op].render(ctx, *args)
        if ctx.result == _FLOAT16 and node.op not in CASTS:
            # NumPy computes a float16 operation in float32 and rounds the result to float16.
            expr = f"{ctx.helper('sx_half', HALF_HELPERS['sx_half'])}({expr})"
        if is_vec:
            vector_nodes.add(node)
        if node.statement is not said[0]:  # the statement once, above its first operation
            said[0] = node.statement
            comment = comment_text(graph, node)
            if comment:
                lines.append(f"// {comment}")
        lines.append(f"const {ctx.t()} {names[node]} = {expr};")
    return lines


def _uniform(node: Node, uniform: dict | None, kinds, host) -> str | None:
    if uniform is not None:
        return uniform[node]
    return "" if node.op == "constant" or kinds[node].weak or node in host else None



def _operand(i: Node, d, kinds, names, ctx: Ctx, vector_nodes) -> str:
    """Operand `i` converted to dtype `d`, broadcast to a vector when the op is vector-wide."""
    src = kinds[i].dtype
    if i.op == "constant":
        if ctx.vector:
            if np.dtype(d).kind == "b":
                return ctx.const(bool(i.value), "bool")
            return ctx.const(i.value, d)
        return literal(i.value, d)
    name = names[i]
    if ctx.vector and i not in vector_nodes:
        # A scalar (host value or one-element input) meeting vector code: convert, then broadcast.
        scalar = convert(name, src, d, Ctx(ctx.node, (), np.dtype(d), 1))
        if np.dtype(d).kind == "b":
            return f"(({ctx.t('bool')})(-({_MASK[ctx.float_dtype.name]})({scalar})))"
        return f"(({ctx.t(d)})({scalar}))"
    return convert(name, src, d, ctx)


def clip_bound(node: Node, pos: int, kinds) -> tuple | None:
    """np.clip of an integer array drops a Python-int bound beyond the array's range
    (uint8 clipped below -1 is not clipped below): (side, array dtype) for such a bound, else None."""
    if node.op != "clip" or pos == 0 or kinds[node].weak:
        return None
    x, b = node.inputs[0], node.inputs[pos]
    if kinds[x].weak or kinds[x].dtype.kind not in "iu" or not (kinds[b].weak and kinds[b].dtype.kind == "i"):
        return None
    return ("lower" if pos == 1 else "upper", kinds[x].dtype)


def _clip_bound(i: Node, d, bound: tuple, names) -> str:
    """A Python-int clip bound: past the array's range it is no bound, the extreme of the dtype `d`."""
    side, xdt = bound
    d = np.dtype(d)
    xinfo = np.iinfo(xdt)
    none = (np.iinfo(d).min if side == "lower" else np.iinfo(d).max) if d.kind in "iu" else \
        (-math.inf if side == "lower" else math.inf)
    if i.op == "constant":
        v = i.value
        beyond = v <= xinfo.min if side == "lower" else v >= xinfo.max
        return literal(none if beyond else v, d)
    w = names[i]
    limit = literal(xinfo.min if side == "lower" else xinfo.max, "int64") if xdt.name != "uint64" else None
    if limit is None:  # a uint64 array: no Python int (an int64) is at or past its top
        cond = f"({w} <= 0)" if side == "lower" else "0"
    else:
        cond = f"({w} {'<=' if side == 'lower' else '>='} {limit})"
    return f"({cond} ? {literal(none, d)} : ({cl_type(d)}){w})"


def _compare_uint64_weak(node: Node, args: list[str], kinds, ctx: Ctx) -> str:
    """uint64 against a signed integer (a Python int or a signed array, given as a long, maybe
    negative), exactly, as NumPy 2 compares them (not through float64, which rounds above 2**53)."""
    op = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=", "equal": "==", "not_equal": "!="}[node.op]
    weak_first = ctx.operand_dtypes[0].name != "uint64"
    w, x = (args[0], args[1]) if weak_first else (args[1], args[0])
    # A negative signed value is below every uint64.
    below = {"<": True, "<=": True, ">": False, ">=": False, "==": False, "!=": True}[op]
    neg = below if weak_first else not below if op not in ("==", "!=") else below
    cmp = f"((ulong){w} {op} {x})" if weak_first else f"({x} {op} (ulong){w})"
    return f"(uchar)(({w} < 0) ? {int(neg)} : {cmp})"



@dataclass(frozen=True)
class Arg:
    """One kernel argument: its name in the kernel, what the runtime passes, and its scalar dtype (None: a buffer).

    what: ("n",) ("chunk",) ("shape", d) ("in", k) ("in_off", k) ("in_st", k, d) ("scalar_in", k)
          ("host", node index) ("out", k) ("out_off", k) ("out_st", k, d) ("err",)
    """

    name: str
    what: tuple
    dtype: np.dtype | None = None
    pointer: str = ""



"""Element-wise kernels: one `__kernel` for a whole specialized element-wise graph, as a pure function.

`render_kernel(graph, kinds, signature)` returns the source text and nothing else: building,
caching and launching live in `engine.py`. Contiguous same-shape arrays take a flat, vectorized
path; broadcast and strided ones are indexed with strides.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...graph import Graph, Node, collector_paused
from ...infer import Kind
from .c_types import _FLOAT16, _FLOAT64, _MASK, HALF_HELPERS, buffer_type, cl_type, literal
_COMPLEX128 = np.dtype("complex128")
from .c_types import load as c_load
from .c_types import store as c_store
from .values import (KERNEL_NAME, Arg, render_preamble, render_values, uniformity, var_names)

# -- the call signature a kernel is specialized for --------------------------------------------

@dataclass(frozen=True)
class Layout:
    """How one array (input or output) is addressed in the kernel.

    how:   "scalar" (a kernel scalar argument: a weak Python scalar or a one-element array),
           "none" (an output the host computes: a weak value),
           "flat" (C-contiguous with the iteration shape: index i), or
           "strided" (an element offset plus a stride per dimension, in elements).
    skip:  for "strided": per dimension of the iteration space, True where the array does not
           move along it (a broadcast or length-1 dimension), so its stride is left out.
    """

    how: str
    skip: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Signature:
    """What a kernel is specialized on, besides the graph and its dtypes.

    inputs:  a Layout per graph input, in graph.inputs order.
    outputs: a Layout per graph output, in graph.outputs order.
    ndim:    0 for the flat-index fast path, else the iteration space's number of dimensions.
    width:   elements per vector on the flat path (1: scalar code only).
    scalars: nodes computed on the host (weak values read by the kernel), passed as arguments;
             given as indices into graph.nodes.
    streaming: the vector path writes its outputs with non-temporal stores, which do not read
             the output's cache lines first nor keep them: for data larger than the caches
             (outputs aligned to 16 bytes; the engine decides per call).
    """

    inputs: tuple[Layout, ...]
    outputs: tuple[Layout, ...]
    ndim: int = 0
    width: int = 1
    scalars: tuple[int, ...] = ()
    streaming: bool = False


def contiguous_signature(graph: Graph, kinds: dict[Node, Kind]) -> Signature:
    """The signature of a call with same-shape contiguous arrays (weak inputs as scalars)."""
    ins = tuple(Layout("scalar") if kinds[n].weak else Layout("flat") for n in graph.inputs)
    outs = tuple(Layout("none") if kinds[n].weak else Layout("flat") for _, n in graph.outputs)
    return Signature(ins, outs, 0, 1, host_nodes(graph, kinds))


def host_nodes(graph: Graph, kinds: dict[Node, Kind]) -> tuple[int, ...]:
    """Weak non-constant nodes read by a strong node: the host computes them, the kernel takes them as arguments."""
    index = {n: k for k, n in enumerate(graph.nodes)}
    wanted = set()
    for n in graph.nodes:
        if kinds[n].weak:
            continue
        for i in n.inputs:
            if kinds[i].weak and i.op != "constant":
                wanted.add(index[i])
    return tuple(sorted(wanted))



@collector_paused()
def render_kernel(graph: Graph, kinds: dict[Node, Kind], signature: Signature) -> str:
    """The OpenCL C source of one kernel computing every output of `graph` for this signature."""
    names = var_names(graph)
    helpers: dict[str, str] = {}
    if any(kinds[n].dtype == _FLOAT16 for n in graph.nodes):
        helpers.update((k, HALF_HELPERS[k]) for k in ("sx_from_half", "sx_to_half"))  # loads and stores
    host = {graph.nodes[k] for k in signature.scalars}
    uses_double = any(kinds[n].dtype in (_FLOAT64, _COMPLEX128) for n in graph.nodes)
    floats = {kinds[n].dtype for n in graph.nodes if not kinds[n].weak and kinds[n].dtype.kind == "f"}
    float_dtype = next(iter(floats)) if len(floats) == 1 else np.dtype("float32")
    ndim = signature.ndim

    uniform = uniformity(graph, kinds, signature)
    in_layout = dict(zip(graph.inputs, signature.inputs))

    def index(prefix: str, lay: Layout) -> str:
        if lay.how == "flat":
            return "i"
        terms = [f"{prefix}_off"] + [f"sx_i{d} * {prefix}_st{d}" for d in range(ndim) if not lay.skip[d]]
        return " + ".join(terms)

    # Array inputs, loaded at the top of each iteration (scalars arrive as arguments).
    input_index = {n: k for k, n in enumerate(graph.inputs)}
    loaded = [n for n in graph.nodes if n.op == "input" and n not in host and not kinds[n].weak
              and in_layout[n].how != "scalar"]

    def loads(width: int, pointer) -> list[str]:
        """Each array input's value; `pointer(k)`: where vector code reads input k's elements."""
        lines = []
        for node in loaded:
            k, dt = input_index[node], kinds[node].dtype
            if width > 1:
                load = f"vload{width}(0, {pointer(k)})"
                if dt.kind == "b":
                    load = f"(convert_{_MASK[float_dtype.name]}{width}({load}) != 0)"
                t = f"{_MASK[float_dtype.name] if dt.kind == 'b' else cl_type(dt)}{width}"
                lines.append(f"const {t} {names[node]} = {load};")
            else:
                lines.append(f"const {cl_type(dt)} {names[node]} = "
                             f"{c_load(f'sx_in{k}', index(f'sx_in{k}', in_layout[node]), dt)};")
        return lines

    def compute(width: int) -> tuple[list[str], set]:
        """Every operation's line, and the nodes that are vectors (width > 1: the rest are scalars)."""
        vector_nodes = set(loaded) if width > 1 else set()
        return render_values(graph, graph.nodes, kinds, names, helpers, float_dtype, host, width, vector_nodes,
                             uniform=uniform), vector_nodes

    def results(width: int, vector_nodes: set) -> list[tuple]:
        """(output index, name, dtype, value expression, layout) for each output the kernel writes."""
        out = []
        for k, ((oname, node), lay) in enumerate(zip(graph.outputs, signature.outputs)):
            if lay.how == "none":
                continue
            dt = kinds[node].dtype
            value = literal(node.value, dt) if node.op == "constant" else names[node]
            if width > 1:
                if node not in vector_nodes:
                    value = f"(({cl_type(dt)}{width})({value}))"
                elif dt.kind == "b":
                    value = f"convert_uchar{width}(-{value})"
            out.append((k, oname, dt, value, lay))
        return out

    width = signature.width
    if width > 1:
        compute_lines, vector_nodes = compute(width)
        outputs = results(width, vector_nodes)
        main_lines = loads(width, lambda k: f"sx_in{k} + i") + compute_lines
        for k, oname, dt, value, _ in outputs:
            if signature.streaming and width * dt.itemsize % 16 == 0:
                main_lines += _streaming_store(value, f"sx_out{k}", dt, width, oname)
            else:
                main_lines.append(f"vstore{width}({value}, 0, sx_out{k} + i);  // output {oname}")
        # The last end - i < width elements: the same vector code, on inputs padded with their first
        # element, and only the real lanes stored (a scalar copy of the body would double the kernel).
        tail_lines = ["const long sx_rem = end - i;"]
        tail_lines += [f"{cl_type(kinds[n].dtype)} sx_pad{input_index[n]}[{width}];" for n in loaded]
        if loaded:
            tail_lines.append(f"for (long l = 0; l < {width}; ++l) {{")
            tail_lines += [f"    sx_pad{input_index[n]}[l] = sx_in{input_index[n]}[i + (l < sx_rem ? l : 0)];"
                           for n in loaded]
            tail_lines.append("}")
        tail_lines += loads(width, lambda k: f"sx_pad{k}") + compute_lines
        for ct in dict.fromkeys(cl_type(dt) for _, _, dt, _, _ in outputs):
            tail_lines.append(f"{ct} sx_lanes_{ct}[{width}];")
        for k, oname, dt, value, _ in outputs:
            ct = cl_type(dt)
            tail_lines.append(f"vstore{width}({value}, 0, sx_lanes_{ct});  // output {oname}")
            tail_lines.append(f"for (long l = 0; l < sx_rem; ++l) sx_out{k}[i + l] = sx_lanes_{ct}[l];")
    else:
        compute_lines, vector_nodes = compute(1)
        main_lines = loads(1, None) + compute_lines
        for k, oname, dt, value, lay in results(1, vector_nodes):
            store = f"{c_store(f'sx_out{k}', index(f'sx_out{k}', lay), value, dt)};  // output {oname}"
            if lay.how == "strided" and any(lay.skip):
                # An output smaller than the iteration space is written once per element.
                cond = " && ".join(f"sx_i{d} == 0" for d in range(ndim) if lay.skip[d])
                store = f"if ({cond}) {store}"
            main_lines.append(store)

    summary = (f"{len([n for n in graph.nodes if n.op not in ('input', 'constant')])} operations, "
               f"outputs {', '.join(graph.output_names)}; "
               + ("flat index" + (f", {signature.width}-wide vectors" if signature.width > 1 else "")
                  if ndim == 0 else f"{ndim}-d strided"))
    out = render_preamble(summary, uses_double, helpers, KERNEL_NAME, kernel_arguments(graph, kinds, signature))
    out.append("{")
    out.append("    const long start = (long)get_global_id(0) * chunk;")
    out.append("    const long end = min(start + chunk, n);")
    out.append("    long i = start;")
    if width > 1:
        out.append(f"    for (; i + {width} <= end; i += {width}) {{")
        out += [f"        {ln}" for ln in main_lines]
        out.append("    }")
        out.append("    if (i < end) {")
        out += [f"        {ln}" for ln in tail_lines]
        out.append("    }")
        if signature.streaming:
            out.append("    mem_fence(CLK_GLOBAL_MEM_FENCE);  // non-temporal stores are weakly ordered")
    else:
        out.append("    for (; i < end; ++i) {")
        if ndim:
            out.append("        long sx_r = i;")
            for d in reversed(range(ndim)):
                if d == 0:
                    out.append("        const long sx_i0 = sx_r;")
                else:
                    out.append(f"        const long sx_i{d} = sx_r % sx_shape{d}; sx_r /= sx_shape{d};")
        out += [f"        {ln}" for ln in main_lines]
        out.append("    }")
    out.append("}")
    return "\n".join(out) + "\n"



def _streaming_store(value: str, pointer: str, dt, width: int, oname: str) -> list[str]:
    """A vector's non-temporal store, in 16-byte parts (wider pointer types crash PoCL 3.0)."""
    lanes = 16 // dt.itemsize
    parts = width // lanes
    lines = []
    for c in range(parts):
        part = value if parts == 1 else f"({value}).s{'0123456789abcdef'[c * lanes:(c + 1) * lanes]}"
        lines.append(f"__builtin_nontemporal_store({part}, (__global {cl_type(dt)}{lanes}*)({pointer} + i + {c * lanes}));"
                     + (f"  // output {oname}" if c == 0 else ""))
    return lines



def kernel_arguments(graph: Graph, kinds: dict[Node, Kind], signature: Signature) -> list[Arg]:
    """The kernel's arguments in order; the runtime builds its argument list from the same records."""
    names = var_names(graph)
    i64 = np.dtype("int64")
    ndim = signature.ndim
    args = [Arg("n", ("n",), i64), Arg("chunk", ("chunk",), i64)]
    args += [Arg(f"sx_shape{d}", ("shape", d), i64) for d in range(ndim)]
    host = set(signature.scalars)
    for k, (node, lay) in enumerate(zip(graph.inputs, signature.inputs)):
        dt = kinds[node].dtype
        if lay.how == "scalar":
            if not kinds[node].weak:  # (a float16 scalar is passed as the float it is computed as)
                args.append(Arg(names[node], ("scalar_in", k), np.dtype("float32") if dt == _FLOAT16 else dt))
            continue
        args.append(Arg(f"sx_in{k}", ("in", k), None, f"__global const {buffer_type(dt)}*"))
        if lay.how == "strided":
            args.append(Arg(f"sx_in{k}_off", ("in_off", k), i64))
            args += [Arg(f"sx_in{k}_st{d}", ("in_st", k, d), i64) for d in range(ndim) if not lay.skip[d]]
    for j in sorted(host):
        node = graph.nodes[j]
        args.append(Arg(names[node], ("host", j), kinds[node].dtype))
    for k, ((_, node), lay) in enumerate(zip(graph.outputs, signature.outputs)):
        if lay.how == "none":
            continue
        args.append(Arg(f"sx_out{k}", ("out", k), None, f"__global {buffer_type(kinds[node].dtype)}*"))
        if lay.how == "strided":
            args.append(Arg(f"sx_out{k}_off", ("out_off", k), i64))
            args += [Arg(f"sx_out{k}_st{d}", ("out_st", k, d), i64) for d in range(ndim) if not lay.skip[d]]
    if needs_error_flag(graph, kinds):
        args.append(Arg("sx_err", ("err",), None, "__global int*"))
    return args


def needs_error_flag(graph: Graph, kinds: dict[Node, Kind]) -> bool:
    """An integer power in the kernel: a negative exponent sets a flag the runtime turns into an error."""
    return any(n.op == "power" and kinds[n].dtype.kind == "i" and not kinds[n].weak for n in graph.nodes)


"""Reduction kernels: a step of the kernel plan -> OpenCL C, as a pure function.

`render_reduce_kernel(graph, plan, step, kinds, shapes, host)` returns the source and the list of
arguments the runtime passes (`Arg` records, as element-wise kernels have). The kernel iterates the
step's space S: the kept axes are *rows*, the reduced axes each row's *inner* index. A work-item
takes a range of rows (or, with `split` > 1, a contiguous part of one row, and writes partials that
the host combines). For each row it makes one pass over the inner index per reduction level:

    for each row o:                  row coordinates, base offsets, values that are one per row
        pass 1: for r in row:        the prologue (element-wise work) and the first reductions
        row values from them         (a mean from its sum...)
        pass 2: ...                  reductions that read the first ones (the variance)
        last pass: for r in row:     the epilogue: element-wise values stored at full size

Element-wise work is rendered by the same per-op table as element-wise kernels
(`values.render_values`); the accumulators are here, one entry per primitive reduction in
`ACCUMULATORS`. Float sums are compensated (Neumaier), so their error does not grow with the row's
length: at least as accurate as NumPy's pairwise summation.
"""
from __future__ import annotations

import numpy as np

from ...graph import Graph, Node
from ...infer import Kind
from .plan import PRIMITIVE_REDUCTIONS, KernelPlan, Step, cone
from .c_context import Ctx
from .c_types import _MASK, COMPLEX_PART, cl_type, convert, literal
from .values import Arg, render_preamble, render_values, var_names, vector_width

REDUCE_KERNEL_NAME = "symexpr_reduce"
_I64 = np.dtype("int64")


# -- accumulators, one per primitive reduction: (init, update, final) lines ------------------------

def _limit(dtype, lowest: bool) -> str:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return f"(-({cl_type(dtype)})INFINITY)" if lowest else f"(({cl_type(dtype)})INFINITY)"
    if dtype.kind == "b":
        return literal(not lowest, dtype)
    info = np.iinfo(dtype)
    return literal(info.min if lowest else info.max, dtype)


def _unsigned(dtype) -> str | None:
    return {"int8": "uchar", "int16": "ushort", "int32": "uint", "int64": "ulong"}.get(np.dtype(dtype).name)


def accumulator(op: str, acc: str, value: str, src: np.dtype, dst: np.dtype, index: str) -> tuple[list, list, str]:
    """(declarations, the update in the inner loop, the final value) of one reduction.

    `value` is the operand's C expression of dtype `src`; `dst` is the result's dtype; `index` the
    inner index (for argmax/argmin)."""
    t = cl_type(dst)
    ctx = Ctx(None, (src,), dst)
    if op in ("sum", "prod"):
        v = convert(value, src, dst, ctx)
        if dst.kind == "c":
            return _complex_accumulator(op, acc, v, dst)
        if dst.kind == "f":
            if op == "prod":
                return [f"{t} {acc} = {literal(1, dst)};"], [f"{acc} *= {v};"], acc
            # Neumaier's compensated sum: c collects what each addition rounded away.
            return ([f"{t} {acc} = {literal(0, dst)};", f"{t} {acc}_c = {literal(0, dst)};"],
                    [f"{{ const {t} sx_v = {v}; const {t} sx_t = {acc} + sx_v;",
                     f"  {acc}_c += (fabs({acc}) >= fabs(sx_v)) ? (({acc} - sx_t) + sx_v) : ((sx_v - sx_t) + {acc});",
                     f"  {acc} = sx_t; }}"],
                    f"(isfinite({acc}) ? {acc} + {acc}_c : {acc})")
        u = _unsigned(dst)
        sym = "+" if op == "sum" else "*"
        init = literal(0 if op == "sum" else 1, dst)
        if u is None:  # unsigned: wraps by itself
            return [f"{t} {acc} = {init};"], [f"{acc} = {acc} {sym} {v};"], acc
        # Signed overflow is undefined in C; NumPy wraps: compute in the unsigned type.
        return [f"{t} {acc} = {init};"], [f"{acc} = ({t})(({u}){acc} {sym} ({u}){v});"], acc
    if op in ("max", "min"):
        cmp = ">" if op == "max" else "<"
        init = _limit(dst, lowest=op == "max")
        if dst.kind == "f":  # NaN propagates: once the accumulator is NaN, nothing compares above it
            return [f"{t} {acc} = {init};"], [f"if ({value} {cmp} {acc} || isnan({value})) {acc} = {value};"], acc
        return [f"{t} {acc} = {init};"], [f"if ({value} {cmp} {acc}) {acc} = {value};"], acc
    if op in ("argmax", "argmin"):
        cmp = ">" if op == "argmax" else "<"
        st = cl_type(src)
        init = _limit(src, lowest=op == "argmax")
        if src.kind == "f":  # the first NaN wins, else the first of the best
            cond = f"!isnan({acc}_v) && ({value} {cmp} {acc}_v || isnan({value}))"
        else:
            cond = f"{value} {cmp} {acc}_v"
        return ([f"{st} {acc}_v = {init};", f"long {acc} = 0;"],
                [f"if ({cond}) {{ {acc}_v = {value}; {acc} = {index}; }}"], acc)
    if op in ("any", "all"):
        truth = f"({value} != {literal(0, src)})" if src.kind != "b" else f"({value} != 0)"
        if op == "any":
            return [f"uchar {acc} = 0;"], [f"{acc} |= {truth};"], acc
        return [f"uchar {acc} = 1;"], [f"{acc} &= {truth};"], acc
    raise KeyError(op)  # pragma: no cover


ACCUMULATORS = frozenset(PRIMITIVE_REDUCTIONS)


def _complex_accumulator(op: str, acc: str, v: str, dst: np.dtype) -> tuple[list, list, str]:
    """A complex sum, each part compensated as a float sum is; a complex product as NumPy's reduction
    multiplies, with plain multiplies (no fused multiply-add, unlike its element-wise loop)."""
    t, p = cl_type(dst), cl_type(COMPLEX_PART[dst.name])
    if op == "prod":
        return ([f"{t} {acc} = {literal(1, dst)};"],
                [f"{{ const {t} sx_v = {v}, sx_p = {acc};",
                 f"  {acc} = ({t})(sx_p.x * sx_v.x - sx_p.y * sx_v.y, sx_p.x * sx_v.y + sx_p.y * sx_v.x); }}"], acc)
    update = [f"{{ const {t} sx_z = {v};"]
    for q in "xy":
        update += [f"  {{ const {p} sx_v = sx_z.{q}; const {p} sx_t = {acc}.{q} + sx_v;",
                   f"    {acc}_c.{q} += (fabs({acc}.{q}) >= fabs(sx_v)) ? (({acc}.{q} - sx_t) + sx_v) : "
                   f"((sx_v - sx_t) + {acc}.{q});",
                   f"    {acc}.{q} = sx_t; }}"]
    final = (f"(({t})(isfinite({acc}.x) ? {acc}.x + {acc}_c.x : {acc}.x, "
             f"isfinite({acc}.y) ? {acc}.y + {acc}_c.y : {acc}.y))")
    return [f"{t} {acc} = {literal(0, dst)};", f"{t} {acc}_c = {literal(0, dst)};"], update + ["}"], final


def lane_accumulator(op: str, acc: str, value: str, dtype: np.dtype, width: int) -> tuple[list, list, str]:
    """(declarations, update, final vector) of a reduction whose lanes are separate rows: no lanes
    to fold, the vector is the rows' results."""
    t = f"{cl_type(dtype)}{width}"
    mask = f"{'int' if dtype.itemsize == 4 else 'long'}{width}"
    if op == "sum":
        # As `vector_accumulator`'s: Kahan, and a plain sum for rows with an infinity or a NaN.
        return ([f"{t} {acc} = ({t})(0);", f"{t} {acc}_c = ({t})(0);", f"{t} {acc}_p = ({t})(0);"],
                [f"{{ const {t} sx_x = {value}; const {t} sx_y = sx_x - {acc}_c; const {t} sx_t = {acc} + sx_y;",
                 f"  {acc}_c = (sx_t - {acc}) - sx_y; {acc} = sx_t; {acc}_p += sx_x; }}"],
                f"select({acc}_p, {acc} - {acc}_c, isfinite({acc}))")
    if op == "prod":
        return [f"{t} {acc} = ({t})(1);"], [f"{acc} *= {value};"], acc
    if op in ("max", "min"):
        init = _limit(dtype, lowest=op == "max")
        return ([f"{t} {acc} = ({t})({init});", f"{mask} {acc}_nan = ({mask})(0);"],
                [f"{{ const {t} sx_v = {value}; {acc} = f{op}({acc}, sx_v); {acc}_nan |= (sx_v != sx_v); }}"],
                f"select({acc}, ({t})(NAN), {acc}_nan)")
    init = "0" if op == "any" else "-1"
    sym = "|" if op == "any" else "&"
    return [f"{mask} {acc} = ({mask})({init});"], [f"{acc} {sym}= {value};"], acc
VECTOR_REDUCTIONS = frozenset(("sum", "prod", "max", "min", "any", "all"))
_LANES = "0123456789abcdef"


def vector_accumulator(op: str, acc: str, value: str, dtype: np.dtype, width: int) -> tuple[list, list, list]:
    """(declarations, the update in the vector loop, the lines that fold the lanes into the scalar
    accumulator `acc` of `accumulator`) for a float (or, for any/all, mask) operand `value`."""
    t = f"{cl_type(dtype)}{width}"
    mask = f"{'int' if dtype.itemsize == 4 else 'long'}{width}"
    lanes = [f".s{_LANES[k]}" for k in range(width)]
    v = f"{acc}v"
    if op == "sum":
        # Kahan's compensated sum per lane (no select: PoCL's vector select is slow), and a plain sum
        # beside it: past an infinity or a NaN, Kahan's compensation turns NaN (inf - inf), and the
        # plain sum is then the answer (inf, or NaN as NumPy gives). The lanes are folded into the
        # scalar Neumaier sum, and their compensations subtracted.
        decl = [f"{t} {v} = ({t})(0);", f"{t} {v}_c = ({t})(0);", f"{t} {v}_p = ({t})(0);"]
        update = [f"{{ const {t} sx_x = {value}; const {t} sx_y = sx_x - {v}_c; const {t} sx_t = {v} + sx_y;",
                  f"  {v}_c = (sx_t - {v}) - sx_y; {v} = sx_t; {v}_p += sx_x; }}"]
        fold = []
        st = cl_type(dtype)
        for lane in lanes:
            fold += [f"{{ const int sx_ok = isfinite({v}{lane});",
                     f"  const {st} sx_v = sx_ok ? {v}{lane} : {v}_p{lane}; const {st} sx_t = {acc} + sx_v;",
                     f"  {acc}_c += (fabs({acc}) >= fabs(sx_v)) ? (({acc} - sx_t) + sx_v) : ((sx_v - sx_t) + {acc});",
                     f"  {acc} = sx_t; if (sx_ok) {acc}_c -= {v}_c{lane}; }}"]
        return decl, update, fold
    if op == "prod":
        return [f"{t} {v} = ({t})(1);"], [f"{v} *= {value};"], [f"{acc} *= {v}{lane};" for lane in lanes]
    if op in ("max", "min"):
        # fmax/fmin skip NaN: a mask remembers whether one was seen, and makes the result NaN.
        cmp = ">" if op == "max" else "<"
        init = _limit(dtype, lowest=op == "max")
        return ([f"{t} {v} = ({t})({init});", f"{mask} {v}_nan = ({mask})(0);"],
                [f"{{ const {t} sx_v = {value}; {v} = f{op}({v}, sx_v); {v}_nan |= (sx_v != sx_v); }}"],
                [f"if ({v}{lane} {cmp} {acc}) {acc} = {v}{lane};" for lane in lanes]
                + [f"if (any({v}_nan)) {acc} = ({cl_type(dtype)})NAN;"])
    # any / all of a mask (or of a float's truth)
    init = "0" if op == "any" else "-1"
    sym = "|" if op == "any" else "&"
    return ([f"{mask} {v} = ({mask})({init});"], [f"{v} {sym}= {value};"],
            [f"{acc} {sym}= ({v}{lane} != 0);" for lane in lanes])


# -- the kernel -------------------------------------------------------------------------------------

def _aligned(shape: tuple, ndim: int) -> tuple:
    """A shape right-aligned into `ndim` dimensions (NumPy's broadcasting)."""
    return (1,) * (ndim - len(shape)) + tuple(shape)


def reduce_vector_width(graph: Graph, plan: KernelPlan, step: Step, kinds: dict, preferred: dict) -> int:
    """The vector width of a reduction kernel's inner loop, or 1 (scalar code).

    Vectors need the reduced axes to be the trailing ones (each row's inner index is then a
    contiguous range when the arrays are C-contiguous: the runtime checks their strides), one float
    dtype throughout (and bools), and reductions with a vector accumulator."""
    ndim = len(step.space)
    if not step.axes or (step.axes != tuple(range(ndim - len(step.axes), ndim)) and not lanes_fit(step, preferred)):
        return 1
    nodes, reads = [], []
    for n in step.nodes:
        if n.op in PRIMITIVE_REDUCTIONS:
            x = n.inputs[0]
            if n.op not in VECTOR_REDUCTIONS:
                return 1
            if n.op in ("any", "all"):
                if kinds[x].dtype.kind not in "fb":
                    return 1
            elif kinds[x].dtype != kinds[n].dtype or kinds[n].dtype.kind != "f":
                return 1
        roots = n.inputs if n.op in PRIMITIVE_REDUCTIONS else (n,)
        order, boundary = cone(roots, plan.producer, step)
        nodes += order
        reads += [b for b in boundary if b.op != "constant" and not kinds[b].weak]
    floats = {kinds[n].dtype for n in nodes + reads + step.nodes if not kinds[n].weak and kinds[n].dtype.kind != "b"}
    if len(floats) != 1 or next(iter(floats)).kind != "f":
        return 1
    width = preferred.get(next(iter(floats)).name, 1)
    if nodes and vector_width(_Nodes(nodes), kinds, preferred) != width:
        return 1
    return width


def lanes_fit(step: Step, preferred: dict) -> bool:
    """Whether a step reduces over leading axes and keeps a last axis of whole vectors: its rows are
    then the lanes of the vectors (`sum(x, axis=0)`: a vector of columns, down the rows)."""
    ndim = len(step.space)
    width = max(preferred.values(), default=1)
    return (ndim - 1 not in step.axes and step.split == 1 and width > 1
            and step.space[-1] % width == 0 and step.space[-1] % min(preferred.values()) == 0)


def uses_lanes(step: Step) -> bool:
    """The vector code of this step makes each row a lane (see `lanes_fit`) rather than vectors along rows."""
    return bool(step.axes) and len(step.space) - 1 not in step.axes


class _Nodes:
    """A stand-in graph of some nodes, for `vector_width`."""

    def __init__(self, nodes):
        self.nodes = nodes


def render_reduce_kernel(graph: Graph, plan: KernelPlan, step: Step, kinds: dict[Node, Kind], shapes: dict,
                         host: frozenset = frozenset(), width: int = 1) -> tuple[str, list[Arg], list, list]:
    """(source, arguments, arrays, stored): the arrays read from memory and the values stored, each
    in the order of their arguments (`("read", k)`, `("store", k)`)."""
    names = var_names(graph)
    space, axes = step.space, step.axes
    ndim = len(space)
    kept = [d for d in range(ndim) if d not in axes]
    producer = plan.producer
    stores = plan.stores[step]
    reductions = step.reductions
    epilogue = [n for n in step.epilogue if n in stores]

    # What the kernel computes, and what it reads at its boundary (memory, or the host's scalars).
    computed: dict[Node, None] = {}
    reads: dict[Node, None] = {}
    for n in step.nodes:
        roots = n.inputs if n.op in PRIMITIVE_REDUCTIONS else (n,)
        order, boundary = cone(roots, producer, step)
        for c in order:
            computed[c] = None
        for b in boundary:
            if producer.get(b) is step and b.op in PRIMITIVE_REDUCTIONS:
                continue  # this kernel's own reduction, in a register
            if b.op != "constant":
                reads[b] = None
    scalars = [b for b in reads if b in host or kinds[b].weak or shapes[b] == ()]
    arrays = [b for b in reads if b not in scalars]

    vary: dict[Node, bool] = {}

    def varies(n: Node) -> bool:
        """Whether a value changes along the inner index (else it is one value per row)."""
        if n not in vary:
            if n.op == "constant" or n in scalars or (producer.get(n) is step and n.op in PRIMITIVE_REDUCTIONS):
                vary[n] = False
            elif n in reads:
                shape = _aligned(shapes[n], ndim)
                vary[n] = any(shape[d] > 1 for d in axes)
            else:
                vary[n] = any(varies(i) for i in n.inputs)
        return vary[n]

    level: dict[Node, int] = {}

    def lvl(n: Node) -> int:
        if n not in level:
            if producer.get(n) is step and n.op in PRIMITIVE_REDUCTIONS:
                level[n] = lvl(n.inputs[0]) + 1
            elif n in computed:
                level[n] = max((lvl(i) for i in n.inputs), default=0)
            else:
                level[n] = 0
        return level[n]

    for n in list(computed) + reductions:
        lvl(n)
    passes = max((level[r] for r in reductions), default=0)

    helpers: dict[str, str] = {}
    f32 = np.dtype("float32")
    said = [None]
    body: list[str] = []
    # Vector code: along each row (`width` elements of a row at a time), or, where the reduced axes
    # lead and the last axis is kept, across rows (`lanes`: `width` consecutive rows, one a lane).
    lanes = width > 1 and uses_lanes(step)
    along = 1 if lanes else width
    row_vectors: set = set()  # lanes: the values of the current rows that are vectors

    def lane_varying(n: Node) -> bool:
        return _aligned(shapes[n], ndim)[-1] > 1

    def emit(lines, depth):
        body.extend("    " * depth + ln for ln in lines)

    def coords(dims, index: str, depth: int, prefix: str):
        """The coordinates of `dims` from a flat C-order index over them."""
        if len(dims) == 1:
            emit([f"const long sx_c{dims[0]} = {index};"], depth)
            return
        emit([f"long {prefix} = {index};"], depth)
        for k, d in enumerate(reversed(dims)):
            if k == len(dims) - 1:
                emit([f"const long sx_c{d} = {prefix};"], depth)
            else:
                emit([f"const long sx_c{d} = {prefix} % sx_shape{d}; {prefix} /= sx_shape{d};"], depth)

    def load(n: Node, inner: bool, vectors: set | None = None) -> str:
        k = arrays.index(n)
        terms = [f"sx_b{k}"] + ([f"sx_c{d} * sx_rd{k}_st{d}" for d in axes] if inner else [])
        if lanes and lane_varying(n):  # the rows' values side by side: contiguous along the last axis
            if vectors is not None:
                vectors.add(n)
            where = f"sx_rd{k} + {' + '.join(terms)}"
            dt = kinds[n].dtype
            if dt.kind == "b":
                mask = _MASK[float_dtype.name]
                return f"const {mask}{width} {names[n]} = (convert_{mask}{width}(vload{width}(0, {where})) != 0);"
            return f"const {cl_type(dt)}{width} {names[n]} = vload{width}(0, {where});"
        return f"const {cl_type(kinds[n].dtype)} {names[n]} = sx_rd{k}[{' + '.join(terms)}];"

    on_host = frozenset(host) | frozenset(scalars)

    floats = {kinds[n].dtype for n in list(computed) + list(reads) + step.nodes if kinds[n].dtype.kind == "f"}
    float_dtype = next(iter(floats)) if len(floats) == 1 else f32

    def values(nodes, depth, w=1, vector_nodes=None):
        if lanes:
            w, vector_nodes = width, (vector_nodes if vector_nodes is not None else row_vectors)
        emit(render_values(graph, nodes, kinds, names, helpers, float_dtype, on_host, w, vector_nodes, said=said), depth)

    def vload(n: Node) -> str:
        k = arrays.index(n)
        dt = kinds[n].dtype
        load = f"vload{width}(0, sx_rd{k} + sx_b{k} + sx_r)"
        if dt.kind == "b":
            mask = _MASK[float_dtype.name]
            return f"const {mask}{width} {names[n]} = (convert_{mask}{width}({load}) != 0);"
        return f"const {cl_type(dt)}{width} {names[n]} = {load};"

    split = step.split
    # Rows: a range of them per work-item, or one row's part.
    if split > 1:
        emit(["const long sx_o = (long)get_global_id(0) / sx_split;",
              "const long sx_part = (long)get_global_id(0) % sx_split;",
              "if (sx_o >= sx_rows) return;",
              "const long sx_r0 = sx_part * sx_part_len;",
              "const long sx_r1 = min(sx_r0 + sx_part_len, sx_inner);",
              "{"], 1)
    else:
        emit(["const long sx_o0 = (long)get_global_id(0) * sx_row_chunk;",
              "const long sx_o1 = min(sx_o0 + sx_row_chunk, sx_rows);",
              "const long sx_r0 = 0, sx_r1 = sx_inner;",
              f"for (long sx_o = sx_o0; sx_o < sx_o1; sx_o += {width if lanes else 1}) {{"], 1)
    if kept:
        coords(kept, "sx_o", 2, "sx_ro")
    for k, n in enumerate(arrays):
        terms = [f"sx_rd{k}_off"] + [f"sx_c{d} * sx_rd{k}_st{d}" for d in kept]
        emit([f"const long sx_b{k} = {' + '.join(terms)};"], 2)
    emit([load(n, False, row_vectors) for n in arrays if not varies(n)], 2)

    def row_nodes(upto: int):
        return [n for n in computed if not varies(n) and level[n] <= upto and n not in done]

    done: set = set()

    def inner_loop(roots, tail, depth=2, vector_tail=None, fold=()):
        """One pass over a row: load what varies, compute what `roots` need, then `tail`. With
        vectors, whole vectors first (`vector_tail(vector_nodes)` ends their body; `fold` then folds
        the vector accumulators into the scalar ones), then the rest of the row in scalar code."""
        nodes = _cone_nodes(roots, computed, varies)
        used = {i for n in nodes for i in n.inputs} | set(roots)
        if along > 1:
            emit(["{", "long sx_r = sx_r0;", f"for (; sx_r + {width} <= sx_r1; sx_r += {width}) {{"], depth)
            loaded = [n for n in arrays if varies(n) and n in used]
            emit([vload(n) for n in loaded], depth + 1)
            vector_nodes = set(loaded)
            values(nodes, depth + 1, width, vector_nodes)
            emit(vector_tail(vector_nodes), depth + 1)
            emit(["}"], depth)
            emit(list(fold), depth)
            emit(["for (; sx_r < sx_r1; ++sx_r) {"], depth)
        else:
            emit(["for (long sx_r = sx_r0; sx_r < sx_r1; ++sx_r) {"], depth)
        if axes:
            coords(list(axes), "sx_r", depth + 1, "sx_ri")
        vectors = set(row_vectors) if lanes else None
        emit([load(n, True, vectors) for n in arrays if varies(n) and n in used], depth + 1)
        values(nodes, depth + 1, vector_nodes=vectors)
        emit(tail(vectors) if callable(tail) else tail, depth + 1)
        emit(["}", "}"] if along > 1 else ["}"], depth)

    for p in range(passes):
        ready = row_nodes(p)
        values(ready, 2)
        done.update(ready)
        these = [r for r in reductions if level[r] == p + 1]
        if lanes:
            decl, final = [], {}
            for r in these:
                d, _, f = lane_accumulator(r.op, f"sx_acc{reductions.index(r)}", "",
                                           _acc_dtype(r.inputs[0], kinds, float_dtype), width)
                decl += d
                final[r] = f

            def lane_update(vector_nodes, these=these):
                return [ln for r in these for ln in lane_accumulator(
                    r.op, f"sx_acc{reductions.index(r)}", _vector_operand(r, vector_nodes, kinds, names, width,
                                                                          float_dtype),
                    _acc_dtype(r.inputs[0], kinds, float_dtype), width)[1]]
            emit(decl, 2)
            inner_loop([r.inputs[0] for r in these], lane_update)
            for r in these:
                emit([f"const {_vtype(kinds[r].dtype, width, float_dtype)} {names[r]} = {final[r]};"], 2)
                row_vectors.add(r)
                done.add(r)
            continue
        decl, update, final, fold = [], [], {}, []
        for r in these:
            j = reductions.index(r)
            x = r.inputs[0]
            value = names[x] if x.op != "constant" else literal(x.value, kinds[x].dtype)
            d, u, f = accumulator(r.op, f"sx_acc{j}", value, kinds[x].dtype, kinds[r].dtype, "sx_r")
            decl += d
            update += u
            final[r] = f
            if along > 1:
                vd, _, vf = vector_accumulator(r.op, f"sx_acc{j}", "", _acc_dtype(x, kinds, float_dtype), width)
                decl += vd
                fold += vf
        emit(decl, 2)

        def vector_update(vector_nodes, these=these):
            return [ln for r in these for ln in vector_accumulator(
                r.op, f"sx_acc{reductions.index(r)}", _vector_operand(r, vector_nodes, kinds, names, width, float_dtype),
                _acc_dtype(r.inputs[0], kinds, float_dtype), width)[1]]
        inner_loop([r.inputs[0] for r in these], update, vector_tail=vector_update, fold=fold)
        for r in these:
            emit([f"const {cl_type(kinds[r].dtype)} {names[r]} = {final[r]};"], 2)
            done.add(r)
    ready = row_nodes(passes)
    values(ready, 2)
    done.update(ready)

    # Stores: the reductions other steps read (or partials), then the epilogue at full size.
    out_args = []
    for j, r in enumerate(reductions):
        if r not in stores:
            continue
        k = len(out_args)
        out_args.append(r)
        where = "sx_o * sx_split + sx_part" if split > 1 else "sx_o"
        if split > 1 and r.op == "sum" and kinds[r].dtype.kind == "f":
            emit([f"sx_st{k}[{where}] = sx_acc{reductions.index(r)};",
                  f"sx_st{k}_c[{where}] = sx_acc{reductions.index(r)}_c;"], 2)
        elif split > 1 and r.op in ("argmax", "argmin"):
            emit([f"sx_st{k}[{where}] = {names[r]};",
                  f"sx_st{k}_v[{where}] = sx_acc{reductions.index(r)}_v;"], 2)
        elif lanes:
            emit([_vstore(r, "sx_o", k, row_vectors, kinds, names, width)], 2)
        else:
            emit([f"sx_st{k}[{where}] = {names[r]};  // {r.name or r.op}"], 2)
    for n in [n for n in epilogue if not varies(n)]:  # values per row (a mean from its sum)
        k = len(out_args)
        out_args.append(n)
        value = names[n] if n.op != "constant" else literal(n.value, kinds[n].dtype)
        emit([_vstore(n, "sx_o", k, row_vectors, kinds, names, width) if lanes else
              f"sx_st{k}[sx_o] = {value};  // {n.name or n.op}"], 2)
    epilogue = [n for n in epilogue if varies(n)]
    if epilogue:
        stores_lines = []
        first = len(out_args)
        for n in epilogue:
            k = len(out_args)
            out_args.append(n)
            offset = " + ".join(f"sx_c{d} * sx_cst{d}" for d in range(ndim)) or "0"
            value = names[n] if n.op != "constant" else literal(n.value, kinds[n].dtype)
            stores_lines.append(f"sx_st{k}[{offset}] = {value};  // {n.name or n.op}")

        # Vectors of consecutive elements: along a row (at the row's start plus the inner index), or
        # across rows (lanes: at the first lane's element).
        where = offset if lanes else "sx_o * sx_inner + sx_r"

        def vector_stores(vectors):
            return [_vstore(n, where, k, vectors, kinds, names, width) for k, n in enumerate(epilogue, first)]
        if lanes:
            inner_loop(epilogue, vector_stores)
        else:
            inner_loop(epilogue, stores_lines, vector_tail=vector_stores)
    emit(["}"], 1)

    # Arguments.
    args = [Arg("sx_rows", ("rows",), _I64), Arg("sx_row_chunk", ("row_chunk",), _I64),
            Arg("sx_inner", ("inner",), _I64), Arg("sx_split", ("split",), _I64),
            Arg("sx_part_len", ("part_len",), _I64)]
    args += [Arg(f"sx_shape{d}", ("shape", d), _I64) for d in range(ndim)]
    args += [Arg(f"sx_cst{d}", ("cstride", d), _I64) for d in range(ndim)]
    for k, n in enumerate(arrays):
        args.append(Arg(f"sx_rd{k}", ("read", k), None, f"__global const {cl_type(kinds[n].dtype)}*"))
        args.append(Arg(f"sx_rd{k}_off", ("read_off", k), _I64))
        args += [Arg(f"sx_rd{k}_st{d}", ("read_st", k, d), _I64) for d in range(ndim)]
    for n in scalars:
        args.append(Arg(names[n], ("scalar", n), kinds[n].dtype))
    for k, n in enumerate(out_args):
        args.append(Arg(f"sx_st{k}", ("store", k), None, f"__global {cl_type(kinds[n].dtype)}*"))
        if split > 1 and n.op == "sum" and kinds[n].dtype.kind == "f":
            args.append(Arg(f"sx_st{k}_c", ("store_c", k), None, f"__global {cl_type(kinds[n].dtype)}*"))
        if split > 1 and n.op in ("argmax", "argmin"):
            args.append(Arg(f"sx_st{k}_v", ("store_v", k), None, f"__global {cl_type(kinds[n.inputs[0]].dtype)}*"))

    uses_double = any(kinds[n].dtype in (np.float64, np.complex128) for n in list(computed) + list(reads) + step.nodes)
    summary = (f"reduction kernel over {list(space)}, axes {list(axes)}; {passes} pass(es) a row"
               + (f", {width}-wide vectors" + (" across rows" if lanes else "") if width > 1 else "")
               + (f", {split} work-items a row" if split > 1 else "")
               + (", epilogue " + ", ".join(n.name or n.op for n in epilogue) if epilogue else ""))
    head = render_preamble(summary, uses_double, helpers, REDUCE_KERNEL_NAME, args)
    source = "\n".join(head + ["{"] + body + ["}"]) + "\n"
    return source, args, arrays, out_args


def _vtype(dtype, width: int, float_dtype) -> str:
    dtype = np.dtype(dtype)
    return f"{_MASK[np.dtype(float_dtype).name]}{width}" if dtype.kind == "b" else f"{cl_type(dtype)}{width}"


def _vector_value(x: Node, kinds: dict, names: dict) -> str:
    """A per-row scalar as a vector lane's value (a bool as a mask: -1 or 0)."""
    return f"-(long)({names[x]})" if kinds[x].dtype.kind == "b" else names[x]


def _vstore(n: Node, offset: str, k: int, vectors: set, kinds: dict, names: dict, width: int) -> str:
    """Store a vector of consecutive values (a scalar is broadcast; a bool mask becomes 0/1)."""
    dt = kinds[n].dtype
    value = names[n]
    if n not in vectors:
        value = f"(({cl_type(dt)}{width})({value}))"
    elif dt.kind == "b":
        value = f"convert_uchar{width}(-{value})"
    return f"vstore{width}({value}, 0, sx_st{k} + {offset});  // {n.name or n.op}"


def _vector_operand(r: Node, vector_nodes: set, kinds: dict, names: dict, width: int, float_dtype) -> str:
    """A reduction's operand as a vector (a per-row scalar broadcast; a float's truth for any/all)."""
    x = r.inputs[0]
    dt = kinds[x].dtype
    vt = _vtype(dt, width, float_dtype)
    value = names[x] if x in vector_nodes else f"(({vt})({_vector_value(x, kinds, names)}))"
    if r.op in ("any", "all") and dt.kind == "f":
        value = f"({value} != (({vt})(0)))"
    return value


def _acc_dtype(x: Node, kinds: dict, float_dtype):
    """The vector accumulator's element type: the operand's float dtype (a bool operand's: the masks')."""
    return kinds[x].dtype if kinds[x].dtype.kind == "f" else np.dtype(float_dtype)


def _cone_nodes(roots, computed: dict, varies) -> list:
    """The computed nodes that vary along the inner index and that `roots` need, in order."""
    need: set = set()
    stack = [r for r in roots if r in computed]
    while stack:
        n = stack.pop()
        if n in need or not varies(n):
            continue
        need.add(n)
        stack += [i for i in n.inputs if i in computed]
    return [n for n in computed if n in need]

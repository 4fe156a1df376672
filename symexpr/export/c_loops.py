"""The C export's loops for the ops that are not element-wise: reductions, softmax, matrix products, transposes.

`render_structured(node, sources, target, exp)` gives the C block computing one such node from the
arrays holding its operands (C order, the operand's shape) into the array `target` (C order, the
node's shape). Simple loops, one output element at a time, as NumPy defines them: NaN propagates
through max and min, argmax and argmin give the first index (of the first NaN where there is one),
integer sums and products wrap around, the maximum shifts logsumexp and softmax. Float sums are
taken in double: they agree with NumPy's pairwise float32 sums within rounding, not bit for bit.
A max, min, argmax or argmin of an empty axis sets `sx_status` to 2 (NumPy's error).
"""
from __future__ import annotations

import numpy as np

from ..graph import Node
from .signature import Exported


def _dim(d) -> str:
    return str(d) if isinstance(d, int) else f"d_{d}"


def _product(dims) -> str:
    return " * ".join(f"(int64_t){_dim(d)}" for d in dims) or "1"


def _strides(shape: tuple) -> list[str]:
    """C-order strides (in elements) of an array of `shape`, as C expressions."""
    return [_product(shape[k + 1:]) for k in range(len(shape))]


def _unflatten(flat: str, dims: list[tuple[int, object]], prefix: str) -> list[str]:
    """Per-dimension indices `prefix<axis>` of the flat C-order position `flat` over (axis, length) dims."""
    if not dims:
        return []
    lines = [f"int64_t {prefix}q = {flat};"]
    for k, (axis, length) in enumerate(reversed(dims)):
        last = k == len(dims) - 1
        lines.append(f"const int64_t {prefix}{axis} = {prefix}q" + ("" if last else f" % {_dim(length)}") + ";"
                     + ("" if last else f" {prefix}q /= {_dim(length)};"))
    return lines


def _offset(indices: dict[int, str], shape: tuple) -> str:
    strides = _strides(shape)
    terms = [f"{indices[a]} * {strides[a]}" for a in range(len(shape)) if shape[a] != 1]
    return " + ".join(terms) or "0"


def _c(dtype) -> str:
    from .c_export import c_type
    return c_type(dtype)


def _reduce_axes(node: Node, ndim: int) -> tuple[int, ...]:
    axis = dict(node.attrs).get("axis")
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))))


def _reduction(node: Node, src: str, dst: str, exp: Exported) -> list[str]:
    shape = exp.shapes[node.inputs[0]]
    s, r = exp.kinds[node.inputs[0]].dtype, exp.kinds[node].dtype
    S, R = _c(s), _c(r)
    axes = _reduce_axes(node, len(shape))
    outer = [(a, shape[a]) for a in range(len(shape)) if a not in axes]
    inner = [(a, shape[a]) for a in axes]
    index = {a: f"sx_o{a}" for a, _ in outer} | {a: f"sx_r{a}" for a, _ in inner}
    x = f"{src}[{_offset(index, shape)}]"
    op = node.op
    integer = s.kind in "iub"
    head = [f"const int64_t sx_inner = {_product([d for _, d in inner])};",
            f"for (int64_t sx_o = 0; sx_o < {_product([d for _, d in outer])}; ++sx_o) {{"]
    head += ["    " + ln for ln in _unflatten("sx_o", outer, "sx_o")]
    loop = ["    for (int64_t sx_r = 0; sx_r < sx_inner; ++sx_r) {"]
    loop += ["        " + ln for ln in _unflatten("sx_r", inner, "sx_r")]
    loop.append(f"        const {S} x = {x};")
    if op in ("sum", "prod", "mean"):
        wrap = integer and r.kind in "iub" and op != "mean"
        acc = "uint64_t" if wrap else "double"
        first, combine = ("0", "+") if op != "prod" else ("1", "*")
        value = "(uint64_t)(int64_t)x" if wrap and s.kind == "i" else f"({acc})x"
        body = [f"    {acc} acc = {first};"] + loop + [f"        acc = acc {combine} {value};", "    }"]
        result = "acc / (double)sx_inner" if op == "mean" else "acc"
        body.append(f"    {dst}[sx_o] = ({R})({result});")
    elif op in ("max", "min", "argmax", "argmin"):
        better = ">" if op in ("max", "argmax") else "<"
        nan = "0" if integer else "sx_isnan(x)"
        body = ["    if (sx_inner == 0) { sx_status = 2; break; }", f"    {S} best = 0; int64_t at = -1;"]
        body += loop + [f"        if (at < 0 || {nan} || x {better} best) {{ best = x; at = sx_r; if ({nan}) break; }}",
                        "    }"]
        body.append(f"    {dst}[sx_o] = " + ("best;" if op in ("max", "min") else f"({R})at;"))
    elif op in ("any", "all"):
        stop = "x != 0" if op == "any" else "x == 0"
        body = [f"    uint8_t acc = {int(op == 'all')};"] + loop + [f"        if ({stop}) {{ acc = {int(op == 'any')}; break; }}",
                                                                    "    }", f"    {dst}[sx_o] = acc;"]
    elif op in ("var", "std"):
        ddof = float(dict(node.attrs).get("ddof", 0))
        body = ["    double total = 0, sq = 0;"] + loop + ["        total += (double)x;", "    }",
                "    const double mean = total / (double)sx_inner;"]
        body += loop + ["        const double d = (double)x - mean;", "        sq += d * d;", "    }"]
        result = f"sq / ((double)sx_inner - {ddof!r})"
        body.append(f"    {dst}[sx_o] = ({R})" + (f"sqrt({result});" if op == "std" else f"({result});"))
    elif op == "logsumexp":
        body = ["    if (sx_inner == 0) { sx_status = 2; break; }", f"    {S} m = 0; int64_t at = -1;"] + loop + [
            f"        if (at < 0 || {'0' if integer else 'sx_isnan(x)'} || x > m) {{ m = x; at = sx_r; }}", "    }"]
        # Integers: the shifted values, their exponentials and sum in the result's dtype, as NumPy
        # (exp of a wrapped-around uint16 difference overflows float32); floats in double.
        W = R if integer else "double"
        body += [f"    const {W} shift = {f'({W})m' if integer else 'isfinite(m) ? (double)m : 0.0'};",
                 f"    {W} total = 0;"]
        body += loop + [f"        total += exp({_shifted(s, 'x', 'm', 'shift', W)});", "    }",
                        f"    {dst}[sx_o] = ({R})(log(total) + shift);"]
    else:
        raise AssertionError(op)
    return ["{"] + ["    " + ln for ln in head + body + ["}"]] + ["}"]


def _shifted(s: np.dtype, x: str, m: str, shift: str, work: str = "double") -> str:
    """x minus the maximum, as ops.py computes it: in x's dtype for integers (wrapping around)."""
    if s.kind in "iu":
        return f"({work})({_c(s)})((uint64_t){x} - (uint64_t){m})"
    return f"((double){x} - {shift})"


def _rowwise(node: Node, src: str, dst: str, exp: Exported) -> list[str]:
    shape = exp.shapes[node.inputs[0]]
    s, r = exp.kinds[node.inputs[0]].dtype, exp.kinds[node].dtype
    S, R = _c(s), _c(r)
    axis = dict(node.attrs).get("axis", -1) % len(shape)
    outer = [(a, shape[a]) for a in range(len(shape)) if a != axis]
    index = {a: f"sx_o{a}" for a, _ in outer} | {axis: "sx_j"}
    at = _offset(index, shape)
    integer = s.kind in "iub"
    W = R if integer else "double"  # integers: in the result's dtype, as NumPy (see _reduction's logsumexp)
    lines = [f"if ({_dim(shape[axis])} == 0) sx_status = 2;  /* NumPy: the maximum of an empty axis */",
             f"for (int64_t sx_o = 0; sx_o < {_product([d for _, d in outer])}; ++sx_o) {{"]
    lines += ["    " + ln for ln in _unflatten("sx_o", outer, "sx_o")]
    lines += [f"    {S} m = 0; int64_t found = -1;",
              f"    for (int64_t sx_j = 0; sx_j < {_dim(shape[axis])}; ++sx_j) {{",
              f"        const {S} x = {src}[{at}];",
              f"        if (found < 0 || {'0' if integer else 'sx_isnan(x)'} || x > m) {{ m = x; found = sx_j; "
              f"if ({'0' if integer else 'sx_isnan(x)'}) break; }}",
              "    }",
              *([] if integer else ["    const double shift = isfinite(m) ? (double)m : 0.0;"]),
              f"    {W} total = 0;",
              f"    for (int64_t sx_j = 0; sx_j < {_dim(shape[axis])}; ++sx_j) total += exp({_shifted(s, f'{src}[{at}]', 'm', 'shift', W)});",
              f"    for (int64_t sx_j = 0; sx_j < {_dim(shape[axis])}; ++sx_j) {{",
              f"        const {W} y = {_shifted(s, f'{src}[{at}]', 'm', 'shift', W)};",
              f"        {dst}[{at}] = ({R})" + ("(y - log(total));" if node.op == "log_softmax" else "(exp(y) / total);"),
              "    }", "}"]
    return ["{"] + ["    " + ln for ln in lines] + ["}"]


def _transpose(node: Node, src: str, dst: str, exp: Exported) -> list[str]:
    shape = exp.shapes[node.inputs[0]]
    out = exp.shapes[node]
    axes = dict(node.attrs).get("axes")
    perm = list(reversed(range(len(shape)))) if axes is None else [a % len(shape) for a in axes]
    # Output dimension k is source dimension perm[k].
    index = {perm[k]: f"sx_o{k}" for k in range(len(out))}
    lines = [f"for (int64_t sx_o = 0; sx_o < {_product(out)}; ++sx_o) {{"]
    lines += ["    " + ln for ln in _unflatten("sx_o", list(enumerate(out)), "sx_o")]
    lines += [f"    {dst}[sx_o] = {src}[{_offset(index, shape)}];", "}"]
    return ["{"] + ["    " + ln for ln in lines] + ["}"]


def _matmul(node: Node, sources: list[str], dst: str, exp: Exported) -> list[str]:
    a, b = node.inputs
    sa, sb = exp.shapes[a], exp.shapes[b]
    r = exp.kinds[node].dtype
    R = _c(r)
    a2 = (1,) + sa if len(sa) == 1 else sa  # NumPy's 1-d operands: a row, a column
    b2 = sb + (1,) if len(sb) == 1 else sb
    batch = max(len(a2), len(b2)) - 2
    ab = (1,) * (batch + 2 - len(a2)) + a2
    bb = (1,) * (batch + 2 - len(b2)) + b2
    space = [ab[d] if ab[d] != 1 else bb[d] for d in range(batch)] + [ab[-2], bb[-1]]
    ia = {d: f"sx_o{d}" for d in range(batch)} | {batch: f"sx_o{batch}", batch + 1: "sx_k"}
    ib = {d: f"sx_o{d}" for d in range(batch)} | {batch: "sx_k", batch + 1: f"sx_o{batch + 1}"}
    kind = "bool" if r.kind == "b" else "float" if r.kind == "f" else "int"
    acc, first = {"bool": ("uint8_t", "0"), "float": ("double", "0"), "int": ("uint64_t", "0")}[kind]
    xa, xb = f"{sources[0]}[{_offset(ia, ab)}]", f"{sources[1]}[{_offset(ib, bb)}]"
    if kind == "bool":
        update = f"acc = acc | (uint8_t)(({xa} != 0) & ({xb} != 0));"
    elif kind == "float":
        update = f"acc += (double){xa} * (double){xb};"
    else:
        update = f"acc += (uint64_t)(int64_t){xa} * (uint64_t)(int64_t){xb};"
    lines = [f"for (int64_t sx_o = 0; sx_o < {_product(space)}; ++sx_o) {{"]
    lines += ["    " + ln for ln in _unflatten("sx_o", list(enumerate(space)), "sx_o")]
    lines += [f"    {acc} acc = {first};", f"    for (int64_t sx_k = 0; sx_k < {_dim(ab[-1])}; ++sx_k) {update}",
              f"    {dst}[sx_o] = ({R})acc;", "}"]
    return ["{"] + ["    " + ln for ln in lines] + ["}"]


def _expand_dims(node: Node, src: str, dst: str, exp: Exported) -> list[str]:
    """A new axis of length 1: the same elements in the same C order."""
    return [f"for (int64_t sx_o = 0; sx_o < {_product(exp.shapes[node])}; ++sx_o) {dst}[sx_o] = {src}[sx_o];"]


def render_structured(node: Node, sources: list[str], target: str, exp: Exported) -> list[str]:
    """The C block computing `node` (not element-wise) from its operands' arrays into `target`."""
    kind = {"reduction": "reduction", "rowwise": "rowwise"}.get(_kind(node), node.op)
    if kind == "reduction":
        return _reduction(node, sources[0], target, exp)
    if kind == "rowwise":
        return _rowwise(node, sources[0], target, exp)
    if kind == "transpose":
        return _transpose(node, sources[0], target, exp)
    if kind == "matmul":
        return _matmul(node, sources, target, exp)
    if kind == "expand_dims":
        return _expand_dims(node, sources[0], target, exp)
    raise AssertionError(node.op)


def _kind(node: Node) -> str:
    from ..ops import OPS
    return OPS[node.op].kind


STRUCTURED = frozenset(("sum", "prod", "mean", "max", "min", "argmax", "argmin", "any", "all", "var", "std",
                        "logsumexp", "softmax", "log_softmax", "matmul", "transpose", "expand_dims"))

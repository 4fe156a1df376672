"""Plain C: a program as a self-contained C99 source and header, plus a `main.c` on .npy files and a Makefile.

The exported function computes the graph with loops, one element at a time, through the same per-op
table the OpenCL kernels use (`backends/opencl/c_ops.py` CL_OPS, rendered in scalar code by
`values.render_values`): OpenCL C's scalar code is C99 but for a few words, translated here
(`to_c99`: its type names as <stdint.h>'s, its builtins as small C functions), and the math functions
come from <tgmath.h>, which picks sinf or sin by the argument's type as OpenCL's overloads do. So the C
export has the OpenCL engine's semantics op for op (NumPy's bits for exact ops, libm's within ulps for
transcendental ones) and depends on nothing but the C library and libm.

User names reach the C text only mangled: values `v_<name>_<k>` (values.var_names), the function's
arguments `in_<name>`, `out_<name>`, `d_<dim>`; the statement a value came from is in a comment made
safe for C (values.comment_text). Reductions, softmax, matrix products and transposes are loops of
their own (c_loops.py) over arrays: their operands are computed into temporaries first (malloc'd
once per call), and element-wise work reading their results loads them like inputs.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..graph import Node, statement_text
from ..ops import OPS
from ..backends.opencl.c_ops import CL_OPS
from ..backends.opencl.c_types import CL_TYPES, literal
from ..backends.opencl.elementwise import needs_error_flag
from ..backends.opencl.values import render_values, var_names
from .c_loops import STRUCTURED, render_structured
from .signature import Exported, ExportError, specialize_for_export

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# OpenCL C's scalar types, as C99's exact-width types.
C_TYPES = {"uchar": "uint8_t", "char": "int8_t", "ushort": "uint16_t", "short": "int16_t",
           "uint": "uint32_t", "int": "int32_t", "ulong": "uint64_t", "long": "int64_t",
           "float": "float", "double": "double"}
# OpenCL builtins and qualifiers in scalar code -> their C99 definitions in the preamble.
_WORDS = {"__global": "", "select": "sx_select", "abs": "sx_abs", "isnan": "sx_isnan", "isinf": "sx_isinf",
          "isfinite": "sx_isfinite", "signbit": "sx_signbit", "as_float": "sx_as_float",
          "as_double": "sx_as_double", "as_uint": "sx_as_uint", "as_ulong": "sx_as_ulong"}
_TOKEN = re.compile(r"\b(" + "|".join(sorted(set(C_TYPES) - {"float", "double"} | set(_WORDS), key=len,
                                             reverse=True)) + r")\b")
_SATURATE = re.compile(r"\bconvert_(\w+?)_sat_rtz\(")


def c_type(dtype) -> str:
    return C_TYPES[CL_TYPES[np.dtype(dtype).name]]


def to_c99(line: str) -> str:
    """One line of OpenCL C scalar code as C99 (comment lines are left as they are)."""
    if line.lstrip().startswith("//"):
        return line
    line = _SATURATE.sub(lambda m: f"sx_sat_{C_TYPES[m.group(1)]}(", line)
    return _TOKEN.sub(lambda m: C_TYPES.get(m.group(1), _WORDS.get(m.group(1))), line)


def _saturating(t: str) -> str:
    """A float (as double: exact) to integer type `t`, truncating and saturating (NaN is handled by the caller)."""
    dtype = np.dtype(t.replace("_t", ""))
    info = np.iinfo(dtype)
    hi, lo = float(info.max) + 1, float(info.min) - 1
    top = f"UINT64_C({info.max})" if dtype.name == "uint64" else f"INT64_C({info.max})"
    bottom = "INT64_MIN" if dtype.name == "int64" else f"INT64_C({info.min})"
    return (f"static {t} sx_sat_{t}(double x) {{ return x >= {hi!r} ? ({t}){top} : "
            f"x <= {lo!r} ? ({t}){bottom} : ({t})x; }}")


# C99 for the OpenCL builtins the per-op table uses in scalar code; each is emitted where used.
_PRELUDE = {
    "sx_select": "#define sx_select(b, a, c) ((c) ? (a) : (b))",
    "sx_isnan": "#define sx_isnan(x) (isnan(x) != 0)",
    "sx_isinf": "#define sx_isinf(x) (isinf(x) != 0)",
    "sx_isfinite": "#define sx_isfinite(x) (isfinite(x) != 0)",
    "sx_signbit": "#define sx_signbit(x) (signbit(x) != 0)",
    # OpenCL's abs of a signed integer is its magnitude as unsigned: abs(INT_MIN) wraps back in the cast.
    "sx_abs": "#define sx_abs(x) ((x) < 0 ? (uint64_t)0 - (uint64_t)(x) : (uint64_t)(x))",
    "sx_as_float": "static float sx_as_float(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }",
    "sx_as_double": "static double sx_as_double(uint64_t u) { double f; memcpy(&f, &u, sizeof f); return f; }",
    "sx_as_uint": "static uint32_t sx_as_uint(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }",
    "sx_as_ulong": "static uint64_t sx_as_ulong(double f) { uint64_t u; memcpy(&u, &f, sizeof u); return u; }",
    **{f"sx_sat_{t}": _saturating(t) for t in ("int8_t", "int16_t", "int32_t", "int64_t",
                                                "uint8_t", "uint16_t", "uint32_t", "uint64_t")},
}

_DESCR = {"bool": "|b1", "int8": "|i1", "uint8": "|u1"}


def npy_descr(dtype) -> str:
    dtype = np.dtype(dtype)
    return _DESCR.get(dtype.name, f"<{dtype.kind}{dtype.itemsize}")


# -- the program as C -----------------------------------------------------------------------------

def check_exportable(exp: Exported) -> None:
    """ExportError naming the line of the first operation the C export has no code for."""
    for node in exp.graph.nodes:
        if node.op in ("input", "constant"):
            continue
        if node.op not in OPS or (node.op not in CL_OPS and node.op not in STRUCTURED):
            what = "an op this version does not know" if node.op not in OPS else f"a {OPS[node.op].kind} op"
            where = statement_text(exp.graph.source, node)
            raise ExportError(f"{where + ': ' if where else ''}`{node.op}` ({what}) cannot be exported to C yet",
                              statement=node.statement)
        if exp.kinds[node].weak:
            raise ExportError(f"{statement_text(exp.graph.source, node)}: NumPy refuses `{node.op}` of these "
                              f"constants (run the program to see why)", statement=node.statement)
        dtypes = [exp.kinds[n].dtype for n in (node, *node.inputs)]
        new = next((d for d in dtypes if d.kind == "c" or d == np.float16), None)
        if new is not None:
            raise ExportError(f"{statement_text(exp.graph.source, node)}: {new} values cannot be exported to C "
                              "yet", statement=node.statement)


def _dim(d) -> str:
    return str(d) if isinstance(d, int) else f"d_{d}"


def _size(shape: tuple) -> str:
    return " * ".join(f"(int64_t){_dim(d)}" for d in shape) or "1"


def _index(shape: tuple, space: tuple) -> str:
    """The element of an array of `shape` (C order, broadcast into `space`) at the loop's position."""
    if shape == space:
        return "i"
    if all(d == 1 for d in shape):
        return "0"
    offset = len(space) - len(shape)
    terms = []
    for j, d in enumerate(shape):
        if d == 1:
            continue  # broadcast (or a length-1 dimension): always its element 0
        stride = " * ".join(_dim(s) for s in shape[j + 1:] if s != 1)
        terms.append(f"sx_i{offset + j}" + (f" * {stride}" if stride else ""))
    return " + ".join(terms) or "0"


def _shape_text(shape: tuple) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _uniform(exp: Exported, nodes, space: tuple, leaves=frozenset()) -> dict:
    """Per node, whether NumPy's inner loop sees one value all along (as values.uniformity): what
    the per-op table needs for NumPy's fast paths of power and clip."""
    out = {}
    for n in nodes:
        if n.op == "constant" or exp.kinds[n].weak:
            out[n] = ""
        elif n.op == "input" or n in leaves:
            shape = exp.shapes[n]
            broadcast = shape != space and (all(d == 1 for d in shape) or not shape or shape[-1] == 1)
            out[n] = "sx_n > 1" if broadcast else None
        else:
            parts = [out[i] for i in n.inputs]
            out[n] = None if None in parts else max(parts)
    return out


def _literal_array(values: np.ndarray) -> tuple[str, str]:
    """(C element type, initializer text) of an array's bytes; floats as their bits, exactly."""
    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.dtype.kind == "f":
        bits = flat.view(np.uint32 if flat.dtype.itemsize == 4 else np.uint64)
        t = "uint32_t" if flat.dtype.itemsize == 4 else "uint64_t"
        items = [f"UINT{'32' if t == 'uint32_t' else '64'}_C(0x{int(b):x})" for b in bits]
    elif flat.dtype.kind == "b":
        t, items = "uint8_t", [str(int(b)) for b in flat]
    else:
        t = c_type(flat.dtype)
        items = [f"{'U' if flat.dtype.kind == 'u' else ''}INT64_C({int(v)})" if flat.dtype.itemsize == 8
                 else str(int(v)) for v in flat]
        if flat.dtype.name == "int64":
            items = ["INT64_MIN" if int(v) == -(2**63) else f"INT64_C({int(v)})" for v in flat]
    rows = [", ".join(items[k:k + 8]) for k in range(0, len(items), 8)] or ["0"]
    return t, "{\n    " + ",\n    ".join(rows) + "\n}"


def render_c(exp: Exported, name: str) -> tuple[str, str]:
    """(the .c source, the .h header) of function `name` computing `exp`'s outputs."""
    check_exportable(exp)
    graph, kinds, shapes = exp.graph, exp.kinds, exp.shapes
    names = var_names(graph)
    helpers: dict[str, str] = {}
    args = [f"int64_t {_dim(d)}" for d in exp.dims]
    docs = [f" *   {_dim(d)}: the named dimension `{d}`" for d in exp.dims]
    for n in graph.inputs:
        if n.input_name in exp.params:
            continue
        dt, shape = exp.inputs[n.input_name]
        args.append(f"const {c_type(dt)} *in_{n.input_name}")
        docs.append(f" *   in_{n.input_name}: {dt.name}{_shape_text(shape)}, C order")
    for oname, node in graph.outputs:
        args.append(f"{c_type(kinds[node].dtype)} *out_{oname}")
        docs.append(f" *   out_{oname}: {kinds[node].dtype.name}{_shape_text(shapes[node])}, C order, written")
    position = {n: k for k, n in enumerate(graph.nodes)}
    # Arrays holding a node's every value: inputs, saved parameters, outputs, and the operands and
    # results of reductions and products (temporaries, allocated once).
    buffers: dict[Node, str] = {n: (f"p_{n.input_name}" if n.input_name in exp.params else f"in_{n.input_name}")
                                for n in graph.inputs}
    out_of: dict[Node, str] = {}
    for oname, node in graph.outputs:
        out_of.setdefault(node, f"out_{oname}")
    temporaries: list[tuple[str, str, str]] = []  # (pointer, C type, element count)

    def buffer(n: Node) -> str:
        if n not in buffers:
            if n in out_of:
                buffers[n] = out_of[n]
            else:
                buffers[n] = f"sx_b{position[n]}"
                temporaries.append((buffers[n], c_type(kinds[n].dtype), _size(shapes[n])))
        return buffers[n]

    def elementwise(targets: list[tuple[Node, str]], space: tuple) -> list[str]:
        """One loop over `space` computing each target node (from the arrays in `buffers`) into its array."""
        computed = {node for node, _ in targets if node.op not in ("input", "constant") and OPS[node.op].kind == "elementwise"}
        leaves = set(buffers) - computed  # (an element-wise target has its array, but is computed here)
        needed: set[Node] = set()
        stack = [node for node, _ in targets]
        while stack:
            n = stack.pop()
            if n not in needed:
                needed.add(n)
                if n not in leaves:
                    stack.extend(n.inputs)
        nodes = sorted(needed, key=position.__getitem__)
        held = frozenset(n for n in nodes if n in leaves and n.op != "input")
        lines = [to_c99(ln) for ln in render_values(graph, nodes, kinds, names, helpers, np.dtype("float32"), held,
                                                    uniform=_uniform(exp, nodes, space, leaves))]
        for node, pointer in targets:
            if node in leaves and node.op != "input" and buffers[node] == pointer:
                continue
            value = to_c99(literal(node.value, kinds[node].dtype)) if node.op == "constant" else names[node]
            lines.append(f"{pointer}[{_index(shapes[node], space)}] = {value};")
        loads = []
        for n in nodes:  # the arrays the loop reads (an op on a constant result, isnan of an int, reads none)
            if n not in leaves or not any(re.search(rf"\b{names[n]}\b", ln) for ln in lines):
                continue
            dt = kinds[n].dtype
            value = f"{buffers[n]}[{_index(shapes[n], space)}]"
            if n.op == "input" and n.input_name in exp.params and dt.kind == "f":
                value = f"sx_as_{'float' if dt.itemsize == 4 else 'double'}({value})"
            loads.append(f"const {c_type(dt)} {names[n]} = {value};")
        lines = _drop_unread(loads + lines)
        block = ["{", f"    const int64_t sx_n = {_size(space)};", "    for (int64_t i = 0; i < sx_n; ++i) {"]
        used = [d for d in range(len(space)) if any(re.search(rf"\bsx_i{d}\b", ln) for ln in lines)]
        if used:
            block.append("        int64_t sx_r = i;")
        for d in reversed(range(min(used, default=len(space)), len(space))):
            dim = _dim(space[d])
            if d == 0:
                block.append("        const int64_t sx_i0 = sx_r;")
            elif d in used:
                block.append(f"        const int64_t sx_i{d} = sx_r % {dim};" + (f" sx_r /= {dim};" if d > used[0] else ""))
            else:
                block.append(f"        sx_r /= {dim};")
        return block + [f"        {ln}" for ln in lines] + ["    }", "}"]

    stages: list[str] = []
    for node in graph.nodes:
        if node.op in ("input", "constant") or OPS[node.op].kind == "elementwise":
            continue
        for operand in node.inputs:
            if operand not in buffers:
                stages += elementwise([(operand, buffer(operand))], shapes[operand])
        stages += render_structured(node, [buffers[i] for i in node.inputs], buffer(node), exp)
    # The outputs: one loop per distinct shape, computing what its outputs need.
    groups: dict[tuple, list] = {}
    for oname, node in graph.outputs:
        if buffers.get(node) != f"out_{oname}":
            groups.setdefault(shapes[node], []).append((node, f"out_{oname}"))
    for space, targets in groups.items():
        stages += elementwise(targets, space)

    body: list[str] = []
    err = needs_error_flag(graph, kinds)
    if err:
        body += ["int32_t sx_err_flag = 0;", "int32_t *const sx_err = &sx_err_flag;"]
    if temporaries or any("sx_status" in ln for ln in stages):
        body.append("int sx_status = 0;")
    for pointer, t, count in temporaries:
        body.append(f"{t} *{pointer} = malloc(({count}) > 0 ? (size_t)({count}) * sizeof({t}) : 1);")
    if temporaries:
        freeing = " ".join(f"free({p});" for p, _, _ in temporaries)
        failed = " || ".join(f"!{p}" for p, _, _ in temporaries)
        body.append(f"if ({failed}) {{ {freeing} return 3; }}")
    body += stages
    if temporaries:
        body.append(" ".join(f"free({p});" for p, _, _ in temporaries))
    status = "sx_status" if any(ln.startswith("int sx_status") for ln in body) else "0"
    body.append(f"return sx_err_flag ? 1 : {status};" if err else f"return {status};")
    unread = [a.split()[-1].lstrip("*") for a in args]
    unread = [a for a in unread if not any(re.search(rf"\b{a}\b", ln) for ln in body)]
    body = [f"(void){a};  /* not read: its values do not change the outputs */" for a in unread] + body

    # The helpers the code calls (a value dropped as unread may have asked for one); each after those it calls.
    kept: list[str] = []
    for hname, src in reversed(helpers.items()):
        if any(re.search(rf"\b{hname}\(", text) for text in body + kept):
            kept.insert(0, src)
    helper_text = ["static " + to_c99(src) for src in kept]
    params = []
    for pname, arr in exp.params.items():
        t, init = _literal_array(arr)
        params.append(f"/* the saved parameter `{pname}`: {arr.dtype.name}{list(arr.shape)} */")
        params.append(f"static const {t} p_{pname}[{max(arr.size, 1)}] = {init};")
    text = "\n".join(helper_text + params + body)
    prelude = [src for word, src in _PRELUDE.items() if re.search(rf"\b{word}\b", text)]
    signature = f"int {name}(" + ", ".join(args or ["void"]) + ")"
    summary = (f" * {name}: computes the symexpr program's outputs {', '.join(graph.output_names)}.\n"
               f" * Returns 0; NumPy's errors: 1, an integer raised to a negative power; 2, the maximum (max, min,\n"
               f" * argmax, argmin, logsumexp, softmax) of an empty axis; 3, out of memory for temporaries.\n"
               f" *\n" + "\n".join(docs))
    header = (f"/* Generated by symexpr from a program; C99, depends on the C library and libm only.\n"
              f"{summary}\n */\n#ifndef SX_{name.upper()}_H\n#define SX_{name.upper()}_H\n\n#include <stdint.h>\n\n"
              f"{signature};\n\n#endif\n")
    source_lines = [f"/* Generated by symexpr: the program below, as C99. Build: cc -std=c99 -O2 -c {name}.c */",
                    "/*", *[f" *   {_comment(ln)}" for ln in graph.source.split("\n")], " */",
                    f'#include "{name}.h"', "#include <stdlib.h>", "#include <string.h>", "#include <tgmath.h>", "",
                    *prelude, "", *helper_text, *params, "", signature, "{"]
    source_lines += [f"    {ln}" if ln else "" for ln in body]
    source_lines.append("}")
    return "\n".join(source_lines) + "\n", header


_DEFINITION = re.compile(r"^const \w+ (\w+) = ")
_VALUE = re.compile(r"\b[vt]_\w+")


def _drop_unread(lines: list[str]) -> list[str]:
    """The lines without values nothing reads (an operand of `isinf` of an integer, which is
    always False): C compilers warn of unused variables."""
    reads: dict[str, int] = {}
    defined = {}
    for k, ln in enumerate(lines):
        m = _DEFINITION.match(ln)
        if m:
            defined[m.group(1)] = k
        for name in _VALUE.findall(ln[m.end():] if m else ln):
            reads[name] = reads.get(name, 0) + 1
    dropped: set[int] = set()
    work = [name for name in defined if not reads.get(name)]
    while work:
        k = defined[work.pop()]
        if k in dropped:
            continue
        dropped.add(k)
        for name in _VALUE.findall(lines[k][_DEFINITION.match(lines[k]).end():]):
            reads[name] -= 1
            if reads[name] == 0 and name in defined:
                work.append(name)
    return [ln for k, ln in enumerate(lines) if k not in dropped]


def _comment(text: str) -> str:
    """A source line made safe inside a /* */ comment (and free of trigraphs and line splices)."""
    return re.sub(r"[^\x20-\x7e]|[\\?]", " ", text).replace("*/", "* /")


# -- main.c: the program on .npy files ------------------------------------------------------------

_MAIN_READER = r'''
/* .npy files (NumPy's format, version 1 to 3): the header's descr, fortran_order and shape. */
typedef struct { char descr[8]; int fortran; int ndim; int64_t shape[SX_MAXDIM]; } sx_npy;

static int sx_fail(const char *what, const char *path) {
    fprintf(stderr, "%s: %s\n", path, what);
    return 0;
}

static int sx_read_header(FILE *f, const char *path, sx_npy *h) {
    unsigned char magic[8];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) return sx_fail("not a .npy file", path);
    uint32_t len = 0;
    unsigned char b[4] = {0, 0, 0, 0};
    int wide = magic[6] >= 2;
    if (fread(b, 1, wide ? 4 : 2, f) != (size_t)(wide ? 4 : 2)) return sx_fail("truncated header", path);
    len = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
    if (len > 65536) return sx_fail("header too long", path);
    char *text = malloc(len + 1);
    if (!text || fread(text, 1, len, f) != len) { free(text); return sx_fail("truncated header", path); }
    text[len] = 0;
    const char *d = strstr(text, "'descr':"), *o = strstr(text, "'fortran_order':"), *s = strstr(text, "'shape':");
    if (!d || !o || !s) { free(text); return sx_fail("header without descr, fortran_order or shape", path); }
    d = strchr(d + 8, '\'');
    if (!d || sscanf(d + 1, "%7[^']", h->descr) != 1) { free(text); return sx_fail("bad descr", path); }
    h->fortran = strstr(o, "True") == o + 17 || strncmp(o + 16, " True", 5) == 0;
    s = strchr(s, '(');
    h->ndim = 0;
    while (s && *++s && *s != ')') {
        if (*s == ' ' || *s == ',') continue;
        if (h->ndim == SX_MAXDIM) { free(text); return sx_fail("too many dimensions", path); }
        h->shape[h->ndim++] = strtoll(s, (char **)&s, 10);
        --s;
    }
    free(text);
    return 1;
}

/* Read input k into a new buffer, binding or checking the named dimensions. */
static void *sx_read(int k, const char *path, int64_t *dims) {
    const sx_spec *spec = &sx_inputs[k];
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    sx_npy h;
    if (!sx_read_header(f, path, &h)) { fclose(f); return NULL; }
    if (strcmp(h.descr, spec->descr) != 0) {
        fprintf(stderr, "%s: input %s must be %s (.npy descr %s), not %s\n", path, spec->name, spec->dtype, spec->descr, h.descr);
        fclose(f); return NULL;
    }
    if (h.fortran && h.ndim > 1) { fprintf(stderr, "%s: Fortran order; save it in C order\n", path); fclose(f); return NULL; }
    if (h.ndim != spec->ndim) {
        fprintf(stderr, "%s: input %s has %d dimensions, not %d\n", path, spec->name, spec->ndim, h.ndim);
        fclose(f); return NULL;
    }
    int64_t count = 1;
    for (int j = 0; j < h.ndim; ++j) {
        int64_t want = spec->named[j] >= 0 ? dims[spec->named[j]] : spec->fixed[j];
        if (spec->named[j] >= 0 && want < 0) dims[spec->named[j]] = want = h.shape[j];
        if (h.shape[j] != want) {
            fprintf(stderr, "%s: input %s: dimension %d is %lld, not %lld\n", path, spec->name, j,
                    (long long)h.shape[j], (long long)want);
            fclose(f); return NULL;
        }
        count *= h.shape[j];
    }
    void *data = malloc(count ? (size_t)count * spec->itemsize : 1);
    if (!data || fread(data, spec->itemsize, (size_t)count, f) != (size_t)count) {
        fprintf(stderr, "%s: truncated data\n", path); free(data); fclose(f); return NULL;
    }
    fclose(f);
    return data;
}

static int sx_write(const sx_spec *spec, const int64_t *dims, const void *data, const char *path) {
    char header[512], shape[256] = "";
    int64_t count = 1;
    for (int j = 0; j < spec->ndim; ++j) {
        int64_t d = spec->named[j] >= 0 ? dims[spec->named[j]] : spec->fixed[j];
        count *= d;
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%lld,%s", (long long)d, spec->ndim > 1 ? " " : "");
    }
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", spec->descr, shape);
    int total = 10 + n + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return 0; }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    pre[8] = (unsigned char)((n + pad + 1) & 0xff); pre[9] = (unsigned char)((n + pad + 1) >> 8);
    fwrite(pre, 1, 10, f); fwrite(header, 1, (size_t)n, f);
    for (int j = 0; j < pad; ++j) fputc(' ', f);
    fputc('\n', f);
    if (fwrite(data, spec->itemsize, (size_t)count, f) != (size_t)count) { perror(path); fclose(f); return 0; }
    return fclose(f) == 0;
}
'''


def render_main(exp: Exported, name: str) -> str:
    """main.c: `./NAME in1.npy ... out1.npy ...`, the inputs and outputs in the header's order."""
    graph, kinds, shapes = exp.graph, exp.kinds, exp.shapes
    dim_index = {d: k for k, d in enumerate(exp.dims)}
    ins = [n for n in graph.inputs if n.input_name not in exp.params]
    maxdim = max([len(exp.inputs[n.input_name][1]) for n in ins] + [len(shapes[n]) for _, n in graph.outputs] + [1])

    def spec(label: str, dtype, shape) -> str:
        fixed = [d if isinstance(d, int) else 0 for d in shape] or [0]
        named = [dim_index[d] if isinstance(d, str) else -1 for d in shape] or [-1]
        return (f'    {{"{label}", "{dtype.name}", "{npy_descr(dtype)}", {dtype.itemsize}, {len(shape)}, '
                f'{{{", ".join(map(str, fixed))}}}, {{{", ".join(map(str, named))}}}}}')

    in_specs = [spec(f"in_{n.input_name}", *exp.inputs[n.input_name]) for n in ins]
    out_specs = [spec(f"out_{o}", kinds[n].dtype, shapes[n]) for o, n in graph.outputs]
    usage = " ".join([f"in_{n.input_name}.npy" for n in ins] + [f"out_{o}.npy" for o in graph.output_names])
    call = [f"dims[{k}]" for k in range(len(exp.dims))]
    call += [f"(const {c_type(exp.inputs[n.input_name][0])} *)in[{k}]" for k, n in enumerate(ins)]
    call += [f"({c_type(kinds[n].dtype)} *)out[{k}]" for k, (_, n) in enumerate(graph.outputs)]
    n_in, n_out = len(ins), len(graph.outputs)
    in_table = ",\n".join(in_specs) or '    {"", "", "", 1, 0, {0}, {-1}}'
    out_table = ",\n".join(out_specs)
    return f'''/* Generated by symexpr: run {name}() on .npy files. Build: make; run: ./{name} {usage} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "{name}.h"

#define SX_MAXDIM {maxdim}
typedef struct {{ const char *name, *dtype, *descr; size_t itemsize; int ndim; int64_t fixed[SX_MAXDIM]; int named[SX_MAXDIM]; }} sx_spec;

static const sx_spec sx_inputs[{max(n_in, 1)}] = {{
{in_table}
}};
static const sx_spec sx_outputs[{n_out}] = {{
{out_table}
}};
{_MAIN_READER}
int main(int argc, char **argv)
{{
    const uint16_t probe = 1;
    if (*(const unsigned char *)&probe != 1) {{ fprintf(stderr, "{name}: .npy data here is little-endian; this machine is not\\n"); return 2; }}
    if (argc != {1 + n_in + n_out}) {{
        fprintf(stderr, "usage: %s {usage}\\n", argv[0]);
        return 2;
    }}
    int64_t dims[{max(len(exp.dims), 1)}];
    for (int k = 0; k < {max(len(exp.dims), 1)}; ++k) dims[k] = -1;
    void *in[{max(n_in, 1)}] = {{0}}, *out[{n_out}] = {{0}};
    for (int k = 0; k < {n_in}; ++k) {{
        in[k] = sx_read(k, argv[1 + k], dims);
        if (!in[k]) return 1;
    }}
    for (int k = 0; k < {n_out}; ++k) {{
        const sx_spec *s = &sx_outputs[k];
        int64_t count = 1;
        for (int j = 0; j < s->ndim; ++j) count *= s->named[j] >= 0 ? dims[s->named[j]] : s->fixed[j];
        out[k] = malloc(count ? (size_t)count * s->itemsize : 1);
        if (!out[k]) {{ fprintf(stderr, "{name}: out of memory\\n"); return 1; }}
    }}
    /* SYMEXPR_REPEAT=n: run the function n times and print the best time (processor time) to stderr. */
    const char *repeat_text = getenv("SYMEXPR_REPEAT");
    const long repeat = repeat_text ? strtol(repeat_text, NULL, 10) : 1;
    int status = 0;
    double best = -1;
    for (long r = 0; r < (repeat > 1 ? repeat : 1); ++r) {{
        const clock_t start = clock();
        status = {name}({", ".join(call)});
        const double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
        if (best < 0 || seconds < best) best = seconds;
    }}
    if (repeat > 1) fprintf(stderr, "{name}: best of %ld runs: %.6f s\\n", repeat, best);
    if (status != 0) {{
        fprintf(stderr, "{name}: %s\\n", status == 1 ? "integers cannot be raised to negative integer powers"
                : status == 2 ? "the maximum of an empty axis (max, min, argmax, argmin, logsumexp, softmax)"
                : "out of memory");
        return 1;
    }}
    for (int k = 0; k < {n_out}; ++k)
        if (!sx_write(&sx_outputs[k], dims, out[k], argv[1 + {n_in} + k])) return 1;
    for (int k = 0; k < {n_in}; ++k) free(in[k]);
    for (int k = 0; k < {n_out}; ++k) free(out[k]);
    return 0;
}}
'''


def render_makefile(name: str) -> str:
    return (f"# Generated by symexpr. `make` builds ./{name}, which runs the program on .npy files.\n"
            f"# -std=c99 keeps floating-point contraction off (no fused multiply-add), as NumPy computes.\n"
            f"CC ?= cc\nCFLAGS ?= -std=c99 -O2 -ffp-contract=off\nLDLIBS = -lm\n\n"
            f"{name}: main.c {name}.c {name}.h\n\t$(CC) $(CFLAGS) -o $@ main.c {name}.c $(LDLIBS)\n\n"
            f"clean:\n\trm -f {name}\n\n.PHONY: clean\n")


def export_c(prog, directory, signature: dict, name: str = "program") -> dict[str, Path]:
    """Write NAME.c, NAME.h, main.c and Makefile into `directory`; their paths by role."""
    name = signature.pop("name", name) if "name" in signature and "name" not in prog.inputs else name
    if not _NAME.match(name) or name.startswith("sx_"):
        raise ExportError(f"the C function's name must be a C identifier not starting with sx_, not {name!r}")
    exp = specialize_for_export(prog, signature)
    source, header = render_c(exp, name)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"source": directory / f"{name}.c", "header": directory / f"{name}.h",
             "main": directory / "main.c", "makefile": directory / "Makefile"}
    paths["source"].write_text(source)
    paths["header"].write_text(header)
    paths["main"].write_text(render_main(exp, name))
    paths["makefile"].write_text(render_makefile(name))
    return paths


"""OpenCL C types, exact literals and NumPy's conversions, for every kind of kernel."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .c_ops import Ctx

# -- types ------------------------------------------------------------------------------------

CL_TYPES = {
    "bool": "uchar", "int8": "char", "int16": "short", "int32": "int", "int64": "long",
    "uint8": "uchar", "uint16": "ushort", "uint32": "uint", "uint64": "ulong",
    "float16": "float", "float32": "float", "float64": "double",
    # A complex number is its (real, imaginary) pair, as NumPy stores it: .x and .y.
    "complex64": "float2", "complex128": "double2",
}
# The float type of a complex type's parts.
COMPLEX_PART = {"complex64": np.dtype("float32"), "complex128": np.dtype("float64")}
# float16 values are computed as float (NumPy computes each float16 operation in float32 and rounds
# the result, `sx_half`); only buffers hold halves, read with vload_half and written with vstore_half_rte.
_FLOAT16 = np.dtype("float16")


def buffer_type(dtype) -> str:
    """The element type of a buffer of `dtype` (half for float16, whose values are floats)."""
    return "half" if np.dtype(dtype) == _FLOAT16 else cl_type(dtype)


def load(pointer: str, index: str, dtype) -> str:
    """Element `index` of a buffer."""
    return f"vload_half({index}, {pointer})" if np.dtype(dtype) == _FLOAT16 else f"{pointer}[{index}]"


def store(pointer: str, index: str, value: str, dtype) -> str:
    """`value` into element `index` of a buffer (a statement, without `;`)."""
    if np.dtype(dtype) == _FLOAT16:
        return f"vstore_half_rte({value}, {index}, {pointer})"
    return f"{pointer}[{index}] = {value}"


# Rounding a float (or a double, in one step, as NumPy's npy_double_to_half) to the nearest float16,
# through a private half: the conversions OpenCL C has without the cl_khr_fp16 extension.
HALF_HELPERS = {
    "sx_half": ("float sx_half(float x) {\n    ushort h;\n    vstore_half_rte(x, 0, (__private half*)&h);\n"
                "    return vload_half(0, (__private const half*)&h);\n}"),
    "sx_half_d": ("float sx_half_d(double x) {\n    ushort h;\n    vstore_half_rte(x, 0, (__private half*)&h);\n"
                  "    return vload_half(0, (__private const half*)&h);\n}"),
}
_CL_BY_DTYPE = {np.dtype(name): t for name, t in CL_TYPES.items()}
_FLOAT64 = np.dtype("float64")
# Same-size unsigned types, for wrapping signed arithmetic (signed overflow is undefined in C).
_UNSIGNED = {"int8": "uchar", "int16": "ushort", "int32": "uint", "int64": "ulong"}
# The integer type of a vector comparison's result, per element type.
_MASK = {"float32": "int", "float64": "long"}

COMPARISONS = frozenset(("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"))


def cl_type(dtype) -> str:
    t = _CL_BY_DTYPE.get(dtype)  # (np.dtype.name is slow enough to show in a large kernel's rendering)
    return t if t is not None else CL_TYPES[np.dtype(dtype).name]


def is_int(dtype) -> bool:
    return np.dtype(dtype).kind in "iu"



# -- literals and conversions -----------------------------------------------------------------

def literal(value, dtype) -> str:
    """An exact OpenCL C literal of `value` converted to `dtype` as NumPy converts it."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "((uchar)1)" if value else "((uchar)0)"
    if dtype.kind == "c":
        z = np.array(value).astype(dtype)[()]
        part = COMPLEX_PART[dtype.name]
        return f"(({cl_type(dtype)})({literal(z.real, part)}, {literal(z.imag, part)}))"
    if dtype.kind in "iu":
        v = int(value)
        info = np.iinfo(dtype)
        if not info.min <= v <= info.max:
            v = int(np.array(v).astype(dtype))
        t = cl_type(dtype)
        if dtype.kind == "u":
            return f"(({t}){v}UL)"
        if v == -(2**63):
            return f"(({t})(-9223372036854775807L - 1))"
        return f"(({t}){v}L)"
    as_dtype = np.array(value).astype(dtype)
    f = float(as_dtype)
    t = cl_type(dtype)
    if math.isnan(f):
        # NaN's sign and payload as NumPy has them (OpenCL's NAN is another bit pattern).
        if dtype == _FLOAT16:
            as_dtype = as_dtype.astype(np.float32)  # its float, as vload_half gives it
        bits = int(as_dtype.view(np.uint32 if t == "float" else np.uint64))
        return f"as_float(0x{bits:08x}U)" if t == "float" else f"as_double(0x{bits:016x}UL)"
    if math.isinf(f):
        return f"(({t})INFINITY)" if f > 0 else f"(-({t})INFINITY)"
    # The shortest decimal that reads back as the same value (C rounds decimal literals correctly).
    text = str(np.float32(f)) if t == "float" else repr(f)
    suffix = "f" if t == "float" else ""
    return f"({text}{suffix})" if text.startswith("-") else f"{text}{suffix}"


def convert(expr: str, src, dst, ctx: Ctx) -> str:
    """A value of dtype `src` as dtype `dst`, as NumPy's astype (in-range values exactly)."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst:
        return expr
    if dst == _FLOAT16 and not ctx.vector:
        # Rounded once, from a double too (a float16's own float is exact: from float16, nothing to do).
        if src == _FLOAT64:
            return f"{ctx.helper('sx_half_d', HALF_HELPERS['sx_half_d'])}({expr})"
        return f"{ctx.helper('sx_half', HALF_HELPERS['sx_half'])}((float)({expr}))"
    if src == _FLOAT16 and cl_type(dst) == "float":
        return expr
    if dst.kind == "c":  # (ops.COMPLEX_OPS casts to complex only)
        if src.kind == "c":
            return f"convert_{cl_type(dst)}({expr})"
        part = COMPLEX_PART[dst.name]
        return f"(({cl_type(dst)})({convert(expr, src, part, ctx)}, {literal(0, part)}))"
    # A float to an integer type saturates (NaN gives 0), as ops.py's casts: C's conversion is
    # undefined beyond the type's range.
    sat = "_sat_rtz" if src.kind == "f" and dst.kind in "iu" else ""
    if ctx.vector:
        if dst.kind == "b":
            return f"({expr} != {ctx.const(0, src)})"
        if src.kind == "b":
            return f"convert_{ctx.t(dst)}(-{expr})"  # mask -1/0 -> 1/0
        return f"convert_{ctx.t(dst)}{sat}({expr})"
    if dst.kind == "b":
        return f"(uchar)({expr} != 0)"
    if sat:  # (PoCL's saturating conversion of NaN is not 0, as OpenCL says it is)
        return f"(isnan({expr}) ? ({cl_type(dst)})0 : convert_{cl_type(dst)}{sat}({expr}))"
    return f"({cl_type(dst)}){expr}"

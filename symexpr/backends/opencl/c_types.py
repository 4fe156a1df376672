"""OpenCL C types, exact literals and NumPy's conversions, for every kind of kernel."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .c_context import Ctx

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
# the result, `sx_half`); buffers hold their bits as ushort. The conversions are written out in
# integer and float arithmetic: OpenCL's vload_half/vstore_half_rte do the same, but PoCL's run
# several times slower on this CPU (a software conversion per element).
_FLOAT16 = np.dtype("float16")


def buffer_type(dtype) -> str:
    """The element type of a buffer of `dtype` (ushort, the bits, for float16, whose values are floats)."""
    return "ushort" if np.dtype(dtype) == _FLOAT16 else cl_type(dtype)


def load(pointer: str, index: str, dtype) -> str:
    """Element `index` of a buffer (HALF_HELPERS must be in the kernel for float16)."""
    return f"sx_from_half({pointer}[{index}])" if np.dtype(dtype) == _FLOAT16 else f"{pointer}[{index}]"


def store(pointer: str, index: str, value: str, dtype) -> str:
    """`value` into element `index` of a buffer (a statement, without `;`)."""
    if np.dtype(dtype) == _FLOAT16:
        return f"{pointer}[{index}] = sx_to_half({value})"
    return f"{pointer}[{index}] = {value}"


# Rounding to the nearest float16, ties to even (a double in one step, as NumPy's npy_double_to_half):
# normal values keep 11 significant bits (add half of the dropped part, plus its last kept bit for
# ties, and clear it); values below float16's smallest normal become multiples of 2**-24 by adding
# and subtracting a constant whose last place is 2**-24; beyond 65504 is infinity.
HALF_HELPERS = {
    "sx_half": """float sx_half(float x) {
    const float a = fabs(x);
    if (!(a < 0x1p-14f)) {
        if (isnan(x)) return x;
        uint u = as_uint(x);
        u = (u + 0x0fffU + ((u >> 13) & 1U)) & 0xffffe000U;
        return fabs(as_float(u)) > 65504.0f ? copysign(INFINITY, x) : as_float(u);
    }
    return copysign((a + 0.75f) - 0.75f, x);
}""",
    "sx_half_d": """float sx_half_d(double x) {
    const double a = fabs(x);
    if (!(a < 0x1p-14)) {
        if (isnan(x)) return (float)x;
        ulong u = as_ulong(x);
        u = (u + 0x1ffffffffffUL + ((u >> 42) & 1UL)) & 0xfffffc0000000000UL;
        return fabs(as_double(u)) > 65504.0 ? copysign(INFINITY, (float)x) : (float)as_double(u);
    }
    return (float)copysign((a + 0x1.8p28) - 0x1.8p28, x);
}""",
    "sx_from_half": """float sx_from_half(ushort h) {
    const uint s = (uint)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) return as_float(s | as_uint((float)m * 0x1p-24f));
    if (e == 31) return as_float(s | 0x7f800000U | (m << 13));
    return as_float(s | ((e + 112) << 23) | (m << 13));
}""",
    "sx_to_half": """ushort sx_to_half(float f) {
    const uint u = as_uint(f);
    const ushort s = (ushort)((u >> 16) & 0x8000);
    if (isnan(f)) return s | 0x7e00 | (ushort)((u >> 13) & 0x3ff);
    if (isinf(f)) return s | 0x7c00;
    if (fabs(f) >= 0x1p-14f) return s | (ushort)((((u >> 23) & 0xff) - 112) << 10) | (ushort)((u >> 13) & 0x3ff);
    return s | (ushort)(fabs(f) * 0x1p24f);
}""",
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
            as_dtype = as_dtype.astype(np.float32)  # its float, as the kernel reads it
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

"""What a per-op rendering knows (`Ctx`), and the NaN bits NumPy's x86 loops give.

A rendering (c_ops.py's `CL_OPS`) is a function of a `Ctx`, which knows the node's operand and
result dtypes and whether the code is for one element or for a W-wide vector (the contiguous fast
path, see `values.vector_width`): in vector code a bool is a mask (-1/0, of the same width as the
graph's float type) instead of a uchar 0/1, and `select` replaces `?:`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...graph import Node
from .c_types import _MASK, cl_type, literal


@dataclass(slots=True)
class Ctx:
    """What a rendering knows: operand/result dtypes, and the vector width (1: scalar code)."""

    node: Node
    operand_dtypes: tuple[np.dtype, ...]   # the dtype each operand was converted to
    result: np.dtype
    width: int = 1
    helpers: dict | None = None            # helper name -> C source, filled in as needed
    # Per operand: None where it varies along NumPy's inner loop, "" where it never does (a constant,
    # a scalar), or the C condition under which it does not (see `uniformity`). NumPy's power
    # takes fast paths for an exponent that is the same all along its inner loop.
    uniform: tuple = ()
    # `pick_nan` as OpenCL's ?: (fast on PoCL); False in very long kernels, where a chain of thousands
    # of them crashed PoCL's compiler (a stack overflow in LLVM; 5,000 chained additions did).
    blend: bool = True
    float_dtype: np.dtype = np.dtype("float32")  # the graph's float type: a vector bool is a mask of its width

    @property
    def vector(self) -> bool:
        return self.width > 1

    def t(self, dtype=None) -> str:
        """The C type of a value of `dtype` (the result by default), vector-wide in vector code."""
        dtype = self.result if dtype is None else np.dtype(dtype)
        if self.vector:
            base = _MASK[self.float_dtype.name] if dtype.kind == "b" else cl_type(dtype)
            return f"{base}{self.width}"
        return cl_type(dtype)

    def const(self, value, dtype=None) -> str:
        """A literal of `dtype` (the result's by default), broadcast to a vector in vector code."""
        dtype = self.result if dtype is None else np.dtype(dtype)
        if self.vector and dtype.kind == "b":
            return f"(({self.t(dtype)})({-1 if value else 0}))"
        lit = literal(value, dtype)
        return f"(({self.t(dtype)}){lit})" if self.vector else lit

    def sel(self, cond: str, a: str, b: str) -> str:
        """`cond ? a : b`, where cond is a truth value (int 0/1 in scalar code, a mask in vector code)."""
        if self.vector:
            return f"select({b}, {a}, {cond})"
        if self.result.kind == "f":
            # OpenCL's select, not `?:`, for floats: the compiler turned `b > 0 ? -0.0 : b` into a
            # min instruction, which does not tell -0.0 from +0.0 (it gave -0.0 for b = +0.0).
            return f"select({b}, {a}, ({'int' if self.result.itemsize <= 4 else 'long'})({cond}))"
        return f"(({cond}) ? {a} : {b})"

    def pick_nan(self, cond: str, a: str, b: str) -> str:
        """`cond ? a : b` where `cond` tests for NaN: OpenCL's `?:`, which PoCL compiles to a blend,
        where its select() of vectors is a slow library call (it made `a * b + c` three times
        slower). A NaN test cannot be read as a min or max, the reason `sel` avoids `?:` on floats."""
        if self.blend:
            return f"(({cond}) ? {a} : {b})"
        if self.vector:
            return f"select({b}, {a}, {cond})"
        return f"select({b}, {a}, ({'int' if self.result.itemsize <= 4 else 'long'})({cond}))"

    @staticmethod
    def isnan(x: str) -> str:
        """NaN test as a comparison (a mask in vector code), which compiles to one instruction."""
        return f"({x} != {x})"

    def truth(self, expr: str, dtype) -> str:
        """Whether a value is non-zero (NaN is), as a truth value."""
        dtype = np.dtype(dtype)
        if dtype.kind == "b":
            return expr  # uchar 0/1, or a mask in vector code
        if self.vector and dtype.kind == "f" and dtype != self.float_dtype:
            # A weak float64 literal in float32 vector code (`inf and a`): its mask is long-wide.
            return f"convert_{self.t('bool')}({expr} != {self.const(0, dtype)})"
        return f"({expr} != {self.const(0, dtype)})"

    def as_bool(self, truth: str) -> str:
        """A truth value (C int 0/1 or a vector mask) as this backend's bool value."""
        return truth if self.vector else f"(uchar)({truth})"

    def helper(self, name: str, source: str) -> str:
        if self.helpers is not None:
            self.helpers.setdefault(name, source)
        return name


def default_nan(ctx: Ctx) -> str:
    """The NaN x86 makes for an invalid operation (0/0, inf - inf): sign set, no payload. NumPy's
    results carry it; a compiler folding the same operation makes a positive one."""
    single = ctx.result.itemsize <= 4  # float16 computes in float: its NaN is float's, rounded
    return ctx.const(float(np.array(0xFFC00000 if single else 0xFFF8000000000000, "uint32" if single else "uint64")
                           .view("float32" if single else "float64")), ctx.result)


def x86_nan(ctx: Ctx, expr: str, a: str, b: str) -> str:
    """`expr` (a op b, floats), with the NaN NumPy's x86 loops give: a's if a is NaN, else b's,
    else (an invalid operation, 0/0) x86's default NaN.

    The hardware does the same, but the OpenCL compiler may swap the operands of + and * or fold a
    negation into a constant (`-x * 2` -> `x * -2`), and folds an operation on operands it knows
    (0.0 / 0.0 from a bool that is always False) to a positive NaN; IEEE allows all of it, and it
    changes the sign or payload of a NaN result. Choosing the NaN explicitly keeps NumPy's bits.
    """
    nan = ctx.pick_nan(ctx.isnan(a), a, ctx.pick_nan(ctx.isnan(b), b, default_nan(ctx)))
    return ctx.pick_nan(ctx.isnan(expr), nan, expr)

"""The OpenCL backend: graph -> OpenCL C kernels, built, cached and launched with pyopencl.

The modules are the stages of code generation, then the runtime:

    c_types.py      OpenCL C types, exact literals, NumPy's conversions
    c_context.py    what a per-op rendering knows (Ctx): dtypes, scalar or vector code
    c_arith.py      arithmetic, bitwise operations and shifts, as NumPy computes them
    c_math.py       the math functions: sin/cos polynomial, rounding, sign, extrema, clip, sigmoid
    c_complex.py    complex numbers: arithmetic and elementary functions
    c_ops.py        the per-op table: each element-wise op's OpenCL C (CL_OPS)
    values.py       what every kind of kernel shares: one line per operation, arguments, preamble
    elementwise.py  element-wise kernels (a whole element-wise program in one kernel)
    plan.py         the kernel plan: a program with reductions and products cut into few kernels
    reduce.py       reduction kernels: prologue, row passes, epilogue; rows or lanes as vectors
    runtime.py      devices, queues, the binary cache
    engine.py       OpenCLEngine: specialization per call signature, launches
    memory.py       buffers over NumPy arrays, launch geometry, pieces beyond the largest buffer
    replay.py       the fast path: a recorded launch replayed
    staged.py       the runtime of kernel plans: their steps in order, host BLAS for products

Rendering is pure (graph and signature in, text out); building and launching live in the last five.
"""
from .engine import OpenCLEngine
from .runtime import DeviceInfo, build_program, cl, devices, store_binary

import pyopencl.array as cl_array  # noqa: E402 - re-exported: auto.py and the tests take it from here

__all__ = ["OpenCLEngine", "DeviceInfo", "build_program", "cl", "cl_array", "devices", "store_binary"]

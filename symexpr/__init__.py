"""symexpr: array math written as a program, compiled once, run as one fused kernel.

    >>> import numpy as np, symexpr as sx
    >>> prog = sx.compile("d = a * b; c = where(d > 0, d, 0)")
    >>> prog(a=np.arange(3.0), b=-1.0)
    array([0., 0., 0.])
"""
import gc as _gc

# The cyclic collector paused while the package loads: its modules make thousands of objects and no
# garbage, and the collections they set off walked them for 3 ms of a new process's 25.
_collecting = _gc.isenabled()
_gc.disable()
try:
    from .errors import (BackendError, CallError, DTypeError, EvaluationError, FileFormatError, ParseError,
                         ShapeError, SymExprError)
    from .graph import Graph, Node
    from .passes import Rewrite
    from .program import Program, Results, compile
    from .backends import auto as _auto, numpy as _numpy  # (loaded here: every compile makes their engines)
    del _auto, _numpy
finally:
    if _collecting:
        _gc.enable()

# Loaded at first use (a new process that only compiles and calls programs pays nothing for them):
# `sx.hybridize` and its kind, and every function of the language as sx.sin, sx.where, sx.maximum,
# sx.float32, ... (NumPy on arrays, a recorded statement on the symbols of a function being traced).
_LAZY = {"hybridize": "tracing", "Symbol": "tracing", "TracingError": "tracing", "grad": "gradients",
         "value_and_grad": "gradients"}


def __getattr__(name: str):
    from .ops import FUNCTIONS

    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif name in FUNCTIONS:
        from .tracing import FUNCTION_WRAPPERS

        value = FUNCTION_WRAPPERS[name]
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # (sx.grad is the API; the language's grad(y, x) is what it traces inside)
    return value


def __dir__() -> list[str]:
    from .ops import FUNCTIONS

    return sorted(set(globals()) | set(_LAZY) | set(FUNCTIONS))

__all__ = ["compile", "load", "Program", "Results", "Graph", "Node", "Rewrite", "devices",
           "SymExprError", "ParseError", "CallError", "ShapeError", "DTypeError", "BackendError",
           "EvaluationError", "FileFormatError", "hybridize", "Symbol", "TracingError", "grad", "value_and_grad"]
__version__ = "0.1.0"


def load(path, *, backend: str | None = None, device=None) -> Program:
    """A program saved with `Program.save`: the same graphs, results and explain(), not parsed again.

    `backend=` chooses another backend than the one saved; the saved parameters (an .npz beside the
    file) are bound, and the program takes only its other inputs."""
    from .export.json_format import load as _load  # (not at import: a new process pays only for what it uses)

    return _load(path, backend=backend, device=device)


def devices():
    """The OpenCL devices available, as pyopencl Device objects (empty without OpenCL)."""
    try:
        from .backends.opencl import devices as _devices
    except ImportError:
        return []
    return _devices()

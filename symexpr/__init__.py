"""symexpr: array math written as a program, compiled once, run as one fused kernel.

    >>> import numpy as np, symexpr as sx
    >>> prog = sx.compile("d = a * b; c = where(d > 0, d, 0)")
    >>> prog(a=np.arange(3.0), b=-1.0)
    array([0., 0., 0.])
"""
from .errors import (BackendError, CallError, DTypeError, EvaluationError, FileFormatError, ParseError,
                     ShapeError, SymExprError)
from .graph import Graph, Node
from .passes import Rewrite
from .program import Program, Results, compile
from .hybridize import FUNCTION_WRAPPERS as _FUNCTION_WRAPPERS, Symbol, TracingError, hybridize

# sx.sin, sx.where, sx.maximum, sx.float32, ... (every function of the language): NumPy on
# arrays, a recorded statement on the symbols of a function being hybridized.
globals().update(_FUNCTION_WRAPPERS)
from .grad import grad, value_and_grad  # noqa: E402 - after the wrappers: sx.grad is the API, grad(y, x) traces too

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

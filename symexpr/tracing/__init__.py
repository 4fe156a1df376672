"""`@sx.hybridize`: a Python function of arrays, run imperatively or traced into one symexpr program.

Called as is, a hybridized function is the plain Python function: every
operation runs at once with NumPy, and a `print` shows real values. After
`f.hybridize()` (or with `@sx.hybridize(active=True)`), the first call of each
input signature *traces* the function: its arguments are replaced by `Symbol`
placeholders, and every operator and `sx.sin`-style function applied to them
records one statement of a symexpr program instead of computing anything. The
program text goes through the real grammar and parser, is compiled once, and
every later call with that signature runs the fused kernel.

The trade-off is the lecture's: inside a traced function a `print` shows a
symbol (`<Symbol t3 = a * b>`), not numbers, and Python control flow that
depends on values (`if x > 0:`) cannot work, because there are no values yet;
it raises a `TracingError` that says so and points at the line.

Values a traced function reads but was not given are frozen at tracing time:
Python scalars become weak literals in the program text, NumPy arrays and
scalars become hidden inputs bound to the captured value on every call.

As in JAX: arguments named in `static_argnames` (or at `static_argnums`) are
passed as they are and their values are part of the signature, so Python loops
over them unroll; a symbol knows its `ndim` and `dtype` (not its shape: one
trace serves every shape); array arguments are read-only in both modes, so
`x += 1` on an input is a TracingError rather than a change the traced
function could not make. The traced program's inputs follow the arguments'
order, and its graph is labelled with the function's own line numbers.

The package: `symbols.py` (the Symbol and what tracing errors say), `trace.py` (recording
a call, the `sx.sin`-style functions, the program text) and `function.py` (the decorator,
signatures and static arguments).
"""
from .function import HybridFunction, hybridize
from .symbols import Symbol, TracingError
from .trace import FUNCTION_WRAPPERS

__all__ = ["hybridize", "HybridFunction", "Symbol", "TracingError", "FUNCTION_WRAPPERS"]

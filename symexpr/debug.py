"""`prog.debug(...)`: every named intermediate, and the first statement where the backend disagrees.

The reference is the imperative NumPy engine's own `evaluate`, run over the
graph as written (`prog.parsed`), one statement at a time, keeping every value.
The program's backend is then run as usual and its outputs compared with the
reference. When they differ, each statement is checked in source order by
compiling the program up to that statement, with that statement's variable as
the only output, on the same backend: the first one whose values differ is the
culprit a user wants to read.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .backends import numpy as _numpy_backend
from .errors import EvaluationError, SymExprError
from .graph import Node, statement_text
from .infer import infer_kinds, infer_shapes, kind_of_value
from .parse import statements

# Captured once: the reference stays the reference even if an engine's evaluate is swapped out.
reference_evaluate = _numpy_backend.evaluate


@dataclass(frozen=True)
class Mismatch:
    """The first statement whose backend values differ from the NumPy reference."""

    name: str          # the variable the statement assigns
    line: int
    statement: str     # its text
    backend: str
    expected: object   # the reference value
    got: object        # the backend's value
    detail: str        # what differs: dtype, shape, or how many elements and by how much

    def __str__(self) -> str:
        return (f"line {self.line}, `{self.statement}`: the {self.backend} backend disagrees with NumPy "
                f"for `{self.name}`: {self.detail}")


class Trace(dict):
    """Every named intermediate, name -> value, in source order; `.mismatch` is None when all agree.

    A name assigned more than once keys its final value; the earlier ones are `x.1`, `x.2`, ...
    in order of assignment.
    """

    mismatch: Mismatch | None = None
    outputs: dict | None = None  # the backend's results, by output name

    @property
    def ok(self) -> bool:
        return self.mismatch is None

    def __repr__(self) -> str:
        rows = [f"{k} = {_short(v)}" for k, v in self.items()]
        tail = "all statements agree with NumPy" if self.mismatch is None else f"MISMATCH {self.mismatch}"
        return "\n".join(rows + [tail])


def _short(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{arr[()]!r}"
    body = np.array2string(arr, threshold=6, edgeitems=2, separator=", ")
    return f"{body}  ({arr.dtype}{list(arr.shape)})"


def _statements(source: str):
    """(target name, statement span start, end, line, the name it copies if it is `y = x`) for each statement."""
    out = []
    for target, span, copied in statements(source):
        out.append((target, span.start, span.end, span.line, copied))
    return out


def compare(expected, got) -> str | None:
    """None when `got` matches `expected` (dtype and shape exactly, values to the backend's tolerance)."""
    e, g = np.asarray(expected), np.asarray(got)
    if e.dtype != g.dtype:
        return f"dtype {g.dtype}, NumPy gives {e.dtype}"
    if e.shape != g.shape:
        return f"shape {g.shape}, NumPy gives {e.shape}"
    if e.dtype.kind == "f":
        # Transcendentals are within a few ulp on OpenCL; everything else is bit-exact.
        tol = 1e-5 if e.dtype.itemsize <= 4 else 1e-12
        close = np.isclose(g, e, rtol=tol, atol=tol * 1e-3, equal_nan=True)
    else:
        close = g == e
    bad = int(np.size(close) - np.count_nonzero(close))
    if not bad:
        return None
    flat_e, flat_g, flat_c = e.reshape(-1), g.reshape(-1), np.asarray(close).reshape(-1)
    first = int(np.argmin(flat_c))
    return (f"{bad} of {e.size} values differ; first at flat index {first}: "
            f"got {flat_g[first]!r}, NumPy gives {flat_e[first]!r}")


def trace_values(prog, inputs: dict) -> tuple[Trace, dict]:
    """Run the written graph with NumPy, keeping every value; (named values, value of each node)."""
    graph = prog.parsed
    if all(n in inputs for n in graph.input_names):
        # The same DTypeError/ShapeError, with the statement, that a call would give.
        infer_kinds(graph, {n: kind_of_value(inputs[n]) for n in graph.input_names})
        infer_shapes(graph, {n: np.shape(inputs[n]) for n in graph.input_names})
    env: dict[Node, object] = {}
    for node in graph.nodes:
        if node.op == "input":
            if node.input_name in inputs:
                env[node] = inputs[node.input_name]
        elif node.op == "constant":
            env[node] = node.value
        elif all(i in env for i in node.inputs):  # statements that read a missing dead input are skipped
            try:
                env[node] = reference_evaluate(node, [env[i] for i in node.inputs])
            except (ValueError, TypeError, OverflowError, ZeroDivisionError) as err:
                raise EvaluationError(f"{statement_text(graph.source, node)}: {err}") from None

    # Each statement's value: the last node built for it, or the variable it names (`y = x`).
    by_statement: dict[tuple, Node] = {}
    for node in graph.nodes:
        if node.statement is not None:
            by_statement[(node.statement.start, node.statement.end)] = node
    current: dict[str, object] = dict(inputs)
    counts: dict[str, int] = {}
    ordered: list[tuple[str, object, tuple]] = []
    for target, start, end, line, copied in _statements(graph.source):
        node = by_statement.get((start, end))
        if copied in current:  # `y = x`: no node of its own
            value = current[copied]
        elif node is not None and node in env:
            value = env[node]
        else:
            value = _MISSING
        if value is _MISSING:
            current.pop(target, None)
            continue
        current[target] = value
        counts[target] = counts.get(target, 0) + 1
        ordered.append((target, value, (start, end, line)))
    trace = Trace()
    seen: dict[str, int] = {}
    spans: dict[str, tuple] = {}
    for target, value, where in ordered:
        seen[target] = seen.get(target, 0) + 1
        key = target if seen[target] == counts[target] else f"{target}.{seen[target]}"
        trace[key] = _numpy_backend.as_result(value, set())
        spans[key] = (target, *where)
    return trace, spans


_MISSING = object()


def debug(prog, args: tuple, kwargs: dict) -> Trace:
    """Every named intermediate by NumPy, and the first statement where `prog`'s backend disagrees."""
    written_inputs = prog.parsed.input_names
    if len(args) > len(prog.inputs):
        raise SymExprError(f"too many positional arguments: the program takes {len(prog.inputs)}")
    given = dict(zip(prog.inputs, args))
    given.update(kwargs)
    unknown = set(given) - set(written_inputs)
    if unknown:
        raise SymExprError(f"unknown input `{sorted(unknown)[0]}`: the inputs are {', '.join(written_inputs)}")
    bound = prog.bind((), {k: v for k, v in given.items()})  # missing live inputs are errors
    values = prog.convert({k: v for k, v in given.items()})

    trace, spans = trace_values(prog, values)
    try:
        results = prog.run(bound)
    except SymExprError as err:
        # NumPy computed every statement, so a backend that fails disagrees: find where.
        trace.mismatch = first_mismatch(prog, trace, spans, values) or Mismatch(
            prog.outputs[0], 0, "the whole program", prog.backend, None, None, f"the backend fails: {err}")
        warnings.warn(str(trace.mismatch), RuntimeWarning, stacklevel=3)
        return trace
    got = {prog.outputs[0]: results} if len(prog.outputs) == 1 else dict(zip(prog.outputs, results))
    trace.outputs = got

    final = {spans[k][0]: k for k in trace if "." not in k}
    if all(compare(trace[final[name]], value) is None for name, value in got.items() if name in final):
        return trace
    trace.mismatch = first_mismatch(prog, trace, spans, values)
    if trace.mismatch is not None:
        warnings.warn(str(trace.mismatch), RuntimeWarning, stacklevel=3)
    return trace


def first_mismatch(prog, trace: Trace, spans: dict, values: dict) -> Mismatch | None:
    """Compile the program up to each statement, in order, on prog's backend; the first that differs."""
    from .program import Program

    source = prog.source
    for key, expected in trace.items():
        target, start, end, line = spans[key]
        prefix = source[:end]
        try:
            part = Program(prefix, outputs=[target], backend=prog.backend, optimize=prog.optimized,
                           fast_math=prog.fast_math)
            got = part.run({k: v for k, v in values.items() if k in part.inputs})
        except SymExprError as err:
            return Mismatch(target, line, _text(source, start, end), prog.backend, expected, None,
                            f"the backend fails: {err.message}")
        detail = compare(expected, got)
        if detail is not None:
            return Mismatch(target, line, _text(source, start, end), prog.backend, expected, got, detail)
    return None


def _text(source: str, start: int, end: int) -> str:
    return " ".join(source[start:end].split())

"""Dtype and shape inference for one call signature: NumPy's own rules, asked of NumPy.

A `Kind` is what a backend must know of a value to specialize: its dtype, and
whether it is *weak* (a Python scalar or literal, which takes the other
operand's dtype, as in NumPy 2). The result dtype of every op is found by
calling the op's NumPy implementation on empty arrays of the operand dtypes
(weak operands as Python scalars), so it is NumPy's rule by construction,
including NumPy's refusals (`1.5 & 2`, a literal out of an int8's range).
"""
from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import numpy as np

from .errors import DTypeError, ShapeError
from .graph import Graph, Node, collector_paused, statement_text
from .ops import COMPLEX_OPS, OPS, SUPPORTED_DTYPES, GradientError, keeps_weak

_PY_TYPES = {bool: np.dtype(bool), int: np.dtype(np.int64), float: np.dtype(np.float64),
             complex: np.dtype(np.complex128)}
_WEAK_SAMPLE = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}
_WEAK_DTYPE = {"b": np.dtype(bool), "i": np.dtype(np.int64), "u": np.dtype(np.int64), "f": np.dtype(np.float64),
               "c": np.dtype(np.complex128)}


class Kind(NamedTuple):
    """A value's dtype, and whether it is a weak Python scalar (dtype is then bool, int64 or float64)."""

    dtype: np.dtype
    weak: bool = False

    def __str__(self) -> str:
        return f"weak {_PYNAME[self.dtype.kind]}" if self.weak else self.dtype.name


_PYNAME = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}
# The functions that take complex values, by their names in the language (for the refusal of others).
_COMPLEX_FUNCTIONS = ", ".join(sorted(OPS[n].functions[0] for n in COMPLEX_OPS if OPS[n].functions))


def is_weak_value(value) -> bool:
    """Python scalars (not NumPy's) are weak, as NumPy 2 treats them."""
    return type(value) in (int, float, bool, complex)


def kind_of_value(value) -> Kind:
    if is_weak_value(value):
        return Kind(_PY_TYPES[type(value)], True)
    return Kind(np.dtype(value.dtype))


def check_dtype(name: str, dtype: np.dtype) -> None:
    if dtype not in SUPPORTED_DTYPES:
        raise DTypeError(f"input `{name}` has dtype {dtype}, which symexpr does not support "
                         f"(supported: {', '.join(d.name for d in SUPPORTED_DTYPES)})")


def _sample(kind: Kind, literal=None):
    if kind.weak:
        return literal if literal is not None else _WEAK_SAMPLE[kind.dtype.kind]
    return np.empty(0, kind.dtype)


@functools.lru_cache(maxsize=4096)
def _result_kind(opname: str, kinds: tuple[Kind, ...], literals: tuple, attrs: tuple = ()) -> Kind | str:
    """The op's result kind for these operand kinds, or NumPy's refusal as a string."""
    op = OPS[opname]
    if op.kind != "elementwise":
        # Dtypes do not depend on shapes or axes: ask NumPy with small 2-d arrays (an empty one
        # would make max refuse). The result is a NumPy value, never weak, as np.sum(2) is.
        args = [np.ones((2, 2), k.dtype) for k in kinds]
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = op.numpy(*args)
        except GradientError as err:
            return _Verbatim(err)
        except (TypeError, ValueError) as err:
            return str(err)
        return Kind(np.dtype(np.asarray(out).dtype), False)
    args = [_sample(k, lit) for k, lit in zip(kinds, literals)]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = op.function(attrs)(*args)  # keywords may decide (round of bool, decimals=-1)
    except ValueError as err:
        if any(lit is not None for lit in literals):
            # A refusal of these values, not of the dtypes (2 ** -1): the engines raise
            # EvaluationError for it at run time, as they do for an int array ** -1.
            return _result_kind(opname, kinds, (None,) * len(kinds), attrs)
        return str(err)
    except (TypeError, OverflowError) as err:
        return str(err)
    dtype = np.asarray(out).dtype
    # An operator of weak operands is weak (Python's arithmetic); a function of them is NumPy's scalar,
    # strong: np.cos(3) is a float64, and a cast names its dtype: float32(2) is as strong as np.float32(2).
    weak = all(k.weak for k in kinds) and keeps_weak(opname)
    if weak and dtype.kind in _WEAK_DTYPE:
        dtype = _WEAK_DTYPE[dtype.kind]  # NumPy computed at the default dtype; the result stays weak
    return Kind(np.dtype(dtype), weak)


class _Verbatim(str):
    """A refusal that is not NumPy's (the gradient of an integer): its message as it is."""


def _weak_value(opname: str, literals: tuple):
    """An op of weak literals folded the way the engines compute it: a weak Python scalar, or None."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = np.asarray(OPS[opname].numpy(*literals))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None  # the engine raises it at run time, with the statement
    pytype = {"b": bool, "i": int, "u": int, "f": float, "c": complex}.get(out.dtype.kind)
    return pytype(out[()]) if pytype is not None and out.ndim == 0 else None


def describe(node: Node, graph: Graph) -> str:
    """How to name a node in a message: its variable, its source text, or its op."""
    if node.op == "input":
        return f"`{node.input_name}`"
    if node.name:
        return f"`{node.name}`"
    if node.span is not None and graph.source:
        return f"`{' '.join(node.span.text(graph.source).split())}`"
    return node.op


@collector_paused()
def infer_kinds(graph: Graph, inputs: dict[str, Kind], known: dict[Node, Kind] | None = None) -> dict[Node, Kind]:
    """Every node's Kind, given the inputs' kinds; DTypeError where NumPy refuses.

    `known`: kinds inferred before for the same input kinds (of another graph sharing nodes, such as
    the graph a pass rewrote): a node found there keeps its kind, as a node's kind depends only on its
    operands'. The engines infer the graph as written, then the specialized one, which shares most nodes.
    """
    known = known or {}
    kinds: dict[Node, Kind] = {}
    # The value of every weak node made of literals alone (`-1`, `2 + 3`): NumPy's refusals
    # depend on it (uint8 * -1 is refused like uint8 * 300), so inference must see it.
    weak_values: dict[Node, object] = {}
    for node in graph.nodes:
        if node.op == "input":
            kinds[node] = inputs[node.input_name]
            continue
        if node.op == "constant":
            kinds[node] = kind_of_value(node.value)
            if node.is_weak:
                weak_values[node] = node.value
            continue
        result = known.get(node)
        if result is None:
            operand_kinds = tuple([kinds[i] for i in node.inputs])
            if node.op not in COMPLEX_OPS and any(k.dtype.kind == "c" for k in operand_kinds):
                operands = ", ".join(str(k) for k in operand_kinds)
                if any(n.op == "seed" for n in graph.nodes):  # a program that differentiates (grad)
                    raise DTypeError(f"{statement_text(graph.source, node)}: cannot differentiate through complex "
                                     f"values ({node.op} of {operands}): gradients are computed for float values "
                                     "only; take real(z) and imag(z) first", statement=node.statement)
                raise DTypeError(f"{statement_text(graph.source, node)}: {node.op} of {operands}: symexpr computes "
                                 f"complex numbers with + - * / **, == and != and {_COMPLEX_FUNCTIONS} so far; take "
                                 "real(z) and imag(z) first", statement=node.statement)
            literals = tuple([weak_values.get(i) for i in node.inputs])
            result = _result_kind(node.op, operand_kinds, literals, node.attrs)
            if isinstance(result, _Verbatim):
                x = node.inputs[-1]
                raise DTypeError(f"{statement_text(graph.source, node)}: cannot differentiate with respect to "
                                 f"{describe(x, graph)} ({kinds[x]}): {result}", statement=node.statement)
            if isinstance(result, str):
                operands = " and ".join(f"{describe(i, graph)} ({kinds[i]})" for i in node.inputs)
                raise DTypeError(f"{statement_text(graph.source, node)}: NumPy refuses {node.op} of {operands}: "
                                 f"{result}", statement=node.statement)
            if result.dtype not in SUPPORTED_DTYPES:
                operands = ", ".join(str(k) for k in operand_kinds)
                raise DTypeError(f"{statement_text(graph.source, node)}: {node.op} of {operands} gives {result.dtype} "
                                 f"in NumPy, which symexpr does not support; cast the operand first, "
                                 f"as in {node.op}(float32(x))", statement=node.statement)
        if result.weak and all(i in weak_values for i in node.inputs):
            value = _weak_value(node.op, tuple([weak_values[i] for i in node.inputs]))
            if value is not None:
                weak_values[node] = value
        kinds[node] = result
    return kinds


def infer_shapes(graph: Graph, inputs: dict[str, tuple]) -> dict[Node, tuple]:
    """Every node's shape by NumPy broadcasting; ShapeError naming the operands where it fails."""
    shapes: dict[Node, tuple] = {}
    for node in graph.nodes:
        if node.op == "input":
            shapes[node] = tuple(inputs[node.input_name])
        elif node.op == "constant":
            shapes[node] = ()
        elif OPS[node.op].shape is not None:
            operand = tuple(shapes[i] for i in node.inputs)
            try:
                shapes[node] = OPS[node.op].shape(operand, dict(node.attrs))
            except ValueError as err:
                # At the call itself, with a caret: a statement may hold several reductions.
                if node.span is not None and graph.source:
                    raise ShapeError(str(err), source=graph.source, span=node.span) from None
                raise ShapeError(f"{statement_text(graph.source, node)}: {err}", statement=node.statement) from None
        else:
            operand = [shapes[i] for i in node.inputs]
            try:
                shapes[node] = np.broadcast_shapes(*operand)
            except ValueError:
                what = " with ".join(f"{describe(i, graph).strip('`')} {shapes[i]}" for i in node.inputs)
                raise ShapeError(f"{statement_text(graph.source, node)}: cannot broadcast {what}",
                                 statement=node.statement) from None
    return shapes

"""What runs on the workers: a stage's program on one chunk of each input, and the partials'
combination that dask.array.reduction calls.

A task pickles as a few strings and constants; each worker process compiles a stage's program once
(`stage_program`, a cache per process) and reuses it for every chunk it gets.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from ..errors import EvaluationError, SymExprError
from ..ops import OPS
from .stages import Stage, _ARG, _NO_IDENTITY, _SAME


_PROGRAMS: dict[tuple, object] = {}
_PROGRAMS_LOCK = threading.Lock()
_MAX_PROGRAMS = 256


def stage_program(source: str, options: tuple, outputs: int):
    """The compiled program of a stage, once per process (a task runs it on every chunk it gets)."""
    key = (source, options, outputs)
    prog = _PROGRAMS.get(key)
    if prog is None:
        from ..program import Program

        with _PROGRAMS_LOCK:
            prog = _PROGRAMS.get(key)
            if prog is None:
                prog = Program(source, outputs=[f"_o{k}" for k in range(outputs)], **dict(options))
                if len(_PROGRAMS) >= _MAX_PROGRAMS:  # a long-lived worker running many programs
                    _PROGRAMS.pop(next(iter(_PROGRAMS)))
                _PROGRAMS[key] = prog
    return prog


class ChunkTask:
    """A stage on one chunk of each of its inputs: pickles as a few strings and constants."""

    def __init__(self, stage: Stage, options: tuple, constants: dict):
        self.source, self.options, self.inputs = stage.source, options, stage.inputs
        self.constants, self.outputs, self.origins = constants, stage.results, stage.origins

    def results(self, *chunks) -> tuple:
        values = dict(self.constants)
        values.update(zip([n for n in self.inputs if n not in self.constants], chunks))
        prog = stage_program(self.source, self.options, self.outputs)
        try:
            results = prog.run(values)
        except SymExprError as err:
            raise self._at_user_line(err) from None
        return tuple(np.asarray(r) for r in (results if self.outputs > 1 else (results,)))

    def _at_user_line(self, err: SymExprError) -> SymExprError:
        """An error on a line of the stage's source, told at the user's statement it computes."""
        if err.line is None or not 0 < err.line <= len(self.origins):
            return err
        text, statement = self.origins[err.line - 1]
        line = " ".join(self.source.splitlines()[err.line - 1].split())
        message = err.message.removeprefix(f"line {err.line}, `{line}`: ")
        try:
            return type(err)(f"{text}: {message}", statement=statement)
        except TypeError:  # an error class of another signature: as it was
            return err

    def __call__(self, *chunks):
        """One result: the chunk; several: a tuple of them (Dask's getitem picks each out)."""
        results = self.results(*chunks)
        return results if self.outputs > 1 else results[0]


class _PartialTask(ChunkTask):
    """A reduction stage on one chunk: its partial, as one array (a structured one for moments)."""

    def __init__(self, stage: Stage, options: tuple, constants: dict, *, op: str, axes: tuple, dtypes: tuple):
        super().__init__(stage, options, constants)
        self.op, self.axes, self.ndim, self.partials = op, axes, stage.ndim, stage.partials
        self.dtypes = dtypes  # of the partial (or operand), then of the outputs given beside it

    def __call__(self, *chunks):
        """The partial; with the outputs given beside it, a tuple (partial, output, ...)."""
        shape = np.broadcast_shapes(*(np.shape(c) for c in chunks)) if chunks else ()
        shape = (1,) * (self.ndim - len(shape)) + tuple(shape)
        if self.op in _NO_IDENTITY and any(shape[d] == 0 for d in self.axes):
            # An empty chunk (slicing makes them) has no maximum: an empty partial, which the
            # combine's concatenation drops, as Dask's own max does.
            part = tuple(0 if n == 0 else 1 if d in self.axes else n for d, n in enumerate(shape))
            parts = (np.empty(shape if self.op in _ARG else part, self.dtypes[0]),
                     *(np.empty(shape, dt) for dt in self.dtypes[1:]))
            return parts if len(parts) > 1 else parts[0]
        parts = self.results(*chunks)
        partial = self._partial(parts[:self.partials], shape)
        return (partial, *parts[self.partials:]) if len(parts) > self.partials else partial

    def _partial(self, parts, shape):
        if self.op in _SAME or self.op in _ARG:
            return parts[0]
        count = math.prod(shape[d] for d in self.axes)
        out = np.empty(np.shape(parts[0]), self.dtypes[0])
        out["n"] = count
        if self.op == "mean":
            out["t"] = parts[0]
        else:
            out["m"], out["M2"] = parts[0], parts[1]
        return out


_MEAN = np.dtype([("n", "f8"), ("t", "f8")])
_VAR = np.dtype([("n", "f8"), ("m", "f8"), ("M2", "f8")])
_MOMENT_DTYPES = {"mean": _MEAN, "var": _VAR, "std": _VAR}
# Of complex values: the total and the mean complex, M2 (a sum of |x - m|**2) real.
_COMPLEX_MOMENT_DTYPES = {"mean": np.dtype([("n", "f8"), ("t", "c16")]),
                          "var": np.dtype([("n", "f8"), ("m", "c16"), ("M2", "f8")])}
_COMPLEX_MOMENT_DTYPES["std"] = _COMPLEX_MOMENT_DTYPES["var"]


def moment_dtype(op: str, operand: np.dtype, result: np.dtype) -> np.dtype:
    """The partial of `op` (mean, var, std) of an operand of dtype `operand`; other ops: `result`."""
    table = _COMPLEX_MOMENT_DTYPES if np.dtype(operand).kind == "c" else _MOMENT_DTYPES
    return table.get(op, result)


def _keep(x, axis=None, keepdims=True, dtype=None, computing_meta=False):
    # The partials are made by the stage's blockwise layer (which Dask fuses with this one); only
    # Dask's meta inference sees anything else here, and is told the result's dtype.
    return np.empty((0,) * x.ndim, dtype) if computing_meta else x


def _combine(x, axis=None, keepdims=True, op="sum", where=None):
    """Partials concatenated along `axis` -> one partial (keepdims). `where`: the reduction's
    statement (text and span), for NumPy's refusal (the maximum of nothing) at the user's line."""
    with np.errstate(all="ignore"):  # NaN and inf follow NumPy's values; a task has nobody to warn
        try:
            return _combine_partials(x, axis, op)
        except ValueError as err:
            if where is None:
                raise
            raise EvaluationError(f"{where[0]}: {err}", statement=where[1]) from None


def _combine_partials(x, axis, op):
    if op in _SAME:  # sums of sums, maxima of maxima, logsumexp of logsumexps, ...
        return OPS[op].numpy(x, axis=axis, keepdims=True)
    n = np.sum(x["n"], axis=axis, keepdims=True)
    out = np.empty(n.shape, x.dtype)
    out["n"] = n
    if op == "mean":
        out["t"] = np.sum(x["t"], axis=axis, keepdims=True)
        return out
    # Chan et al.: the merged mean, and M2 as the parts' M2 plus their counts' squared distance
    # from it. Parts of no elements (empty chunks) take no part.
    some = x["n"] > 0
    mean = np.sum(np.where(some, x["n"] * x["m"], 0), axis=axis, keepdims=True) / n
    dev = np.where(some, x["m"] - mean, 0)
    out["m"] = mean
    out["M2"] = (np.sum(np.where(some, x["M2"], 0), axis=axis, keepdims=True)
                 + np.sum(x["n"] * (dev * np.conjugate(dev)).real, axis=axis, keepdims=True))
    return out


def _aggregate(x, axis=None, keepdims=False, op="sum", dtype=None, ddof=0, where=None):
    part = _combine(x, axis=axis, op=op, where=where)
    with np.errstate(invalid="ignore", divide="ignore"):
        if op in _SAME:
            value = part
        elif op == "mean":
            value = part["t"] / part["n"]
        else:
            value = part["M2"] / np.maximum(part["n"] - ddof, 0)
            if op == "std":
                value = np.sqrt(value)
    value = np.asarray(value).astype(dtype, copy=False)
    return value if keepdims else np.squeeze(value, axis=axis)


"""The client's side: a call on Dask arrays as Dask's task graph (one blockwise layer per stage, a
dask.array.reduction per reduction), and `explain`'s account of it."""
from __future__ import annotations

import math
import operator

import numpy as np
import dask.array as da

from ..errors import CallError, ShapeError, SymExprError
from ..graph import Node, statement_text
from ..infer import is_weak_value, kind_of_value
from ..tables import is_dask as is_dask_array
from ..shapes import reduced_axes
from .stages import Plan, Stage, _ARG, _DASK_OPS, plan
from .tasks import ChunkTask, _PartialTask, _aggregate, _combine, _keep, moment_dtype, stage_program


def _options(prog) -> tuple:
    """The options a stage's program is compiled with: the program's backend and optimizer's
    (outputs, input order and line labels are the stage's own)."""
    return tuple((k, prog._options[k]) for k in ("backend", "fast_math", "optimize") if k in prog._options)


def _as_dask(name, value):
    """Dask arrays as they are; NumPy data as a one-chunk Dask array (blockwise aligns it);
    weak Python scalars and NumPy 0-d values as constants of the stage."""
    if is_dask_array(value):
        return value
    if is_weak_value(value):
        return value
    arr = np.asarray(value)
    if arr.ndim == 0:
        return arr[()]
    return da.from_array(arr, chunks=arr.shape)


def apply(prog, /, *args, allow_rechunk: bool = False, **inputs):
    """`prog(...)` on Dask arrays, with options: `allow_rechunk=True` puts an axis a row-wise op
    (softmax) needs whole into one chunk, as `dask.array.apply_gufunc(..., allow_rechunk=True)`."""
    return run(prog, prog.bind(args, inputs), allow_rechunk=allow_rechunk)


def run(prog, bound: dict, out=None, *, allow_rechunk: bool = False):
    """The program on these inputs (some of them Dask arrays): Dask arrays, one per output."""
    if out is not None:
        raise CallError("out= is not taken with Dask inputs: the results are Dask arrays; "
                        "store them with dask.array.store or .to_zarr")
    values, the_plan = _plan_call(prog, bound)
    options = _options(prog)
    arrays = dict(values)
    computed: dict[Node, object] = {}
    for stage in the_plan.stages:
        _rechunk_rows(stage, arrays, the_plan, allow_rechunk)
        made = _run_stage(stage, arrays, the_plan, options)
        for node, arr in zip(stage.outputs, made):
            computed[node] = arr
            if node in the_plan.results:
                arrays[the_plan.results[node]] = arr
    results = tuple(computed[node] for _, node in prog.graph.outputs)
    if len(results) == 1:
        return results[0]
    from ..program import Results
    return Results(prog.outputs, results)


def _plan_call(prog, bound: dict) -> tuple[dict, Plan]:
    """The call's values (Dask arrays and constants) and its plan, checked as a call on NumPy
    data of the same dtypes and shapes would be, before any task is made."""
    values = {n: _as_dask(n, v) for n, v in bound.items()}
    _check_known_shapes(prog, values)
    # Each Dask array stands as a zero-strided view of its dtype and shape: checked, no memory.
    spec = prog.convert({n: (np.broadcast_to(np.zeros((), v.dtype), v.shape) if is_dask_array(v) else v)
                         for n, v in values.items()})
    return values, plan(prog.graph, {n: kind_of_value(v) for n, v in spec.items()},
                        {n: np.shape(v) for n, v in spec.items()})


def _check_known_shapes(prog, values: dict) -> None:
    for name, v in values.items():
        if is_dask_array(v) and any(math.isnan(d) for d in v.shape):
            raise ShapeError(f"input `{name}` has unknown chunk sizes {v.shape}: call .compute_chunk_sizes() "
                             f"on it first" + prog._where_read(name))


def _index(arr, ndim: int) -> tuple:
    """The blockwise index of an operand of `arr.ndim` dimensions, right-aligned in `ndim`."""
    return tuple(range(ndim - arr.ndim, ndim))


def _rechunk_rows(stage: Stage, arrays: dict, the_plan: Plan, allow_rechunk: bool) -> None:
    """Row-wise ops need their axis in one chunk: rechunk it (when allowed), else say which line."""
    for dim, node in stage.rowwise_axes.items():
        for name in stage.inputs:
            arr = arrays[name]
            if not is_dask_array(arr) or arr.ndim < stage.ndim - dim:
                continue
            axis = arr.ndim - (stage.ndim - dim)
            if len(arr.chunks[axis]) > 1:
                if not allow_rechunk:
                    raise ShapeError(
                        f"{statement_text(the_plan.graph.source, node)}: `{node.op}` needs its axis whole in each "
                        f"chunk, and `{name}` has {len(arr.chunks[axis])} chunks along axis {axis} "
                        f"{arr.chunks[axis]}: rechunk it ({name}.rechunk({{{axis}: -1}})) or call "
                        f"symexpr.dask.apply(prog, ..., allow_rechunk=True)", statement=node.statement)
                arrays[name] = arr.rechunk({axis: -1})


def _run_stage(stage: Stage, arrays: dict, the_plan: Plan, options: tuple) -> list:
    constants = {n: arrays[n] for n in stage.inputs if not is_dask_array(arrays[n])}
    operands = [arrays[n] for n in stage.inputs if n not in constants]
    pairs = []
    for arr in operands:
        pairs += [arr, _index(arr, stage.ndim)]
    out_ind = tuple(range(stage.ndim))
    kinds = [the_plan.kinds[n] for n in stage.outputs]
    if stage.kind == "elementwise":
        return _elementwise(stage, pairs, out_ind, kinds, constants, options)
    if stage.kind in _DASK_OPS:
        return [_dask_op(stage, arrays, the_plan)]
    return _reduction(stage, pairs, out_ind, the_plan, constants, options)


def _dask_op(stage, arrays, the_plan):
    node = stage.node
    operands = [arrays[n] for n in stage.inputs]
    for name, x in zip(stage.inputs, operands):
        if not is_dask_array(x):
            raise SymExprError(f"{statement_text(the_plan.graph.source, node)}: `{node.op}` of a scalar "
                               f"(`{name}`)", statement=node.statement)
    result = _DASK_OPS[node.op](*operands, **dict(node.attrs))
    dtype = the_plan.kinds[node].dtype
    return result if result.dtype == dtype else result.astype(dtype)


def _meta(ndim: int, dtype) -> np.ndarray:
    return np.empty((0,) * ndim, dtype)


def _elementwise(stage, pairs, out_ind, kinds, constants, options) -> list:
    task = ChunkTask(stage, options, constants)
    if not pairs:  # only constants: one chunk
        return [da.from_array(v, chunks=-1) for v in task.results()]
    name = f"symexpr-{_token(stage.source, pairs, constants, options)}"
    if len(kinds) == 1:
        return [da.blockwise(task, out_ind, *pairs, name=name, meta=_meta(stage.ndim, kinds[0].dtype),
                             concatenate=True)]
    tuples = da.blockwise(task, out_ind, *pairs, name=name, meta=_meta(stage.ndim, object),
                          concatenate=True)
    return [tuples.map_blocks(operator.getitem, k, dtype=kind.dtype, meta=_meta(stage.ndim, kind.dtype),
                              name=f"{name}-{k}")
            for k, kind in enumerate(kinds)]


def _token(*parts) -> str:
    from dask.base import tokenize
    return tokenize(*parts)


def _reduction(stage, pairs, out_ind, the_plan, constants, options):
    node = stage.node
    kw = dict(node.attrs)
    operand_shape = the_plan.shapes[node.inputs[0]]
    axes = reduced_axes(operand_shape, kw.get("axis"))
    dtype = the_plan.kinds[node].dtype
    operand = the_plan.kinds[node.inputs[0]].dtype
    part_dtype = operand if node.op in _ARG else moment_dtype(node.op, operand, dtype)
    beside = [the_plan.kinds[x].dtype for x in stage.outputs[1:]]
    task = _PartialTask(stage, options, constants, op=node.op, axes=axes, dtypes=(part_dtype, *beside))
    if not pairs:
        raise SymExprError(f"{statement_text(the_plan.graph.source, node)}: a reduction of constants alone on Dask",
                           statement=node.statement)
    name = f"symexpr-{node.op}-{_token(stage.source, pairs, constants, options)}"
    part_chunks = None if node.op in _ARG else {d: 1 for d in axes}
    if not beside:
        partials = da.blockwise(task, out_ind, *pairs, name=name, concatenate=True,
                                adjust_chunks=part_chunks, meta=_meta(stage.ndim, part_dtype))
    else:  # (partial, output, ...) from each task: Dask's getitem picks each out
        tuples = da.blockwise(task, out_ind, *pairs, name=name, concatenate=True, meta=_meta(stage.ndim, object))
        chunks = tuple((1,) * len(c) if d in (part_chunks or ()) else c for d, c in enumerate(tuples.chunks))
        partials = tuples.map_blocks(operator.getitem, 0, chunks=chunks, meta=_meta(stage.ndim, part_dtype),
                                     name=f"{name}-partial")
        beside = [tuples.map_blocks(operator.getitem, k, meta=_meta(stage.ndim, dt), name=f"{name}-{k}")
                  for k, dt in enumerate(beside, 1)]
    return [_combine_partials_of(node, partials, axes, dtype, the_plan, name), *beside]


def _combine_partials_of(node, partials, axes, dtype, the_plan, name):
    """The reduction's result from its partials: dask.array.reduction's tree (or Dask's own arg
    reduction of the operand)."""
    kw = dict(node.attrs)
    if node.op in _ARG:
        reducer = da.argmax if node.op == "argmax" else da.argmin
        if any(0 in c for c in partials.chunks):  # Dask's arg reduction refuses empty chunks
            partials = partials.rechunk(tuple(tuple(n for n in c if n) or (0,) for c in partials.chunks))
        if kw.get("axis") is None and partials.ndim > 1:
            # Over every axis, Dask's arg reduction of a grid of blocks breaks ties (and picks among
            # NaNs) in block order, not in C order as NumPy does: flattened first, it agrees.
            flat = reducer(partials.reshape(-1), axis=0)
            return flat.reshape((1,) * partials.ndim) if kw.get("keepdims") else flat
        return reducer(partials, axis=kw.get("axis"), keepdims=kw.get("keepdims", False))
    from functools import partial

    where = (statement_text(the_plan.graph.source, node), node.statement)
    return da.reduction(partials, _keep, partial(_aggregate, op=node.op, dtype=dtype, ddof=kw.get("ddof", 0),
                                                 where=where),
                        axis=axes, keepdims=kw.get("keepdims", False), dtype=dtype,
                        combine=partial(_combine, op=node.op, where=where), concatenate=True,
                        meta=_meta(len(the_plan.shapes[node]), dtype), name=f"{name}-combine")


def stage_programs(prog, /, *args, **inputs) -> list:
    """The programs a call's tasks run, one per stage that runs one (products and transposes are
    Dask's own), as each worker compiles them: `.kernel_source`, `.explain(...)` on a chunk."""
    _, the_plan = _plan_call(prog, prog.bind(args, inputs))
    options = _options(prog)
    return [stage_program(st.source, options, st.results) for st in the_plan.stages if st.source]


# -- explain ---------------------------------------------------------------------------------
def explain(prog, bound: dict) -> list[str]:
    """How the program maps onto Dask's task graph for these inputs: a few lines per stage."""
    values, the_plan = _plan_call(prog, bound)
    lines = ["# on Dask"]
    for n, v in values.items():
        if is_dask_array(v):
            lines.append(f"input {n}: {v.dtype}{list(v.shape)}, {v.npartitions} chunks {v.chunksize}")
    for k, stage in enumerate(the_plan.stages, 1):
        if stage.kind == "elementwise":
            outs = ", ".join(_output_names(prog, the_plan, stage.outputs))
            head = (f"stage {k}: blockwise, one task per output chunk runs the program below once and gives "
                    f"{outs}")
        elif stage.kind in _DASK_OPS:
            head = (f"stage {k}: `{stage.kind}` on {statement_text(prog.source, stage.node)}: "
                    f"dask.array.{stage.kind} of {', '.join(stage.inputs)} (NumPy's on each block)")
        elif stage.kind in _ARG:
            head = (f"stage {k}: `{stage.kind}` on {statement_text(prog.source, stage.node)}: one task per chunk "
                    f"computes its operand; dask.array.{stage.kind} finds the index")
        else:
            how = {"mean": "totals and counts summed", "var": "counts, means and M2 merged (Chan)",
                   "std": "counts, means and M2 merged (Chan)", "logsumexp": "logsumexp of the partials"}.get(
                stage.kind, f"{stage.kind} of the partials")
            beside = _output_names(prog, the_plan, stage.outputs[1:]) if len(stage.outputs) > 1 else []
            head = (f"stage {k}: `{stage.kind}` on {statement_text(prog.source, stage.node)}: one task per chunk "
                    f"runs the program below (the partial{''.join(', and ' + n for n in beside)}); "
                    f"dask.array.reduction combines the partials: {how}")
        lines += ["", head]
        if stage.rowwise_axes:
            lines.append("needs whole along blockwise dimension(s) " + ", ".join(map(str, stage.rowwise_axes)))
        lines += ["    " + line for line in stage.source.splitlines()]
    return lines


def _output_names(prog, the_plan, nodes) -> list[str]:
    names = [name for name, node in prog.graph.outputs if node in nodes]
    return names or [f"the operand of {statement_text(prog.source, n)}" for n in nodes]

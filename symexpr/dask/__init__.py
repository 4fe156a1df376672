"""Programs on Dask arrays: Dask plans, ships and retries; symexpr computes each chunk as one fused kernel.

A call with a Dask array among its inputs (`prog(a=darr, b=np_array_or_scalar)`) returns Dask
arrays, one per output, lazily. The program's graph is cut into *stages* at its reductions and
products:

- an element-wise stage (element-wise and row-wise work) is one `dask.array.blockwise` layer:
  ONE task per output chunk runs the stage as one program on that chunk of every input, and the
  stage's outputs of one shape come from that one call (Dask's `getitem` picks each out);
- a reduction (`sum`, `mean`, `var`, ... of an expression) is a blockwise layer whose task runs the
  expression *and* the reduction of its chunk as one program (the partial: a sum, a maximum, a
  count with a mean and squared deviations, ...), then `dask.array.reduction` combines the
  partials in a tree (sums of sums, maxima of maxima, Chan's merge of counts, means and M2);
- what reads a reduction's result is a later stage, which takes the reduced Dask array as an input.

Each stage's program is rendered back to symexpr source (stages.py), so a task carries a few
strings, not a compiled program: each worker process compiles a stage once (tasks.py's
`stage_program`, a cache per process; the OpenCL binaries come from the disk cache) and reuses it
for every chunk. layers.py builds Dask's task graph from the stages, on the client.

Chunks are aligned as Dask aligns them (`unify_chunks`, through blockwise); NumPy arrays become
one-chunk Dask arrays and are aligned too; Python scalars stay weak constants of the stage (NumPy's
promotion rules hold as they do on NumPy data). Row-wise ops (softmax) need their axis in one
chunk: a `ShapeError` naming the line, or a rechunk with `apply(prog, ..., allow_rechunk=True)`.
A matrix product (a transpose, a new axis) is Dask's own blocked `da.matmul` (`da.transpose`,
`da.expand_dims`) of operands computed by element-wise stages; the work after it (a bias, an
activation) is a later stage. Any other kind of op (gradients) is a `SymExprError` naming the line.
"""
from __future__ import annotations

from ..tables import is_dask as is_dask_array
from .layers import apply, explain, run, stage_programs
from .tasks import ChunkTask, stage_program

__all__ = ["apply", "explain", "run", "is_dask_array", "stage_program", "stage_programs", "ChunkTask"]

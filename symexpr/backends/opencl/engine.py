"""The OpenCL engine: a whole graph as one fused kernel, specialized per call signature.

This module owns the runtime; the OpenCL C comes from `elementwise.render_kernel`,
a pure function. Per call: infer dtypes (errors as the NumPy engine gives them),
decide each array's layout (a kernel scalar, flat, or strided with broadcast
dimensions left out), look the specialization up in a per-engine dict keyed by
that signature (building it on a miss, through an on-disk binary cache), wrap
NumPy arrays as zero-copy host-pointer buffers on CPU devices, and launch a
modest number of work-items, each doing a contiguous chunk.
"""
from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyopencl as cl
import pyopencl.array as cl_array

from ...errors import BackendError, EvaluationError, SymExprError
from ...graph import Graph, statement_text
from ...infer import Kind, infer_kinds, infer_shapes, is_weak_value
from ...ops import OPS
from ...passes import specialize
from .. import pool
from ..numpy import NumpyEngine, evaluate_on_host
from ..out_arrays import out_targets
from .c_ops import operand_dtypes
from .elementwise import (Layout, Signature, contiguous_signature, host_nodes, kernel_arguments, needs_error_flag,
                          render_kernel)
from .memory import (Memory, _check_target, _crowded, _layout, _misaligned, _piece, _same_view, _scalar_of,
                     _split_axis, _to_host)
from .replay import Launch, Replay
from .runtime import MF, _info, _queue_for, build_program, refuse_without_fp64, store_binary
from .values import KERNEL_NAME, clip_bound, vector_width

# -- one specialization ---------------------------------------------------------------------------

@dataclass
class Specialization:
    """A built kernel for one signature, with its argument list and a lock for set_args + enqueue."""

    graph: Graph
    kinds: dict
    signature: Signature
    source: str
    program: object
    kernel: object
    args: list
    lock: threading.Lock
    pending_binary: Path | None


@dataclass
class Typing:
    """Per input-kinds: the specialized graph and every node's kind (original graph's errors checked)."""

    graph: Graph
    kinds: dict
    host: tuple
    width_candidates: dict
    err_flag: bool
    fits: list  # (host node index, integer dtype, user node, clip bound) checks for Python ints meeting integer arrays
    width: int = 1          # the vector width of the flat path
    weak_nodes: tuple = ()  # nodes the host computes, in order


class OpenCLEngine(Memory, Replay):
    """Runs a graph as one OpenCL kernel per call signature."""

    name = "opencl"

    def __init__(self, graph: Graph, *, device=None, optimize: bool = True, fast_math: bool = False):
        self.graph = graph
        self.optimize = optimize
        self.fast_math = fast_math
        try:
            self.queue = _queue_for(device)
        except cl.Error as err:
            raise BackendError(f"cannot use the OpenCL device: {err}") from None
        self.context = self.queue.context
        self.device = self.queue.device
        self.info = _info(self.device)
        self.options = list(self.info.build_options)
        if fast_math:
            self.options.append("-cl-fast-relaxed-math")
        self._typings: dict[tuple, Typing] = {}
        self._specs: dict[tuple, Specialization] = {}
        # (dtype, shape) of each input -> a Launch recorded from a general call on C-contiguous arrays
        self._launches: dict[tuple, Launch] = {}
        self._shapes: dict[tuple, tuple] = {}
        self._lock = threading.Lock()
        self._last_source: str | None = None
        self._numpy = NumpyEngine(graph)
        # Reductions, matrix products, transposes: a plan of several steps (staged.py).
        self._staged = None
        if any(n.op in OPS and OPS[n.op].kind != "elementwise" for n in graph.nodes):
            from .staged import StagedRunner
            self._staged = StagedRunner(self)

    @staticmethod
    def accepts(value) -> bool:
        """pyopencl arrays stay on their device: the result comes back as a pyopencl array."""
        return isinstance(value, cl_array.Array)

    # -- what a call is specialized on --------------------------------------------------------
    def _typing(self, key: tuple) -> Typing:
        typing = self._typings.get(key)
        if typing is not None:
            return typing
        names = self.graph.input_names
        by_name = dict(zip(names, key))
        written = infer_kinds(self.graph, by_name)  # the NumPy engine's errors, on the graph as written
        graph = self.graph
        if self.optimize:
            graph, _ = specialize(graph, by_name, fast_math=self.fast_math, known=written)
        kinds = written if graph is self.graph else infer_kinds(
            graph, {n.input_name: by_name[n.input_name] for n in graph.inputs}, written)
        refuse_without_fp64(graph, kinds, self)
        host = host_nodes(graph, kinds)
        # A Python int meeting a smaller integer dtype must fit in it (NumPy raises OverflowError).
        fits = []
        index = {graph.nodes[k]: k for k in host}  # those Python ints are host values
        for node in graph.nodes if host else ():
            if kinds[node].weak or node.op in ("input", "constant"):
                continue
            for pos, (operand, dt) in enumerate(zip(node.inputs, operand_dtypes(node, kinds))):
                if (operand in index and kinds[operand].dtype.kind == "i"
                        and dt.kind in "iu" and dt.name != "int64"):
                    fits.append((index[operand], dt, node, clip_bound(node, pos, kinds)))
        widths = {name: w for name, w in self.info.widths.items()}
        typing = Typing(graph, kinds, host, widths, needs_error_flag(graph, kinds), fits,
                        vector_width(graph, kinds, widths), tuple(n for n in graph.nodes if kinds[n].weak))
        self._typings[key] = typing
        return typing

    def _out_shapes(self, shapes: tuple) -> tuple:
        got = self._shapes.get(shapes)
        if got is None:
            by_node = infer_shapes(self.graph, dict(zip(self.graph.input_names, shapes)))
            outs = tuple(by_node[n] for _, n in self.graph.outputs)
            try:
                space = np.broadcast_shapes(*outs) if outs else ()
            except ValueError:
                space = None  # outputs that do not broadcast together: no single index space
            got = (outs, space)
            if len(self._shapes) > 1024:
                self._shapes.clear()
            self._shapes[shapes] = got
        return got

    @property
    def kernel_source(self) -> str:
        """The OpenCL C of the most recent call's kernel (before any call: float32 contiguous inputs)."""
        if self._staged is not None:
            return self._staged.kernel_source()
        if self._last_source is None:
            for dtype in ("float32", "float64", "int64", "bool"):
                try:
                    self._last_source = self.source_for(tuple(Kind(np.dtype(dtype)) for _ in self.graph.inputs))
                    break
                except SymExprError:
                    continue
            else:
                return "// no kernel yet: the program takes no same-dtype inputs; call it first\n"
        return self._last_source

    def kernel_plan(self, values: dict[str, object]) -> list[str]:
        """The kernels a call with these values runs, one line each, with the lines each covers and why."""
        if self._staged is not None:
            return self._staged.describe(values)
        lines = sorted({n.statement.line for n in self.graph.nodes if n.statement is not None})
        return [f"1. element-wise kernel; lines {', '.join(map(str, lines)) or '-'}; the whole program in one kernel"]

    def source_for(self, key: tuple) -> str:
        """The OpenCL C of the kernel for inputs of these Kinds (graph.inputs order), contiguous and of
        one shape, rendered without building it; DTypeError where the call would raise it."""
        typing = self._typing(key)
        sig = contiguous_signature(typing.graph, typing.kinds)
        return render_kernel(typing.graph, typing.kinds, Signature(sig.inputs, sig.outputs, 0, typing.width,
                                                                   sig.scalars))

    # -- a call -------------------------------------------------------------------------------
    def fast_runner(self, values: dict[str, object]):
        """For calls with all-NumPy-array inputs of these dtypes and shapes: a function of the inputs in
        order. It replays the launch a general call recorded (same kernel, same arguments but the
        buffers), for C-contiguous aligned inputs on a CPU device; anything else goes to `run`."""
        names = self.graph.input_names
        if self._staged is not None:
            return lambda args, out=None: self._staged.run(dict(zip(names, args)), out)
        key = tuple((values[n].dtype, values[n].shape) for n in names)
        launch = self._launches.get(key)
        if launch is not None:
            return functools.partial(self._replay, launch)

        def runner(args, out=None):
            # Nothing recorded yet (the first call had out=, or strided inputs): look again each call.
            found = self._launches.get(key)
            if found is not None:
                return self._replay(found, args, out)
            return self._run_args(args, out)
        return runner

    def _run_args(self, args: tuple, out=None) -> list:
        """The general path, for inputs given in graph order."""
        return self.run(dict(zip(self.graph.input_names, args)), out)

    def run(self, values: dict[str, object], out=None) -> list:
        if self._staged is not None:
            return self._staged.run(values, out)
        graph = self.graph
        names = graph.input_names
        inputs = [values[n] for n in names]
        key = tuple(Kind(np.dtype(v.dtype)) if not is_weak_value(v) else _WEAK_KIND[type(v)] for v in inputs)
        typing = self._typing(key)
        shapes = tuple(() if is_weak_value(v) else tuple(v.shape) for v in inputs)
        out_shapes, space = self._out_shapes(shapes)
        targets = out_targets(graph, out) if out is not None else None
        size = math.prod(space) if space is not None else 0
        if space is None or (size == 0 and any(math.prod(s) for s in out_shapes)):
            # No single index space covers every output (say (3,) and (5,)): the NumPy engine runs it.
            return self._numpy.run(_to_host(values), out)
        device_arrays = any(isinstance(v, cl_array.Array) for v in inputs)
        sgraph, kinds = typing.graph, typing.kinds
        if not device_arrays and self.info.max_alloc and size > 1:
            axis = _split_axis(self.info.max_alloc, space, inputs, targets,
                               [(shape, kinds[node].dtype) for (_, node), shape in zip(sgraph.outputs, out_shapes)])
            if axis is not None:
                return self._run_in_pieces(values, targets, space, out_shapes,
                                           [kinds[node].dtype for _, node in sgraph.outputs], axis)
        by_name = dict(zip(names, inputs))

        # Weak values (Python scalars and what is computed from them alone) are computed on the host.
        env = {node: by_name[node.input_name] for node in typing.weak_nodes if node.op == "input"}
        evaluate_on_host(typing.weak_nodes, env, sgraph.source)
        for j, dt, user, bound in typing.fits:
            v = env[sgraph.nodes[j]]
            info = np.iinfo(dt)
            if bound is not None:  # np.clip drops a bound beyond the array's range
                side, xdt = bound
                if (v <= np.iinfo(xdt).min) if side == "lower" else (v >= np.iinfo(xdt).max):
                    continue
            if not info.min <= v <= info.max:
                # As the NumPy engine reports NumPy's OverflowError.
                raise EvaluationError(f"{statement_text(sgraph.source, user)}: Python integer {v} out of bounds for {dt}")

        # Results: the user's out= arrays, or new ones.
        results = []
        out_arrays = []
        post = []
        for k, ((oname, node), shape) in enumerate(zip(sgraph.outputs, out_shapes)):
            dt = kinds[node].dtype
            target = targets[k] if targets else None
            if kinds[node].weak:
                value = np.asarray(env[node]).astype(dt)[()]
                if target is not None:
                    _check_target(oname, target, shape, dt)
                    target[...] = value
                    value = target
                results.append(value)
                out_arrays.append(None)
                continue
            if target is not None:
                _check_target(oname, target, shape, dt)
                arr = target
                if isinstance(target, np.ndarray) and (target.dtype != dt or _misaligned(target) or any(
                        np.may_share_memory(target, v) and not _same_view(target, v)
                        for v in inputs if isinstance(v, np.ndarray))):
                    # Another dtype (same_kind), overlapping an input other than element for element,
                    # or not whole elements apart: compute into a new array, then copy; the caller
                    # still gets `target` back, as from NumPy.
                    arr = np.empty(shape, dt)
                    post.append((target, arr))
                    results.append(target)
                    out_arrays.append(arr)
                    continue
            elif device_arrays:
                arr = cl_array.empty(self._array_queue(inputs), shape, dt)
            else:
                arr = pool.empty(shape, dt)  # large ones reuse memory already faulted in
            results.append(arr)
            out_arrays.append(arr)
        if size == 0 or all(a is None for a in out_arrays):
            return [self._finish(r, a) for r, a in zip(results, out_arrays)]

        # The layout of every array in the index space `space`.
        ndim = len(space)
        in_layouts = tuple(_layout(v, space, kinds[node].weak) for v, node in
                           zip((by_name[n.input_name] for n in sgraph.inputs), sgraph.inputs))
        out_layouts = tuple(_layout(a, space, False, True) if a is not None else Layout("none") for a in out_arrays)
        flat = all(lay.how != "strided" for lay in in_layouts + out_layouts)
        if not flat and ndim == 0:
            flat = True
        if flat:
            width = typing.width if size >= 64 else 1
            streaming = width > 1 and self._streaming(size, in_layouts, out_arrays, by_name, sgraph)
            sig = Signature(in_layouts, out_layouts, 0, width, typing.host, streaming)
        else:
            sig = Signature(in_layouts, out_layouts, ndim, 1, typing.host)
        spec = self._specialization(key, typing, sig)

        # Arguments.
        queue = self._array_queue(inputs) if device_arrays else self.queue
        chunk, groups, local = self._split(size, sig.width)
        keep = []  # host arrays whose buffers the kernel reads: alive until it is done
        bufs_in = {}
        wait_for = []
        for k, (node, lay) in enumerate(zip(sgraph.inputs, in_layouts)):
            if lay.how == "scalar":
                continue
            v = by_name[node.input_name]
            bufs_in[k] = self._buffer(v, keep, wait_for, write=False)
        bufs_out = {}
        for k, arr in enumerate(out_arrays):
            if arr is not None:
                bufs_out[k] = self._buffer(arr, keep, wait_for, write=True)
        err = None
        if typing.err_flag:
            err = np.zeros(1, np.int32)
            err_buf = cl.Buffer(self.context, MF.READ_WRITE | MF.COPY_HOST_PTR, hostbuf=err)
        argv = []
        for a in spec.args:
            w = a.what
            tag = w[0]
            if tag == "n":
                argv.append(size)
            elif tag == "chunk":
                argv.append(chunk)
            elif tag == "shape":
                argv.append(space[w[1]])
            elif tag == "in":
                argv.append(bufs_in[w[1]][0])
            elif tag == "in_off":
                argv.append(bufs_in[w[1]][1])
            elif tag == "in_st":
                argv.append(bufs_in[w[1]][2][w[2] - (ndim - len(bufs_in[w[1]][2]))])
            elif tag == "scalar_in":
                v = by_name[sgraph.inputs[w[1]].input_name]
                argv.append(_scalar_of(v, a.dtype))
            elif tag == "host":
                argv.append(a.dtype.type(env[sgraph.nodes[w[1]]]))
            elif tag == "out":
                argv.append(bufs_out[w[1]][0])
            elif tag == "out_off":
                argv.append(bufs_out[w[1]][1])
            elif tag == "out_st":
                argv.append(bufs_out[w[1]][2][w[2] - (ndim - len(bufs_out[w[1]][2]))])
            elif tag == "err":
                argv.append(err_buf)
        try:
            with spec.lock:
                spec.kernel.set_args(*argv)
                event = cl.enqueue_nd_range_kernel(queue, spec.kernel, (groups,), local,
                                                   wait_for=wait_for or None)
        except cl.MemoryError as e:
            raise BackendError(f"the OpenCL device ran out of memory: {e}") from None
        except cl.Error as e:
            raise BackendError(f"the OpenCL launch failed: {e}") from None

        # Copies back (devices that are not the host), the error flag, and device-array events.
        host_results = not device_arrays
        events = [event]
        for k, arr in enumerate(out_arrays):
            if arr is None:
                continue
            buf, _, _, copy_back = bufs_out[k]
            if copy_back is not None:
                events.append(cl.enqueue_copy(queue, copy_back, buf, wait_for=[event], is_blocking=False))
            if isinstance(arr, cl_array.Array):
                arr.add_event(event)
        if host_results or keep or err is not None:
            try:
                cl.wait_for_events(events)
            except cl.Error as e:
                raise BackendError(f"the OpenCL kernel failed: {e}") from None
        if err is not None:
            cl.enqueue_copy(queue, err, err_buf, is_blocking=True)
            if err[0]:
                node = next(n for n in sgraph.nodes if n.op == "power" and kinds[n].dtype.kind == "i")
                raise EvaluationError(f"{statement_text(sgraph.source, node)}: "
                                      "Integers to negative integer powers are not allowed.")
        if spec.pending_binary is not None:
            path, spec.pending_binary = spec.pending_binary, None
            store_binary(spec.program, path)
        if (not device_arrays and err is None and self.info.is_cpu
                and not (targets and _crowded(out_arrays, inputs))  # its kernel is for such targets only
                and all(isinstance(v, np.ndarray) for v in inputs)
                and all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in out_arrays)):
            if len(self._launches) >= 256:
                self._launches.clear()
            self._record(sgraph, inputs, bufs_in, bufs_out, argv, spec, (groups,), local, results)
        del keep
        for target, arr in post:
            target[...] = arr
        return [self._finish(r, a) for r, a in zip(results, out_arrays)]

    def _run_in_pieces(self, values: dict, targets, space: tuple, out_shapes: tuple, dtypes: list, axis: int) -> list:
        """A call whose arrays do not all fit in one device buffer: one launch per piece of the index
        space, each piece's arrays views of the call's (element-wise results do not depend on the
        split). Pieces are whole rows along `axis` (a single index of the axes before it)."""
        sgraph, limit = self.graph, self.info.max_alloc
        results = []
        for k, (shape, dt) in enumerate(zip(out_shapes, dtypes)):
            target = targets[k] if targets else None
            if target is not None:
                _check_target(sgraph.output_names[k], target, shape, dt)
                results.append(target)
            else:
                results.append(pool.empty(shape, dt))
        row = math.prod(space[axis + 1:])
        widest = max([v.dtype.itemsize for v in values.values() if not is_weak_value(v)] +
                     [dt.itemsize for dt in dtypes])
        step = max(1, limit // max(row * widest, 1))
        ndim = len(space)
        for prefix in np.ndindex(*space[:axis]):
            for lo in range(0, space[axis], step):
                where = prefix + (slice(lo, min(lo + step, space[axis])),)
                piece = {name: _piece(v, where, ndim, limit) for name, v in values.items()}
                self.run(piece, tuple(_piece(r, where, ndim, None) for r in results))
        return [self._finish(r, r) for r in results]

    def _finish(self, result, arr):
        if arr is None or isinstance(arr, cl_array.Array):
            return result
        if arr.ndim == 0:
            return result[()]
        return result  # the caller's out= array itself where one was given

    def _specialization(self, key: tuple, typing: Typing, sig: Signature) -> Specialization:
        skey = (key, sig)
        spec = self._specs.get(skey)
        if spec is not None:
            self._last_source = spec.source
            return spec
        with self._lock:
            spec = self._specs.get(skey)
            if spec is None:
                source = render_kernel(typing.graph, typing.kinds, sig)
                prg, pending = build_program(self.context, self.device, source, self.options)
                kernel = getattr(prg, KERNEL_NAME)
                args = kernel_arguments(typing.graph, typing.kinds, sig)
                kernel.set_scalar_arg_dtypes([a.dtype for a in args])
                spec = Specialization(typing.graph, typing.kinds, sig, source, prg, kernel, args,
                                      threading.Lock(), pending)
                self._specs[skey] = spec
        self._last_source = spec.source
        return spec


_COMPARE = frozenset(("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"))
_WEAK_KIND = {bool: Kind(np.dtype(bool), True), int: Kind(np.dtype(np.int64), True),
              float: Kind(np.dtype(np.float64), True), complex: Kind(np.dtype(np.complex128), True)}

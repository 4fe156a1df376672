"""The OpenCL engine's runtime for programs with reductions, matrix products and transposes.

Per call signature (dtypes and shapes), the specialized graph is lowered (`passes.lower`), cut into
steps by the kernel plan (`kernel_plan.plan_kernels`), and each step made ready once: a reduction
kernel built from `reduce.render_reduce_kernel`, an element-wise kernel run by an
`OpenCLEngine` of its own over the step's sub-graph, a host BLAS call, or a view. A call runs the
steps in order on host memory that every kernel shares with the host on a CPU device (zero copy);
values between steps are the memory plan's buffers, freed after their last reader.
"""
from __future__ import annotations

import contextlib
import functools
import math
import threading
import warnings

import numpy as np
import pyopencl as cl

from ...errors import BackendError, EvaluationError
from ...graph import Graph, Node, rebuild, statement_text
from ...ops import OPS
from ...infer import infer_kinds, infer_shapes, kind_of_value
from ...passes import specialize
from ...passes.common_subexpressions import eliminate_common_subexpressions
from ...passes.dead_code import eliminate_dead_code
from ...passes.lower import lower_composites, sink_expand_dims
from .. import pool
from .plan import covered, cone, plan_kernels
from ..numpy import as_result, evaluate_on_host
from ..out_arrays import deliver
from .runtime import build_program, refuse_without_fp64, store_binary
from .reduce import REDUCE_KERNEL_NAME, reduce_vector_width, render_reduce_kernel, uses_lanes

_EMPTY_MESSAGE = {"max": "zero-size array to reduction operation maximum which has no identity",
                  "min": "zero-size array to reduction operation minimum which has no identity",
                  "argmax": "attempt to get argmax of an empty sequence",
                  "argmin": "attempt to get argmin of an empty sequence"}


class _Reduce:
    """A reduction step's kernels (scalar code, and vector code for rows that are contiguous), built
    when first needed, and how to call them."""

    def __init__(self, engine, graph, plan, step, kinds, shapes, host):
        self.engine, self.graph, self.plan, self.step = engine, graph, plan, step
        self.kinds, self.shapes, self.host = kinds, shapes, host
        self.width = reduce_vector_width(graph, plan, step, kinds, engine.info.widths)
        self.variants: dict[int, tuple] = {}
        self.lock = threading.Lock()
        space, axes = step.space, step.axes
        self.rows = math.prod(n for d, n in enumerate(space) if d not in axes)
        self.inner = math.prod(space[d] for d in axes)
        cstrides, acc = [], 1
        for n in reversed(space):
            cstrides.append(acc)
            acc *= n
        self.cstrides = tuple(reversed(cstrides))
        # The arrays read and the values stored are the same for every variant.
        self.source, self.args, self.arrays, self.stored = render_reduce_kernel(
            graph, plan, step, kinds, shapes, host, 1)

    def variant(self, width: int):
        """(source, args, program, kernel) of the kernel with this vector width."""
        got = self.variants.get(width)
        if got is None:
            with self.lock:
                got = self.variants.get(width)
                if got is None:
                    source, args, _, _ = render_reduce_kernel(self.graph, self.plan, self.step, self.kinds,
                                                              self.shapes, self.host, width) if width > 1 else \
                        (self.source, self.args, None, None)
                    program, pending = build_program(self.engine.context, self.engine.device, source,
                                                     self.engine.options)
                    kernel = getattr(program, REDUCE_KERNEL_NAME)
                    kernel.set_scalar_arg_dtypes([a.dtype for a in args])
                    got = [source, args, program, kernel, pending, threading.Lock()]
                    self.variants[width] = got
        return got


class _Elementwise:
    """An element-wise step: an OpenCLEngine of its own over the step's sub-graph."""

    def __init__(self, engine, graph, plan, step, kinds):
        new: dict[Node, Node] = {}
        self.reads: list[tuple[str, Node]] = []
        order = []
        for n in step.nodes:
            nodes, boundary = cone([n], plan.producer, step)
            for b in boundary:
                if b in new:
                    continue
                if b.op == "constant":
                    new[b] = b
                    continue
                name = f"{b.input_name if b.op == 'input' else (b.name or b.op)}_{len(self.reads)}"
                new[b] = Node("input", (), (name,), None, b.span, b.statement)
                self.reads.append((name, b))
            order += nodes
        for n in order:
            if n not in new:
                new[n] = n.with_inputs(new[i] for i in n.inputs)
        outputs = tuple((f"{n.name or 'out'}_{k}", new[n]) for k, n in enumerate(step.nodes))
        sub = rebuild(Graph((), tuple(new[b] for _, b in self.reads), outputs, graph.source), None, outputs)
        # The inputs in the order read (rebuild keeps the given input order).
        self.graph = sub
        # An engine of the caller's own class (engine.py imports this module: no import back).
        self.engine = type(engine)(sub, device=engine.queue, optimize=False, fast_math=engine.fast_math)
        self.nodes = list(step.nodes)


class _Host:
    """A small step: NumPy computes its nodes on the host, as the NumPy engine does (plan.HOST_ELEMENTS)."""

    def __init__(self, graph, plan, step):
        mine = set(covered(step, plan))
        self.order = [n for n in graph.nodes if n in mine]
        self.reads = list(dict.fromkeys(i for n in self.order for i in n.inputs if i not in mine))
        self.stores = list(plan.stores[step])

    def run(self, env: dict, source: str) -> None:
        local = {b: _value(env, b) for b in self.reads}
        evaluate_on_host(self.order, local, source)
        for n in self.stores:
            env[n] = local[n]


class StagedSignature:
    """One call signature's plan, made ready."""

    def __init__(self, graph, kinds, shapes, plan, executors, host, rewrites):
        self.graph, self.kinds, self.shapes, self.plan = graph, kinds, shapes, plan
        self.executors = executors
        self.host = host                # weak nodes the host computes, in order
        self.largest = max((math.prod(shapes[n]) * kinds[n].dtype.itemsize for n in graph.nodes
                            if not kinds[n].weak), default=0)  # bytes of the largest array
        self.rewrites = rewrites
        self.on_numpy: str | None = None  # why the NumPy engine runs this signature, if it does
        # After which step each value in memory can be dropped (its last reader).
        last: dict[Node, int] = {}
        for k, step in enumerate(plan.steps):
            ex = executors[k]
            if isinstance(ex, _Elementwise):
                reads = [b for _, b in ex.reads]
            elif isinstance(ex, _Host):
                reads = ex.reads
            elif isinstance(ex, _Reduce):
                reads = list(ex.arrays) + [a.what[1] for a in ex.args if a.what[0] == "scalar"]
            else:
                reads = list(step.nodes[0].inputs)
            for r in reads:
                last[r] = k
        # BLAS threads, decided once for the signature: "keep" with no kernel at all (every other step
        # on the host: nothing to fight over the cores); "one" for the whole call when every product
        # is small (setting it costs some 40 us: once, not once a product); else "each" product
        # decides for itself (_blas_threads).
        products = [math.prod(shapes[s.nodes[0].inputs[0]]) * (shapes[s.nodes[0].inputs[1]][-1:] or (1,))[0]
                    for s in plan.steps if s.kind == "matmul"]
        if not products or not any(isinstance(ex, (_Reduce, _Elementwise)) for ex in executors):
            self.blas = "keep"
        elif max(products) < _BLAS_ONE_THREAD_BELOW and _blas_controller() is not None:
            self.blas = "one"
        else:
            self.blas = "each"
        outs = {n for _, n in graph.outputs}
        self.drop_after: dict[int, list[Node]] = {}
        for n, k in last.items():
            if n not in outs and n.op != "input":
                self.drop_after.setdefault(k, []).append(n)


class StagedRunner:
    """Runs a graph that is not all element-wise, as the kernel plan's steps."""

    max_signatures = 64

    def __init__(self, engine):
        self.engine = engine
        self.graph: Graph = engine.graph
        self._signatures: dict[tuple, StagedSignature] = {}
        self._lock = threading.Lock()
        self.last: StagedSignature | None = None
        self.sources: dict = {}  # each reduction step -> the source of the variant it ran last

    # -- one signature ------------------------------------------------------------------------------
    def signature(self, values: dict) -> StagedSignature:
        names = self.graph.input_names
        key = tuple((kind_of_value(values[n]), np.shape(values[n])) for n in names)
        sig = self._signatures.get(key)
        if sig is not None:
            return sig
        with self._lock:
            sig = self._signatures.get(key)
            if sig is None:
                sig = self._make(dict(zip(names, (k for k, _ in key))), dict(zip(names, (s for _, s in key))))
                if len(self._signatures) >= self.max_signatures:
                    self._signatures.clear()
                self._signatures[key] = sig
        return sig

    def _make(self, kinds_in: dict, shapes_in: dict) -> StagedSignature:
        engine = self.engine
        written = infer_kinds(self.graph, kinds_in)   # the errors of the graph as written, with positions
        infer_shapes(self.graph, shapes_in)
        graph, rewrites = self.graph, []
        if engine.optimize:
            graph, rewrites = specialize(graph, kinds_in, fast_math=engine.fast_math, known=written)
        ins = lambda g: {n.input_name: kinds_in[n.input_name] for n in g.inputs}  # noqa: E731
        kinds = infer_kinds(graph, ins(graph), written)
        shapes = infer_shapes(graph, {n.input_name: shapes_in[n.input_name] for n in graph.inputs})
        for rewrite in (lower_composites, sink_expand_dims):
            lowered = rewrite(graph, kinds, shapes, rewrites)
            if lowered is not graph:
                lowered = eliminate_dead_code(eliminate_common_subexpressions(lowered, []), [])
                kinds = infer_kinds(lowered, ins(lowered), kinds)
                shapes = infer_shapes(lowered, {n.input_name: shapes_in[n.input_name] for n in lowered.inputs})
                graph = lowered
        refuse_without_fp64(graph, kinds, engine)
        plan = plan_kernels(graph, kinds, shapes, units=max(engine.info.units, 1))
        host = tuple(n for n in graph.nodes if kinds[n].weak)
        weak = frozenset(host)
        executors = []
        if any(kinds[n].dtype == np.float16 for n in graph.nodes) and any(
                s.kind == "reduce" or (s.kind == "elementwise" and s.axes) for s in plan.steps):
            # The reduction kernels accumulate in float32/float64 and store their partial results in
            # the value's dtype; NumPy's float16 reductions are their own: the NumPy engine runs them.
            sig = StagedSignature(graph, kinds, shapes, plan, [None] * len(plan.steps), host, rewrites)
            sig.on_numpy = "float16 reductions run on the NumPy engine"
            return sig
        for step in plan.steps:
            if step.host:
                executors.append(_Host(graph, plan, step))
            elif step.kind == "reduce" or (step.kind == "elementwise" and step.axes):
                executors.append(_Reduce(engine, graph, plan, step, kinds, shapes, weak))
            elif step.kind == "elementwise":
                executors.append(_Elementwise(engine, graph, plan, step, kinds))
            else:
                executors.append(None)
        return StagedSignature(graph, kinds, shapes, plan, executors, host, rewrites)

    def kernel_source(self) -> str:
        """Every kernel of the signature called last, in the order they run."""
        sig = self.last
        if sig is None:
            return ("// no kernel yet: a program with reductions or matrix products is planned for the shapes "
                    "of a call; call it first\n")
        parts = []
        lines = sig.plan.describe()
        for k, (step, ex) in enumerate(zip(sig.plan.steps, sig.executors)):
            head = f"// ---- step {k + 1} of {len(sig.plan.steps)}: {lines[k].split('. ', 1)[1]}"
            parts.append(head + ("\n" + self.sources.get(ex, ex.source) if isinstance(ex, _Reduce) else
                                 "\n" + ex.engine.kernel_source if isinstance(ex, _Elementwise) else
                                 "\n// no kernel: NumPy on the host\n" if isinstance(ex, _Host) else "\n"))
        return "\n".join(parts)

    def describe(self, values: dict) -> list[str]:
        """The kernel plan of these values' signature, one line per kernel."""
        sig = self.signature(values)
        if sig.on_numpy:
            return [f"1. the NumPy engine: {sig.on_numpy}"]
        return sig.plan.describe()

    # -- a call ------------------------------------------------------------------------------------
    def run(self, values: dict, out=None) -> list:
        values = {n: (v.get() if hasattr(v, "get") and not isinstance(v, np.ndarray) else v) for n, v in values.items()}
        sig = self.signature(values)
        if any(isinstance(v, np.ndarray) and v.size == 0 for v in values.values()):
            # Nothing for a kernel to read: the NumPy engine gives the empty results and the identities.
            return self.engine._numpy.run(values, out)
        if sig.on_numpy:
            return self.engine._numpy.run(values, out)
        if self.engine.info.max_alloc and sig.largest > self.engine.info.max_alloc:
            # An array beyond the device's largest buffer: element-wise kernels split their launches,
            # reduction kernels do not yet, so the NumPy engine computes this call (same results).
            return self.engine._numpy.run(values, out)
        self.last = sig
        graph = sig.graph
        env: dict[Node, object] = {}
        for node in graph.inputs:
            env[node] = values[node.input_name]
        evaluate_on_host(sig.host, env, graph.source)
        with (_blas_controller().limit(limits=1) if sig.blas == "one" else contextlib.nullcontext()):
            self._run_steps(sig, env, graph)
        seen = {id(v) for v in values.values()}
        results = []
        for _, node in graph.outputs:
            r = as_result(_value(env, node), seen)
            if isinstance(r, np.ndarray):
                seen.add(id(r))
            results.append(r)
        return deliver(results, out, graph)

    def _run_steps(self, sig: StagedSignature, env: dict, graph: Graph) -> None:
        for k, (step, ex) in enumerate(zip(sig.plan.steps, sig.executors)):
            if step.kind == "matmul":
                node = step.nodes[0]
                a, b = (_value(env, i) for i in node.inputs)
                with np.errstate(all="ignore"), (_blas_threads(a, b) if sig.blas == "each" else contextlib.nullcontext()):
                    env[node] = np.asarray(np.matmul(a, b))
            elif step.kind == "view":
                node = step.nodes[0]
                x = _value(env, node.inputs[0])
                env[node] = OPS[node.op].function(node.attrs)(x)
            elif isinstance(ex, _Host):
                ex.run(env, graph.source)
            elif isinstance(ex, _Elementwise):
                results = ex.engine.run({name: _value(env, b) for name, b in ex.reads})
                env.update(zip(ex.nodes, results))
            else:
                self._reduce(ex, env, graph)
            for n in sig.drop_after.get(k, ()):
                env.pop(n, None)

    def _reduce(self, ex: _Reduce, env: dict, graph: Graph) -> None:
        engine = self.engine
        step, kinds, shapes = ex.step, ex.kinds, ex.shapes
        if ex.inner == 0 and ex.rows:
            bad = next((r for r in step.reductions if r.op in _EMPTY_MESSAGE), None)
            if bad is not None:
                raise EvaluationError(f"{statement_text(graph.source, bad)}: {_EMPTY_MESSAGE[bad.op]}",
                                      statement=bad.statement)
        split = step.split
        # The arrays the kernel stores: results, or partials per work-item.
        stores, partials = [], {}
        for node in ex.stored:
            dt = kinds[node].dtype
            if split > 1:
                arrs = {"": np.empty(ex.rows * split, dt)}
                if node.op == "sum" and dt.kind == "f":
                    arrs["_c"] = np.empty(ex.rows * split, dt)
                if node.op in ("argmax", "argmin"):
                    arrs["_v"] = np.empty(ex.rows * split, kinds[node.inputs[0]].dtype)
                partials[node] = arrs
                stores.append(arrs)
            else:
                stores.append({"": pool.empty(tuple(shapes[node]), dt)})
        if ex.rows and ex.stored:
            keep, wait_for = [], []
            ndim = len(step.space)
            reads = []
            # Vector code needs every array that varies along the vectors to be contiguous along them:
            # along each row's reduced axes, or (rows as lanes) along the last axis.
            lanes = uses_lanes(step)
            contiguous = True
            for n in ex.arrays:
                v = np.asarray(_value(env, n))
                buf, off, strides, _ = engine._buffer(v, keep, wait_for, write=False)
                shape = (1,) * (ndim - v.ndim) + v.shape
                strides = (0,) * (ndim - v.ndim) + tuple(strides)
                strides = tuple(0 if shape[d] == 1 else strides[d] for d in range(ndim))
                reads.append((buf, off, strides))
                if lanes:
                    contiguous &= shape[-1] == 1 or strides[-1] == 1
                elif any(shape[d] > 1 for d in step.axes):
                    expected = 1
                    for d in reversed(step.axes):
                        if shape[d] != step.space[d] or (strides[d] != expected and step.space[d] > 1):
                            contiguous = False
                        expected *= step.space[d]
            width = ex.width if contiguous and ex.width > 1 else 1
            source, args, program, kernel, pending, lock = ex.variant(width)
            self.sources[ex] = source
            bufs, copies = [], []
            for arrs in stores:
                b = {}
                for suffix, arr in arrs.items():
                    buf, _, _, copy_back = engine._buffer(arr if arr.ndim else arr.reshape(1), keep, wait_for, write=True)
                    b[suffix] = buf
                    if copy_back is not None:
                        copies.append((buf, copy_back))
                bufs.append(b)
            groups = max(engine.info.units, 1) * 4 if engine.info.is_cpu else 4096
            row_chunk = max(1, -(-ex.rows // groups))
            if lanes and width > 1:
                row_chunk = -(-row_chunk // width) * width  # whole vectors of rows
            part_len = -(-ex.inner // split)
            part_len = -(-part_len // width) * width  # whole vectors in each part
            argv = []
            for a in args:
                w = a.what
                tag = w[0]
                if tag == "rows":
                    argv.append(ex.rows)
                elif tag == "row_chunk":
                    argv.append(row_chunk)
                elif tag == "inner":
                    argv.append(ex.inner)
                elif tag == "split":
                    argv.append(split)
                elif tag == "part_len":
                    argv.append(part_len)
                elif tag == "shape":
                    argv.append(step.space[w[1]])
                elif tag == "cstride":
                    argv.append(ex.cstrides[w[1]])
                elif tag == "read":
                    argv.append(reads[w[1]][0])
                elif tag == "read_off":
                    argv.append(reads[w[1]][1])
                elif tag == "read_st":
                    argv.append(reads[w[1]][2][w[2]])
                elif tag == "scalar":
                    argv.append(a.dtype.type(np.asarray(_value(env, w[1])).astype(a.dtype)[()]))
                elif tag == "store":
                    argv.append(bufs[w[1]][""])
                elif tag == "store_c":
                    argv.append(bufs[w[1]]["_c"])
                elif tag == "store_v":
                    argv.append(bufs[w[1]]["_v"])
            global_size = ex.rows * split if split > 1 else -(-ex.rows // row_chunk)
            queue = engine.queue
            try:
                with lock:
                    kernel.set_args(*argv)
                    event = cl.enqueue_nd_range_kernel(queue, kernel, (global_size,),
                                                       (1,) if engine.info.is_cpu else None,
                                                       wait_for=wait_for or None)
                events = [event] + [cl.enqueue_copy(queue, host, buf, wait_for=[event], is_blocking=False)
                                    for buf, host in copies]
                cl.wait_for_events(events)
            except cl.Error as e:
                raise BackendError(f"the OpenCL reduction kernel failed: {e}") from None
            del keep
            variant = ex.variants[width]
            if variant[4] is not None:
                path, variant[4] = variant[4], None
                store_binary(program, path)
        for node, arrs in zip(ex.stored, stores):
            if split > 1:
                env[node] = _combine(node, arrs, ex.rows, split, kinds, tuple(shapes[node]))
            else:
                env[node] = arrs[""]


_BLAS_ONE_THREAD_BELOW = 1 << 27  # multiply-adds


def _blas_threads(a, b):
    """Small products on one BLAS thread. After a call, OpenBLAS's threads spin for a while waiting for
    the next one; the kernel that follows needs those cores, and the two pools fighting made a small
    network's forward pass 6x slower on two cores (measured: a 256x784 @ 784x256 product and a kernel
    alternating, 9.2 ms a pair against 3.1 ms with one BLAS thread). Large products keep every thread:
    their spin is short beside them."""
    work = math.prod(np.shape(a)) * (np.shape(b)[-1] if np.ndim(b) > 1 else 1)
    controller = _blas_controller()
    if controller is None or work >= _BLAS_ONE_THREAD_BELOW:
        return contextlib.nullcontext()
    return controller.limit(limits=1)


@functools.cache
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; without it, BLAS keeps its threads
        return None
    return ThreadpoolController().select(user_api="blas")


def _value(env: dict, node: Node):
    return node.value if node.op == "constant" else env[node]


def _combine(node: Node, arrs: dict, rows: int, split: int, kinds: dict, shape: tuple):
    """The partials of `split` work-items per row, combined as the reduction combines its elements."""
    dt = kinds[node].dtype
    p = arrs[""].reshape(rows, split)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if node.op == "sum" and dt.kind == "f":
            c = arrs["_c"].reshape(rows, split)
            out = np.empty(rows, dt)
            for k in range(rows):
                if np.all(np.isfinite(p[k])):
                    out[k] = math.fsum(list(p[k].astype(np.float64)) + list(c[k].astype(np.float64)))
                else:
                    out[k] = np.sum(p[k])
        elif node.op in ("sum", "prod"):
            out = (np.sum if node.op == "sum" else np.prod)(p, axis=1, dtype=dt)
        elif node.op in ("max", "min", "any", "all"):
            out = {"max": np.max, "min": np.min, "any": np.any, "all": np.all}[node.op](p, axis=1)
        else:  # argmax/argmin: the first NaN, else the first of the best values
            v = arrs["_v"].reshape(rows, split)
            best = (np.argmax if node.op == "argmax" else np.argmin)(v, axis=1)
            out = p[np.arange(rows), best]
    return out.astype(dt).reshape(shape)  # a 0-d array for a full reduction: later kernels read arrays


"""AutoEngine's side of the background builds (background.py runs the worker): handing a
signature's kernels to the worker, following the build, and running the signature's calls on the
NumPy engine, timed, until the kernels are built.

Functions of the engine (`auto.AutoEngine`), loaded when a signature first needs a kernel: a
process whose calls stay small, or go to an engine already chosen, never imports this module.
They read the engine's `numpy`, `options`, `device_given`, `_devices`, `decisions` and `settled`,
call its `run`, `fast_runner`, `_size_and_key` and `_kinds`, and keep its `pending` (signature ->
the Job it waits for), `background` (whether builds go to the worker), `warned` and `latest`.
"""
from __future__ import annotations

import math
import os
import sys
import time
import warnings

from ..cache import cache_folder

WORKER_MARGIN = 4    # kernels the background worker timed this much slower than the NumPy engine are not tried


def runner_while_building(engine, values: dict[str, object]):
    """The NumPy engine's fast runner, timed, until the kernels are built; then the chosen engine's."""
    numpy_engine = engine.numpy
    names = numpy_engine.graph.input_names
    numpy = numpy_engine.fast_runner(values) or (lambda args, out=None: numpy_engine.run(dict(zip(names, args)), out))
    latest = (numpy_engine, engine._kinds(values))
    key = engine._size_and_key(values)[1]
    chosen = []

    def run(args, out=None):
        if chosen:
            return chosen[0](args, out)
        job = engine.pending.get(key)
        if job is not None and still_waiting(engine, job) and not worth_a_look(engine, job):
            engine.latest = latest
            t0 = time.perf_counter()
            results = numpy(args, out)
            job.record(time.perf_counter() - t0)
            return results
        values = dict(zip(names, args))
        results = engine.run(values, out)  # chooses the engine (measuring, maybe)
        if key in engine.decisions:
            runner = engine.fast_runner(values)
            if runner is not None:
                chosen.append(runner)
        return results
    return run


def wait(engine, job, timeout: float | None) -> bool:
    """Wait for `job`'s build (and for its device engine to be made); False on timeout."""
    end = time.monotonic() + (math.inf if timeout is None else timeout)
    if not background_builder().wait(job, end - time.monotonic()):
        return False
    device = engine._devices[job.dev]
    if still_waiting(engine, job) and device.maker is not None:
        device.maker.join(None if timeout is None else max(end - time.monotonic(), 0))
    return device.lazy.done or not still_waiting(engine, job)


def built_result(engine, values: dict, dev: str):
    """The device engine's result for these values when every kernel it needs is built (in this
    process, or in the disk cache), else None. The engine is not made for this (a new process
    then imports pyopencl in no call it makes): the background worker finds what is on disk."""
    device = engine._devices[dev]
    if not (device.lazy.done or (dev == "opencl" and engine.device_given)):
        return None
    made = device.lazy.get()
    if made is None:
        return None
    from .opencl.runtime import KernelNotBuilt, built_kernels_only

    try:
        with built_kernels_only():
            return made.run(values)
    except KernelNotBuilt:
        return None


def submit(engine, values: dict, key: tuple, guess, dev: str):
    """Hand the signature's kernels to the background worker: the Job, or None where it cannot
    (no disk cache to hand the binaries over, or no worker; then this call builds, as before)."""
    from .background import Job, describe_value

    cache = cache_folder("opencl")
    if cache is None:
        return None
    device = engine._devices[dev]
    selector = device.lazy.engine.info.cache_key if device.made() else device.selector
    if dev == "opencl" and engine.device_given and selector is None:
        return None
    job = Job(engine.numpy.graph, engine.options, {n: describe_value(v) for n, v in values.items()},
              selector, plan_settings(), os.path.dirname(cache), predicted=guess, dev=dev)
    if not background_builder().submit(job):
        warn_once(engine, background_builder().broken + "; kernels are built in the call")
        engine.background = False
        return None
    engine.pending[key] = job
    return job


def worth_a_look(engine, job) -> bool:
    """Whether another signature's kernels arrived since `job`'s calls last looked: they may be this
    one's too (an element-wise program's kernel serves every size)."""
    return job.state in ("waiting", "building") and job.tried < engine.settled and engine._devices[job.dev].lazy.done


def still_waiting(engine, job) -> bool:
    """Whether the calls of `job`'s signature stay on the NumPy engine for now: its kernels are being
    built, or they are built and worth the device engine, which a thread is making."""
    if job.pid != os.getpid():
        return False
    if job.state in ("waiting", "building"):
        background_builder().poll()
        if job.state in ("waiting", "building"):
            return True
    device = engine._devices[job.dev]
    if job.state == "done" and not device.lazy.done and not far_slower(job):
        return not device.make_aside()
    return False


def warn_once(engine, message: str) -> None:
    """A warning about the background builds, the first of the engine's only."""
    if not engine.warned:
        engine.warned = True
        warnings.warn(f"symexpr: {message}", RuntimeWarning, stacklevel=5)


def far_slower(job) -> str | None:
    """Why a built signature's kernels are not tried, where they timed far slower in the worker than the
    NumPy engine here (`WORKER_MARGIN`; only by far: the worker timed while this process ran its calls on
    the same cores, so its time is no point of the cost model); else None. A signature the cost model
    chose the device for is not ruled out so."""
    if job.predicted is None and job.seconds >= WORKER_MARGIN * job.numpy_seconds:
        return (f"the background build timed its kernels at {job.seconds * 1e3:.3g} ms, more than {WORKER_MARGIN} "
                f"times the NumPy engine's {job.numpy_seconds * 1e3:.3g} ms")
    return None


def background_builder():
    """The process's one Builder (background.py), imported when first needed."""
    from .background import builder
    return builder()


def plan_settings() -> dict:
    """The kernel plan's limits as this process has them (without importing the plan: pyopencl)."""
    plan = sys.modules.get("symexpr.backends.opencl.plan")
    return {} if plan is None else {n: getattr(plan, n) for n in ("HOST_ELEMENTS", "HOST_ELEMENTS_ACROSS_ROWS")}

"""Kernels built in the background: a worker process that builds a call signature's kernels into
the disk cache while the NumPy engine runs the calls (backend="auto").

Why a process and not a thread: building runs code (pyopencl's build, NumPy's dtype inference)
that enters `warnings.catch_warnings()`, which on Python 3.11 swaps process-wide state; a build
overlapping the user's own `catch_warnings` block could lose or misroute their warnings. A worker
process shares nothing with the caller but the disk cache, whose entries are written whole and
then renamed (runtime.py), so the caller loads a finished binary or finds none.

The worker is started when a program first needs a kernel it does not have (not at import), in a
session of its own, and is shared by every program of the process. It builds one signature at a
time (the most called of those waiting first), and when the process ends (its standard input
closes) it finishes the build it is on, so that the next process finds the kernels on disk. It is
given the program's graph, the engine's options, and each input's dtype, shape and strides; it
builds on arrays of zeros of that layout (calloc's untouched pages: no memory, however large),
launches once (PoCL compiles the work-group function then, and the binary stored includes it), and
times a few launches (which rule out kernels far slower than the NumPy engine).

The caller never waits on it: `poll()` reads whatever answers have arrived, without blocking, at
the caller's next call. Nothing of the caller's text reaches the worker but the parsed graph.
"""
from __future__ import annotations

import atexit
import os
import pickle
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass

# The worker's command line (a test may wrap it).
COMMAND = [sys.executable, "-m", "symexpr.backends.background"]
MAX_WAITING = 64   # signatures waiting for the worker; the least called are dropped beyond it
MAX_STARTS = 3     # a worker that keeps dying (a kernel that crashes the compiler) is not started again
_HEADER = struct.Struct("<Q")


@dataclass
class Job:
    """One signature to build: what the worker needs, and what the caller learns."""

    graph: object
    engine: dict                 # OpenCLEngine keywords: optimize, fast_math
    inputs: dict                 # name -> ("array", dtype str, shape, strides) or ("weak", python type name)
    device: str | None           # the device's identity (DeviceInfo.cache_key); None: the default; "basic": PoCL's
    settings: dict               # module settings the kernel plan reads (plan.HOST_ELEMENTS...)
    cache: str                   # the disk cache's folder
    calls: int = 1               # how often the caller ran the signature while it waited
    state: str = "waiting"       # waiting, building, done, failed, cancelled
    seconds: float | None = None  # the worker's best time of the OpenCL engine on the signature
    error: str | None = None
    ident: int = 0
    # The caller's own: the cost model's prediction that chose the device engine (None: measure when
    # built), which attempt this is, and the NumPy engine's best time on the signature meanwhile.
    predicted: tuple | None = None
    dev: str = "opencl"  # which of auto's device engines the kernels are for ("opencl", "basic")
    attempts: int = 1
    tried: int = 0  # the caller's count of ended builds when it last looked for the kernels itself
    pid: int = 0    # the process that submitted it (a forked child submits its own)
    numpy_seconds: float = float("inf")

    def record(self, seconds: float) -> None:
        """A call of the signature ran on the NumPy engine meanwhile, in `seconds`."""
        self.calls += 1
        self.numpy_seconds = min(self.numpy_seconds, seconds)


class Builder:
    """The caller's side: start the worker, hand it jobs one at a time, read its answers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc = None
        self.pid = None          # the process that started the worker (a fork must start its own)
        self.broken: str | None = None
        self.waiting: list[Job] = []
        self.current: Job | None = None
        self.buffer = b""
        self.count = 0
        self.starts = 0

    def submit(self, job: Job) -> bool:
        """Queue a job; False when no worker can run (the reason is in `broken`)."""
        with self.lock:
            if not self._alive():
                return False
            self.count += 1
            job.ident, job.pid = self.count, os.getpid()
            self.waiting.append(job)
            if len(self.waiting) > MAX_WAITING:
                dropped = min(self.waiting, key=lambda j: j.calls)
                self.waiting.remove(dropped)
                dropped.state, dropped.error = "failed", "dropped: too many signatures waiting for a build"
            self._next()
            return True

    def cancel(self, job: Job) -> None:
        """The caller found the kernels without this job: not built if not begun (else left to end)."""
        with self.lock:
            if job in self.waiting:
                self.waiting.remove(job)
            if job.state == "waiting":
                job.state = "cancelled"

    def poll(self) -> None:
        """Read the answers that have arrived, and start the next job; never blocks."""
        if self.current is None and not self.waiting:
            return
        with self.lock:
            if self.proc is None or self.pid != os.getpid():
                return
            try:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                chunk = None
            except OSError as err:
                self._lost(f"the background kernel builder stopped ({err})")
                return
            if chunk == b"":
                try:
                    code = self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    code = None
                self._lost("the background kernel builder stopped" + (f" (exit status {code})" if code else ""))
                return
            if chunk:
                self.buffer += chunk
            while len(self.buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self.buffer)
                if len(self.buffer) < _HEADER.size + size:
                    break
                ident, ok, value = pickle.loads(self.buffer[_HEADER.size:_HEADER.size + size])
                self.buffer = self.buffer[_HEADER.size + size:]
                job, self.current = self.current, None
                if job is not None and job.ident == ident:
                    if ok:
                        job.state, job.seconds = "done", value
                    else:
                        job.state, job.error = "failed", value
            self._next()

    def wait(self, job: Job, timeout: float) -> bool:
        """Block until `job` is built or failed (tests, benchmarks, `Program.warm`); True if it ended."""
        import select
        import time

        end = time.monotonic() + timeout
        while job.state in ("waiting", "building"):
            left = end - time.monotonic()
            if left <= 0 or self.proc is None:
                return False
            select.select([self.proc.stdout], [], [], min(left, 0.05))
            self.poll()
        return True

    # -- inside the lock ---------------------------------------------------------------------------
    def _alive(self) -> bool:
        if self.broken is not None:
            return False
        if self.proc is not None and self.pid == os.getpid():
            return True
        if os.name != "posix":  # (non-blocking reads of a pipe)
            self.broken = "background builds need a POSIX system"
            return False
        if COMMAND[0] == sys.executable and not _runs_python():
            self.broken = f"this process's executable ({sys.executable or 'unknown'}) does not run Python scripts"
            return False
        if self.starts >= MAX_STARTS:
            self.broken = "the background kernel builder stopped too often"
            return False
        self.starts += 1
        try:
            # In a session of its own: a Ctrl-C in the terminal is the user's process's, not the worker's
            # (which ends when its input does). symexpr is importable there as it is here.
            here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p))
            self.proc = subprocess.Popen(COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, bufsize=0, close_fds=True,
                                         start_new_session=True, env=env)
        except OSError as err:
            self.broken = f"the background kernel builder could not start ({err})"
            return False
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.pid = os.getpid()
        self.current, self.buffer = None, b""
        atexit.register(_stop, self.proc)
        return True

    def _next(self) -> None:
        if self.current is not None or not self.waiting:
            return
        if not self._alive():
            for job in self.waiting:
                job.state, job.error = "failed", self.broken
            self.waiting = []
            return
        job = max(self.waiting, key=lambda j: j.calls)  # the hottest first
        self.waiting.remove(job)
        try:
            data = pickle.dumps((job.ident, job.graph, job.engine, job.inputs, job.device, job.settings,
                                 job.cache), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # noqa: BLE001 - that signature stays on the NumPy engine, said once
            job.state, job.error = "failed", f"the program could not be handed over ({type(err).__name__}: {err})"
            self._next()
            return
        try:
            # The worker is idle (reading its input): a frame larger than the pipe does not block for long.
            frame = memoryview(_HEADER.pack(len(data)) + data)
            while frame:  # (a raw pipe may take part of a large frame at a time)
                frame = frame[self.proc.stdin.write(frame):]
        except OSError as err:
            self.current = job
            self._lost(f"the background kernel builder stopped ({err})")
            return
        job.state = "building"
        self.current = job

    def _lost(self, why: str) -> None:
        """The worker is gone: the job it was building fails (it may be what killed it); the others
        wait for the next worker."""
        if self.current is not None:
            self.current.state, self.current.error = "failed", why
        self.current, self.buffer = None, b""
        _stop(self.proc, kill=True)
        self.proc = None
        self._next()


def _runs_python() -> bool:
    """Whether `sys.executable` is a Python interpreter (not a frozen application, nor a server embedding
    Python, such as uWSGI, whose executable would do something else with `-m`)."""
    name = os.path.basename(sys.executable or "").lower()
    return not getattr(sys, "frozen", False) and name.startswith(("python", "pypy"))


def _stop(proc, kill: bool = False) -> None:
    """End the worker: its input closed, it finishes the build it is on (its binaries land in the disk
    cache for the next process) and exits; the caller does not wait for it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.stdin.close()
    except OSError:
        pass
    if kill:
        proc.kill()
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


_builder: Builder | None = None
_builder_lock = threading.Lock()


def builder() -> Builder:
    """The process's builder (one worker for every program)."""
    global _builder
    with _builder_lock:
        if _builder is None or (_builder.pid is not None and _builder.pid != os.getpid()):
            _builder = Builder()
        return _builder


# -- describing a call's arrays for the worker -------------------------------------------------------

def describe_value(value):
    """("array", dtype, shape, strides) of an array, ("weak", type name) of a Python scalar."""
    import numpy as np

    if isinstance(value, (bool, int, float, complex)):
        return ("weak", type(value).__name__)
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str)
    value = np.asarray(value)
    return ("array", value.dtype.str, tuple(value.shape), tuple(value.strides))


def make_value(desc):
    """An array of zeros with the layout described (untouched pages of calloc: reading them commits no
    memory), or a Python scalar 1 (a weak value must fit the arrays' dtypes)."""
    import numpy as np

    if desc[0] == "weak":
        return {"bool": True, "int": 1, "float": 1.0, "complex": 1.0 + 0j}[desc[1]]
    if desc[0] == "scalar":
        return np.dtype(desc[1]).type(1)
    _, dtype, shape, strides = desc
    dtype = np.dtype(dtype)
    plain = np.zeros(shape, dtype)
    if plain.strides == strides or any(n == 0 for n in shape) or any(s % dtype.itemsize for s in strides):
        return plain
    low = sum(min(0, s * (n - 1)) for s, n in zip(strides, shape))
    high = sum(max(0, s * (n - 1)) for s, n in zip(strides, shape)) + dtype.itemsize
    base = np.zeros((high - low) // dtype.itemsize + 1, dtype)
    return np.lib.stride_tricks.as_strided(base[-low // dtype.itemsize:], shape, strides)


# -- the worker ------------------------------------------------------------------------------------

def _serve() -> None:
    """The worker's loop: a job in, (ident, ok, seconds or error text) out, until the input ends."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything a library prints goes to standard error, not into the answers
    stdin = sys.stdin.buffer
    engines: dict = {}
    while True:
        head = stdin.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(head)
        ident, graph, options, inputs, device, settings, cache = pickle.loads(stdin.read(size))
        try:
            answer = (ident, True, _build(engines, graph, options, inputs, device, settings, cache))
        except BaseException as err:  # noqa: BLE001 - the caller is told, and keeps the NumPy engine
            answer = (ident, False, f"{type(err).__name__}: {err}")
        data = pickle.dumps(answer)
        out.write(_HEADER.pack(len(data)) + data)


def _build(engines, graph, options, inputs, device, settings, cache) -> float:
    import time

    from .opencl import OpenCLEngine, plan
    from .opencl.runtime import _info, devices, low_latency_queue

    os.environ["SYMEXPR_CACHE_DIR"] = cache
    os.environ.pop("SYMEXPR_NO_CACHE", None)
    for name, value in settings.items():
        setattr(plan, name, value)
    key = (pickle.dumps(graph), tuple(sorted(options.items())), device)
    engine = engines.get(key)
    if engine is None:
        chosen = None
        if device == "basic":
            chosen = low_latency_queue()  # (the one queue the caller's programs share, as there)
        elif device is not None:
            chosen = next((d for d in devices() if _info(d).cache_key == device), None)
        if device is not None and chosen is None:
            raise RuntimeError("the device is not found in the background process")
        engine = OpenCLEngine(graph, device=chosen, **options)
        if len(engines) >= 16:
            engines.clear()
        engines[key] = engine
    values = {name: make_value(desc) for name, desc in inputs.items()}
    engine.run(values)  # builds, launches once, stores the binaries
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        engine.run(values)
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    _serve()

"""backend="auto": the fused OpenCL kernel, or the NumPy engine where a launch costs more than it saves.

A kernel launch has a fixed price (40 to 65 µs on PoCL's multi-threaded CPU device,
against about 1 µs for a NumPy call), and the fused kernel wins it back on memory
traffic only once the arrays are large enough; where that happens depends on the
device, the program and the dtypes. So the choice is made per call signature (the
inputs' dtypes and shapes), once, and remembered:

- up to `SMALL` elements the NumPy engine runs: no device launches that fast;
- above, no call waits for a kernel build. The first call of a signature whose kernels
  are not built yet (in this process, or in the disk cache) runs on the NumPy engine and
  hands the kernels to a background process (background.py), which builds them into the
  disk cache and times them; the calls go on running on the NumPy engine, timed, until
  they are built. The next call then chooses: where the kernels timed far slower than the
  NumPy engine, the NumPy engine stays (the OpenCL engine is not even made); otherwise the
  call loads them (milliseconds), times both engines on its own data, keeps the faster,
  and returns that engine's result. Later calls of the signature go straight to the
  engine chosen. Where the kernels are already built, the first call measures at once;
- a new shape of dtypes already measured at two sizes (and within `REACH` times the sizes
  measured) is not timed again: each
  engine's times are fitted as a fixed cost plus a cost per element (a line through
  the sizes measured), and where the line of one engine predicts at least
  `cost_model.MARGIN` times the other's, the faster is chosen without running either (a
  training loop whose last batch is smaller, a stream of records of varying
  length); where that is the OpenCL engine and the shape needs kernels not built yet,
  they are built in the background as above. Where the prediction is close, the engine
  predicted faster runs the call (a wrong guess costs less than `MARGIN` times), nothing
  else is run, and the call's own time becomes a point of that engine's line.

Without a disk cache (SYMEXPR_NO_CACHE) or with SYMEXPR_BACKGROUND_BUILDS=0, the first
call of a signature builds its kernels itself, then measures. Where a background build
fails (or its process dies), the NumPy engine keeps the signature, and a warning says so
once per program.

Both engines compute NumPy's results; exact operations agree bit for bit, and
transcendental functions within the OpenCL ulp bounds (see the README): a signature's
results may move within those bounds when its calls move to the kernels. Pass
backend="opencl" or "numpy" to fix the engine.

The OpenCL engine itself is made when something first needs it (a call above `SMALL` whose
kernels are built, device arrays, `kernel_source`, `explain()`'s kernels): importing
pyopencl and making a context cost 100 ms or more, which a program whose calls stay small,
or whose kernels are still building, never pays. Where it cannot be made (no device), the
NumPy engine runs everything, and a warning says so once.

Here is the choosing, and the device engines made on first use. Loaded when first needed (not
with `import symexpr`): the background builds as the engine sees them (handing kernels to the
worker, the calls run meanwhile) in auto_background.py, and explain()'s account of a choice in
auto_explain.py. The cost model's lines are in cost_model.py.
"""
from __future__ import annotations

import math
import os
import sys
from _thread import allocate_lock  # (threading.Lock: see backends/numpy.py)
import time

import numpy as np

from ..cache import cache_folder
from ..infer import is_weak_value, kind_of_value
from ..ops import OPS
from .cost_model import CostModel, _Point, decisive as _decisive
from .numpy import NumpyEngine

SMALL = 4096         # elements: at or below, the NumPy engine without measuring
MAX_DECISIONS = 256  # signatures remembered


class _Lazy:
    """A device engine, made once on first use (None where it cannot be); copies share it."""

    def __init__(self, make):
        self.make = make
        self.lock = allocate_lock()
        self.done = False
        self.engine = None

    def get(self):
        if not self.done:
            with self.lock:
                if not self.done:
                    self.engine = self.make()
                    self.done = True
        return self.engine


def _is_device_array(value) -> bool:
    # Without importing pyopencl: a device array can only exist once the user imported it.
    array = sys.modules.get("pyopencl.array")
    return array is not None and isinstance(value, array.Array)


class _Device:
    """A device engine auto may choose: "opencl" (the device the program was compiled for, or the
    default one) or "basic" (a low-latency device for small calls, where the process has one). Made
    on first use, or aside in a thread once a background build says it is worth it; None where it
    cannot be made."""

    def __init__(self, name: str, make, selector):
        self.name = name
        self.lazy = _Lazy(make)
        self.selector = selector  # how the background worker finds the device when the engine is not made
        self.maker = None         # the thread making the engine aside, once started

    def made(self) -> bool:
        return self.lazy.done and self.lazy.engine is not None

    def make_aside(self) -> bool:
        """Start making the engine in a thread (not in a call: importing pyopencl and making a context take
        100 ms or more); True once it is made (or found impossible)."""
        if not self.lazy.done and self.maker is None:
            import threading  # (a thread only where a device engine is made)

            self.maker = threading.Thread(target=self.lazy.get, daemon=True,
                                          name=f"symexpr: making the {self.name} engine")
            self.maker.start()
        return self.lazy.done


_LABELS = {"numpy": "the NumPy engine", "opencl": "the OpenCL engine",
           "basic": "the OpenCL engine on the low-latency device"}


class AutoEngine:
    """Picks, per call signature, the NumPy engine or a device engine, whichever is faster: the OpenCL
    engine above `SMALL` elements, and at most `SMALL` the low-latency device's where the process has one."""

    def __init__(self, make_opencl, numpy: NumpyEngine, *, options: dict | None = None, device_given: bool = False,
                 make_basic=None):
        self._devices = {"opencl": _Device("opencl", make_opencl, None)}
        if make_basic is not None:
            self._devices["basic"] = _Device("basic", make_basic, "basic")
        self._lazy = self._devices["opencl"].lazy
        self.numpy = numpy
        self.options = dict(options or {})  # the OpenCL engine's: optimize, fast_math
        self.device_given = device_given
        # Kernels built in a worker process while the NumPy engine runs the calls (background.py).
        # (Without a disk cache there is no way to hand the binaries over.)
        self.background = os.environ.get("SYMEXPR_BACKGROUND_BUILDS", "1") != "0" and cache_folder("opencl") is not None
        self.pending: dict[tuple, object] = {}       # signature -> the background Job it waits for
        self.settled = 0                             # background builds ended so far
        self.warned = False
        self._state = allocate_lock()
        self._staged = any(n.op in OPS and OPS[n.op].kind != "elementwise" for n in numpy.graph.nodes)
        self.decisions: dict[tuple, str] = {}        # signature -> "numpy", "opencl" or "basic"
        self.models: dict[tuple, CostModel] = {}     # dtypes and dimensions -> the lines fitted
        self.predicted: dict[tuple, tuple] = {}      # signature -> (NumPy engine s, device engine s) it was chosen by
        self.reasons: dict[tuple, str] = {}          # signature -> why it was chosen, where not by timing or prediction
        # The latest call: (the engine that ran it, its inputs' Kinds), for kernel_source.
        self.latest: tuple | None = None

    @property
    def opencl(self):
        """The OpenCL engine (made now if it was not yet), or None where there is no device."""
        return self._lazy.get()

    def _engine(self, name: str):
        return self.numpy if name == "numpy" else self._devices[name].lazy.get()

    @property
    def name(self) -> str:
        return "numpy" if self.opencl is None else "opencl"

    @property
    def kernel_source(self) -> str:
        """The OpenCL C of the latest call's signature, also when the NumPy engine ran it (the kernel
        the OpenCL engine would run, contiguous inputs), so that what is shown is the code for the
        dtypes asked for; before any call, the OpenCL engine's default (float32)."""
        opencl = self.opencl if "_lazy" in self.__dict__ else None  # (none on a bare instance: copy, pickle)
        if opencl is None:
            raise AttributeError("kernel_source")
        latest = self.latest
        if latest is not None and latest[0] is not self.numpy and latest[0] is not opencl:
            return latest[0].kernel_source  # the low-latency device's
        if latest is None or latest[0] is opencl or opencl._staged is not None:
            # (A program with reductions has kernels per shape: those of its latest OpenCL call.)
            return opencl.kernel_source
        return opencl.source_for(latest[1])

    def __getattr__(self, attr):
        # queue, info, options, kernel_plan...: the OpenCL engine's.
        opencl = self.__dict__["_lazy"].get() if "_lazy" in self.__dict__ else None
        if opencl is None:  # a bare instance (copy, pickle), or no device: no such attribute
            raise AttributeError(attr)
        return getattr(opencl, attr)

    def accepts(self, value) -> bool:
        return _is_device_array(value)

    def run(self, values: dict[str, object], out=None) -> list:
        engine, first, timer = self.choose(values)
        self.latest = (engine, self._kinds(values))
        if first is not None and out is None:
            return first
        if timer is None:
            return engine.run(values, out)
        t0 = time.perf_counter()
        results = engine.run(values, out)
        timer.record(time.perf_counter() - t0)
        return results

    def fast_runner(self, values: dict[str, object]):
        engine, _, _ = self.choose(values)
        job = self.pending.get(self._size_and_key(values)[1])
        if job is not None:
            return _builds().runner_while_building(self, values)
        runner = engine.fast_runner(values)
        if runner is None:
            return None
        latest = (engine, self._kinds(values))

        def run(args, out=None):
            self.latest = latest
            return runner(args, out)
        return run

    def _kinds(self, values: dict[str, object]) -> tuple:
        return tuple(kind_of_value(values[n]) for n in self.numpy.graph.input_names)

    def engine_for(self, values: dict[str, object]) -> str:
        """Which engine runs these values' signature: "numpy", "opencl", or "opencl-basic" (the
        low-latency device), measuring if not yet known ("numpy" while its kernels are built in the
        background)."""
        return self.choose(values)[0].name

    def describe(self, values: dict[str, object]) -> str:
        """Which engine runs these values' signature and why, without measuring (for explain)."""
        from .auto_explain import describe
        return describe(self, values)

    def wait(self, values: dict[str, object], timeout: float | None = None) -> bool:
        """Wait for the background build of these values' signature, if one is on (and for its device
        engine to be made); False on timeout."""
        job = self.pending.get(self._size_and_key(values)[1])
        return job is None or _builds().wait(self, job, timeout)

    def _device_for(self, size: int) -> str | None:
        """The device engine that competes with the NumPy engine at this size, if any."""
        if size > SMALL:
            return "opencl"
        return "basic" if "basic" in self._devices and self.background else None

    def _size_and_key(self, values: dict[str, object]):
        if any(_is_device_array(v) for v in values.values()):
            return None, "device"
        shapes = [() if is_weak_value(v) else np.shape(v) for v in values.values()]
        try:
            size = math.prod(np.broadcast_shapes(*shapes)) if shapes else 1
        except ValueError:
            if not self._staged:
                return None, None
            size = max(math.prod(s) for s in shapes)  # matrix products: their operands do not broadcast
        key = tuple((type(v) if is_weak_value(v) else np.dtype(v.dtype), s) for v, s in zip(values.values(), shapes))
        return size, key

    def choose(self, values: dict[str, object]):
        """(engine, the chosen engine's result if this call ran it already, else None, what the call's
        time is recorded into, else None: the background build it waits for (the NumPy engine runs
        the call meanwhile), or the cost model's line of the engine a close prediction chose)."""
        size, key = self._size_and_key(values)
        if key == "device":
            return self.opencl, None, None
        dev = None if size is None else self._device_for(size)
        if dev is None:
            return self.numpy, None, None  # (shapes that do not broadcast: it raises the positioned ShapeError)
        decided = self.decisions.get(key)
        if decided is not None:
            return self._engine(decided), None, None
        with self._state:
            return self._choose_new(values, size, key, dev)

    def _choose_new(self, values: dict, size: int, key: tuple, dev: str):
        decided = self.decisions.get(key)  # (another thread may have decided meanwhile)
        if decided is not None:
            return self._engine(decided), None, None
        job = self.pending.get(key)
        if job is not None and job.pid != os.getpid():  # submitted before a fork: this process builds its own
            del self.pending[key]
            job = None
        if job is not None:
            if _builds().still_waiting(self, job):
                if _builds().worth_a_look(self, job):
                    job.tried = self.settled
                    result = _builds().built_result(self, values, dev)
                    if result is not None:
                        _builds().background_builder().cancel(job)
                        del self.pending[key]
                        return self._choose_built(values, size, key, dev, result)
                return self.numpy, None, job
            return self._settle(values, size, key, job)
        device = self._devices[dev]
        if device.lazy.done and device.lazy.engine is None:  # no such device: said once when it was found out
            self._decide(key, "numpy", reason=f"{_LABELS[dev]} could not be set up")
            return self.numpy, None, None
        known = device.made() or (dev == "opencl" and self.device_given)
        model = self._model(key)
        guess = model.predict(size, dev)
        if _decisive(guess):
            winner = "numpy" if guess[0] < guess[1] else dev
            if winner != "numpy" and self.background:
                result = _builds().built_result(self, values, dev)
                if result is not None:
                    return self._choose_built(values, size, key, dev, result)
                job = _builds().submit(self, values, key, guess, dev)
                if job is not None:
                    return self.numpy, None, job
            self._decide(key, winner, guess)
            return self._engine(winner), None, None
        if guess is not None and known:
            # Close: the engine predicted faster runs it (wrong, it costs less than MARGIN times), and
            # its time refines that engine's line; nothing else is run.
            if guess[0] < guess[1]:
                self._decide(key, "numpy", guess)
                return self.numpy, None, _Point(model, "numpy", size)
            t0 = time.perf_counter()
            result = _builds().built_result(self, values, dev)
            if result is not None:
                model.add_one(dev, size, time.perf_counter() - t0)
                self._decide(key, dev, guess)
                return self._engine(dev), result, None
        if self.background:
            if _builds().built_result(self, values, dev) is not None:
                return self._measure(values, size, key, model, dev, warm=True)
            job = _builds().submit(self, values, key, None, dev)  # (the kernels are not built: nothing is measured)
            if job is not None:
                return self.numpy, None, job
        if dev != "opencl" or self.opencl is None:  # (the low-latency device builds in the background only)
            return self.numpy, None, None
        return self._measure(values, size, key, model, dev)

    def _choose_built(self, values: dict, size: int, key: tuple, dev: str, result):
        """The signature's kernels are built, `result` the device engine's: choose by the cost model
        where it is decisive (many signatures settle at once when a build ends), else measure."""
        model = self._model(key)
        guess = model.predict(size, dev)
        if _decisive(guess):
            winner = "numpy" if guess[0] < guess[1] else dev
            self._decide(key, winner, guess)
            return (self._engine(dev), result, None) if winner == dev else (self.numpy, None, None)
        return self._measure(values, size, key, model, dev, warm=True)

    def _measure(self, values: dict, size: int, key: tuple, model: CostModel, dev: str, warm: bool = False):
        """Time both engines on the call's data, keep the faster: (engine, its result, None)."""
        repeats = 3  # fewer timings were seen to pick the slower of two close engines
        device = self._engine(dev)
        if not warm:
            device.run(values)  # builds the kernel (or finds it on disk)
        if size < 1_000_000:
            self.numpy.run(values)
        t_dev = t_np = math.inf
        for _ in range(repeats):  # in turns, so that a busy moment of the machine hits both alike
            t, r_dev = _best(device, values, 1)
            t_dev = min(t_dev, t)
            t, r_np = _best(self.numpy, values, 1)
            t_np = min(t_np, t)
        model.add(size, t_np, t_dev, dev)
        winner = "numpy" if t_np < t_dev else dev
        self._decide(key, winner)
        # The winner's own result, so that this call gives what every later call of it will.
        return ((self.numpy, r_np) if winner == "numpy" else (device, r_dev)) + (None,)

    def _settle(self, values: dict, size: int, key: tuple, job):
        """The background build of `key` ended: choose its engine now."""
        del self.pending[key]
        self.settled += 1
        dev = job.dev
        if job.state == "failed":
            _builds().warn_once(self, f"a kernel could not be built in the background ({job.error}); the NumPy "
                                "engine runs that signature")
            self._decide(key, "numpy", reason=f"its kernel could not be built ({job.error})")
            return self.numpy, None, None
        model = self._model(key)
        slower = _builds().far_slower(job)
        if slower:  # not worth making the device engine for
            self._decide(key, "numpy", reason=slower)
            return self.numpy, None, None
        if self._engine(dev) is None:
            self._decide(key, "numpy", reason=f"{_LABELS[dev]} could not be set up")
            return self.numpy, None, None
        result = _builds().built_result(self, values, dev)
        if result is not None:
            return self._choose_built(values, size, key, dev, result)
        # Built, yet not what this call needs (another layout of the arrays): once more, then in the call.
        if job.attempts < 2:
            again = _builds().submit(self, values, key, job.predicted, dev)
            if again is not None:
                again.attempts = job.attempts + 1
                again.numpy_seconds = job.numpy_seconds
                return self.numpy, None, again
        if dev != "opencl":
            self._decide(key, "numpy", reason="the kernels built in the background did not fit the layout of its arrays")
            return self.numpy, None, None
        return self._measure(values, size, key, model, dev)

    def _model(self, key: tuple) -> CostModel:
        """The cost model of the signature's family (its dtypes and dimensions), made on first use."""
        return self.models.setdefault(_family(key), CostModel())

    def _decide(self, key: tuple, winner: str, guess: tuple | None = None, reason: str | None = None) -> None:
        """Keep `winner` for the signature; `guess`: the cost model's prediction it was chosen by;
        `reason`: why, where it was chosen neither by timing both engines nor by a prediction."""
        if len(self.decisions) >= MAX_DECISIONS:
            self.decisions.clear()
            self.predicted.clear()
            self.reasons.clear()
        self.decisions[key] = winner
        if guess is not None:
            self.predicted[key] = guess
        if reason is not None:
            self.reasons[key] = reason


def low_latency_named() -> bool:
    """Whether the process asks PoCL for its single-threaded `basic` device (POCL_DEVICES), whose
    launches take 1 to 2 µs: auto then times small calls' kernels there against the NumPy engine.
    Read from the environment, without importing pyopencl."""
    return "basic" in os.environ.get("POCL_DEVICES", "").lower().split()


def _builds():
    """auto_background.py, the background builds' side, imported when a signature first needs a kernel."""
    from . import auto_background
    return auto_background


def _family(key: tuple) -> tuple:
    """A signature without its sizes: the inputs' dtypes (or Python types) and dimensions."""
    return tuple((kind, len(shape)) for kind, shape in key)


def _best(engine, values: dict, repeats: int) -> tuple[float, list]:
    """The best time of `repeats` calls, through the path later calls will take (the engine's fast
    runner when every input is a NumPy array, else its general `run`), and the last call's results."""
    run = lambda: engine.run(values)  # noqa: E731
    if all(type(v) is np.ndarray for v in values.values()):
        fast = engine.fast_runner(values)
        if fast is not None:
            args = tuple(values[n] for n in engine.graph.input_names)  # the order fast runners take
            run = lambda: fast(args) or engine.run(values)  # noqa: E731
    best, result = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result

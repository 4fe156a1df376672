"""The run's cells: one program at one size and dtype against every peer (`run_cell`), the same
writing into preallocated outputs (`run_out`), and the per-call overhead at n = 16 (`run_overhead`);
`Settings` (what a run measures) and `Bench` (its state: programs compiled once, the OpenCL peers)."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .cases import Case, make_data, numexpr_function, numpy_function
from .measure import (COPY_TIMED, Broken, as_tuple, compare, compile_quietly, copy_fraction, copy_reference,
                      engine_that_ran, gbps, hand_fraction, measure, raiser, speedups)
from .opencl_peers import OpenCLPeers


FULL_SIZES = (10, 1_000, 100_000, 1_000_000, 10_000_000)


SHORT_SIZES = (10, 1_000, 100_000)


LARGE_SIZE = 50_000_000


OUT_SIZE = 10_000_000


OVERHEAD_N = 16


@dataclass
class Settings:
    mode: str = "full"
    sizes: tuple[int, ...] = FULL_SIZES
    dtypes: tuple[str, ...] = ("float32", "float64")
    repeats: int = 7
    repeats_large: int = 5
    target: float = 0.004
    out_size: int = OUT_SIZE
    compile_tries: int = 3
    shape_sizes: int = 20   # distinct batch sizes of the loop over changing shapes
    cold_tries: int = 3     # fresh processes each of symexpr and numexpr
    first_call_n: int = 1_000_000  # elements of the first call of a new program under auto
    latency: bool = True    # the latency rows (about 15 s): the full mode only
    programs: tuple[str, ...] = ()
    seed: int = 20261128
    quiet: bool = False

    def repeats_for(self, n: int) -> int:
        if n <= 100_000:
            return self.repeats
        return max(2, min(self.repeats, self.repeats_large, 3 if n >= LARGE_SIZE else self.repeats_large))

    @staticmethod
    def warmup_for(n: int) -> int:
        # Calibrating `number` is one more untimed call, so at large sizes one warm-up is enough.
        return 2 if n < 1_000_000 else 1


@dataclass
class Bench:
    """The state of one run: the programs compiled once, the OpenCL peers, the results so far."""

    settings: Settings
    cases: tuple[Case, ...]
    opencl: OpenCLPeers | None = None
    opencl_error: str | None = None
    programs: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    copy_cache: dict = field(default_factory=dict)

    def log(self, text: str) -> None:
        if not self.settings.quiet:
            print(text, file=sys.stderr, flush=True)

    def program(self, case: Case, backend: str):
        key = (case.name, backend)
        if key not in self.programs:
            try:
                prog, caught = compile_quietly(case.source, backend)
            except Exception as err:  # noqa: BLE001 - recorded in every cell of the program
                prog, caught = Broken(f"compile failed: {type(err).__name__}: {err}"), []
            self.warnings += [m for m in caught if m not in self.warnings]
            self.programs[key] = prog
        return self.programs[key]

    def copy_peers(self, nbytes: int) -> dict[str, Callable[[], object]]:
        """The memory limit for `nbytes` of traffic: callables timed with the other peers, in the
        same round-robin, so that the machine's noise falls on the limit too."""
        if nbytes not in self.copy_cache:
            self.copy_cache.clear()  # one pair of copy buffers alive at a time: at 5e7 they are GBs
            if self.opencl is not None:
                kernels, copyto, oks = self.opencl.copy(nbytes)
                peers = {}
                for name, fn in kernels.items():
                    # timed as copy_cl_plain / copy_cl_nt; `copy_cl` is then the faster (copy_reference)
                    peers[COPY_TIMED[name]] = fn if oks[name] else raiser(f"the {name} kernel's result was wrong")
                peers["copyto"] = copyto
            else:
                src = np.ones(max(1, nbytes // 2 // 4), np.uint32)
                dst = np.zeros_like(src)
                peers = {"copyto": lambda: np.copyto(dst, src)}
            self.copy_cache[nbytes] = peers
        return self.copy_cache[nbytes]


def available_memory() -> int | None:
    """Bytes of memory available now (Linux), or None where that cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_needed(n: int, dtype) -> int:
    """A generous peak for one size: 4 inputs, the 10-statement program's intermediates kept alive by
    NumPy and numexpr, the checked results, and the copy buffers."""
    return 24 * n * np.dtype(dtype).itemsize


def _warm_up(prog, inputs: dict) -> None:
    """The steady state is what the cells time: under `auto`, the engine chosen once the signature's
    kernels are built (in the background: the first calls run on the NumPy engine meanwhile)."""
    try:
        prog.warm_up(**inputs)
    except Exception:  # noqa: BLE001 - a program that cannot run: the checks below record why
        pass


def run_cell(bench: Bench, case: Case, dtype: str, n: int, data: dict) -> dict:
    """One program at one size and dtype: check every peer against NumPy, then time them all."""
    inputs = {x: data[x] for x in case.inputs}
    args = [data[x] for x in case.inputs]
    n_out = len(case.outputs)
    nbytes = (len(case.inputs) + n_out) * n * np.dtype(dtype).itemsize
    prog = bench.program(case, "auto")
    prog_np = bench.program(case, "numpy")
    numpy_fn = numpy_function(case)
    runners = {
        "sx": lambda: as_tuple(prog(**inputs), n_out),
        "sx_numpy": lambda: as_tuple(prog_np(**inputs), n_out),
        "numpy": lambda: numpy_fn(*args),
    }
    if bench.opencl is not None:
        prog_cl = bench.program(case, "opencl")
        runners["sx_cl"] = lambda: as_tuple(prog_cl(**inputs), n_out)
    if n >= LARGE_SIZE:
        del runners["sx_numpy"]  # the slowest peer, and the same story as at 1e7: it would double the time
    ne_fn = numexpr_function(case, dtype)
    if ne_fn is not None:
        runners["numexpr"] = lambda: ne_fn(inputs)
        if len(case.statements) > 1:
            ne_inline = numexpr_function(case, dtype, inline=True)
            runners["numexpr_inline"] = lambda: ne_inline(inputs)
    hand = bench.opencl.hand(case, dtype) if bench.opencl is not None else None
    if hand is not None:
        runners["hand"] = lambda: hand(inputs)

    _warm_up(prog, inputs)
    want = numpy_fn(*args)
    checks, errors = {}, {}
    for peer, fn in runners.items():
        if peer == "numpy":
            continue
        try:
            got = fn()
        except Exception as err:  # noqa: BLE001
            errors[peer] = f"{type(err).__name__}: {err}"
            checks[peer] = {"ok": False, "error": errors[peer]}
            continue
        # numexpr and the hand kernel may round differently (e.g. a fused multiply-add):
        # they are checked with allclose, symexpr with the case's own rule.
        checks[peer] = compare(got, want, case.exact if peer.startswith("sx") else False)
        del got
    backend = prog.backend  # after a first call: what ran, not only what was asked for
    engine = engine_that_ran(prog, inputs) if "sx" not in errors else "error"
    timed = {p: f for p, f in runners.items() if p not in errors}
    timed.update(bench.copy_peers(nbytes))
    times = measure(timed, repeats=bench.settings.repeats_for(n), target=bench.settings.target,
                    warmup=bench.settings.warmup_for(n))
    times.update({p: {"error": e} for p, e in errors.items()})
    copy_reference(times)
    cell = {"program": case.name, "dtype": dtype, "n": n, "backend": backend, "engine": engine,
            "bytes": nbytes, "times": times, "speedup": speedups(times),
            "speedup_cl": speedups(times, "sx_cl"), "gbps": gbps(times, nbytes), "checks": checks}
    cell["copy_fraction"] = copy_fraction(times, "sx")
    cell["copy_fraction_cl"] = copy_fraction(times, "sx_cl")
    return cell


def run_out(bench: Bench, case: Case, dtype: str, n: int, data: dict, cell: dict | None) -> dict:
    """The same program writing into preallocated outputs (`out=`), if the backend supports it."""
    inputs = {x: data[x] for x in case.inputs}
    n_out = len(case.outputs)
    nbytes = (len(case.inputs) + n_out) * n * np.dtype(dtype).itemsize
    prog = bench.program(case, "auto")
    want = numpy_function(case)(*[data[x] for x in case.inputs])
    outs = tuple(np.zeros_like(w) for w in want)
    out_arg = outs[0] if n_out == 1 else outs
    _warm_up(prog, inputs)
    record = {"program": case.name, "dtype": dtype, "n": n, "backend": prog.backend, "bytes": nbytes}
    try:
        got = as_tuple(prog(**inputs, out=out_arg), n_out)
    except Exception as err:  # noqa: BLE001 - a backend without out= is recorded as such
        record.update(supported=False, error=f"{type(err).__name__}: {err}")
        return record
    same = all(g is o for g, o in zip(got, outs))
    record.update(supported=True, writes_in_place=same, check=compare(outs, want, case.exact),
                  engine=engine_that_ran(prog, inputs))
    runners = {"sx_out": lambda: prog(**inputs, out=out_arg)}
    if bench.opencl is not None:
        # The fused kernel itself (backend="opencl"): what the copy-bandwidth target is about.
        prog_cl = bench.program(case, "opencl")
        outs_cl = tuple(np.zeros_like(w) for w in want)
        out_cl = outs_cl[0] if n_out == 1 else outs_cl
        try:
            prog_cl(**inputs, out=out_cl)
            record["check_cl"] = compare(outs_cl, want, case.exact)
            runners["sx_cl_out"] = lambda: prog_cl(**inputs, out=out_cl)
        except Exception as err:  # noqa: BLE001
            record["check_cl"] = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    ne_fn = numexpr_function(case, dtype)
    if ne_fn is not None and len(case.statements) == 1:
        ne_out = np.empty_like(want[0])
        runners["numexpr_out"] = lambda: ne_fn(inputs, out=ne_out)
    hand = bench.opencl.hand(case, dtype) if bench.opencl is not None else None
    if hand is not None:
        hand_out = tuple(np.empty_like(w) for w in want)
        runners["hand_out"] = lambda: hand(inputs, out=hand_out)
    runners.update(bench.copy_peers(nbytes))
    times = measure(runners, repeats=bench.settings.repeats_for(n), target=bench.settings.target,
                    warmup=bench.settings.warmup_for(n))
    copy_reference(times)
    if "error" in times.get("sx_cl_out", {}):
        record["check_cl"] = {"ok": False, "error": times["sx_cl_out"]["error"]}
    if cell is not None:
        for peer in ("sx", "sx_cl", "numpy", "numexpr"):
            if "min" in cell["times"].get(peer, {}):
                times[peer] = cell["times"][peer]
    record.update(times=times, speedup=speedups(times, "sx_out"), gbps=gbps(times, nbytes),
                  copy_fraction=copy_fraction(times, "sx_out"),
                  copy_fraction_cl=copy_fraction(times, "sx_cl_out"),
                  hand_fraction=hand_fraction(times, "sx_out"),
                  hand_fraction_cl=hand_fraction(times, "sx_cl_out"))
    return record


def run_overhead(bench: Bench, case: Case, dtype: str = "float32") -> dict:
    """Per-call fixed cost: every peer at n = 16."""
    data = make_data(OVERHEAD_N, dtype, bench.settings.seed)
    cell = run_cell(bench, case, dtype, OVERHEAD_N, data)
    prog = bench.program(case, "auto")
    inputs = {x: data[x] for x in case.inputs}
    outs = tuple(np.empty(OVERHEAD_N, dtype) for _ in case.outputs)
    out_arg = outs[0] if len(outs) == 1 else outs
    outs_cl = tuple(np.empty(OVERHEAD_N, dtype) for _ in case.outputs)
    out_cl = outs_cl[0] if len(outs_cl) == 1 else outs_cl
    runners = {"sx_out": lambda: prog(**inputs, out=out_arg)}
    if bench.opencl is not None:
        prog_cl = bench.program(case, "opencl")
        runners["sx_cl_out"] = lambda: prog_cl(**inputs, out=out_cl)
    extra = {}
    for name, fn in list(runners.items()):
        try:
            fn()
        except Exception as err:  # noqa: BLE001
            extra[name] = {"error": f"unsupported: {type(err).__name__}: {err}"}
            del runners[name]
    extra.update(measure(runners, repeats=bench.settings.repeats, target=bench.settings.target))
    cell["times"].update(extra)
    return cell

"""Measurement and checking: timing peers round-robin, comparing results with NumPy's, and the
ratios (speed-ups, GB/s, fractions of the copy and hand kernels) a cell reports."""
from __future__ import annotations

import gc
import statistics
import time
import warnings
from typing import Callable

import numpy as np

import symexpr as sx


def measure(peers: dict[str, Callable[[], object]], *, repeats: int, target: float,
            warmup: int = 2) -> dict[str, dict]:
    """Seconds per call of each peer: min and median of `repeats`, interleaved round-robin.

    Each repeat times `number` calls, chosen so that one repeat takes about `target`
    seconds. A peer that raises is reported with its error and left out of the rest.
    """
    live, stats, numbers = {}, {}, {}
    for name, fn in peers.items():
        try:
            for _ in range(warmup):
                fn()
            t0 = time.perf_counter()
            fn()
            once = time.perf_counter() - t0
        except Exception as err:  # noqa: BLE001 - a broken peer is a result, not a crash
            stats[name] = {"error": f"{type(err).__name__}: {err}"}
            continue
        live[name] = fn
        numbers[name] = max(1, min(100_000, int(target / max(once, 1e-7))))
    samples: dict[str, list[float]] = {n: [] for n in live}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, fn in live.items():
                number = numbers[name]
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                samples[name].append((time.perf_counter() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    for name, ts in samples.items():
        stats[name] = {"min": min(ts), "median": statistics.median(ts), "number": numbers[name],
                       "repeats": repeats}
    return {n: stats[n] for n in peers if n in stats}


def _tolerance(dtype):
    return (1e-5, 1e-5) if np.dtype(dtype) == np.float32 else (1e-12, 1e-12)


def compare(got, want, exact: bool) -> dict:
    """symexpr's (or a peer's) outputs against NumPy's: exact, or allclose for transcendentals."""
    if len(got) != len(want):
        return {"ok": False, "mode": "exact" if exact else "allclose",
                "error": f"{len(got)} outputs, NumPy gives {len(want)}"}
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or g.dtype != w.dtype:
            return {"ok": False, "mode": "exact" if exact else "allclose",
                    "error": f"{g.dtype}{list(g.shape)}, NumPy gives {w.dtype}{list(w.shape)}"}
        if g.size:
            with np.errstate(all="ignore"):
                diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
            worst = max(worst, float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0)
    if exact:
        ok = all(np.array_equal(np.asarray(g), np.asarray(w), equal_nan=True) for g, w in zip(got, want))
    else:
        rtol, atol = _tolerance(np.asarray(want[0]).dtype)
        ok = all(np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True) for g, w in zip(got, want))
    return {"ok": bool(ok), "mode": "exact" if exact else "allclose", "max_abs_err": worst}


def as_tuple(result, n_outputs: int) -> tuple:
    return (result,) if n_outputs == 1 else tuple(result)


def compile_quietly(source: str, backend: str):
    """sx.compile, with its warnings (the fallback to NumPy) recorded rather than printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prog = sx.compile(source, backend=backend)
    return prog, [str(w.message) for w in caught]


COPY_TIMED = {"copy_cl": "copy_cl_plain", "copy_cl_nt": "copy_cl_nt"}


def copy_reference(times: dict) -> dict:
    """Adds times["copy_cl"]: the faster (by minimum) of the plain and the non-temporal copy kernels."""
    best = [(times[p]["min"], p) for p in COPY_TIMED.values() if "min" in times.get(p, {})]
    if best:
        _, peer = min(best)
        times["copy_cl"] = dict(times[peer], variant="nontemporal" if peer.endswith("_nt") else "plain")
    return times


def engine_that_ran(prog, values: dict) -> str:
    """Which engine a program runs for these inputs: backend "auto" decides per call signature
    (`_engine.engine_for`, after the first call has measured); otherwise what `prog.backend` says."""
    engine = getattr(prog, "_engine", None)
    engine_for = getattr(engine, "engine_for", None)
    if engine_for is not None:
        try:
            return engine_for(values)
        except Exception:  # noqa: BLE001 - an engine that cannot say: fall back to the backend's name
            pass
    return getattr(prog, "backend", "?")


class Broken:
    """Stands for a program that did not compile: every call raises the compile error."""

    backend = "error"

    def __init__(self, message: str):
        self.message = message

    def __call__(self, *args, **kwargs):
        raise RuntimeError(self.message)


def raiser(message: str):
    def fail():
        raise RuntimeError(message)
    return fail


def speedups(times: dict, base: str = "sx") -> dict:
    t = times.get(base, {}).get("min")
    if not t:
        return {}
    return {p: s["min"] / t for p, s in times.items() if p != base and "min" in s}


def gbps(times: dict, nbytes: int) -> dict:
    return {p: nbytes / s["min"] / 1e9 for p, s in times.items() if "min" in s and s["min"] > 0}


def sx_checks_ok(cell: dict) -> bool:
    """symexpr's results (the default backend and, where it ran, backend="opencl") agreed with NumPy's."""
    checks = cell["checks"]
    return checks.get("sx", {}).get("ok", False) and checks.get("sx_cl", {"ok": True}).get("ok", False)


def copy_fraction(times: dict, peer: str):
    t, c = times.get(peer, {}).get("min"), times.get("copy_cl", {}).get("min")
    return c / t if t and c else None


def hand_fraction(times: dict, peer: str):
    """The hand kernel's time (out=) over `peer`'s: symexpr's bandwidth as a fraction of the hand kernel's."""
    return copy_fraction({peer: times.get(peer, {}), "copy_cl": times.get("hand_out", {})}, peer)

"""Latency: what a user feels first, measured in the same run as the rest.

- a loop over changing shapes (`run_shape_loop`): one program under backend="auto", warmed up at
  one size, then called as a training loop with a batch size that changes every call; what a new shape's first call costs
  over a known shape's call, and how many new shapes the cost model decided without timing both
  engines (`prog._engine.predicted`) against how many were measured;
- a new program's first call at 1e6 elements under `auto` (`run_first_call`): compile + first
  call against the NumPy engine's own call;
- a cold process (`run_cold_process`): `import symexpr`, compile, one small call in a fresh Python
  process, against the same with numexpr (import, one `evaluate`), and whether pyopencl was imported.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid

import numpy as np

from .cells import Bench
from .compile_times import fresh_source, python_env
from .measure import compile_quietly, engine_that_ran

# The loop over shapes: batch sizes spread evenly over [SHAPE_LOW, SHAPE_HIGH], in a shuffled order,
# for two epochs: the first epoch meets every size new, the second calls known shapes.
SHAPE_LOW, SHAPE_HIGH = 10_000, 200_000
COLD_N = 1000
COLD_EXPRESSION = "2*a + 3*b - c*d"


def _call_time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_shape_loop(bench: Bench) -> dict:
    """The 10-statement program (a new one: nothing cached) under `auto`, float32, called over
    `settings.shape_sizes` distinct batch sizes, each twice (two shuffled epochs)."""
    count = bench.settings.shape_sizes
    sizes = [int(round(x, -2)) for x in np.linspace(SHAPE_LOW, SHAPE_HIGH, count)]
    rng = np.random.default_rng(bench.settings.seed)
    epochs = [list(rng.permutation(sizes)), list(rng.permutation(sizes))]
    data = {x: np.linspace(-1, 1, SHAPE_HIGH, dtype=np.float32) for x in "abcd"}
    prog, _ = compile_quietly(fresh_source(uuid.uuid4().hex), "auto")
    # A known dtype: one size (not in the loop) called before, its kernels built and its engine chosen.
    prog.warm_up(**{x: np.linspace(-1, 1, SHAPE_HIGH + 100, dtype=np.float32) for x in "abcd"})
    engine = getattr(prog, "_engine", None)
    warmed = len(getattr(engine, "decisions", {}) or {})

    def count_predicted() -> int:
        return len(getattr(engine, "predicted", {}) or {})
    first, known, order, by_model = {}, {}, [], []
    for epoch, times in zip(epochs, (first, known)):
        for n in epoch:
            n = int(n)
            inputs = {x: v[:n] for x, v in data.items()}
            before = count_predicted()
            times[n] = _call_time(lambda: prog(**inputs))
            if times is first:
                order.append(n)
                by_model.append(count_predicted() > before)  # the cost model chose, nothing was timed
    predicted = count_predicted()
    decided = len(getattr(engine, "decisions", {}) or {})
    engines = {}
    for n in sizes:
        e = engine_that_ran(prog, {x: v[:n] for x, v in data.items()})
        engines[e] = engines.get(e, 0) + 1
    extra = [first[n] - known[n] for n in order]
    later = extra[2:]
    of_model = [x for x, m in zip(extra, by_model) if m]
    of_timed = [x for x, m in zip(later, by_model[2:]) if not m]
    return {"program": "10 statements (2 outputs)", "dtype": "float32", "backend": "auto",
            "engines_available": prog.backend,  # "opencl" where auto has a device, else "numpy"
            "sizes": order, "calls": 2 * len(sizes),
            "first_call": [first[n] for n in order], "known_call": [known[n] for n in order],
            "extra_first_two": extra[:2],
            "extra_median": statistics.median(later) if later else None,
            "extra_median_all": statistics.median(extra),
            "extra_median_predicted": statistics.median(of_model) if of_model else None,
            "extra_median_measured": statistics.median(of_timed) if of_timed else None,
            "decided_by_model": by_model,
            "known_median": statistics.median(known.values()),
            "predicted": predicted, "measured": max(decided - warmed - predicted, 0),
            "predicted_share": predicted / decided if decided else None,
            "engines": engines}


def run_first_call(bench: Bench) -> dict:
    """A new program's compile and first call under `auto` at `settings.first_call_n` float32 elements
    (1e6), against the NumPy engine's own call (backend="numpy", warm, best of 5)."""
    n = bench.settings.first_call_n
    inputs = {x: np.linspace(-1, 1, n, dtype=np.float32) for x in "abcd"}
    tries = []
    for _ in range(bench.settings.compile_tries):
        src = fresh_source(uuid.uuid4().hex)
        t0 = time.perf_counter()
        prog, _ = compile_quietly(src, "auto")
        t1 = time.perf_counter()
        prog(**inputs)
        t2 = time.perf_counter()
        second = _call_time(lambda: prog(**inputs))
        prog_np, _ = compile_quietly(src, "numpy")
        prog_np(**inputs)
        t_numpy = min(_call_time(lambda: prog_np(**inputs)) for _ in range(5))
        tries.append({"compile": t1 - t0, "first_call": t2 - t1, "total": t2 - t0, "second_call": second,
                      "numpy_engine_call": t_numpy, "engine": engine_that_ran(prog, inputs),
                      "over_numpy": t2 - t0 - t_numpy, "ratio": (t2 - t0) / t_numpy})
    result = {"program": "10 statements (2 outputs)", "dtype": "float32", "n": n, "tries": tries}
    for key in ("total", "numpy_engine_call", "over_numpy", "ratio", "second_call"):
        result[key] = statistics.median(t[key] for t in tries)
    return result


COLD_SCRIPTS = {
    "symexpr": f"""\
import time
t0 = time.perf_counter()
import json, sys
import numpy as np
t1 = time.perf_counter()
import symexpr as sx
t_import = time.perf_counter()
prog = sx.compile("r = {COLD_EXPRESSION}")
t_compile = time.perf_counter()
args = {{x: np.linspace(-1, 1, {COLD_N}, dtype=np.float32) for x in "abcd"}}
prog(**args)
t2 = time.perf_counter()
print(json.dumps({{"numpy_import": t1 - t0, "work": t2 - t1, "pyopencl": "pyopencl" in sys.modules,
                  "import": t_import - t1, "compile": t_compile - t_import, "call": t2 - t_compile}}))
""",
    "numexpr": f"""\
import time
t0 = time.perf_counter()
import json, sys
import numpy as np
t1 = time.perf_counter()
import numexpr as ne
args = {{x: np.linspace(-1, 1, {COLD_N}, dtype=np.float32) for x in "abcd"}}
ne.evaluate("{COLD_EXPRESSION}", local_dict=args)
t2 = time.perf_counter()
print(json.dumps({{"numpy_import": t1 - t0, "work": t2 - t1, "pyopencl": "pyopencl" in sys.modules}}))
""",
}


def _cold(script: str, env: dict) -> dict:
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired as err:
        return {"error": str(err)}
    wall = time.perf_counter() - t0
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]), wall=wall)
    except (json.JSONDecodeError, IndexError) as err:
        return {"error": f"{type(err).__name__}: {err}"}


def run_cold_process(bench: Bench) -> dict:
    """Fresh processes, alternating symexpr and numexpr, after one untimed process of each (so that
    caches on disk, symexpr's parser tables among them, are as a user's second session finds them).
    `wall`: the whole process seen from outside; `work`: inside it, import + compile + call (numexpr:
    import + evaluate), after NumPy's import. With Python's bytecode cache on whatever the shell says
    (PYTHONDONTWRITEBYTECODE): an installed symexpr has its modules compiled, as pip compiles a wheel's
    at install, and numexpr's came compiled; the untimed processes write symexpr's."""
    env = python_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for script in COLD_SCRIPTS.values():
        _cold(script, env)
    runs = {name: [] for name in COLD_SCRIPTS}
    for _ in range(bench.settings.cold_tries):
        for name, script in COLD_SCRIPTS.items():
            runs[name].append(_cold(script, env))
    result = {"expression": COLD_EXPRESSION, "n": COLD_N, "dtype": "float32", "runs": runs}
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            result[name] = {"error": rs[-1]["error"] if rs else "not run"}
            continue
        result[name] = {key: statistics.median(r[key] for r in ok)
                        for key in ("wall", "work", "import", "compile", "call") if key in ok[0]}
        result[name]["pyopencl_imported"] = any(r["pyopencl"] for r in ok)
    sx_, ne_ = result["symexpr"], result["numexpr"]
    if "wall" in sx_ and "wall" in ne_:
        result["wall_ratio"] = sx_["wall"] / ne_["wall"]
        result["work_ratio"] = sx_["work"] / ne_["work"]
    return result


def run_latency(bench: Bench) -> dict:
    """The three latency rows: each a dict, or {"error": ...} where it could not run."""
    rows = {}
    for key, fn in (("shape_loop", run_shape_loop), ("first_call", run_first_call),
                    ("cold_process", run_cold_process)):
        bench.log(f"latency: {key}")
        try:
            rows[key] = fn(bench)
        except Exception as err:  # noqa: BLE001 - a row that cannot run is a result, not a crash
            rows[key] = {"error": f"{type(err).__name__}: {err}"}
    return rows

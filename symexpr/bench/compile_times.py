"""Compile times: a new program's compile and first call (and a new signature's) in this process,
for the default backend and for backend="opencl", and in two fresh processes (the second finding
the disk cache)."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

import symexpr as sx

from .cases import MULTI_STATEMENT
from .cells import Bench
from .measure import compile_quietly, engine_that_ran


COMPILE_SCRIPT = """\
import json, sys, time
t0 = time.perf_counter()
import warnings
warnings.simplefilter("ignore")
import numpy as np
import symexpr as sx
t1 = time.perf_counter()
src, backend = sys.argv[1], sys.argv[2]
prog = sx.compile(src, backend=backend)
t2 = time.perf_counter()
args = {x: np.linspace(-1, 1, 1000, dtype=np.float32) for x in prog.inputs}
prog(**args)
t3 = time.perf_counter()
prog(**args)
t4 = time.perf_counter()
# Another new program in the same process: compile cost once the parser and device are set up.
other = sx.compile(src.replace("q_", "o_"), backend=backend)
t5 = time.perf_counter()
engine = getattr(getattr(prog, "_engine", None), "engine_for", None)
print(json.dumps({"import": t1 - t0, "compile": t2 - t1, "first_call": t3 - t2, "second_call": t4 - t3,
                  "compile_another": t5 - t4, "backend": prog.backend,
                  "engine": engine(args) if engine else prog.backend}))
"""


def fresh_source(tag: str) -> str:
    """The 10-statement program with names and a constant no earlier run has used: nothing cached."""
    const = 0.25 + int(tag[:6], 16) * 1e-9
    return (MULTI_STATEMENT.replace("p = z * 0.25 + v", f"p_{tag} = z * {const!r} + v")
            .replace("q = ", f"q_{tag} = "))


def python_env() -> dict:
    """The environment of a fresh Python process that imports this checkout's symexpr."""
    env = dict(os.environ)
    root = str(Path(sx.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


COMPILE_KEYS = ("new_program_total", "compile", "first_call", "new_signature_first_call", "second_call")


def run_compile(bench: Bench) -> dict:
    """Compile times of the 10-statement program at n = 1000, float32, for the default backend ("auto",
    which at 1000 elements runs the NumPy engine: no kernel is built) and for backend="opencl" forced
    (the kernel build the issue's compile targets are about): in this process, a new program's first
    call and a new signature's; and in two fresh processes, the second finding the disk cache."""
    backends = ["auto"] + (["opencl"] if bench.opencl is not None else [])
    result = {"backends": backends, "n": 1000, "dtype": "float32"}
    for backend in backends:
        result[backend] = _compile_times(bench, backend)
    return result


def _compile_times(bench: Bench, backend: str) -> dict:
    tries = []
    f32 = {x: np.linspace(-1, 1, 1000, dtype=np.float32) for x in "abcd"}
    f64 = {x: v.astype(np.float64) for x, v in f32.items()}
    for _ in range(bench.settings.compile_tries):
        src = fresh_source(uuid.uuid4().hex)
        t0 = time.perf_counter()
        prog, _ = compile_quietly(src, backend)
        t1 = time.perf_counter()
        prog(**f32)
        t2 = time.perf_counter()
        prog(**f32)
        t3 = time.perf_counter()
        prog(**f64)
        t4 = time.perf_counter()
        prog(**f64)
        t5 = time.perf_counter()
        tries.append({"backend": prog.backend, "engine": engine_that_ran(prog, f32), "compile": t1 - t0,
                      "first_call": t2 - t1, "second_call": t3 - t2, "new_signature_first_call": t4 - t3,
                      "new_signature_second_call": t5 - t4, "new_program_total": t2 - t0})
    result = {"in_process": tries}
    for key in COMPILE_KEYS:
        result[key] = {"min": min(t[key] for t in tries), "median": statistics.median(t[key] for t in tries)}
    # A warm process: the same program in two fresh processes; the second finds the disk cache.
    src = fresh_source(uuid.uuid4().hex)
    env = python_env()
    processes = []
    for _ in range(2):
        try:
            done = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT, src, backend], capture_output=True,
                                  text=True, timeout=120, env=env)
            if done.returncode:
                processes.append({"error": (done.stderr.strip().splitlines() or ["failed"])[-1]})
            else:
                processes.append(json.loads(done.stdout.strip().splitlines()[-1]))
        except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as err:
            processes.append({"error": str(err)})
    for p in processes:
        if "compile" in p:
            p["compile_and_first_call"] = p["compile"] + p["first_call"]
    result["processes"] = processes
    return result

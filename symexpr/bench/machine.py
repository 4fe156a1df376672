"""Where the figures come from: CPU, cores, versions, NumPy's SIMD targets, the git commit."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np

import symexpr as sx


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args) -> str | None:
    root = Path(sx.__file__).resolve().parent.parent
    if not (root / ".git").exists():  # an installed package, not a checkout
        return None
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def _uncommitted() -> list[str]:
    """symexpr's files that differ from the commit: the figures are of the working tree, not HEAD."""
    status = _git("status", "--porcelain", "--", "symexpr", "grammar")
    return [line[3:] for line in status.splitlines()] if status else []


def machine_info() -> dict:
    versions = {"python": platform.python_version(), "numpy": np.__version__, "symexpr": sx.__version__}
    for mod in ("numexpr", "pyopencl"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    threads = None
    try:
        import numexpr
        threads = numexpr.get_num_threads()
    except ImportError:
        pass
    try:  # which SIMD targets NumPy's ufuncs dispatch to here (AVX-512 sin/exp, for example)
        from numpy._core import _multiarray_umath as umath
        simd = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]
    except (ImportError, AttributeError):
        simd = None
    env = {k: os.environ[k] for k in ("PYOPENCL_CTX", "POCL_DEVICES", "OMP_NUM_THREADS", "NUMEXPR_NUM_THREADS")
           if k in os.environ}
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(), "numpy_simd": simd,
            "versions": versions, "numexpr_threads": threads, "env": env,
            "git_commit": _git("rev-parse", "--short", "HEAD"),
            "uncommitted": _uncommitted()}

"""Reliability: damaged caches, buffers beyond the device's limit, and errors that must be SymExprErrors."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symexpr as sx


# -- the kernel binary cache ----------------------------------------------------------------------

_CACHED_RUN = textwrap.dedent("""
    import numpy as np, symexpr as sx
    a = np.arange(100, dtype=np.float32)
    print(sx.compile("c = a * 3 + b  # damaged cache", backend="opencl")(a=a, b=a)[5])
""")


def _run_cached(tmp_path):
    env = {**__import__("os").environ, "SYMEXPR_CACHE_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", _CACHED_RUN], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "old_format"])
def test_a_damaged_kernel_binary_is_rebuilt_not_handed_to_the_driver(tmp_path, damage):
    first = _run_cached(tmp_path)
    assert first.returncode == 0, first.stderr
    (entry,) = tmp_path.glob("opencl/*.bin")
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:])
    elif damage == "empty":
        entry.write_bytes(b"")
    else:  # an entry of the format before the checksum: the bare binary, cut short
        from symexpr.backends.opencl import _ENTRY_MAGIC
        entry.write_bytes(data[len(_ENTRY_MAGIC) + 40:][: (len(data) - 60) // 2])
    again = _run_cached(tmp_path)
    assert again.returncode == 0, (again.returncode, again.stderr[-2000:])
    assert again.stdout.strip() == first.stdout.strip() == "20.0"
    # The entry was stored again, whole.
    from symexpr.backends.opencl import _checked_entry
    assert _checked_entry(entry.read_bytes()) is not None

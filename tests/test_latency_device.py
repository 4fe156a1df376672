"""benchmarks/latency_device.py, run small in a process of its own (it lists PoCL's basic device
before pyopencl is first imported): every peer agrees with NumPy and the table has every case."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyopencl")
SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "latency_device.py"


def test_latency_device_runs_and_every_peer_agrees_with_numpy():
    done = subprocess.run([sys.executable, str(SCRIPT), "--repeats", "2", "--calls", "2", "--no-write"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| 10 statements") or line.startswith("| 20-term")]
    assert len(table) == 4 and all(line.rstrip().endswith("| all ok |") for line in table)
    if "basic-" in done.stdout:  # PoCL's basic device listed: its column has figures
        assert all(line.split("|")[k].strip() != "–" for line in table for k in (5, 6))  # sx auto, sx basic

"""Run the symexpr benchmark: `python benchmarks/run.py [--short] [--large] ...`.

A thin wrapper over `symexpr.bench.main`, the same as `symexpr bench`; see
benchmarks/README.md for what it measures and what the columns mean.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symexpr.bench import main  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a == "--output" or a.startswith("--output=") for a in args):
        args += ["--output", str(Path(__file__).resolve().parent / "results")]
    sys.exit(main(args))

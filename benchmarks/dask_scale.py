"""A program over data larger than this machine's memory, on a Dask LocalCluster: symexpr against the
same program written with Dask's own NumPy-backed array operations, in one run, on one cluster.

    python benchmarks/dask_scale.py                 # 2e9 float32 elements per input: writes
                                                    # benchmarks/results/dask_scale.{json,md}
    python benchmarks/dask_scale.py --size 2e7 --no-write   # a quick look

The inputs (two float32 arrays of `--size` elements each, 8 GB each at 2e9) are generated on the
workers with dask.array.random, chunk by chunk, and never held whole anywhere: the program ends in a
sum along each row, so what comes back is one float32 per row. Both peers run on the same cluster
(two worker processes, one thread each, on 127.0.0.1), one after the other, on the same random
chunks (the same seed); their row sums are checked to agree. Peak memory per worker is the worker
process's largest resident set seen by the scheduler's heartbeats (every ~0.5 s) during the peer's
run. Nothing is asserted on time; the target is the ratio: symexpr at least 2x Dask's own operations.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import dask.array as da
from distributed import Client, LocalCluster

import symexpr as sx

SOURCE = """y = sin(a) * b + cos(b) * a
z = sqrt(abs(y)) * exp(-0.5 * a * a)
s = sum(z, axis=1)"""

COLS = 10_000


def inputs(size: float, rows_per_chunk: int):
    rows = int(size) // COLS
    rng = da.random.default_rng(2026)
    chunks = (rows_per_chunk, COLS)
    a = rng.random((rows, COLS), dtype=np.float32, chunks=chunks)
    b = rng.random((rows, COLS), dtype=np.float32, chunks=chunks)
    return a, b


def with_dask(a, b):
    y = da.sin(a) * b + da.cos(b) * a
    z = da.sqrt(da.abs(y)) * da.exp(-0.5 * a * a)
    return z.sum(axis=1)


class PeakMemory:
    """The largest memory each worker reported while the block ran (scheduler heartbeats)."""

    def __init__(self, client: Client):
        self.client, self.peak, self._stop = client, {}, threading.Event()

    def _poll(self):
        while not self._stop.is_set():
            for addr, w in self.client.scheduler_info(n_workers=-1)["workers"].items():
                self.peak[addr] = max(self.peak.get(addr, 0), w["metrics"]["memory"])
            time.sleep(0.25)

    def __enter__(self):
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run(client: Client, make, label: str) -> dict:
    with PeakMemory(client) as mem:
        t0 = time.perf_counter()
        result = client.compute(make(), sync=True)
        seconds = time.perf_counter() - t0
    peaks = sorted(mem.peak.values())
    print(f"{label:>24}: {seconds:8.2f} s, peak memory per worker {', '.join(f'{p / 2**30:.2f} GiB' for p in peaks)}",
          flush=True)
    return {"seconds": seconds, "peak_worker_bytes": peaks, "result": result}


def _engines_chosen() -> list[str]:
    """On a worker: the engines its stage programs' default backend chose (per chunk shape)."""
    from symexpr.dask import tasks

    return [e for p in tasks._PROGRAMS.values() for e in getattr(p._engine, "decisions", {}).values()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=2e9, help="elements per input (default 2e9)")
    parser.add_argument("--rows-per-chunk", type=int, default=1_000, help="rows per chunk (x 10,000 columns)")
    parser.add_argument("--pocl-threads", type=int, default=1,
                        help="PoCL's threads in each worker (POCL_MAX_PTHREAD_COUNT); 0: PoCL's default")
    parser.add_argument("--backend", default="auto", choices=("auto", "opencl", "numpy"),
                        help="the program's backend (default: the default, auto)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    args.pocl_threads = args.pocl_threads or None

    prog = sx.compile(SOURCE, backend=args.backend)
    # One Dask thread per worker process, and one PoCL thread behind it: two workers on two cores,
    # for both peers alike (PoCL's default, a thread per core in every worker, oversubscribes them).
    env = {} if args.pocl_threads is None else {"POCL_MAX_PTHREAD_COUNT": str(args.pocl_threads)}
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, memory_limit="10GiB", env=env)
    client = Client(cluster)
    try:
        a, b = inputs(args.size, args.rows_per_chunk)
        print(f"{a.size:.3g} float32 elements per input ({a.nbytes / 2**30:.1f} GiB each), "
              f"{a.npartitions} chunks of {a.chunksize}", flush=True)
        # The workers build the stage's kernels once (or load them from their disk cache), and the
        # default backend times its two engines at a chunk shape's first call: a warm-up on a slice
        # of the same arrays (six chunks, so that both workers get some), for both peers alike.
        head = slice(0, 6 * args.rows_per_chunk)
        client.compute([prog(a=a[head], b=b[head]), with_dask(a[head], b[head])], sync=True)
        load_before = os.getloadavg()
        ours = run(client, lambda: prog(a=a, b=b), "symexpr")
        theirs = run(client, lambda: with_dask(a, b), "dask.array (NumPy)")
        load_after = os.getloadavg()
        engines = sorted({e for w in client.run(_engines_chosen).values() for e in w})
        print(f"engines the workers' stage programs chose: {', '.join(engines)}; load average "
              f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (2 cores)", flush=True)
    finally:
        client.close()
        cluster.close()
    agree = bool(np.allclose(ours["result"], theirs["result"], rtol=1e-4))
    ratio = theirs["seconds"] / ours["seconds"]
    print(f"symexpr is {ratio:.2f}x dask.array's own operations; results agree: {agree}")
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()}, shared with other work during the run",
        "program": SOURCE, "backend": args.backend,
        "elements_per_input": int(a.size), "bytes_per_input": int(a.nbytes), "chunks": int(a.npartitions),
        "chunk_shape": list(a.chunksize),
        "cluster": "LocalCluster: 2 worker processes x 1 thread, 127.0.0.1, PoCL threads per worker: "
                   + (str(args.pocl_threads) if args.pocl_threads else "PoCL's default (one per core)"),
        "symexpr_seconds": ours["seconds"], "dask_seconds": theirs["seconds"], "ratio": ratio,
        "symexpr_peak_worker_bytes": ours["peak_worker_bytes"],
        "dask_peak_worker_bytes": theirs["peak_worker_bytes"], "results_agree": agree,
        "engines_chosen_on_workers": engines, "load_average_1min": [load_before[0], load_after[0]],
    }
    if not args.no_write:
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "dask_scale.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "dask_scale.md").write_text(render(report))
        print(f"wrote {out / 'dask_scale.md'}")
    return 0 if agree else 1


def render(r: dict) -> str:
    gib = lambda xs: ", ".join(f"{x / 2**30:.2f}" for x in xs)  # noqa: E731
    return f"""# A program on a Dask LocalCluster, beyond this machine's memory

{r['date']}; {r['machine']}; {r['cluster']}.

```
{r['program']}
```

Two float32 inputs of {r['elements_per_input']:.3g} elements each ({r['bytes_per_input'] / 2**30:.1f} GiB each,
{2 * r['bytes_per_input'] / 2**30:.1f} GiB together on a 24 GiB machine), {r['chunks']} chunks of
{r['chunk_shape'][0]} x {r['chunk_shape'][1]}, generated on the workers with `dask.array.random`; the
result is one sum per row.

| peer | time (s) | peak memory per worker (GiB) |
| --- | ---: | --- |
| symexpr: `prog(a=a, b=b)`, backend={r['backend']} | {r['symexpr_seconds']:.1f} | {gib(r['symexpr_peak_worker_bytes'])} |
| dask.array on NumPy: `da.sin(a) * b + ...` | {r['dask_seconds']:.1f} | {gib(r['dask_peak_worker_bytes'])} |

symexpr: **{r['ratio']:.2f}x** the speed of Dask's own operations (both times include generating the
random inputs on the workers). Row sums agree (rtol 1e-4): {r['results_agree']}. The engine the
workers' default backend chose for the stage: {', '.join(r['engines_chosen_on_workers'])}. The
machine has 2 cores and was shared with other work: its 1-minute load average was
{r['load_average_1min'][0]:.1f} before the timed runs and {r['load_average_1min'][1]:.1f} after.
"""


if __name__ == "__main__":
    raise SystemExit(main())

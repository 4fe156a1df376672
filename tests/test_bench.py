"""The benchmark's short mode, as CI runs it: the schema of its JSON, and every symexpr result agreeing
with NumPy. Nothing here asserts on time."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from symexpr.bench import main
from symexpr.bench.cases import CASES, Case, make_data, numexpr_function, numpy_function
from symexpr.bench.cells import OVERHEAD_N, Bench, Settings, run_cell, run_out
from symexpr.bench.compile_times import fresh_source
from symexpr.bench.measure import Broken, engine_that_ran, measure
from symexpr.bench.opencl_peers import GEOMETRY_CHUNKS_PER_UNIT, GEOMETRY_SMALL, launch_geometry
from symexpr.bench.report import README_MARKER, fmt_n, update_readme
from symexpr.bench.runner import SCHEMA

pytest.importorskip("numexpr")


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    code = main(["--short", "--quiet", "--output", str(out)])
    results = json.loads((out / "short.json").read_text())
    markdown = (out / "short.md").read_text()
    return code, results, markdown


def _is_time(stats: dict) -> bool:
    return ("error" in stats) or (stats["min"] > 0 and stats["median"] >= stats["min"]
                                  and math.isfinite(stats["median"]))


def test_short_mode_exits_cleanly_and_everything_agrees_with_numpy(short_run):
    code, results, _ = short_run
    assert results["all_checks_ok"], results["failed_checks"]
    assert code == 0
    for cell in results["cells"] + results["overhead"]:
        check = cell["checks"]["sx"]
        assert check["ok"], (cell["program"], cell["n"], check)
        assert check["mode"] == ("exact" if _program(results, cell["program"])["exact"] else "allclose")
        assert cell["checks"]["sx_numpy"]["ok"], (cell["program"], cell["n"])
        if "sx_cl" in cell["checks"]:  # backend="opencl" forced
            assert cell["checks"]["sx_cl"]["ok"], (cell["program"], cell["n"], cell["checks"]["sx_cl"])
        if "hand" in cell["checks"]:  # the reference kernels must be right too, or the ratio means nothing
            assert cell["checks"]["hand"]["ok"], (cell["program"], cell["n"], cell["checks"]["hand"])
    for run in results["out_runs"]:
        if run["supported"]:
            assert run["check"]["ok"], run["program"]
            if "check_cl" in run:
                assert run["check_cl"]["ok"], (run["program"], run["check_cl"])
        else:
            assert run["error"]


def _program(results, name):
    return next(p for p in results["programs"] if p["name"] == name)


def test_json_schema(short_run):
    _, r, _ = short_run
    assert r["schema"] == SCHEMA and r["mode"] == "short"
    for key in ("date", "machine", "opencl", "settings", "programs", "cells", "out_runs", "overhead", "compile",
                "targets", "elapsed_seconds", "warnings"):
        assert key in r, key
    versions = r["machine"]["versions"]
    assert {"numpy", "numexpr", "pyopencl", "python"} <= set(versions)
    assert r["settings"]["sizes"] == [10, 1_000, 100_000] and r["settings"]["dtypes"] == ["float32"]
    assert {p["name"] for p in r["programs"]} == {c.name for c in CASES}
    # One cell per program and size, each with the peers that always exist and what they report.
    assert len(r["cells"]) == len(CASES) * 3
    for cell in r["cells"]:
        assert cell["backend"] in ("numpy", "opencl")
        assert cell["engine"] in ("numpy", "opencl")  # what the default backend actually ran
        if cell["n"] <= 4096:
            assert cell["engine"] == "numpy"  # auto's rule: no kernel launch for small calls
        assert cell["bytes"] > 0
        for peer in ("sx", "sx_numpy", "numpy", "numexpr", "copyto"):
            assert _is_time(cell["times"][peer]), (peer, cell["times"][peer])
        for peer in ("numpy", "numexpr"):
            assert cell["speedup"][peer] > 0
        assert cell["gbps"]["sx"] > 0
    hand = {c["program"] for c in r["cells"] if "hand" in c["times"]}
    if r["opencl"]:
        assert hand == {c.name for c in CASES if c.hand}
        assert all("copy_cl" in c["times"] and c["copy_fraction"] > 0 for c in r["cells"])
        for c in r["cells"] + r["overhead"]:
            assert _is_time(c["times"]["sx_cl"]) and "min" in c["times"]["sx_cl"]
            assert c["copy_fraction_cl"] > 0 and c["speedup_cl"]["numpy"] > 0
            assert c["times"]["copy_cl"]["variant"] in ("plain", "nontemporal")
            assert "min" in c["times"]["copy_cl_plain"]
        for c in r["overhead"]:
            assert "min" in c["times"]["sx_out"] and "min" in c["times"]["sx_cl_out"]
        for o in r["out_runs"]:
            assert o["copy_fraction_cl"] > 0 and "min" in o["times"]["sx_cl_out"]
    memory_bound = [c.name for c in CASES if c.kind == "memory"]
    assert [o["program"] for o in r["out_runs"]] == memory_bound
    assert all(isinstance(o["supported"], bool) for o in r["out_runs"])
    assert {c["n"] for c in r["overhead"]} == {OVERHEAD_N}
    comp = r["compile"]
    assert comp["backends"] == (["auto", "opencl"] if r["opencl"] else ["auto"])
    for backend in comp["backends"]:
        part = comp[backend]
        assert part["new_program_total"]["min"] > 0 and len(part["processes"]) == 2
        assert part["in_process"][0]["engine"] == ("numpy" if backend == "auto" else "opencl")  # n = 1000
        for p in part["processes"]:
            assert "error" not in p, p
            assert p["backend"] in ("numpy", "opencl") and p["engine"] in ("numpy", "opencl")
    ids = {t["id"] for t in r["targets"]}
    assert {"fused_vs_numpy", "fused_vs_numexpr", "vs_hand", "out_bandwidth", "transcendental",
            "small_vs_numexpr", "small_vs_numpy", "overhead", "compile_new", "compile_cached"} <= ids
    for t in r["targets"]:
        assert t["met"] in (True, False, None)
        assert t["uses"]  # which symexpr column the figure comes from


def test_markdown_has_the_tables(short_run):
    _, r, md = short_run
    assert "## Summary of the targets" in md and "## float32" in md
    assert "## Per-call overhead" in md and "## Compile times" in md and "## Preallocated output" in md
    # The latency rows run in the full mode only (tests/test_bench_latency.py runs them small).
    assert "skipped" in r["latency"] and "## Latency" in md
    assert "| program | n | engine | symexpr | sx CL |" in md and "| target | threshold | measured | status | column |" in md
    assert r["machine"]["cpu"] in md


def test_every_case_is_the_same_computation_for_numpy_and_numexpr():
    """The NumPy and numexpr peers are made from the symexpr source: they must compute the same values."""
    data = make_data(257, "float64", 1)
    for case in CASES:
        args = [data[x] for x in case.inputs]
        want = numpy_function(case)(*args)
        inputs = {x: data[x] for x in case.inputs}
        for inline in (False, True):
            got = numexpr_function(case, "float64", inline=inline)(inputs)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=case.name)


def test_numexpr_keeps_float32():
    case = next(c for c in CASES if "0.5" in c.source)
    data = make_data(64, "float32", 2)
    got = numexpr_function(case, "float32")({x: data[x] for x in case.inputs})
    assert all(g.dtype == np.float32 for g in got)


def test_fresh_sources_differ_and_parse():
    a, b = fresh_source("0123456789ab"), fresh_source("ba9876543210")
    assert a != b
    assert len(Case("x", a).outputs) == 2


def test_measure_reports_errors_without_stopping():
    def broken():
        raise RuntimeError("no")
    times = measure({"ok": lambda: None, "bad": broken}, repeats=2, target=1e-4)
    assert times["bad"]["error"].startswith("RuntimeError")
    assert times["ok"]["repeats"] == 2 and times["ok"]["min"] > 0


def test_out_unsupported_is_recorded(monkeypatch):
    """A backend that refuses `out=` is recorded as unsupported, with its error, not a crash."""
    case = CASES[0]

    class NoOut:
        backend = "fake"

        def __call__(self, out=None, **inputs):
            if out is not None:
                raise TypeError("out= is not supported")
            return inputs["a"] + inputs["b"]

    b = Bench(Settings(repeats=2, target=1e-4, quiet=True), (case,))
    b.programs[(case.name, "auto")] = NoOut()
    data = make_data(100, "float32", 3)
    record = run_out(b, case, "float32", 100, data, None)
    assert record["supported"] is False and "TypeError" in record["error"]


def test_readme_summary_replaces_what_follows_the_marker(tmp_path, short_run):
    _, results, _ = short_run
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{README_MARKER}\nold figures\n")
    update_readme(readme, results)
    text = readme.read_text()
    assert text.startswith("# title\n") and "old figures" not in text
    assert "| target | threshold | measured | status | column | where |" in text


def test_sizes_print_as_powers_of_ten():
    assert [fmt_n(n) for n in (10, 16, 1000, 10**7, 5 * 10**7)] == ["1e1", "16", "1e3", "1e7", "5e7"]


def test_a_program_that_does_not_compile_is_a_failed_cell_not_a_crash():
    case = Case("broken", "r = a + b")
    b = Bench(Settings(repeats=2, target=1e-4, quiet=True), (case,))
    b.programs[(case.name, "auto")] = Broken("compile failed: boom")
    cell = run_cell(b, case, "float32", 10, make_data(10, "float32", 4))
    assert not cell["checks"]["sx"]["ok"] and "boom" in cell["times"]["sx"]["error"]
    assert cell["backend"] == "error" and cell["engine"] == "error" and "min" in cell["times"]["numpy"]


@pytest.mark.parametrize("n", [1, 7, 8, 1000, 4096 * 8 - 1, 4096 * 8, 100_003, 10**7])
@pytest.mark.parametrize("width", [1, 4, 8])
def test_launch_geometry_covers_every_element_once(n, width):
    """The hand and copy kernels' chunks: whole vectors, every element in exactly one chunk, no empty one."""
    chunk, groups, local = launch_geometry(n, width, units=2, is_cpu=True)
    assert local == (1,) and chunk % width == 0
    assert (groups - 1) * chunk < n <= groups * chunk
    assert groups == 1 if n < GEOMETRY_SMALL * width else groups <= GEOMETRY_CHUNKS_PER_UNIT * 2
    chunk, groups, local = launch_geometry(n, width, units=2, is_cpu=False)
    assert local is None and chunk == width and groups * width >= n


def test_engine_that_ran_falls_back_to_the_backend():
    class Plain:
        backend = "numpy"

    class Auto:
        backend = "opencl"

        class _engine:  # noqa: N801 - stands for AutoEngine
            @staticmethod
            def engine_for(values):
                return "numpy" if values["a"].size <= 4096 else "opencl"
    assert engine_that_ran(Plain(), {"a": np.ones(3)}) == "numpy"
    assert engine_that_ran(Auto(), {"a": np.ones(3)}) == "numpy"
    assert engine_that_ran(Auto(), {"a": np.ones(5000)}) == "opencl"


def test_compile_scaling_benchmark_runs_on_small_programs(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "compile_scaling.py"
    spec = importlib.util.spec_from_file_location("compile_scaling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--sizes", "50,100", "--no-write"]) == 0
    text = capsys.readouterr().out
    assert "| 50 |" in text and "| 100 |" in text
    # the generated program is a real one: it compiles and runs
    import symexpr as sx

    prog = sx.compile(module.generated_program(30), backend="numpy")
    a = np.linspace(1, 2, 5)
    results = prog(**{n: a for n in prog.inputs})
    assert all(np.shape(r) == (5,) for r in (results if isinstance(results, tuple) else (results,)))

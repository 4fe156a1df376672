"""The benchmark's latency rows, run small: a loop over changing shapes, a new program's first call,
a cold process. Their JSON and markdown, with sane values; nothing here asserts on speed."""
from __future__ import annotations

import math

import pytest

from symexpr.bench.cells import Bench, Settings
from symexpr.bench.latency import SHAPE_HIGH, SHAPE_LOW, run_latency
from symexpr.bench.report import latency_tables
from symexpr.bench.targets import latency_targets

pytest.importorskip("numexpr")

SIZES = 4


@pytest.fixture(scope="module")
def latency():
    settings = Settings(compile_tries=1, cold_tries=1, shape_sizes=SIZES, first_call_n=20_000, quiet=True)
    return run_latency(Bench(settings, ()))


def _positive(x) -> bool:
    return isinstance(x, float) and x > 0 and math.isfinite(x)


def test_shape_loop(latency):
    loop = latency["shape_loop"]
    assert "error" not in loop, loop
    assert sorted(loop["sizes"]) == sorted(set(loop["sizes"])) and len(loop["sizes"]) == SIZES
    assert SHAPE_LOW <= min(loop["sizes"]) and max(loop["sizes"]) <= SHAPE_HIGH
    assert loop["calls"] == 2 * SIZES
    assert all(_positive(t) for t in loop["first_call"] + loop["known_call"])
    assert _positive(loop["known_median"])
    assert len(loop["extra_first_two"]) == 2
    assert math.isfinite(loop["extra_median"]) and math.isfinite(loop["extra_median_all"])
    assert sum(loop["engines"].values()) == SIZES and set(loop["engines"]) <= {"numpy", "opencl"}
    assert len(loop["decided_by_model"]) == SIZES and sum(loop["decided_by_model"]) == loop["predicted"]
    if loop["engines_available"] == "numpy":  # no OpenCL device: nothing to choose between
        assert loop["engines"] == {"numpy": SIZES} and loop["predicted"] == loop["measured"] == 0
        return
    # Every size above auto's small limit is decided once: by the cost model or by timing both engines.
    assert loop["predicted"] + loop["measured"] == SIZES
    # The cost model needs two sizes timed on both engines before it predicts: the warm-up's and one more.
    assert loop["measured"] >= 1
    assert loop["decided_by_model"][:1] == [False]
    if loop["predicted"]:
        assert math.isfinite(loop["extra_median_predicted"])


def test_first_call(latency):
    first = latency["first_call"]
    assert "error" not in first, first
    assert first["n"] == 20_000 and len(first["tries"]) == 1
    for key in ("total", "numpy_engine_call", "second_call", "ratio"):
        assert _positive(first[key]), key
    t = first["tries"][0]
    assert t["total"] == pytest.approx(t["compile"] + t["first_call"])
    assert first["over_numpy"] == pytest.approx(first["total"] - first["numpy_engine_call"])
    assert t["engine"] in ("numpy", "opencl")


def test_cold_process(latency):
    cold = latency["cold_process"]
    for peer in ("symexpr", "numexpr"):
        assert "error" not in cold[peer], cold[peer]
        assert _positive(cold[peer]["wall"]) and _positive(cold[peer]["work"])
        assert cold[peer]["wall"] > cold[peer]["work"]  # the process includes Python's start and NumPy's import
    parts = [cold["symexpr"][k] for k in ("import", "compile", "call")]
    assert all(_positive(p) for p in parts)
    assert sum(parts) == pytest.approx(cold["symexpr"]["work"], rel=0.5)  # (medians of one try: equal)
    # A small call stays on the NumPy engine: pyopencl is not imported.
    assert cold["symexpr"]["pyopencl_imported"] is False
    assert cold["numexpr"]["pyopencl_imported"] is False
    assert _positive(cold["wall_ratio"]) and _positive(cold["work_ratio"])


def test_latency_report_and_targets(latency):
    md = "\n".join(latency_tables(latency))
    assert "## Latency" in md and "error" not in md
    assert "new shapes decided by the cost model / measured" in md and "| symexpr / numexpr |" in md
    targets = {t["id"]: t for t in latency_targets(latency)}
    assert set(targets) == {"new_shape", "first_call_auto", "cold_process", "cold_process_ms"}
    for t in targets.values():
        assert t["value"] is not None and t["met"] in (True, False), t
    # Not measured (the short mode, or an older JSON): every target says so, nothing raises.
    assert all(t["met"] is None for t in latency_targets({}))
    assert latency_tables({"skipped": "full mode only"}) == ["## Latency", "", "full mode only.", ""]

"""Every conformance test runs on every backend: the NumPy engine (the reference) and OpenCL."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

BACKENDS = ["numpy", "opencl"]

# The OpenCL engine computes small steps of a kernel plan with NumPy on the host (faster than a
# launch); the suite's arrays are small, so it turns that off to test the kernels themselves.
# tests/test_reductions.py tests the host steps with the default limits.
from symexpr.backends.opencl import plan as _plan  # noqa: E402

_plan.HOST_ELEMENTS = _plan.HOST_ELEMENTS_ACROSS_ROWS = 0

# backend="auto" builds kernels in a background process while the NumPy engine runs the first calls;
# the suite builds them in the call, so that which engine ran a call does not depend on timing.
# tests/test_background_builds.py tests the background builds.
os.environ["SYMEXPR_BACKGROUND_BUILDS"] = "0"


def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run the exact-operation fuzzer on 2,000 programs instead of a short sample")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend a test compiles its programs for."""
    return request.param


@pytest.fixture
def own_builder(monkeypatch, tmp_path):
    """Background builds on, with a disk cache and a builder of the test's own (no kernel is found built,
    nothing is written to the user's cache); the worker stopped after. Yields the test's folder."""
    from symexpr.backends import background

    monkeypatch.setenv("SYMEXPR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SYMEXPR_BACKGROUND_BUILDS", "1")
    monkeypatch.setattr(background, "_builder", None)
    yield tmp_path
    if background._builder is not None:
        background._stop(background._builder.proc, kill=True)

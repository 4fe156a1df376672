"""Every conformance test runs on every backend: the NumPy engine (the reference) and OpenCL."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

BACKENDS = ["numpy", "opencl"]


def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run the exact-operation fuzzer on 2,000 programs instead of a short sample")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend a test compiles its programs for."""
    return request.param

"""Every conformance test runs on every backend: the NumPy engine (the reference) and OpenCL."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

BACKENDS = ["numpy", "opencl"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend a test compiles its programs for."""
    return request.param

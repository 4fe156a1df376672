"""The OpenCL runtime: devices, command queues, what the engine knows of a device, and the binary
cache (each built kernel stored on disk with its length and checksum, so a later process loads it)."""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import pyopencl as cl

from ...cache import cache_dir
from ...errors import BackendError, DTypeError
from ...graph import statement_text
from .c_complex import OPS as COMPLEX_IN_DOUBLE

MF = cl.mem_flags


# -- devices ------------------------------------------------------------------------------------

def devices() -> list:
    """Every OpenCL device found, over all platforms (empty without a platform)."""
    try:
        platforms = cl.get_platforms()
    except cl.Error:
        return []
    found = []
    for p in platforms:
        try:
            found += p.get_devices()
        except cl.Error:
            continue
    return found


def _queue_for(device) -> "cl.CommandQueue":
    """A command queue from a Device, Context, CommandQueue, or the default (PYOPENCL_CTX, else the first device)."""
    if isinstance(device, cl.CommandQueue):
        return device
    if isinstance(device, cl.Context):
        return cl.CommandQueue(device)
    if isinstance(device, cl.Device):
        return cl.CommandQueue(cl.Context([device]))
    if device is not None:
        raise BackendError(f"device= takes a pyopencl Device, Context or CommandQueue, not {type(device).__name__}")
    return _default_queue()


_default = None
_default_lock = threading.Lock()


def _default_queue():
    global _default
    with _default_lock:
        if _default is None:
            found = devices()
            if not found:
                raise BackendError("no OpenCL platform or device found (install pyopencl[pocl] for a CPU device)")
            try:
                if os.environ.get("PYOPENCL_CTX"):
                    ctx = cl.create_some_context(interactive=False)
                else:
                    ctx = cl.Context([found[0]])
            except cl.Error as err:
                raise BackendError(f"cannot create an OpenCL context: {err}") from None
            _default = cl.CommandQueue(ctx)
        return _default


@dataclass
class DeviceInfo:
    """What the engine needs to know of a device, read once."""

    is_cpu: bool
    fp64: bool
    widths: dict
    units: int
    build_options: tuple
    cache_key: str
    cache_bytes: int = 0  # the device's global memory cache (the last level, on a CPU)
    max_alloc: int = 0    # the largest buffer the device makes (PoCL: a share of the RAM); 0: no limit known


_device_info: dict = {}


def _info(device) -> DeviceInfo:
    key = device.int_ptr
    if key not in _device_info:
        is_cpu = bool(device.type & cl.device_type.CPU)
        fp64 = "cl_khr_fp64" in device.extensions or bool(getattr(device, "double_fp_config", 0))
        # PoCL's SLEEF gives vector transcendentals only for explicit vector types. The pip PoCL
        # 3.0-rc2 reports native widths of 16 floats and 8 doubles on this AVX2 EPYC, but a sin
        # kernel on float16 or double8 builds with no kernel in it (and the process then aborts
        # at exit), so widths are capped at 8 floats and 4 doubles, which work and are fast.
        wf = min(max(device.native_vector_width_float, 1), 8)
        wd = min(max(device.native_vector_width_double, 1), 4) if fp64 else 1
        options = []
        if device.single_fp_config & cl.device_fp_config.CORRECTLY_ROUNDED_DIVIDE_SQRT:
            options.append("-cl-fp32-correctly-rounded-divide-sqrt")
        ident = "|".join([device.platform.name, device.platform.version, device.name, device.version,
                          device.driver_version, cl.VERSION_TEXT])
        _device_info[key] = DeviceInfo(is_cpu, fp64, {"float32": wf, "float64": wd},
                                       device.max_compute_units, tuple(options), ident,
                                       int(getattr(device, "global_mem_cache_size", 0) or 0),
                                       int(getattr(device, "max_mem_alloc_size", 0) or 0))
    return _device_info[key]


def refuse_without_fp64(graph, kinds: dict, engine) -> None:
    """A DTypeError at the first value the kernels would compute in double on a device without fp64:
    float64, complex128 (double2), and complex64's functions (c_complex.py computes them in double)."""
    if engine.info.fp64:
        return
    device = engine.device.name.strip()
    for node in graph.nodes:
        kind = kinds[node]
        if kind.weak:
            continue
        where = statement_text(graph.source, node) or "the program"
        if kind.dtype.name == "float64":
            raise DTypeError(f"{where}: float64 is not supported by the OpenCL device {device}; cast to float32")
        if kind.dtype.name == "complex128" or (kind.dtype.name == "complex64" and node.op in COMPLEX_IN_DOUBLE):
            what = "complex128" if kind.dtype.name == "complex128" else f"complex64 {node.op}"
            raise DTypeError(f"{where}: {what} needs float64, which is not supported by the OpenCL device "
                             f"{device}; backend=\"numpy\" computes it")


# -- the binary cache -----------------------------------------------------------------------------

class KernelNotBuilt(Exception):
    """A kernel the call needs is neither built in this process nor on disk, and builds are off."""


_builds_allowed = contextvars.ContextVar("symexpr_builds_allowed", default=True)


@contextlib.contextmanager
def built_kernels_only():
    """Within it (this thread only), a kernel that would have to be compiled raises KernelNotBuilt
    instead: backend="auto" runs such a call on the NumPy engine and builds in the background."""
    token = _builds_allowed.set(False)
    try:
        yield
    finally:
        _builds_allowed.reset(token)


def build_program(ctx, device, source: str, options: list[str]):
    """Build `source`, from a stored binary when this device built it before (pyopencl does not cache for PoCL).

    Returns (program, binary path or None): the caller stores the binary after the first launch,
    when PoCL has also compiled the work-group function, so a warm process skips both.
    """
    info = _info(device)
    key = hashlib.sha256("\0".join([info.cache_key, " ".join(options), source]).encode()).hexdigest()
    base = cache_dir("opencl")
    path = base / f"{key}.bin" if base is not None else None
    if path is not None and path.exists():
        try:
            binary = _checked_entry(path.read_bytes())
            if binary is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    prg = cl.Program(ctx, [device], [binary]).build(options=options)
                return prg, None
        except (cl.Error, OSError):
            pass  # a stale or broken entry: build from source and store it again
    if not _builds_allowed.get():
        raise KernelNotBuilt(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyopencl warns about build logs
            prg = cl.Program(ctx, source).build(options=options)
    except cl.RuntimeError as err:
        raise BackendError(f"the OpenCL compiler rejected the generated kernel:\n{err}\n\n{source}") from None
    return prg, path


# A cache entry is this header, the binary's length and SHA-256, then the binary. The driver is
# never handed bytes that do not match: PoCL dies with SIGSEGV on a truncated binary (a full disk,
# a killed copy, a sync tool), where a broken entry must only mean a rebuild.
_ENTRY_MAGIC = b"symexpr-cl-binary-1\n"


def _checked_entry(data: bytes) -> bytes | None:
    """The binary held by a cache entry, or None when the entry is damaged or of another format."""
    head = len(_ENTRY_MAGIC) + 8 + 32
    if len(data) < head or not data.startswith(_ENTRY_MAGIC):
        return None
    size = int.from_bytes(data[len(_ENTRY_MAGIC):len(_ENTRY_MAGIC) + 8], "little")
    digest = data[len(_ENTRY_MAGIC) + 8:head]
    binary = data[head:]
    if len(binary) != size or not size or hashlib.sha256(binary).digest() != digest:
        return None
    return binary


def _entry(binary: bytes) -> bytes:
    return _ENTRY_MAGIC + len(binary).to_bytes(8, "little") + hashlib.sha256(binary).digest() + binary


def store_binary(prg, path: Path) -> None:
    try:
        binary = prg.get_info(cl.program_info.BINARIES)[0]
        if not binary:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:  # complete on disk before it takes the entry's name
            f.write(_entry(binary))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (cl.Error, OSError):
        pass  # a cache that cannot be written is only slower



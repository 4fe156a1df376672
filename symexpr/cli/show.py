"""`symexpr show` (a program's optimized graph, kernel, DOT text or the optimizer's report) and
`symexpr devices` (the OpenCL devices)."""
from __future__ import annotations

import numpy as np

from .data import UsageError, compile_program, gather_inputs, program_inputs


def example_inputs(prog, dtype: str, size: int) -> dict[str, np.ndarray]:
    """Small arrays of one dtype for every input: enough to specialize a kernel."""
    rng = np.random.default_rng(0)
    return {n: (rng.random(size) * 8 - 4).astype(dtype) for n in prog.inputs}


def kernel_source(prog, dtype: str | None) -> str | None:
    """The kernel's source; with a dtype, the one specialized for contiguous inputs of that dtype."""
    if prog.backend == "numpy":
        return None
    if dtype is not None or prog.kernel_source is None:
        try:
            np.dtype(dtype or "float32")
        except TypeError:
            raise UsageError(f"--dtype {dtype}: not a NumPy dtype") from None
        prog.run(example_inputs(prog, dtype or "float32", 64))
    return prog.kernel_source


def cmd_show(args) -> int:
    prog = compile_program(args)
    inputs = gather_inputs(args.inputs, program_from_stdin=args.program == "-") if args.inputs else None
    if inputs is not None:
        inputs = program_inputs(prog, inputs, " for the signature")
    if args.what == "kernel":
        if inputs is not None and prog.backend != "numpy":
            prog.run(inputs)  # specialize for these inputs' dtypes and layout
            src = prog.kernel_source
        else:
            src = kernel_source(prog, args.dtype)
        if src is None:
            raise UsageError(f"no kernel to show: the program runs on the {prog.backend} engine "
                             "(no OpenCL device; see `symexpr devices`)")
        print(src)
    elif args.what == "dot":
        print(prog.to_dot(show_removed=args.removed), end="")
    elif args.what == "explain":
        print(prog.explain(**inputs) if inputs is not None else prog.explain())
    else:
        print(prog.graph)
    return 0


def describe_device(dev) -> str:
    def get(attr, default="?"):
        try:
            return getattr(dev, attr)
        except Exception:  # noqa: BLE001 - pyopencl raises its own errors for unsupported queries
            return default

    try:
        import pyopencl as cl
        kind = cl.device_type.to_string(get("type", 0))
    except Exception:  # noqa: BLE001
        kind = "?"
    mem = get("global_mem_size", 0)
    fp64 = "fp64" if "cl_khr_fp64" in str(get("extensions", "")) or get("double_fp_config", 0) else "no fp64"
    platform = get("platform", None)
    pname = getattr(platform, "name", "?") if platform is not None else "?"
    return (f"{get('name').strip()}  [{kind}; {pname.strip()}; {get('max_compute_units')} compute units; "
            f"{mem / 2**30:.1f} GiB; {fp64}]")


def cmd_devices(args) -> int:
    import symexpr as sx

    devs = sx.devices()
    if not devs:
        print("no OpenCL device found: symexpr runs programs with the NumPy engine")
        return 0
    for k, dev in enumerate(devs):
        print(f"{k}: {describe_device(dev)}")
    return 0

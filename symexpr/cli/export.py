"""`symexpr export`: a program written to run without Python: a program file (json), ONNX or C."""
from __future__ import annotations

from pathlib import Path

from .data import UsageError, compile_program, load_path


def cmd_export(args) -> int:
    """Write the program as a program file (json), an ONNX model (onnx) or C sources (c) into -o DIR."""
    import symexpr as sx

    if args.program.lower().endswith(".json") and Path(args.program).is_file():
        prog = sx.load(args.program)
    else:
        prog = compile_program(args)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {args.output}: not a directory")
    signature = {}
    for spec in args.inputs:
        name, eq, value = spec.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--in {spec}: give NAME=DTYPE[DIMS], as a=float32[1000] or a=float64[n, 3]")
        signature[name.strip()] = value.strip()
    if args.format != "json" and args.params:
        raise UsageError("--param is for --format json: save the program with its parameters, then export "
                         "the saved .json file to onnx or c")
    params = {}
    for spec in args.params:
        name, eq, value = spec.partition("=")
        if not eq or not value.lower().endswith(".npy"):
            raise UsageError(f"--param {spec}: give NAME=FILE.npy")
        params[name.strip()] = load_path(Path(value.strip()))
    out.mkdir(parents=True, exist_ok=True)
    if args.format == "json":
        if signature:
            raise UsageError("--in is for --format onnx and c (a program file holds every signature)")
        written = [out / f"{args.name}.json"]
        prog.save(written[0], params=params or None)
        if params or prog.params:
            written.append(out / f"{args.name}.npz")
    elif args.format == "onnx":
        written = [out / f"{args.name}.onnx"]
        prog.to_onnx(written[0], **signature)
    else:
        from ..export.c_export import export_c
        written = list(export_c(prog, out, signature, name=args.name).values())
    for path in written:
        print(path)
    return 0

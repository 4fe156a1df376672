"""Ways out of Python for a compiled program, each reading the graph and nothing else.

- json_format.py: `Program.save` / `symexpr.load`, the program as a versioned JSON file (and its
  bound parameters as an .npz beside it).
- c_export.py: `Program.to_c`, a self-contained C99 source, header, `main.c` and Makefile.
- onnx_export.py: `Program.to_onnx`, an ONNX model for one call signature.
- signature.py: the call signature (dtypes and shapes) an export is made for.
"""

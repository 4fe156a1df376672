"""The ONNX graph being written: values with their dtypes, and NumPy's conversions in ONNX operators.

`Builder` adds ONNX nodes and constants and knows each value's dtype; `Step` is what a per-op
rendering (onnx_ops.py, onnx_structured.py) knows of the node it renders. Here too are the
onnxruntime facts every rendering works around: the dtypes its kernels lack, and -0.0 through Where.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Node, statement_text
from .signature import ExportError
F64 = np.dtype("float64")
F32 = np.dtype("float32")
BOOL = np.dtype("bool")
# Element types by dtype name (onnx.TensorProto's numbering).
ELEM = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
         "float64": 11, "uint32": 12, "uint64": 13}
# onnxruntime's float64 kernels of these are approximations, off by far more than a few ulps near
# multiples of pi (its float32 results computed through them are fine: rounded, the error vanishes).
INEXACT_DOUBLE = frozenset(("Sin", "Cos"))
# onnxruntime has no Where of these dtypes: it chooses among values of the second, cast without loss.
_WHERE_AS = {"int16": "int32", "uint16": "int32", "bool": "uint8", "uint64": "int64"}
# onnxruntime has float64 kernels for these (and float32 ones for all the functions below).
DOUBLE_KERNELS = frozenset(("Sin", "Cos", "Exp", "Log", "Sqrt", "Pow", "Tanh"))


class Builder:
    """The ONNX nodes and constants being written, each value with its dtype."""

    def __init__(self):
        self.nodes: list = []
        self.initializers: list = []
        self.dtypes: dict[str, np.dtype] = {}
        self._constants: dict[tuple, str] = {}
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}.{self._count}"

    def op(self, op_type: str, *inputs: str, dtype=None, **attrs) -> str:
        """One ONNX node; its output's dtype is `dtype`, or its first input's."""
        from onnx import helper

        if op_type == "Where" and self.dtypes[inputs[1]].name in _WHERE_AS:
            # onnxruntime has no Where of these: through a type of the same values (or bits), and back.
            t, via = self.dtypes[inputs[1]], np.dtype(_WHERE_AS[self.dtypes[inputs[1]].name])
            wide = self.op("Where", inputs[0], *[self.op("Cast", x, to=ELEM[via.name], dtype=via) for x in inputs[1:]])
            return self.op("Cast", wide, to=ELEM[t.name], dtype=t)

        if dtype is None and op_type == "Where":
            dtype = self.dtypes[inputs[1]]
            if dtype.kind == "f" and not attrs.pop("zero_safe", False):
                return self._float_where(*inputs)
        out = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        self.dtypes[out] = np.dtype(dtype) if dtype is not None else self.dtypes[inputs[0]]
        return out

    def const(self, value, dtype) -> str:
        """A 0-d constant of `dtype`, converted as NumPy's astype converts (shared by value and dtype)."""
        from onnx import numpy_helper

        dtype = np.dtype(dtype)
        with np.errstate(all="ignore"):
            array = np.array(value).astype(dtype) if not isinstance(value, np.ndarray) else value.astype(dtype)
        key = (dtype.name, array.shape, array.tobytes())
        name = self._constants.get(key)
        if name is None:
            name = self._constants[key] = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(array, name))
            self.dtypes[name] = dtype
        return name

    def _float_where(self, cond: str, a: str, b: str) -> str:
        """Where of floats keeping -0.0: onnxruntime's Where gives +0.0 for a -0.0 it takes from its
        second operand where the condition is an array (not where it is one value). So the zero's
        sign the result should have is worked out, and put back by a multiplication by -1 where the
        picked value's is not it."""
        t = self.dtypes[a]
        picked = self.op("Where", cond, a, b, zero_safe=True)
        wanted = self.op("Or", self.op("And", cond, self._negative_zero(a)),
                         self.op("And", self.op("Not", cond), self._negative_zero(b)))
        wrong = self.op("And", self.op("Equal", picked, self.const(0, t), dtype=BOOL),
                        self.op("Xor", wanted, self._negative_zero(picked)))
        sign = self.op("Where", wrong, self.const(-1, t), self.const(1, t), zero_safe=True)
        return self.op("Mul", picked, sign)

    def _negative_zero(self, x: str) -> str:
        """Whether x is -0.0 (1 / -0.0 is -inf)."""
        t = self.dtypes[x]
        zero = self.op("Equal", x, self.const(0, t), dtype=BOOL)
        return self.op("And", zero, self.op("Less", self.op("Div", self.const(1, t), x), self.const(0, t), dtype=BOOL))

    def cast(self, x: str, dtype) -> str:
        """x as `dtype`, as NumPy's astype (a float to an integer saturates, NaN gives 0, as ops.py's casts)."""
        src, dst = self.dtypes[x], np.dtype(dtype)
        if src == dst:
            return x
        if dst.kind == "b":
            return self.op("Not", self.op("Equal", x, self.const(0, src), dtype=BOOL))
        if src.kind == "f" and dst.kind in "iu":
            info = np.iinfo(dst)
            above = self.op("GreaterOrEqual", x, self.const(float(info.max) + 1, src), dtype=BOOL)
            below = self.op("LessOrEqual", x, self.const(float(info.min) - 1, src), dtype=BOOL)
            bad = self.op("Or", self.op("Or", above, below), self.op("IsNaN", x, dtype=BOOL))
            safe = self.op("Cast", self.op("Where", bad, self.const(0, src), x), to=ELEM[dst.name], dtype=dst)
            return self.op("Where", above, self.const(info.max, dst),
                           self.op("Where", below, self.const(info.min, dst), safe))
        return self.op("Cast", x, to=ELEM[dst.name], dtype=dst)

    # small compositions, named as NumPy's functions
    def where(self, cond, a, b):
        return self.op("Where", cond, a, b)

    def isnan(self, x):
        if self.dtypes[x].kind != "f":
            return self.op("Equal", x, self.op("Add", x, self.const(1, self.dtypes[x])), dtype=BOOL)  # never
        return self.op("IsNaN", x, dtype=BOOL)

    def cmp(self, op_type, a, b):
        return self.op(op_type, a, b, dtype=BOOL)

    def truth(self, x):
        return x if self.dtypes[x].kind == "b" else self.cast(x, BOOL)


@dataclass
class Step:
    """What a rendering knows of the node it renders."""

    b: Builder
    node: Node
    operands: tuple[np.dtype, ...]
    result: np.dtype
    uniform: tuple[bool, ...] = ()
    graph_source: str = ""
    exponent_kind: str = ""  # power: the kind (NumPy's letter) of the exponent before its conversion
    shape: tuple = ()        # reductions, softmax, transposes: the operand's shape

    def refuse(self, why: str):
        where = statement_text(self.graph_source, self.node)
        raise ExportError(f"{where + ': ' if where else ''}`{self.node.op}` cannot be exported to ONNX: {why}",
                          statement=self.node.statement)



def int_wrap(s: Step, op_type: str, a: str, b: str) -> str:
    """+ - * of integers wrapping as NumPy: computed in the unsigned type of the same width (onnxruntime
    computes signed overflow in C++, where it is undefined)."""
    r = s.result
    if r.kind != "i":
        return s.b.op(op_type, a, b)
    u = np.dtype(f"uint{8 * r.itemsize}")
    return s.b.op("Cast", s.b.op(op_type, s.b.op("Cast", a, to=ELEM[u.name], dtype=u),
                                 s.b.op("Cast", b, to=ELEM[u.name], dtype=u)), to=ELEM[r.name], dtype=r)


def isfinite(g: Builder, x: str) -> str:
    return g.op("Not", g.op("Or", g.op("IsNaN", x, dtype=BOOL), g.op("IsInf", x, dtype=BOOL)), dtype=BOOL)

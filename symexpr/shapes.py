"""Shape rules of the ops that are not element-wise: reductions, matrix products, transposes.

Each rule is a plain function `(operand shapes, keywords) -> result shape` that follows NumPy's own
function and raises `ValueError` with a message in NumPy's words when NumPy would refuse; the
caller (`infer.infer_shapes`) turns that into a `ShapeError` at the statement's line and column.
Element-wise ops broadcast (`np.broadcast_shapes`) and need no rule here.
"""
from __future__ import annotations

from numpy.lib.array_utils import normalize_axis_tuple


def reduced_axes(shape: tuple, axis) -> tuple[int, ...]:
    """The axes `axis` names (an int, a tuple, or None for all), non-negative and sorted."""
    if axis is None:
        return tuple(range(len(shape)))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    try:
        return tuple(sorted(normalize_axis_tuple(axes, len(shape))))
    except ValueError as err:  # AxisError is one; a repeated axis too
        raise ValueError(f"{err} (shape {shape})") from None


def reduce_shape(shapes: tuple, kw: dict) -> tuple:
    """`sum(x, axis=..., keepdims=...)` and the other reductions."""
    (shape,) = shapes
    axes = reduced_axes(shape, kw.get("axis"))
    if kw.get("keepdims"):
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def index_reduce_shape(shapes: tuple, kw: dict) -> tuple:
    """`argmax(x, axis=...)`: one axis or all of them, as np.argmax takes."""
    axis = kw.get("axis")
    if axis is not None and not isinstance(axis, int):
        raise ValueError(f"argmax and argmin take one axis (an int) or none, not a tuple (shape {tuple(shapes[0])})")
    return reduce_shape(shapes, kw)


def same_shape(shapes: tuple, kw: dict) -> tuple:
    """`softmax(x, axis=...)`: the operand's shape; the axis must exist."""
    (shape,) = shapes
    reduced_axes(shape, kw.get("axis"))
    return tuple(shape)


def matmul_shape(shapes: tuple, kw: dict) -> tuple:
    """np.matmul: 1-d operands gain and lose an axis, the batch axes broadcast, the inner ones match."""
    a, b = shapes
    if not a or not b:
        raise ValueError(f"matmul does not take a scalar (shapes {a} and {b}); use * to scale")
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul: the last axis of {a} ({a2[-1]}) does not match "
                         f"the {'only' if len(b) == 1 else 'second-to-last'} axis of {b} ({b2[-2]})")
    from numpy import broadcast_shapes

    try:
        batch = broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ValueError(f"matmul: the batch axes of {a} and {b} do not broadcast") from None
    out = tuple(batch) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def transpose_axes(shape: tuple, axes) -> tuple[int, ...]:
    """The permutation `transpose(x, axes)` applies: reversed without `axes`, as np.transpose."""
    if axes is None:
        return tuple(reversed(range(len(shape))))
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    if len(axes) != len(shape):
        raise ValueError(f"transpose: axes {axes} do not match an array of {len(shape)} dimensions (shape {shape})")
    norm = normalize_axis_tuple(axes, len(shape)) if axes else ()
    return tuple(norm)


def transpose_shape(shapes: tuple, kw: dict) -> tuple:
    (shape,) = shapes
    try:
        perm = transpose_axes(shape, kw.get("axes"))
    except ValueError as err:
        raise ValueError(str(err) if "transpose" in str(err) else f"transpose: {err} (shape {shape})") from None
    return tuple(shape[d] for d in perm)

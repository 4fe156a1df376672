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


def expand_dims_shape(shapes: tuple, kw: dict) -> tuple:
    """np.expand_dims: a 1 at each of `axis` (counted in the result's dimensions)."""
    (shape,) = shapes
    axis = kw.get("axis")
    if axis is None:
        raise ValueError(f"expand_dims needs axis= (shape {shape})")
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = len(shape) + len(axes)
    try:
        new = normalize_axis_tuple(axes, ndim)
    except ValueError as err:
        raise ValueError(f"expand_dims: {err} (shape {shape})") from None
    rest = iter(shape)
    return tuple(1 if d in new else next(rest) for d in range(ndim))


def first_shape(shapes: tuple, kw: dict) -> tuple:
    return tuple(shapes[0])


def second_shape(shapes: tuple, kw: dict) -> tuple:
    """`sum_to(g, x)`: x's shape."""
    return tuple(shapes[1])


def scalar_shape(shapes: tuple, kw: dict) -> tuple:
    return ()


def seed_shape(shapes: tuple, kw: dict) -> tuple:
    """The gradient of y with respect to itself: y must be a scalar, as jax.grad requires."""
    (shape,) = shapes
    if shape != ():
        raise ValueError(f"grad(y, x) differentiates a scalar y; this y has shape {tuple(shape)}: reduce it "
                         f"first (sum(y), mean(y)), or differentiate sum(y * dy) for the product of a "
                         f"seed dy with the Jacobian")
    return ()


def matmul_grad_shape(shapes: tuple, kw: dict) -> tuple:
    """The shape of `matmul_grad(g, a, b, operand=k)` before the generic step sums it to the operand."""
    g, a, b = (tuple(s) for s in shapes)
    if len(a) == 1 and len(b) == 1:
        return g if g else (a if kw.get("operand", 0) == 0 else b)
    if kw.get("operand", 0) == 1 and len(b) == 1:
        return matmul_shape((g[:-1] + (1,) + g[-1:], a), {})
    g2 = g[:-1] + (1,) + g[-1:] if len(a) == 1 else g
    g2 = g2 + (1,) if len(b) == 1 else g2
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if kw.get("operand", 0) == 0:
        return matmul_shape((g2, b2[:-2] + (b2[-1], b2[-2])), {})
    return matmul_shape((a2[:-2] + (a2[-1], a2[-2]), g2), {})

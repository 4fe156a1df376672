"""The caller's `out=` arrays, as every engine takes them: one entry per output (an array, a tuple
or a dict of them, by name), each checked as NumPy's ufuncs check theirs (shape, the `same_kind`
cast, writable), and results copied into them where an engine did not write there itself."""
from __future__ import annotations

import numpy as np

from ..errors import CallError, DTypeError, ShapeError
from ..graph import Graph


def out_targets(graph: Graph, out) -> list:
    """The caller's `out=` as one entry (an array or None) per output, checked for form."""
    names = graph.output_names
    if isinstance(out, dict):
        unknown = set(out) - set(names)
        if unknown:
            raise CallError(f"out= names {sorted(unknown)}, which are not outputs {list(names)}")
        return [out.get(n) for n in names]
    if isinstance(out, (tuple, list)):
        if len(out) != len(names):
            if len(names) == 1 and all(isinstance(x, (int, float, bool)) for x in out):
                raise CallError(f"out= must be a NumPy array (or a tuple or dict of them), not a {type(out).__name__}")
            raise CallError(f"out= has {len(out)} arrays for {len(names)} outputs {list(names)}")
        return list(out)
    if len(names) != 1:
        raise CallError(f"out= is one array but the program has {len(names)} outputs {list(names)}")
    return [out]


def deliver(results: list, out, graph: Graph) -> list:
    """Copy results into user-given output arrays (`out=`), checking shape and dtype as NumPy would."""
    if out is None:
        return results
    delivered = []
    for name, r, t in zip(graph.output_names, results, out_targets(graph, out)):
        if t is None:
            delivered.append(r)
            continue
        if r is t:  # written there already
            delivered.append(t)
            continue
        check_out(name, t, np.shape(r), np.asarray(r).dtype)
        t[...] = r
        delivered.append(t)
    return delivered


def check_out(name: str, target, shape, dtype) -> None:
    if not isinstance(target, np.ndarray):
        raise CallError(f"out= for `{name}` must be a NumPy array, not {type(target).__name__}")
    if target.shape != tuple(shape):
        raise ShapeError(f"out= for `{name}` is {target.dtype}{list(target.shape)}; "
                         f"the result is {dtype}{list(shape)}")
    # NumPy's ufuncs write into out= by its `same_kind` rule: int64 into int32, float64 into float32
    # (cast as astype does), but not float into int nor int into bool.
    if target.dtype != dtype and not np.can_cast(dtype, target.dtype, "same_kind"):
        raise DTypeError(f"out= for `{name}` is {target.dtype}{list(target.shape)}; the result is "
                         f"{dtype}{list(shape)}, which NumPy does not cast to {target.dtype} (same_kind)")
    if not target.flags.writeable:
        raise CallError(f"out= for `{name}` is read-only")

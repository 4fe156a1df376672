"""The cost model of backend="auto": per program and family of signatures (input dtypes and
dimensions), each engine's time as a fixed cost plus a cost per element, fitted to the calls timed,
so that a new shape can be given an engine without timing both (auto.py)."""
from __future__ import annotations

import numpy as np

MARGIN = 1.5  # a prediction this lopsided decides a new shape without measuring
REACH = 2     # the cost model predicts within this factor of the sizes it has timed, not beyond


class CostModel:
    """Per engine, seconds = fixed + per_element * n, fitted by least squares to the calls timed (one
    program, one set of input dtypes and dimensions); each engine's line from its own points. The
    engines: "numpy", and the device engines ("opencl", "basic")."""

    def __init__(self):
        self.points: dict[str, list[tuple[int, float]]] = {"numpy": [], "opencl": [], "basic": []}
        self._lines: dict[str, tuple[float, float]] = {}  # engine -> (fixed, per element), fitted when asked

    def add(self, n: int, t_numpy: float, t_device: float, device: str = "opencl") -> None:
        """Both engines timed at n elements."""
        self.add_one("numpy", n, t_numpy)
        self.add_one(device, n, t_device)

    def add_one(self, engine: str, n: int, seconds: float) -> None:
        """One engine timed at n elements (a call it ran)."""
        self.points[engine] = [p for p in self.points[engine] if p[0] != n][-15:] + [(n, seconds)]
        self._lines.pop(engine, None)

    def predict(self, n: int, device: str = "opencl") -> tuple[float, float] | None:
        """(NumPy engine s, device engine s) predicted at n elements; None before two sizes of each, and
        beyond `REACH` times the sizes timed: a line does not see the cache the arrays outgrow (a+b at 1e5
        and 1e6 fits in it, at 1e7 not), and extrapolated it chose the slower engine by 2-4x."""
        lines = []
        for engine in ("numpy", device):
            points = self.points[engine]
            if not points or not min(p[0] for p in points) / REACH <= n <= REACH * max(p[0] for p in points):
                return None
            line = self._lines.get(engine)
            if line is None:
                if len({p[0] for p in points}) < 2:
                    return None
                line = self._lines[engine] = _line(np.array([p[0] for p in points], float),
                                                   np.array([p[1] for p in points]))
            lines.append(line[0] + line[1] * n)
        return tuple(lines)


class _Point:
    """A call whose engine a close prediction chose: its own time becomes a point of that engine's line."""

    def __init__(self, model: CostModel, engine: str, size: int):
        self.model, self.engine, self.size = model, engine, size

    def record(self, seconds: float) -> None:
        self.model.add_one(self.engine, self.size, seconds)


def _line(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    """(fixed cost, cost per element), neither negative, fitted to relative error (a time of 0.1 ms is
    as wrong by 0.05 ms as one of 10 ms by 5 ms)."""
    w = 1 / np.maximum(ys, 1e-9)
    a = np.stack([np.ones_like(xs), xs], axis=1) * w[:, None]
    fixed, per = np.linalg.lstsq(a, ys * w, rcond=None)[0]
    if fixed < 0:   # through the origin
        fixed, per = 0.0, float(np.sum(xs * ys * w * w) / np.sum(xs * xs * w * w))
    if per < 0:     # flat
        fixed, per = float(np.sum(ys * w * w) / np.sum(w * w)), 0.0
    return float(fixed), float(per)


def decisive(guess) -> bool:
    """Whether a prediction (NumPy engine s, device engine s) is lopsided enough to choose by."""
    return guess is not None and max(guess) >= MARGIN * min(guess)

"""explain()'s account of backend="auto"'s choice for a call signature: which engine runs it and why,
without measuring. Loaded when explain() first asks."""
from __future__ import annotations

from .auto import _LABELS, SMALL, _family
from .cost_model import decisive


def describe(engine, values: dict[str, object]) -> str:
    """Which engine runs these values' signature and why, without measuring (for explain)."""
    size, key = engine._size_and_key(values)
    if size is None:
        return "the OpenCL engine: the inputs are device arrays" if key == "device" else "(shapes do not broadcast)"
    dev = engine._device_for(size)
    if dev is None:
        return f"the NumPy engine: {size} elements, at most {SMALL}, cost less than a kernel launch"
    decided = engine.decisions.get(key)
    job = engine.pending.get(key)
    label = _LABELS[dev]
    if decided is None and job is not None:
        return (f"the NumPy engine for now: the kernels of this signature ({size} elements) for {label} are "
                f"built in a background process (it has run {job.calls} calls meanwhile); the engine is "
                "chosen when they are ready")
    if decided is None:
        model = engine.models.get(_family(key))
        guess = model.predict(size, dev) if model is not None else None
        if guess is not None:
            return (f"not chosen yet: the cost model predicts {guess[0] * 1e3:.3g} ms on the NumPy engine and "
                    f"{guess[1] * 1e3:.3g} ms on {label} at {size} elements; the first call takes "
                    + ("the faster" if decisive(guess) else
                       "the one predicted faster (close: its time then refines the prediction)"))
        return (f"not chosen yet: the first call of this signature ({size} elements) runs on the NumPy "
                f"engine, and {label} is timed against it once its kernels are built")
    if key in engine.predicted:
        t_np, t_dev = engine.predicted[key]
        return (f"{_LABELS[decided]}: the cost model predicted {t_np * 1e3:.3g} ms on the NumPy engine and "
                f"{t_dev * 1e3:.3g} ms on {label} ({size} elements), from the sizes measured before")
    if key in engine.reasons:
        return f"{_LABELS[decided]} ({size} elements): {engine.reasons[key]}"
    return f"{_LABELS[decided]}: it was faster when both were timed on a call ({size} elements)"

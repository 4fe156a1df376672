"""Backends run a graph: `numpy` one operation at a time (the reference), `opencl` as one fused kernel."""

"""The programs: each written once in symexpr; the NumPy and numexpr peers are made from it; the
inputs every peer gets."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Case:
    """One benchmark program, written once in symexpr; the NumPy and numexpr peers are made from it.

    name:   the row label.
    source: the symexpr program; its unread names are the outputs.
    kind:   "memory" (bound by memory traffic) or "transcendental".
    exact:  symexpr must equal NumPy bit for bit; otherwise allclose (OpenCL's ulp bounds).
    fused:  more than one operation, so fusing them can win: the issue's multi-statement target.
    hand:   the body of the hand-written kernel (or None): OpenCL C over the input names, assigning
            each output's name, with `V` for the value type and SEL(c, x, y) for where.
    """

    name: str
    source: str
    kind: str = "memory"
    exact: bool = True
    fused: bool = True
    hand: str | None = None

    @property
    def statements(self) -> list[tuple[str, str]]:
        """(target, expression) per statement, in order."""
        parts = [s.strip() for s in re.split(r"[;\n]", self.source) if s.strip()]
        return [tuple(p.strip() for p in s.split("=", 1)) for s in parts]

    @property
    def inputs(self) -> tuple[str, ...]:
        return _parsed(self.source)[0]

    @property
    def outputs(self) -> tuple[str, ...]:
        return _parsed(self.source)[1]


_PARSED: dict[str, tuple] = {}


def _parsed(source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if source not in _PARSED:
        from ..parse import parse
        graph = parse(source)
        _PARSED[source] = (graph.input_names, graph.output_names)
    return _PARSED[source]


LONG_EXPRESSION = ("r = a*b + c*d - a*c + b*d + 0.5*a - 1.5*b + c*c - d*d + a*b*c - b*c*d"
                   " + 2*a*d - c + a*a*b - 0.25*d + b*b - a*c*d + 3*c*d - a + b*c - 0.75*d*d")


MULTI_STATEMENT = """\
s = a + b
t = a - b
u = s * t
v = u * c + d
w = v * 0.5 - a
x = where(w > 0, w, -w)
y = x * x + s
z = y - t * c
p = z * 0.25 + v
q = x - y * d"""


# The 10-statement program by hand, as one would write it in OpenCL C (see HAND_KERNEL for V, SEL).
HAND_MULTI_STATEMENT = (
    "const V s = a + b, t = a - b, u = s * t, v = u * c + d, w = v * (T)0.5 - a;"
    " const V x = SEL(w > 0, w, -w), y = x * x + s, z = y - t * c, p = z * (T)0.25 + v, q = x - y * d;")


CASES: tuple[Case, ...] = (
    Case("a + b", "r = a + b", fused=False),
    Case("a*b + c", "r = a*b + c", hand="const V r = a*b + c;"),
    Case("2*a + 3*b - c*d", "r = 2*a + 3*b - c*d", hand="const V r = 2*a + 3*b - c*d;"),
    Case("long (20 terms)", LONG_EXPRESSION),
    # sqrt is correctly rounded in IEEE but OpenCL allows 3 ulp for float sqrt.
    Case("sqrt(a*a + b*b)", "r = sqrt(a*a + b*b)", exact=False),
    Case("exp(-a*a) * b", "r = exp(-a*a) * b", kind="transcendental", exact=False),
    Case("sin(a) + cos(b)", "r = sin(a) + cos(b)", kind="transcendental", exact=False),
    Case("tanh(a)", "r = tanh(a)", kind="transcendental", exact=False, fused=False),
    Case("where", "r = where(a > b, a*c, b - c)", hand="const V r = SEL(a > b, a*c, b - c);"),
    Case("10 statements (2 outputs)", MULTI_STATEMENT, hand=HAND_MULTI_STATEMENT),
)


_NUMPY_NAMES = {"sqrt": np.sqrt, "exp": np.exp, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
                "where": np.where, "log": np.log, "maximum": np.maximum, "minimum": np.minimum}


def numpy_source(case: Case) -> str:
    """The program as a Python function over NumPy arrays: the statements, one after another."""
    body = "".join(f"    {t} = {e}\n" for t, e in case.statements)
    return f"def program({', '.join(case.inputs)}):\n{body}    return ({', '.join(case.outputs)},)\n"


def numpy_function(case: Case) -> Callable:
    namespace = dict(_NUMPY_NAMES)
    exec(numpy_source(case), namespace)  # noqa: S102 - our own program table, not user text
    return namespace["program"]


_FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+)(?![\w.])")


def _typed_literals(expr: str, dtype, names: dict) -> str:
    """Float literals -> named scalars of `dtype`: numexpr would otherwise compute float32 in float64."""
    def name_of(m):
        key = f"k_{len(names)}"
        names[key] = np.dtype(dtype).type(float(m.group(1)))
        return key
    return _FLOAT_LITERAL.sub(name_of, expr)


def inline_expressions(case: Case) -> dict[str, str]:
    """Each output as one expression: every intermediate substituted, in parentheses."""
    env: dict[str, str] = {}
    for target, expr in case.statements:
        env[target] = re.sub(r"\b[A-Za-z_]\w*\b",
                             lambda m: f"({env[m.group(0)]})" if m.group(0) in env else m.group(0), expr)
    return {o: env[o] for o in case.outputs}


def numexpr_function(case: Case, dtype, inline: bool = False):
    """numexpr over the case, per statement (or one inlined string per output); None without numexpr."""
    try:
        import numexpr as ne
    except ImportError:
        return None
    constants: dict = {}
    if inline:
        statements = [(o, _typed_literals(e, dtype, constants)) for o, e in inline_expressions(case).items()]
    else:
        statements = [(t, _typed_literals(e, dtype, constants)) for t, e in case.statements]
    outputs = case.outputs
    evaluate = ne.evaluate

    def run(data, out=None):
        env = dict(data)
        env.update(constants)
        if out is not None and len(statements) == 1:
            return (evaluate(statements[0][1], local_dict=env, out=out),)
        for target, expr in statements:
            env[target] = evaluate(expr, local_dict=env)
        return tuple(env[o] for o in outputs)
    return run


def make_data(n: int, dtype, seed: int) -> dict[str, np.ndarray]:
    """Inputs a, b, c, d: uniform in [-2, 2), the same values for every peer."""
    rng = np.random.default_rng(seed + n)
    return {x: rng.uniform(-2.0, 2.0, n).astype(dtype) for x in "abcd"}

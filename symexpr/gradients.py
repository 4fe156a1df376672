"""`sx.grad` and `sx.value_and_grad`: gradients of programs and of hybridized functions.

The gradient of a program is another program: its text is the original's with one statement
`grad_w = grad(loss, w)` per variable, so it parses, optimizes, fuses, explains, pickles and saves
like any program (passes/differentiate.py expands `grad` when it compiles). Of a Python function,
`sx.grad(f)` is a hybridized function that traces `f` and the `grad` statements into one program per
signature; inside another hybridized function it is traced into that function's program, so a
training step (forward, backward and update) is one program.
"""
from __future__ import annotations

import functools

from .errors import CallError
from .tracing import FUNCTION_WRAPPERS, HybridFunction, Symbol, TracingError
from .program import Program


def grad(fun, of=None, wrt=None, *, seed: str | None = None, argnums=0, **options):
    """The gradient of a program's scalar output with respect to its inputs, as a new Program.

        sx.grad(prog, of="loss", wrt=("w1", "b1"))   # outputs grad_w1, grad_b1
        sx.grad("loss = sum((x @ w - y) ** 2)", wrt="w")
        sx.grad(f, argnums=(0, 1))                    # f a Python function: a hybridized gradient
        sx.grad(loss, w)                              # inside a hybridized function: a statement

    of:    the output differentiated (default: the only output); a scalar, or give `seed`.
    wrt:   input names (default: every input `of` depends on through differentiable operations).
    seed:  for a non-scalar `of`: the name of a new input, of `of`'s shape, that the gradient of
           sum(of * seed) is taken for (a vector-Jacobian product, as jax.vjp's cotangent).
    options: compile options for a program given as text, or to override the program's.
    """
    if isinstance(fun, Symbol) or isinstance(of, Symbol):
        return FUNCTION_WRAPPERS["grad"](fun, of)  # grad(y, x) while tracing
    if isinstance(fun, (Program, str)):
        return _gradient_program(fun, of, wrt, seed, options, with_values=False)
    if callable(fun):
        return _gradient_function(fun, argnums, with_value=False)
    raise CallError(f"sx.grad takes a Program, a program's text or a function, not {type(fun).__name__}")


def value_and_grad(fun, of=None, wrt=None, *, seed: str | None = None, argnums=0, **options):
    """As `grad`, returning the program's outputs too: a Program whose outputs are the original's
    followed by the gradients; of a function, a hybridized function returning (value, gradients)."""
    if isinstance(fun, (Program, str)):
        return _gradient_program(fun, of, wrt, seed, options, with_values=True)
    if callable(fun):
        return _gradient_function(fun, argnums, with_value=True)
    raise CallError(f"sx.value_and_grad takes a Program, a program's text or a function, not {type(fun).__name__}")


# -- programs -----------------------------------------------------------------------------------
def _gradient_program(prog, of, wrt, seed, options: dict, with_values: bool) -> Program:
    if isinstance(prog, str):
        prog = Program(prog, **{**options, "backend": "numpy", "optimize": False})  # read, never run
        base = {"outputs": None, "backend": "auto", "optimize": True, "fast_math": False}
    else:
        base = dict(prog._options)
    base.update(options)
    outputs = list(prog.outputs)
    if of is None:
        if len(outputs) != 1:
            raise CallError(f"the program has {len(outputs)} outputs ({', '.join(outputs)}): "
                            f"say which to differentiate with of=")
        of = outputs[0]
    if not isinstance(of, str) or of not in _assigned(prog):
        raise CallError(f"of={of!r} is not a value the program computes: its outputs are {', '.join(outputs)}")
    inputs = prog.parsed.input_names
    if seed is not None and (not isinstance(seed, str) or not seed.isidentifier() or seed in _names(prog)):
        raise CallError(f"seed={seed!r} must be a new input's name, not a name the program uses")
    if wrt is None:
        wrt = _differentiable_inputs(prog, of)
        if not wrt:
            raise CallError(f"`{of}` depends on no input through differentiable operations: nothing to "
                            f"differentiate (pass wrt= to get zeros)")
    else:
        wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    for w in wrt:
        if w not in inputs:
            raise CallError(f"wrt: `{w}` is not an input of the program (its inputs are {', '.join(inputs)})")
        if w in _assigned(prog):
            raise CallError(f"wrt: input `{w}` is assigned again in the program, so `{w}` names two values: "
                            f"rename the assignment to differentiate with respect to the input")
    taken = _names(prog) | {seed}
    lines = []
    names = []
    for w in wrt:
        name = f"grad_{w}"
        if name in taken:
            raise CallError(f"the gradient's output `{name}` would take a name the program already uses")
        y = f"sum({of} * {seed})" if seed else of
        lines.append(f"{name} = grad({y}, {w})")
        names.append(name)
    # The statements come after the program's own, so `of` is its final value; the seed is read last,
    # so it is the last input.
    source = prog.source.rstrip("\n") + "\n# the gradients (sx.grad)\n" + "\n".join(lines) + "\n"
    if with_values:
        names = ([] if of in outputs else [of]) + outputs + names
    base["outputs"] = names
    return Program(source, **base)


def _assigned(prog: Program) -> set[str]:
    """The names the program assigns (the parsed graph keeps every statement, read or not)."""
    return {n.name for n in prog.parsed.nodes if n.name}


def _names(prog: Program) -> set[str]:
    return _assigned(prog) | set(prog.parsed.input_names)


def _differentiable_inputs(prog: Program, of: str) -> tuple[str, ...]:
    """The inputs `of` depends on through operations that pass a gradient (not only through a
    comparison, a `where` condition or a cast to an integer), in the program's input order."""
    from .passes.differentiate import differentiable_inputs

    final = [n for n in prog.parsed.nodes if n.name == of][-1]  # a name assigned twice: its last value
    return differentiable_inputs(prog.parsed, final)


# -- functions ----------------------------------------------------------------------------------
def _gradient_function(fun, argnums, with_value: bool) -> HybridFunction:
    inner = fun if isinstance(fun, HybridFunction) else HybridFunction(fun, active=True)
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)

    @functools.wraps(inner.fn)
    def gradient(*args, **kwargs):
        value = inner.fn(*args, **kwargs)
        if not isinstance(value, Symbol):
            raise TracingError(f"sx.grad({inner.fn.__name__}): the function must return one scalar array "
                               f"(its loss), not {type(value).__name__}")
        for k in nums:
            if not -len(args) <= k < len(args):
                raise TracingError(f"sx.grad({inner.fn.__name__}): argnums={argnums!r}, but the call "
                                   f"passes {len(args)} positional arguments")
        grads = tuple(FUNCTION_WRAPPERS["grad"](value, args[k]) for k in nums)
        grads = grads if many else grads[0]
        return (value, grads) if with_value else grads

    # The function's static arguments stay static (a loop count, a flag): part of the signature.
    return HybridFunction(gradient, active=True, backend=inner.backend, optimize=inner.optimize,
                          static_argnames=tuple(inner.static_argnames), static_argnums=tuple(inner.static_argnums))


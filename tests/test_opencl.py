"""The OpenCL engine against the NumPy engine, and what only the OpenCL engine has.

Every op is swept over every dtype (pairs for binary ops) on edge values (NaN,
±inf, -0.0, the integer extremes), several dtype combinations per kernel so
that a cold run builds few kernels. The rest checks the runtime: caching,
layouts (strided, transposed, broadcast, 0-d, empty), device arrays, out=,
threads, memory, the error flag of integer powers, a >2**31-element array.
"""
from __future__ import annotations

import gc
import itertools
import tracemalloc

import numpy as np
import pytest

import symexpr as sx
from symexpr.errors import BackendError, DTypeError, EvaluationError, SymExprError
from symexpr.ops import CASTS, OPS
from helpers import errors_in_threads

# The element-wise ops: reductions and matrix products have tests of their own (test_reductions.py).
ELEMENTWISE = sorted(name for name, op in OPS.items() if op.kind == "elementwise")

cl = pytest.importorskip("pyopencl")
import pyopencl.array as cl_array  # noqa: E402

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"]

# Ops whose OpenCL result must equal NumPy's bit for bit; the rest are transcendental
# functions, held to the OpenCL spec's ulp bounds (16 ulp covers every one we use).
EXACT = {"add", "subtract", "multiply", "divide", "floor_divide", "remainder", "bitwise_and", "bitwise_or",
         "bitwise_xor", "less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and",
         "logical_or", "negative", "positive", "invert", "logical_not", "absolute", "sqrt", "square", "floor",
         "ceil", "trunc", "rint", "sign", "isnan", "isinf", "isfinite", "minimum", "maximum", "where", "clip",
         "relu"} | CASTS


def edges(dtype) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array([False, True])
    if dt.kind in "iu":
        i = np.iinfo(dt)
        v = [i.min, i.min + 1, i.max, i.max - 1, 0, 1, 2, 3, 7, 100 % (i.max + 1)]
        if dt.kind == "i":
            v += [-1, -2, -3, -7]
        return np.array(v, dt)
    f = np.finfo(dt)
    return np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1, -1, 0.5, -0.5, 1.5, -1.5, 2.5, 3, -7, 1e-3, 0.7,
                     f.tiny, -f.tiny, f.max, -f.max, 1e5, -1e5, 2 ** 30], dt)


def source_of(op: str, k: int) -> str:
    o = OPS[op]
    a, b, c = f"a{k}", f"b{k}", f"c{k}"
    if o.symbol and o.arity == 2:
        return f"r{k} = {a} {o.symbol} {b}"
    if o.symbol and o.arity == 1:
        return f"r{k} = {o.symbol} {a}" if o.symbol != "not" else f"r{k} = not {a}"
    return f"r{k} = {o.functions[0]}({', '.join([a, b, c][:o.arity])})"


def inputs_for(op: str, dtypes: tuple, k: int) -> dict:
    grids = np.meshgrid(*[edges(d) for d in dtypes], indexing="ij")
    vals = {n: g.ravel() for n, g in zip(("a", "b", "c"), grids)}
    if op == "power" and np.dtype(dtypes[1]).kind == "i":
        e = vals["b"].astype(np.int64)
        vals["b"] = np.where(e < 0, -(e + 1), e).astype(dtypes[1])  # NumPy refuses negative int powers
    if op in CASTS and np.dtype(op).kind in "iu" and np.dtype(dtypes[0]).kind == "f":
        # astype is only defined in the target's range (NaN, inf and the rest are the C compiler's choice).
        info = np.iinfo(op)
        a = vals["a"]
        with np.errstate(invalid="ignore"):
            vals["a"] = np.where((a > info.min - 1) & (a < info.max + 1.0) & (np.abs(a) < 2.0**63), a, 1.5).astype(a.dtype)
    return {f"{n}{k}": v for n, v in vals.items()}


def dtype_combos(op: str) -> list[tuple]:
    arity = OPS[op].arity
    if arity == 1:
        return [(d,) for d in DTYPES]
    if arity == 2:
        return list(itertools.product(DTYPES, DTYPES))
    if op == "where":
        return [(c, x, y) for c in ("bool", "int8", "float64") for x in DTYPES for y in (x, "float32", "int64")]
    return [(d, d, d) for d in DTYPES] + [("float32", "float64", "float32"), ("int8", "int16", "uint8")]


def numpy_accepts(op: str, dtypes: tuple) -> bool:
    prog = sx.compile(source_of(op, 0), backend="numpy")
    try:
        prog(**{f"{n}0": np.zeros(1, d) for n, d in zip("abc", dtypes)})
        return True
    except SymExprError:
        return False


def op_cases(op: str, per_kernel: int = 16) -> list[list[tuple]]:
    """The dtype combinations NumPy accepts for `op`, in batches of one kernel each."""
    ok = [d for d in dtype_combos(op) if numpy_accepts(op, d)]
    # Single-float-dtype combinations get kernels of their own, which take the vector path.
    alone = [d for d in ok if len(set(d)) == 1 and d[0].startswith("float")]
    rest = [d for d in ok if d not in alone]
    return [[d] for d in alone] + [rest[i:i + per_kernel] for i in range(0, len(rest), per_kernel)]


def differs(got, want, exact: bool, atol: float = 0.0) -> str | None:
    """Why two results differ (dtype, shape, NaN positions, bits or ulp), or None."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"{got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if got.dtype.kind == "c":  # part by part
        return differs(got.real, want.real, exact, atol) or differs(got.imag, want.imag, exact, atol)
    if got.dtype.kind != "f":
        bad = got != want
    else:
        nan = np.isnan(want)
        bad = np.isnan(got) != nan
        if exact:
            bad |= ~nan & ((got != want) | (np.signbit(got) != np.signbit(want)))
        else:
            eps = np.finfo(got.dtype).eps
            with np.errstate(all="ignore"):
                close = (got == want) | (np.abs(got - want) <= 16 * eps * np.abs(want)) | (
                    np.abs(got - want) <= max(np.finfo(got.dtype).tiny * 16, atol))
            bad |= ~nan & ~close
    if bad.any():
        i = np.flatnonzero(bad)[:4]
        return f"at {i.tolist()}: got {got.ravel()[i].tolist()}, want {want.ravel()[i].tolist()}"
    return None


def compare_batch(op: str, batch: list[tuple]) -> list[str]:
    src = "\n".join(source_of(op, k) for k in range(len(batch)))
    data = {}
    for k, dts in enumerate(batch):
        data.update(inputs_for(op, dts, k))
    length = max(max(len(v) for v in data.values()), 300)  # long enough for the vector path
    data = {n: np.resize(v, length) for n, v in data.items()}
    want = sx.compile(src, backend="numpy")(**data)
    got = sx.compile(src, backend="opencl")(**data)
    if len(batch) == 1:
        want, got = (want,), (got,)
    msgs = []
    for k, dts in enumerate(batch):
        why = differs(got[k], want[k], op in EXACT)
        if why:
            msgs.append(f"{op}{dts}: {why}")
    return msgs


@pytest.mark.parametrize("op", ELEMENTWISE)
def test_op_matches_numpy_on_edge_values(op):
    msgs = [m for batch in op_cases(op) for m in compare_batch(op, batch)]
    assert not msgs, "\n".join(msgs)


@pytest.mark.parametrize("op", ELEMENTWISE)
def test_op_refusals_match_numpy(op):
    """Where NumPy refuses a dtype combination, the OpenCL engine raises the same error class."""
    for dts in dtype_combos(op)[::7]:
        if numpy_accepts(op, dts):
            continue
        args = {f"{n}0": np.zeros(2, d) for n, d in zip("abc", dts)}
        with pytest.raises(SymExprError) as want:
            sx.compile(source_of(op, 0), backend="numpy")(**args)
        with pytest.raises(type(want.value)):
            sx.compile(source_of(op, 0), backend="opencl")(**args)


# -- the fused kernel ---------------------------------------------------------------------------

TEN = """
d = a * b
e = d + c
f = sqrt(abs(e))
g = where(f > 1, f, -f)
h = g ** 2
k = minimum(h, a)
m = maximum(k, b) - c
out1 = m * 2
out2 = sin(d) + cos(e)
out3 = h // 3
"""


def test_ten_statements_three_outputs_make_one_kernel():
    prog = sx.compile(TEN, outputs=["out1", "out2", "out3"], backend="opencl")
    rng = np.random.default_rng(1)
    data = {n: rng.standard_normal(1000) for n in "abc"}
    got = prog(**data)
    want = sx.compile(TEN, outputs=["out1", "out2", "out3"], backend="numpy")(**data)
    assert prog.kernel_source.count("__kernel") == 1
    for g, w, exact in zip(got, want, (True, False, True)):
        assert differs(g, w, exact, atol=1e-14) is None  # sin + cos may cancel: absolute


def test_second_call_of_a_signature_does_not_build(monkeypatch):
    from symexpr.backends.opencl import engine as opencl

    prog = sx.compile("c = a * b + 1", backend="opencl")
    a = np.arange(10.0)
    prog(a=a, b=a)
    builds = []
    real = opencl.build_program
    monkeypatch.setattr(opencl, "build_program", lambda *x: builds.append(1) or real(*x))
    for _ in range(3):
        prog(a=a + 1, b=a)
    assert builds == []
    prog(a=a.astype(np.float32), b=a.astype(np.float32))  # a new signature builds once
    prog(a=a.astype(np.float32), b=a.astype(np.float32))
    assert builds == [1]


def test_specialize_hook_runs_once_per_signature(monkeypatch):
    from symexpr.backends.opencl import engine as opencl

    seen = []
    monkeypatch.setattr(opencl, "specialize", lambda g, kinds, **kw: (seen.append(dict(kinds)), (g, []))[1])
    prog = sx.compile("c = a * b", backend="opencl")
    prog(a=np.ones(3), b=2.0)
    prog(a=np.ones(5), b=3.0)
    prog(a=np.ones(3, np.float32), b=2.0)
    assert [k["a"].dtype.name for k in seen] == ["float64", "float32"]
    assert seen[0]["b"].weak


def test_binary_cache_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMEXPR_CACHE_DIR", str(tmp_path))
    src = "c = a * 3 + b  # cache test"
    a = np.arange(100, dtype=np.float32)
    assert sx.compile(src, backend="opencl")(a=a, b=a)[5] == 20
    stored = list(tmp_path.glob("opencl/*.bin"))
    assert len(stored) == 1
    from symexpr.backends.opencl import engine as opencl

    calls = []
    real = opencl.build_program
    monkeypatch.setattr(opencl, "build_program", lambda *x: calls.append(real(*x)) or calls[-1])
    assert sx.compile(src, backend="opencl")(a=a, b=a)[5] == 20  # a new program, same kernel
    assert calls and calls[0][1] is None  # loaded from the stored binary, nothing to store
    assert list(tmp_path.glob("opencl/*.bin")) == stored


def test_kernel_source_before_any_call_is_the_float32_fast_path():
    prog = sx.compile("c = a + b", backend="opencl")
    src = prog.kernel_source
    assert "__global const float* sx_in0" in src and "sx_out0" in src and "sx_shape0" not in src


# -- layouts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vector_tail_of_every_length_matches_numpy(dtype):
    """Past the last whole vector, the kernel runs its vector code on inputs padded to a whole vector
    and stores only the real lanes: every tail length, with NaN, inf and -0.0 in the tail."""
    src = ("c = a * b - a / (b + 1.5)\nm = (c > a) | flag\nd = where(m, -c, maximum(a, b))\n"
           "e = sqrt(abs(d)) + floor(a)")
    outputs = ["c", "m", "d", "e"]
    prog = sx.compile(src, outputs=outputs, backend="opencl")
    reference = sx.compile(src, outputs=outputs, backend="numpy")
    for n in range(64, 64 + 17):
        rng = np.random.default_rng(n)
        a = rng.normal(size=n).astype(dtype)
        b = rng.normal(size=n).astype(dtype)
        a[-3:] = [np.nan, -0.0, np.inf]
        b[-2:] = [-np.inf, -0.0]
        flag = rng.random(n) < 0.3
        got, want = prog(a, b, flag), reference(a, b, flag)
        for name, g, w in zip(outputs, got, want):
            why = differs(g, w, exact=True)
            assert why is None, f"n={n}, {name}: {why}"
    assert "sx_pad" in prog.kernel_source  # the vector path, with its tail, ran


def both(src, **data):
    got = sx.compile(src, backend="opencl")(**data)
    want = sx.compile(src, backend="numpy")(**data)
    return got, want


@pytest.mark.parametrize("make", [
    lambda x: x[::2],                      # strided
    lambda x: x.reshape(10, 20).T,         # transposed
    lambda x: x[::-3],                     # negative stride
    lambda x: x.reshape(4, 50)[:, 5:45],   # rows with gaps
    lambda x: np.broadcast_to(x[:20], (7, 20)),  # zero strides
])
def test_strided_inputs(make):
    base = np.linspace(-3, 3, 200)
    a = make(base)
    b = make(base[::-1].copy())
    got, want = both("c = a * b - a / (b + 10)", a=a, b=b)
    assert got.shape == want.shape and differs(got, want, True) is None


def test_transposed_uses_strides_not_copies():
    prog = sx.compile("c = a + 1", backend="opencl")
    a = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(prog(a=a.T), a.T + 1)
    assert "sx_in0_st" in prog.kernel_source and "2-d strided" in prog.kernel_source


@pytest.mark.parametrize("sa,sb", [((3, 1), (1, 4)), ((3, 1), (4,)), ((2, 1, 5), (3, 1)), ((1,), (6,)),
                                   ((), (5,)), ((4, 1), ())])
def test_broadcasting(sa, sb):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(sa)
    b = rng.standard_normal(sb).astype(np.float32)
    got, want = both("c = a * b + a; d = b - 1", a=a, b=b)
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w) and differs(g, w, True) is None


def test_outputs_of_different_shapes_write_each_element_once():
    got, want = both("c = a + 1; d = a * b", a=np.arange(3.0).reshape(3, 1), b=np.arange(4.0))
    assert got.c.shape == (3, 1) and got.d.shape == (3, 4)
    assert np.array_equal(got.c, want.c) and np.array_equal(got.d, want.d)


def test_outputs_that_do_not_broadcast_together():
    got, want = both("c = a + 1; d = b * 2", a=np.arange(3.0), b=np.arange(5.0))
    assert np.array_equal(got.c, want.c) and np.array_equal(got.d, want.d)


def test_scalars_and_zero_d():
    prog = sx.compile("c = a * b + 1", backend="opencl")
    r = prog(a=np.float32(2), b=3)
    assert type(r) is np.float32 and r == 7
    r = prog(a=np.array(2.0), b=np.array(3.5))
    assert type(r) is np.float64 and r == 8
    r = prog(a=2, b=3)
    assert type(r) is np.int64 and r == 7
    r = prog(a=np.array([2], np.int16), b=3)
    assert r.dtype == np.int16 and r.shape == (1,)
    r = prog(a=np.ones((1, 1), np.int8), b=np.arange(3, dtype=np.int8))
    assert r.shape == (1, 3) and r.tolist() == [[1, 2, 3]]


def test_empty_inputs_do_not_launch(monkeypatch):
    prog = sx.compile("c = a * b", backend="opencl")
    monkeypatch.setattr(cl, "enqueue_nd_range_kernel", lambda *a, **k: pytest.fail("launched"))
    r = prog(a=np.zeros((0, 3)), b=np.ones(3, np.float32))
    assert r.shape == (0, 3) and r.dtype == np.float64
    r = prog(a=np.zeros(0, np.int8), b=2)
    assert r.shape == (0,) and r.dtype == np.int8


def test_results_never_alias_inputs():
    a = np.arange(5.0)
    r = sx.compile("c = a", backend="opencl")(a=a)
    assert np.array_equal(r, a) and not np.shares_memory(r, a)
    r = sx.compile("c = a; d = a", backend="opencl")(a=a)
    assert not np.shares_memory(r.c, r.d)


# -- out= ---------------------------------------------------------------------------------------

def test_out_arrays_are_written_directly():
    prog = sx.compile("c = a + b; d = a * b", backend="opencl")
    a, b = np.arange(6.0), np.full(6, 2.0)
    c, d = np.empty(6), np.empty(6)
    r = prog(a=a, b=b, out=(c, d))
    assert r.c is c and r.d is d and c.tolist() == (a + b).tolist() and d.tolist() == (a * b).tolist()
    d2 = np.empty(6)
    r = prog(a=a, b=b, out={"d": d2})
    assert r.d is d2 and np.array_equal(d2, a * b) and np.array_equal(r.c, a + b)
    big = np.zeros(12)
    prog1 = sx.compile("c = a * 2", backend="opencl")
    r = prog1(a=a, out=big[::2])
    assert np.array_equal(big[::2], a * 2) and not big[1::2].any()
    with pytest.raises(SymExprError):  # (float32 is allowed: NumPy's same_kind rule)
        prog1(a=a, out=np.empty(6, np.int32))
    with pytest.raises(SymExprError):
        prog1(a=a, out=np.empty(5))


def test_out_may_be_an_input():
    a = np.arange(8.0)
    prog = sx.compile("c = a * 2 + 1", backend="opencl")
    prog(a=a, out=a)
    assert a.tolist() == [2 * x + 1 for x in range(8)]
    a = np.arange(8.0)
    prog(a=a[::-1], out=a)  # overlapping in reverse: computed as if into a new array
    assert a.tolist() == [2 * x + 1 for x in range(8)][::-1]


# -- device arrays --------------------------------------------------------------------------------

def test_pyopencl_arrays_stay_on_the_device():
    prog = sx.compile("c = a * b + 1", backend="opencl")
    queue = prog._engine.queue
    a = cl_array.to_device(queue, np.arange(10, dtype=np.float32))
    b = cl_array.to_device(queue, np.full(10, 2, np.float32))
    r = prog(a=a, b=b)
    assert isinstance(r, cl_array.Array) and r.queue is queue
    assert r.get().tolist() == [2 * x + 1 for x in range(10)]
    r = prog(a=a[::2], b=3.0)  # a strided device view, a weak scalar
    assert r.get().tolist() == [3 * x + 1 for x in range(0, 10, 2)]
    r = prog(a=a[2:], b=np.float32(1))  # a view with an offset
    assert r.get().tolist() == [x + 1 for x in range(2, 10)]


def test_device_choice():
    dev = sx.devices()[0]
    for device in (dev, cl.Context([dev]), cl.CommandQueue(cl.Context([dev]))):
        assert sx.compile("c = a + 1", backend="opencl", device=device)(a=np.arange(3))[2] == 3
    with pytest.raises(BackendError):
        sx.compile("c = a + 1", backend="opencl", device="gpu please")


# -- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
def test_int_power_of_a_negative_int_raises(dtype):
    prog = sx.compile("y = x + 1\nc = y ** e", backend="opencl")
    x = np.arange(100, dtype=dtype)
    e = np.full(100, 2, dtype)
    assert np.array_equal(prog(x=x, e=e), (x + 1) ** e)
    e[57] = -1
    with pytest.raises(EvaluationError, match="line 2"):
        prog(x=x, e=e)
    with pytest.raises(EvaluationError):
        prog(x=x, e=-2)
    assert np.array_equal(prog(x=x, e=3), (x + 1) ** 3)  # the flag is fresh on every call


def test_weak_ints_must_fit_what_they_meet():
    prog = sx.compile("c = a + k", backend="opencl")
    assert prog(a=np.ones(3, np.int8), k=100).tolist() == [101] * 3
    with pytest.raises(EvaluationError, match="out of bounds for int8"):  # as the NumPy engine says it
        prog(a=np.ones(3, np.int8), k=1000)
    with pytest.raises(EvaluationError):
        prog(a=np.ones(3, np.uint64), k=-1)
    # np.clip of an integer array drops a Python-int bound beyond the array's range.
    for lo, hi in ((-1, 2), (-1000, 300), (1, 2**40), (0, 255)):
        got, want = both("c = clip(a, lo, hi); d = clip(a, -1, 300)", a=np.arange(0, 250, 7, dtype=np.uint8), lo=lo, hi=hi)
        assert got.c.tolist() == want.c.tolist() and got.d.tolist() == want.d.tolist()
    # Comparisons with any Python int are exact in NumPy.
    got, want = both("c = a < k; d = a == k", a=np.arange(-3, 3, dtype=np.int8), k=1000)
    assert got.c.tolist() == want.c.tolist() and got.d.tolist() == want.d.tolist()
    got, want = both("c = a > k; d = a != k; e = k < a", a=np.array([0, 5, 2**64 - 1], np.uint64), k=-1)
    assert [g.tolist() for g in got] == [w.tolist() for w in want]


def test_errors_match_the_numpy_engine():
    for src, data in [("c = a + b", {"a": np.ones(3), "b": np.ones(4)}),
                      ("c = a & b", {"a": np.ones(3), "b": np.ones(3)}),
                      ("c = arcsin(a)", {"a": np.ones(3, np.complex64)})]:
        with pytest.raises(SymExprError) as want:
            sx.compile(src, backend="numpy")(**data)
        with pytest.raises(type(want.value)) as got:
            sx.compile(src, backend="opencl")(**data)
        assert str(got.value) == str(want.value)


# -- names ----------------------------------------------------------------------------------------

OPENCL_NAMES = """
kernel __kernel global __global local __local constant __constant private __private read_only write_only
read_write __read_only image2d_t image3d_t sampler_t event_t bool char uchar short ushort int uint long ulong
float double half quad size_t ptrdiff_t intptr_t uintptr_t void float2 float4 float8 float16 double4 int8
uchar16 char2 complex imaginary typedef struct union enum unsigned signed const restrict volatile auto register
static extern inline sizeof alignof typeof if else for while do switch case default break continue return goto
get_global_id get_local_id get_group_id get_global_size barrier mem_fence sin cos exp log sqrt pow fabs fmax
fmin min max select convert_int as_float vload4 vstore4 isnan isinf printf NAN INFINITY HUGE_VAL MAXFLOAT M_PI
FLT_MAX DBL_MAX CHAR_BIT INT_MIN __FILE__ __LINE__ __OPENCL_VERSION__ CL_VERSION_1_2 __ENDIAN_LITTLE__ defined
main i n out start end chunk result v_a t_0 sx_in0 sx_out0 sx_err sx_shape0 abs where clip
""".split()


def test_every_opencl_keyword_and_builtin_works_as_a_variable_name():
    from symexpr.ops import CONSTANTS, FUNCTIONS

    # symexpr's own function and constant names are not variables; every other name must work.
    names = [n for n in OPENCL_NAMES if n not in FUNCTIONS and n not in CONSTANTS]
    body = "\n".join(f"{n} = {names[k - 1] if k else 'x'} + 1" for k, n in enumerate(names))
    prog = sx.compile(f"{body}\nres = {names[-1]} * 2", outputs=[names[0], "res"], backend="opencl")
    got = prog(x=np.arange(4.0))
    assert got[0].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert got.res.tolist() == [2 * (x + len(names)) for x in range(4)]
    src = prog.kernel_source
    assert all(f"v_{n}_" in src for n in names)
    # As inputs too, and as a weak scalar input.
    inputs = names[:40]
    prog = sx.compile("res = " + " + ".join(inputs), backend="opencl")
    assert prog(*([np.ones(3, np.int32)] * 39 + [2])).tolist() == [41] * 3


# -- threads and memory -----------------------------------------------------------------------------

def test_eight_threads_share_one_program():
    prog = sx.compile("c = a * k + sqrt(a); d = c - k", outputs=["c", "d"], backend="opencl")
    prog(a=np.ones(4), k=1.0)  # built before the threads start, as most programs are

    def work(t):
        rng = np.random.default_rng(t)
        for _ in range(40):
            a = rng.random(int(rng.integers(1, 5000)))
            k = float(t)
            r = prog(a=a, k=k)
            assert np.array_equal(r.c, a * k + np.sqrt(a)) and np.array_equal(r.d, r.c - k)

    errors = errors_in_threads(work, 8)
    assert not errors, errors[0]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_a_thousand_calls_do_not_grow_memory():
    prog = sx.compile("c = a * b + 1; d = where(c > 2, c, 0)", backend="opencl")
    a = np.random.default_rng(0).random(10_000)
    for _ in range(50):
        prog(a=a, b=2.0)
    gc.collect()
    rss = _rss()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for k in range(1000):
        prog(a=a, b=float(k % 3))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 200_000, grown
    assert _rss() - rss < 30 * 2**20


# -- the vector path --------------------------------------------------------------------------------

VECTOR_PROGRAM = """
s = a * b + c / (a - 2.5) - b * b
m = maximum(s, a)
n = minimum(-a, c)
w = where(a > b, m, n)
k = clip(w, -1.5, c)
q = relu(s) - sign(b) + abs(c) + floor(a) + sqrt(abs(b)) + rint(c * 3)
z = k * 2 + q
"""
VECTOR_TRANSCENDENTAL = "t = sin(a) * exp(-b * b) + tanh(c) + log(abs(a) + 1) + sigmoid(b) + a ** 0.5"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vector_code_is_bit_identical_to_scalar_code(dtype):
    rng = np.random.default_rng(3)
    n = 4099  # vectors and a scalar tail
    data = {k: (rng.standard_normal(2 * n) * 3).astype(dtype) for k in "abc"}
    data["a"][::17] = np.nan
    data["b"][::13] = -0.0
    data["c"][::11] = np.inf
    flat = {k: v[:n].copy() for k, v in data.items()}
    strided = {k: v[::2][:n] for k, v in data.items()}
    for k in flat:
        flat[k][:] = strided[k]
    for src, exact in ((VECTOR_PROGRAM, True), (VECTOR_TRANSCENDENTAL, False)):
        prog = sx.compile(src, backend="opencl")
        vec = prog(**flat)
        assert "-wide vectors" in prog.kernel_source
        sca = prog(**strided)
        assert "strided" in prog.kernel_source
        atol = 0 if exact else 64 * np.finfo(dtype).eps  # a sum of transcendentals may cancel
        assert differs(vec, sca, exact, atol) is None
        assert differs(vec, sx.compile(src, backend="numpy")(**flat), exact, atol) is None


def test_vector_path_with_bool_inputs_and_outputs():
    rng = np.random.default_rng(4)
    a = rng.standard_normal(1000).astype(np.float32)
    m = rng.random(1000) > 0.5
    src = "c = where(m, a, -a); d = (a > 0) & m; e = not m; f = a + m"
    prog = sx.compile(src, backend="opencl")
    got, want = prog(a=a, m=m), sx.compile(src, backend="numpy")(a=a, m=m)
    assert "8-wide vectors" in prog.kernel_source
    for g, w in zip(got, want):
        assert differs(g, w, True) is None


# -- size ----------------------------------------------------------------------------------------

def test_more_than_two_to_the_31_elements():
    n = 2**31 + 3
    a = np.ones(n, np.int8)
    a[-1] = 5
    prog = sx.compile("c = a * 2 + 1", backend="opencl")
    c = prog(a=a)
    assert c.shape == (n,) and c[-1] == 11 and c[0] == 3 and c[n // 2] == 3
    del a, c


# -- generated programs -------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_BINARY = ["+", "-", "*", "/", "//", "%", "<", ">=", "==", "&", "maximum", "minimum", "arctan2", "hypot"]
_UNARY = ["-", "abs", "sqrt", "exp", "sin", "tanh", "floor", "sign", "square", "isnan", "relu", "sigmoid", "log1p"]
_SHAPES = [(), (1,), (5,), (3, 1), (1, 5), (3, 5), (2, 3, 5)]


@st.composite
def programs(draw):
    """A random program over inputs a, b, c (NaN and inf included) and the data to run it on."""
    dtypes = [draw(st.sampled_from(["float32", "float64", "int32", "int8", "uint16", "bool"])) for _ in range(3)]
    shapes = [draw(st.sampled_from(_SHAPES)) for _ in range(3)]
    names = ["a", "b", "c"]
    lines = []
    for k in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["binary", "unary", "where", "literal"]))
        x, y, z = (draw(st.sampled_from(names)) for _ in range(3))
        if kind == "binary":
            op = draw(st.sampled_from(_BINARY))
            expr = f"{op}({x}, {y})" if op.isalpha() else f"{x} {op} {y}"
        elif kind == "unary":
            op = draw(st.sampled_from(_UNARY))
            expr = f"-{x}" if op == "-" else f"{op}({x})"
        elif kind == "where":
            expr = f"where({x} > {y}, {y}, {z})"
        else:
            lit = draw(st.sampled_from(["2", "0.5", "-3", "1e10", "True"]))
            expr = f"{x} * {lit}" if lit != "True" else f"{x} | {lit}"
        names.append(f"t{k}")
        lines.append(f"t{k} = {expr}")
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    data = {}
    for n, dt, shape in zip("abc", dtypes, shapes):
        v = rng.standard_normal(shape) * 4
        if dt.startswith("float"):
            v = np.where(rng.random(shape) < 0.1, rng.choice([np.nan, np.inf, -np.inf, -0.0], shape), v)
        data[n] = np.asarray(v).astype(dt)
    outputs = draw(st.lists(st.sampled_from(names[3:]), min_size=1, max_size=3, unique=True))
    return "\n".join(lines), outputs, data


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_generated_programs_match_the_numpy_engine(case):
    src, outputs, data = case
    try:
        want = sx.compile(src, outputs=outputs, backend="numpy")(**data)
    except SymExprError as err:
        with pytest.raises(type(err)):
            sx.compile(src, outputs=outputs, backend="opencl")(**data)
        return
    got = sx.compile(src, outputs=outputs, backend="opencl")(**data)
    if len(outputs) == 1:
        got, want = (got,), (want,)
    transcendental = any(f in src for f in ("exp", "sin", "tanh", "sigmoid", "log1p", "arctan2", "hypot"))
    # Errors within ulp bounds can be magnified past any tolerance by later discontinuous ops.
    jumps = any(f in src for f in ("//", "%", "floor", "sign", "<", ">", "==", "isnan", "where", "&", "relu",
                                   "maximum", "minimum"))
    for g, w in zip(got, want):
        assert type(g) is type(w)
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, src
        if not transcendental:
            assert differs(g, w, True) is None, src
        elif not jumps and w.dtype.kind == "f":
            with np.errstate(all="ignore"):
                ok = (g == w) | (np.isnan(g) & np.isnan(w)) | np.isclose(g, w, rtol=1e-3, atol=1e-6)
            assert ok.all(), src


def test_a_device_without_fp64_refuses_float64_by_name(monkeypatch):
    prog = sx.compile("c = a * 2", backend="opencl")
    monkeypatch.setattr(prog._engine.info, "fp64", False)
    with pytest.raises(DTypeError, match="float64 is not supported by the OpenCL device"):
        prog(a=np.ones(3))
    assert prog(a=np.ones(3, np.float32)).dtype == np.float32


def test_a_build_failure_is_a_backend_error(monkeypatch):
    from symexpr.backends.opencl import engine as opencl

    monkeypatch.setattr(opencl, "render_kernel", lambda *a: "__kernel void symexpr_kernel( { nonsense")
    monkeypatch.setenv("SYMEXPR_NO_CACHE", "1")
    with pytest.raises(BackendError, match="rejected the generated kernel"):
        sx.compile("c = a * 2 + 0.25", backend="opencl")(a=np.ones(3, np.float32))


def test_fast_math_is_opt_in():
    assert "-cl-fast-relaxed-math" not in sx.compile("c = a * 2", backend="opencl")._engine.options
    prog = sx.compile("c = a * 2", backend="opencl", fast_math=True)
    assert "-cl-fast-relaxed-math" in prog._engine.options
    assert prog(a=np.arange(4.0)).tolist() == [0, 2, 4, 6]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("src", ["c = where(a > 0, nan, a)", "c = where(a > 0, -nan, a)",
                                 "c = maximum(a, -nan)", "c = a * 1 + float32(-nan) * 0"])
def test_nan_constants_keep_numpys_sign_and_payload(src, dtype):
    a = np.arange(1, 20, dtype=dtype)  # both the vector path and the scalar tail
    want = sx.compile(src, backend="numpy")(a)
    got = sx.compile(src, backend="opencl")(a)
    assert got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()


# -- non-temporal stores (data larger than the caches) ---------------------------------------

STREAMING_PROGRAMS = ["c = a * b + 1", "c = where(a > b, a, b - 1)\nd = a - b", "c = a > b",
                      "c = float32(a) * 2", "c = a // b + a % b"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int32, np.int64, np.uint16, np.bool_])
@pytest.mark.parametrize("src", STREAMING_PROGRAMS)
def test_streaming_stores_give_the_same_bits(src, dtype, monkeypatch):
    prog = sx.compile(src, backend="opencl")
    monkeypatch.setattr(prog._engine.info, "cache_bytes", 1)  # every call counts as larger than the cache
    rng = np.random.default_rng(5)
    a = (rng.standard_normal(1003) * 50).astype(dtype)
    b = (rng.standard_normal(1003) * 50).astype(dtype)
    if dtype != np.bool_ and np.dtype(dtype).kind in "iu":
        b[b == 0] = 3
    try:
        want = sx.compile(src, backend="numpy")(a, b)
    except sx.SymExprError:
        return
    got = prog(a, b)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes()
    if prog._engine._specs and any(s.source and "__builtin_nontemporal_store" in s.source
                                   for s in prog._engine._specs.values()):
        assert "mem_fence(CLK_GLOBAL_MEM_FENCE)" in prog.kernel_source


def test_streaming_is_chosen_only_for_data_larger_than_the_cache_and_aligned_outputs(monkeypatch):
    prog = sx.compile("c = a * 2 + b", backend="opencl")
    info = prog._engine.info
    if not info.is_cpu or not info.cache_bytes:
        pytest.skip("streaming stores are for CPU devices that report their cache")
    monkeypatch.setattr(info, "cache_bytes", 64 * 1024)
    small = np.arange(1000, dtype=np.float32)
    prog(small, small)
    assert "__builtin_nontemporal_store" not in prog.kernel_source
    big = np.arange(20000, dtype=np.float32)
    np.testing.assert_array_equal(prog(big, big), big * 2 + big)
    assert "__builtin_nontemporal_store" in prog.kernel_source
    # an out= array aligned to 4 but not to 16 bytes: plain stores
    raw = np.zeros(20000 * 4 + 16, np.uint8)
    start = (-raw.ctypes.data % 16) + 4
    out = raw[start:start + 20000 * 4].view(np.float32)
    assert prog(big, big, out=out) is out
    np.testing.assert_array_equal(out, big * 2 + big)
    assert "__builtin_nontemporal_store" not in prog.kernel_source


def test_streaming_at_a_real_size_in_place():
    prog = sx.compile("c = a * 3 - b", backend="opencl")
    n = 6_000_000  # 3 float64 arrays of 48 MB: more than any CPU's last-level cache here
    a, b = np.arange(n, dtype=np.float64), np.ones(n)
    want = a * 3 - b
    assert prog(a, b, out=a) is a
    np.testing.assert_array_equal(a, want)


@pytest.mark.parametrize("src, dtype, what", [
    ("c = a * 2", np.complex128, "complex128 needs float64"),
    ("c = exp(a)", np.complex64, "complex64 exp needs float64"),
    ("c = sum(a * 2)", np.float64, "float64 is not supported"),
])
def test_a_device_without_fp64_refuses_what_needs_double_by_name(monkeypatch, src, dtype, what):
    prog = sx.compile(src, backend="opencl")
    monkeypatch.setattr(prog._engine.info, "fp64", False)
    with pytest.raises(DTypeError, match=what):
        prog(a=np.ones(8, dtype))
    assert prog(a=np.ones(8, np.float32)).dtype == np.float32

"""The program file: Program.save / symexpr.load give back the same graphs, results and explain(),
bound parameters, and a clear error for a damaged file or one from a newer format version."""
from __future__ import annotations

import json
import pickle
import random
import warnings

import numpy as np
import pytest

import symexpr as sx
from symexpr.export import json_format
from test_fuzz_exact import random_case, _outcome, _same

PROGRAMS = [
    "c = a + b",
    "d = a * b + 2\ne = sum(d, axis=0, keepdims=True)\nq = 1 + 2\nc = where(d > 0, d, float32(0.5)) + e * q + nan",
    "m = a @ b\nt = transpose(m, (1, 0))\ns = softmax(t, axis=0)\nv = var(m, axis=1, ddof=1)",
    "x = int8(a) // 3 % -2\ny = (x << 2) ^ ~x\nz = argmax(a, axis=-1)\nw = std(b) + logsumexp(a)",
    "u = -0.0 * a\nv = copysign(1.0, u) + inf\nk = uint64(-1) & uint64(b)",
    "l = sum(relu(a @ b) * a) + mean(a)\nga = grad(l, a)\ngb = grad(l, b)",  # what differentiation makes
]


def data(seed=0):
    rng = np.random.default_rng(seed)
    return {"a": rng.standard_normal((3, 3)).astype(np.float32), "b": rng.standard_normal((3, 3)).astype(np.float32)}


@pytest.mark.parametrize("src", PROGRAMS)
@pytest.mark.parametrize("optimize", [True, False])
def test_round_trip_same_graph_results_and_explain(tmp_path, src, optimize):
    prog = sx.compile(src, backend="numpy", optimize=optimize)
    path = tmp_path / "prog.json"
    prog.save(path)
    loaded = sx.load(path)
    assert loaded.explain() == prog.explain()
    assert str(loaded.graph) == str(prog.graph) and str(loaded.parsed) == str(prog.parsed)
    assert loaded.inputs == prog.inputs and loaded.outputs == prog.outputs
    assert loaded.optimized == optimize and loaded.backend == "numpy"
    assert _same(_outcome(loaded, data()), _outcome(prog, data()))
    assert loaded.explain(**data()) == prog.explain(**data())


def test_load_does_not_parse(tmp_path, monkeypatch):
    prog = sx.compile("c = a * 2 + sin(b)", backend="numpy")
    prog.save(tmp_path / "p.json")
    import symexpr.program

    def refuse(*args, **kwargs):
        raise AssertionError("parsed again")
    monkeypatch.setattr(symexpr.program, "parse", refuse)
    loaded = sx.load(tmp_path / "p.json")
    assert loaded.source == prog.source


def test_strong_constants_and_nan_bits_survive(tmp_path):
    nan = np.array(0xFFC00123, np.uint32).view(np.float32)[()]
    rec = json_format.encode_value(nan)
    back = json_format.decode_value(json.loads(json.dumps(rec)))
    assert type(back) is np.float32 and back.tobytes() == nan.tobytes()
    for value in (2, 2.5, -0.0, float("inf"), float("nan"), True, None, (1, 0), np.int8(-3), np.uint64(2**64 - 1),
                  np.float64(-0.0), np.bool_(True)):
        back = json_format.decode_value(json.loads(json.dumps(json_format.encode_value(value))))
        assert type(back) is type(value)
        assert np.asarray(back).tobytes() == np.asarray(value).tobytes()


def test_the_file_is_documented_json(tmp_path):
    sx.compile("c = sum(a * b, axis=1)").save(tmp_path / "p.json")
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["format"] == "symexpr-program" and record["version"] == json_format.VERSION
    assert {"source", "options", "nodes", "parsed", "optimized", "rewrites", "params"} <= set(record)
    (node,) = [n for n in record["nodes"] if n["op"] == "sum"]
    assert node["keywords"] == {"axis": 1, "keepdims": False}
    assert node["statement"][:2] == [1, 1]


def test_params_are_bound_beside_the_file(tmp_path):
    prog = sx.compile("h = relu(x @ w1 + b1)\ny = sum(h, axis=1)", backend="numpy")
    rng = np.random.default_rng(1)
    w1, b1 = rng.standard_normal((4, 5)), rng.standard_normal(5)
    x = rng.standard_normal((3, 4))
    prog.save(tmp_path / "net.json", params={"w1": w1, "b1": b1})
    assert (tmp_path / "net.npz").exists()
    loaded = sx.load(tmp_path / "net.json")
    assert loaded.inputs == ("x",) and set(loaded.params) == {"w1", "b1"}
    np.testing.assert_array_equal(loaded(x), prog(x=x, w1=w1, b1=b1))
    np.testing.assert_array_equal(loaded(x=x), prog(x=x, w1=w1, b1=b1))
    np.testing.assert_array_equal(loaded.run({"x": x}), prog(x=x, w1=w1, b1=b1))
    with pytest.raises(sx.CallError, match="bound to the parameters"):
        loaded(x=x, w1=w1)
    with pytest.raises(sx.CallError, match="missing input `x`"):
        loaded()
    # pickled, and saved again, it keeps them
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(loaded))(x), loaded(x))
    loaded.save(tmp_path / "again.json")
    np.testing.assert_array_equal(sx.load(tmp_path / "again.json")(x), loaded(x))
    with pytest.raises(sx.SymExprError, match="not an input"):
        prog.save(tmp_path / "bad.json", params={"nope": w1})


def test_backend_can_be_chosen_on_load(tmp_path):
    sx.compile("c = a + 1", backend="numpy").save(tmp_path / "p.json")
    assert sx.load(tmp_path / "p.json").backend == "numpy"
    with pytest.raises(sx.SymExprError, match="backend"):
        sx.load(tmp_path / "p.json", backend="cuda")


def _damage(tmp_path, change):
    sx.compile("d = a * b\nc = sum(d, axis=0)", backend="numpy").save(tmp_path / "p.json")
    record = json.loads((tmp_path / "p.json").read_text())
    change(record)
    (tmp_path / "p.json").write_text(json.dumps(record))
    return tmp_path / "p.json"


def _set(path, value):
    def change(record):
        target = record
        if path[:2] == ["nodes", "sum"]:
            path[1] = next(k for k, n in enumerate(record["nodes"]) if n["op"] == "sum")
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize("change, message", [
    (_set(["version"], 2), "newer symexpr"),
    (_set(["version"], "1"), "version"),
    (_set(["format"], "other"), "not a symexpr program file"),
    (_set(["nodes", 2, "op"], "frobnicate"), "unknown op `frobnicate`"),
    (_set(["nodes", 2, "inputs"], [0, 7]), "operands must be indices of earlier nodes"),
    (_set(["nodes", 2, "inputs"], [0]), "takes 2 operands"),
    (_set(["nodes", "sum", "keywords"], {"axes": 0}), "keywords"),
    (_set(["nodes", "sum", "keywords"], {"axis": {"dtype": "complex256", "value": 1}, "keepdims": False}), "dtype"),
    (_set(["nodes", 0, "span"], [1, 2]), "span"),
    (_set(["optimized", "outputs"], [["c", 99]]), "node indices"),
    (_set(["optimized", "nodes"], [0, 1, 4, 2]), "after their operands"),
    (_set(["parsed", "inputs"], [2]), "input nodes"),
    (_set(["rewrites"], [{"pass": "x", "message": "y", "node": 50}]), "rewrite's node"),
    (_set(["options", "colour"], "blue"), "unknown options"),
    (lambda r: r.pop("nodes"), "damaged"),
    (_set(["nodes"], 5), "damaged"),
])
def test_damaged_or_newer_files_are_clear_errors(tmp_path, change, message):
    path = _damage(tmp_path, change)
    with pytest.raises(sx.FileFormatError, match=message):
        sx.load(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(sx.FileFormatError, match="cannot read"):
        sx.load(tmp_path / "missing.json")
    (tmp_path / "p.json").write_text('{"format": "symexpr-program", "vers')
    with pytest.raises(sx.FileFormatError, match="not JSON"):
        sx.load(tmp_path / "p.json")
    (tmp_path / "q.json").write_text("[1, 2]")
    with pytest.raises(sx.FileFormatError):
        sx.load(tmp_path / "q.json")
    prog = sx.compile("c = a * w", backend="numpy")
    prog.save(tmp_path / "r.json", params={"w": np.ones(3)})
    (tmp_path / "r.npz").write_bytes(b"not a zip")
    with pytest.raises(sx.FileFormatError, match="parameters"):
        sx.load(tmp_path / "r.json")


def test_random_programs_round_trip(tmp_path):
    """Programs drawn as the exact-operation fuzzer draws them: the loaded program gives the same bits."""
    rng = random.Random(5)
    checked = 0
    for index in range(40):
        src, values = random_case(rng)
        try:
            prog = sx.compile(src, backend="numpy")
        except sx.ParseError:
            continue
        path = tmp_path / f"p{index}.json"
        prog.save(path)
        loaded = sx.load(path)
        assert loaded.explain() == prog.explain(), src
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert _same(_outcome(loaded, values), _outcome(prog, values)), src
        checked += 1
    assert checked > 20

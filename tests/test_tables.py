"""Tables in and out: a table plus keyword values, `prog.assign(df)`, paths to .npz/.npy files, and
pandas' nullable columns."""
import warnings

import numpy as np
import pytest

import symexpr as sx

pd = pytest.importorskip("pandas")

FALL = "h = v * t - 0.5 * g * t ** 2"


@pytest.fixture
def df():
    return pd.DataFrame({"v": [1.0, 2.0, 3.0], "t": [0.5, 1.0, 2.0], "note": ["a", "b", "c"]},
                        index=pd.Index([10, 20, 30], name="id"))


def _fall(v, t, g):
    return v * t - 0.5 * g * t ** 2


def test_dataframe_plus_keyword(backend, df):
    prog = sx.compile(FALL, backend=backend)
    np.testing.assert_array_equal(prog(df, g=9.81), _fall(df.v.to_numpy(), df.t.to_numpy(), 9.81))


def test_keyword_overrides_a_column(backend, df):
    prog = sx.compile(FALL, backend=backend)
    df = df.assign(g=1.0)
    np.testing.assert_array_equal(prog(df), _fall(df.v.to_numpy(), df.t.to_numpy(), 1.0))
    np.testing.assert_array_equal(prog(df, g=2.0), _fall(df.v.to_numpy(), df.t.to_numpy(), 2.0))
    np.testing.assert_array_equal(prog(df, t=np.float64(1.0), g=2.0), _fall(df.v.to_numpy(), 1.0, 2.0))


def test_mapping_plus_keyword_keeps_the_python_scalar_weak(backend):
    prog = sx.compile("c = a + b", backend=backend)
    x = np.arange(3, dtype=np.float32)
    r = prog({"a": x}, b=2.0)
    assert r.dtype == np.float32 and r.tolist() == [2.0, 3.0, 4.0]


def test_table_missing_a_column_names_it(df):
    prog = sx.compile(FALL)
    with pytest.raises(sx.CallError, match="missing input `g`.*no such column"):
        prog(df)
    with pytest.raises(sx.CallError, match="unknown input `gg`.*did you mean `g`"):
        prog(df, gg=1.0)


def test_assign_returns_a_dataframe_keeping_the_index(backend, df):
    prog = sx.compile(FALL, backend=backend)
    out = prog.assign(df, g=9.81)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["v", "t", "note", "h"]
    assert out.index.equals(df.index)
    np.testing.assert_array_equal(out["h"].to_numpy(), prog(df, g=9.81))
    assert "h" not in df.columns  # the caller's frame is untouched, as with df.assign
    # As pandas' own eval would give it.
    expected = df.eval("h = v * t - 0.5 * 9.81 * t ** 2")
    pd.testing.assert_frame_equal(out, expected)


def test_assign_replaces_a_column_and_adds_several(df):
    prog = sx.compile("v = v * 2\nk = 0.5 * v * v", outputs=["v", "k"], backend="numpy")
    out = prog.assign(df)
    assert list(out.columns) == ["v", "t", "note", "k"]
    np.testing.assert_array_equal(out["v"].to_numpy(), df.v.to_numpy() * 2)
    np.testing.assert_array_equal(out["k"].to_numpy(), 0.5 * (df.v.to_numpy() * 2) ** 2)


def test_assign_of_a_scalar_output_broadcasts(df):
    out = sx.compile("s = g * 2", backend="numpy").assign(df, g=1.5)
    assert out["s"].tolist() == [3.0, 3.0, 3.0]


def test_assign_on_a_mapping_and_refusals():
    prog = sx.compile("c = a + 1", backend="numpy")
    got = prog.assign({"a": np.arange(3)})
    assert set(got) == {"a", "c"} and got["c"].tolist() == [1, 2, 3]
    with pytest.raises(sx.CallError, match="DataFrame or a mapping"):
        prog.assign(np.arange(3))
    with pytest.raises(sx.ShapeError, match="rows"):
        sx.compile("c = a + b", backend="numpy").assign(pd.DataFrame({"a": [1, 2]}), b=np.ones((3, 1)))


def test_npz_and_npy_paths(tmp_path, backend):
    prog = sx.compile("c = a + b", backend=backend)
    np.savez(tmp_path / "data.npz", a=np.arange(4.0), b=np.ones(4))
    np.save(tmp_path / "a.npy", np.arange(4.0))
    np.testing.assert_array_equal(prog(str(tmp_path / "data.npz")), np.arange(4.0) + 1)
    np.testing.assert_array_equal(prog(str(tmp_path / "data.npz"), b=2.0), np.arange(4.0) + 2)
    np.testing.assert_array_equal(prog(str(tmp_path / "a.npy"), 3.0), np.arange(4.0) + 3)
    np.testing.assert_array_equal(prog(a=str(tmp_path / "a.npy"), b=1.0), np.arange(4.0) + 1)
    np.testing.assert_array_equal(prog.run(str(tmp_path / "data.npz")), np.arange(4.0) + 1)


def test_bad_paths_are_clear(tmp_path):
    prog = sx.compile("c = a + b", backend="numpy")
    with pytest.raises(sx.DTypeError, match=r"input `a` has dtype <U8.*a path to data must name an \.npz .*\.npy"):
        prog("data.csv", 1)
    with pytest.raises(sx.CallError, match="cannot read"):
        prog(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "t.npz", a=np.ones(2))
    with pytest.raises(sx.CallError, match="holds a table"):
        prog(a=str(tmp_path / "t.npz"), b=1)


def test_nullable_int_with_na_follows_to_numpy_with_a_warning(backend):
    prog = sx.compile("c = a + b", backend=backend)
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [1, 2, 3]})
    with pytest.warns(RuntimeWarning, match=r"column `a` \(Int64\) has 1 missing value.*float64 with NaN"):
        r = prog(frame)
    expected = frame["a"].to_numpy() + frame["b"].to_numpy()  # pandas' own rule: float64, NaN
    np.testing.assert_array_equal(r, expected)
    assert r.dtype == np.float64


def test_nullable_columns_without_na_keep_their_dtype():
    prog = sx.compile("c = a + b", backend="numpy")
    frame = pd.DataFrame({"a": pd.array([1, 2, 3], dtype="Int8"), "b": pd.array([1, 2, 3], dtype="UInt8")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prog(frame).dtype == np.int16


def test_nullable_bool_with_na_is_refused_clearly():
    prog = sx.compile("c = a & b", backend="numpy")
    frame = pd.DataFrame({"a": pd.array([True, None], dtype="boolean"), "b": [True, False]})
    with pytest.raises(sx.DTypeError, match=r"column `a` \(boolean\) has 1 missing value.*fillna"):
        prog(frame)

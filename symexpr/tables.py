"""What a call takes besides arrays and numbers: tables and files.

A table is a mapping, a pandas DataFrame, a structured array or an .npz file: a call takes the
inputs it has a column for (`column`: a pandas nullable column with NA refused or made NaN, as
pandas' own to_numpy would). A path to an .npy file is one array, to an .npz a table. Dask arrays
are recognised here too, without importing Dask.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .errors import CallError, DTypeError


def is_table(value) -> bool:
    """A mapping, or anything with named columns: a DataFrame, a structured array, an .npz."""
    if isinstance(value, Mapping):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.names is not None
    return hasattr(value, "columns") or hasattr(value, "files")


def column(table, name):
    try:
        col = table[name]
    except (KeyError, ValueError, IndexError):
        return MISSING
    if not hasattr(col, "to_numpy"):
        return col
    if is_pd_na(getattr(col.dtype, "na_value", None)) and bool(col.isna().any()):
        # A pandas nullable column (Int64, boolean, Float32...) with NA: NumPy has no NA. pandas'
        # own to_numpy rule gives NaN in a float array (Int64 -> float64) and objects where no
        # float holds it (boolean, string): say which, or refuse.
        arr = col.to_numpy()
        count = int(col.isna().sum())
        if arr.dtype.kind != "f":
            raise DTypeError(f"column `{name}` ({col.dtype}) has {count} missing value{'s' * (count > 1)} (NA), "
                             f"which NumPy cannot hold in {col.dtype}: fill the NA first, as in "
                             f"df[{name!r}].fillna(...)")
        warnings.warn(f"symexpr: column `{name}` ({col.dtype}) has {count} missing value{'s' * (count > 1)} "
                      f"(NA): taken as pandas' to_numpy gives it, {arr.dtype} with NaN for NA",
                      RuntimeWarning, stacklevel=4)
        return arr
    return col.to_numpy()


def is_dask(value) -> bool:
    # A Dask array, without importing dask (symexpr/dask/ runs the program on it).
    return type(value).__module__.startswith("dask.") and hasattr(value, "__dask_graph__")


def is_pd_na(value) -> bool:
    # pandas.NA, the missing value of pandas' nullable dtypes, without importing pandas.
    return type(value).__name__ == "NAType"


MISSING = object()
PATH_SUFFIXES = (".npz", ".npy")


def is_path(value) -> bool:
    return isinstance(value, str) and value.lower().endswith(PATH_SUFFIXES)


def load_path(path: str, name: str | None = None):
    """A path given for data: an .npz is a table (a dict of its arrays), an .npy one array."""
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    if suffix == ".npz" and name is not None:
        raise CallError(f"input `{name}` = {path!r}: an .npz file holds a table; pass it as the only "
                        f"positional argument, prog({path!r}, ...)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise CallError(f"cannot read {path}: {err}") from None
    if suffix == ".npz":
        with loaded:
            return {k: loaded[k] for k in loaded.files}
    return loaded

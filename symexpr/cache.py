"""Where symexpr keeps what it can reuse across processes: built kernels and the parser tables.

`$SYMEXPR_CACHE_DIR`, else `$XDG_CACHE_HOME/symexpr`, else `~/.cache/symexpr`; nothing
at all with `SYMEXPR_NO_CACHE=1`. Every entry can be deleted at any time: a missing
or broken one is rebuilt, and a cache that cannot be written only makes symexpr slower.
"""
from __future__ import annotations

import os


def cache_folder(kind: str) -> str | None:
    """The folder for one kind of entry ("opencl", "parser"), as a string (without importing pathlib,
    some milliseconds of a new process), or None when caching is off."""
    if os.environ.get("SYMEXPR_NO_CACHE"):
        return None
    base = os.environ.get("SYMEXPR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "symexpr")
    return os.path.join(base, kind)


def cache_dir(kind: str):
    """`cache_folder` as a pathlib.Path (or None)."""
    from pathlib import Path

    folder = cache_folder(kind)
    return None if folder is None else Path(folder)

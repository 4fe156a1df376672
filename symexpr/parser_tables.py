"""The grammar compiled by Lark, and the lean parser's tables cached on disk.

`parser()` is the grammar (grammar/symexpr.lark) compiled by Lark, with Lark's own cache; only a
process that finds no cached tables imports Lark. `lean_parser()` is the `frontend.Parser` that
parse.py runs, loaded from its tables on disk (marshal) or built from `parser()` and saved.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
from typing import TYPE_CHECKING

from . import frontend
from .cache import cache_dir, cache_folder

if TYPE_CHECKING:  # imported in parser(): only building the tables needs Lark
    import lark


def _grammar_text() -> str:
    here = os.path.dirname(os.path.realpath(__file__))
    for folder in (here, os.path.dirname(here)):
        candidate = os.path.join(folder, "grammar", "symexpr.lark")
        if os.path.exists(candidate):
            with open(candidate, encoding="utf-8") as f:
                return f.read()
    raise FileNotFoundError("symexpr's grammar file symexpr.lark is missing from the installation")


class _Separators:
    """The post-lexer, as Lark's options know it: Lark keeps the terminals a post-lexer accepts
    (`always_accept`) although no rule uses them. `tokens` does the work: newlines and `;` become
    _SEP there, so this passes Lark's own tokens through (`parser().lex` gives the raw ones)."""

    always_accept = ("_NEWLINE", "SEMICOLON")

    def process(self, stream):
        return stream


@functools.cache
def parser() -> lark.Lark:
    """The grammar compiled by Lark; its tables are cached on disk (lark's cache, keyed by the
    grammar's hash and the options): building them takes about 30 ms, loading them 2 ms. Every token
    is kept (keep_all_tokens), so a node's span runs from its first token to its last, parentheses
    included."""
    import lark

    options = dict(parser="lalr", lexer="basic", keep_all_tokens=True, maybe_placeholders=False,
                   postlex=_Separators())
    text = _grammar_text()
    folder = cache_dir("parser")
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Lark's cache key leaves the post-lexer out: name what it changes (the terminals kept).
            name = f"lark-{lark.__version__}-{'-'.join(_Separators.always_accept).lower()}.cache"
            return lark.Lark(text, cache=str(folder / name), **options)
        except Exception:  # noqa: BLE001 - a broken or unwritable cache: build without it
            pass
    return lark.Lark(text, **options)


# Bumped when frontend.Parser's tables change shape, or their file's: older entries are never read.
TABLES_FORMAT = 3


def _tables_entry() -> tuple[str, str | None, str | None]:
    """The grammar as the tables' entry records it, the cache folder, and the entry's path."""
    import sys

    grammar = f"{TABLES_FORMAT}\0{_Separators.always_accept}\0{_grammar_text()}"
    folder = cache_folder("parser")
    # (A byte sum, not a CRC: importing zlib costs half a millisecond, and the text is compared anyway.)
    checksum = sum(grammar.encode()) & 0xFFFFFFFF
    name = f"frontend-{checksum:08x}-{len(grammar)}-py{sys.version_info[0]}{sys.version_info[1]}.marshal"
    return grammar, folder, os.path.join(folder, name) if folder is not None else None


def forget_broken_tables() -> None:
    """After `frontend.BrokenTables` (a cached entry whose rows, made as the parser reaches them, turn
    out damaged): the entry removed, so the next `lean_parser()` builds the tables again with Lark."""
    lean_parser.cache_clear()
    path = _tables_entry()[2]
    if path is not None:
        with contextlib.suppress(OSError):
            os.remove(path)


@functools.cache
def lean_parser() -> frontend.Parser:
    """The lean parser. Its tables are cached on disk with the grammar's text they were made from
    (the file is named by a checksum of it and of the Python version, and read only if the text is
    the same), in `marshal`'s format (built in: a new process loads them in about half a millisecond,
    without importing Lark, some 50 ms, or json); a missing or broken entry is built again with Lark."""
    import marshal

    grammar, folder, path = _tables_entry()
    if path is not None and os.path.exists(path):
        try:
            with open(path, "rb") as f:
                entry = marshal.loads(f.read())  # (marshal.load reads a file a few bytes at a time)
            if entry["grammar"] == grammar:
                return frontend.Parser.from_tables(entry["tables"])
        except (OSError, ValueError, EOFError, KeyError, TypeError, IndexError, re.error):
            pass  # broken: built again below
    lean = frontend.Parser(parser())
    if path is not None:
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            os.makedirs(folder, exist_ok=True)
            import json  # (only here: the tables as plain lists, dicts and strings, whatever types Lark used)

            tables = json.loads(json.dumps(lean.tables()))
            with open(tmp, "wb") as f:
                marshal.dump({"grammar": grammar, "tables": tables}, f)
            os.replace(tmp, path)  # whole or not at all, also with other processes writing it
        except (OSError, ValueError):  # an unwritable cache only makes the next process slower
            with contextlib.suppress(OSError):
                os.remove(tmp)
    return lean

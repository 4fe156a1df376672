"""What a syntax error says: the messages of the parser's refusals, each pointing at its place.

A character no terminal matches (`bad_character`: a non-ASCII letter, Python's `np.sin`), a token
the grammar does not allow where it is (`syntax_error`: what was expected, a keyword assigned to,
`x if c else y`, `y += 1`), and the name meant (`suggest`).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import frontend
from .errors import ParseError, Span
from .ops import CONSTANTS, FUNCTIONS

if TYPE_CHECKING:
    from .parse import Lines

# Readable names of the grammar's terminals, for "expected ..." messages.
_TERMINAL_TEXT = {
    "NAME": "a name", "NUMBER": "a number", "LPAR": "`(`", "RPAR": "`)`", "EQUAL": "`=`",
    "COMMA": "`,`", "SEMICOLON": "`;`", "_NEWLINE": "a new line", "$END": "the end of the program",
    "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "COMPARE": "a comparison",
    "TRUE": "`True`", "FALSE": "`False`", "NOT": "`not`", "TILDE": "`~`", "NONE": "`None`", "AT": "`@`",
    "LSHIFT": "`<<`", "RSHIFT": "`>>`",
}


def _describe_token(tok) -> str:
    if tok[0] == "$END":
        return "the end of the program"
    if tok[0] == "_NEWLINE" or (tok[0] == "_SEP" and tok[1] != ";"):
        return "end of the line"
    return f"`{tok[1]}`"


def _paren_depth(source: str, pos: int) -> int:
    """How many parentheses are open at offset `pos` (comments skipped)."""
    depth = 0
    code = "\n".join(line.split("#", 1)[0] for line in source[:pos].split("\n"))
    for c in code:
        depth += (c == "(") - (c == ")")
    return max(depth, 0)


_MODULES = ("np", "numpy", "math", "sx", "symexpr", "cmath", "jnp", "torch")
_NAME_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)$")
_NAME_AFTER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def bad_character(source: str, lines: Lines, pos: int) -> ParseError:
    ch = source[pos] if pos < len(source) else ""
    if ch and not ch.isascii():
        msg = f"`{ch}` is not allowed: names are ASCII letters, digits and underscores"
    elif ch == "." and _NAME_BEFORE.search(source[:pos]) and _NAME_AFTER.match(source, pos + 1):
        # `np.sin(a)`, `a.sum()`: Python's attribute syntax, which the language spells as a call.
        owner = _NAME_BEFORE.search(source[:pos]).group(1)
        attr = _NAME_AFTER.match(source, pos + 1).group(0)
        if owner in _MODULES:
            known = attr in FUNCTIONS or attr in CONSTANTS
            msg = (f"`{owner}.{attr}` is written `{attr}` in a program: its functions and constants need no module"
                   if known else f"`{owner}.{attr}`: a program calls its functions without a module, "
                   f"and `{attr}` is not one of them{suggest(attr, FUNCTIONS)}")
        else:
            msg = (f"`{owner}.{attr}`: a program has no methods or attributes; write `{attr}({owner}, ...)`"
                   if attr in FUNCTIONS else f"`{owner}.{attr}`: a program has no methods or attributes")
    else:
        msg = f"unexpected character `{ch}`"
    line, column = lines.position(pos)
    return ParseError(msg, source=source, span=Span(line, column, pos, pos + 1))


def syntax_error(source: str, lines: Lines, err: frontend.UnexpectedToken) -> ParseError:
    tok, expected = err.token, err.expected
    if expected & {"NAME", "NUMBER"}:
        hint = "; expected a value, a name or `(`"
    elif expected:
        ends = expected & {"_SEP", "$END"}
        # LALR merges states, so `)` and `,` can be "expected" outside any parentheses: say so only inside.
        inside = _paren_depth(source, tok[2]) > 0
        closers = [_TERMINAL_TEXT[t] for t in ("RPAR", "COMMA") if t in expected and inside]
        choices = ["an operator", *closers] + (["the end of the statement"] if ends and not inside else [])
        hint = "; expected " + (", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0])
    else:
        hint = ""
    if tok[0] == "$END":
        text_lines = source.rstrip().split("\n")  # as the lexer counts lines (not str.splitlines)
        line, col = len(text_lines), len(text_lines[-1]) + 1
        offset = len(source.rstrip())
        return ParseError(f"unexpected end of the program{hint}", source=source,
                          span=Span(line, col, offset, offset))
    if tok[0] == "EQUAL":
        target = _bad_target(source, lines, tok)
        if target is not None:
            return target
    after = source[tok[3]:].lstrip(" \t")
    line, column = lines.position(tok[2])
    if tok[1] in _KEYWORDS and after.startswith("=") and not after.startswith("=="):
        span = Span(line, column, tok[2], tok[3])
        return ParseError(f"cannot assign to `{tok[1]}`: it is {_KEYWORDS[tok[1]]}", source=source, span=span)
    if tok[1] in ("if", "else") and tok[0] == "NAME":
        span = Span(line, column, tok[2], tok[3])
        return ParseError("a conditional expression `x if c else y` is written `where(c, x, y)` "
                          "(element-wise, as np.where)", source=source, span=span)
    span = Span(line, column, tok[2], max(tok[3], tok[2] + 1))
    return ParseError(f"unexpected {_describe_token(tok)}{hint}", source=source, span=span)


_KEYWORDS = {"True": "a constant", "False": "a constant", "None": "a constant", "and": "a keyword", "or": "a keyword", "not": "a keyword"}


def _bad_target(source: str, lines: Lines, tok) -> ParseError | None:
    """`1 = a`, `True = a`, `f(a) = b`: the statement's left side is not a name. None if it is not that."""
    line_start = source.rfind("\n", 0, tok[2]) + 1
    stmt_start = max(line_start, source.rfind(";", 0, tok[2]) + 1)
    before = source[stmt_start:tok[2]]
    target = before.strip()
    if not target or "=" in target:
        return None
    start = stmt_start + len(before) - len(before.lstrip())
    augmented = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*(\*\*|//|<<|>>|[-+*/%@&|^])", target)
    if augmented:
        # `y += 1`: Python's augmented assignment, which the language writes out.
        name, op = augmented.groups()
        span = Span(lines.position(tok[2])[0], start - line_start + 1, start, tok[3])
        return ParseError(f"`{name} {op}= ...` is not in the language: write `{name} = {name} {op} ...` "
                          "(each statement assigns a new value)", source=source, span=span)
    what = _KEYWORDS.get(target, "only a name can be assigned to, as in `c = a + b`")
    what = f"it is {what}" if target in _KEYWORDS else what
    span = Span(lines.position(tok[2])[0], start - line_start + 1, start, start + len(target))
    return ParseError(f"cannot assign to `{target}`: {what}", source=source, span=span)


def suggest(name: str, choices) -> str:
    import difflib  # (only for an error)

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean `{close[0]}`?" if close else ""

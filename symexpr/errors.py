"""The errors symexpr raises on bad input, each pointing at the place in the source.

Every error is a `SymExprError`. Errors about the program text carry a `Span`
and render the offending line with a caret under the column, like Python's own
`SyntaxError`; call-time errors name the input and the statement involved.
"""
from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """Where a piece of the program came from: 1-based line and column, 0-based offsets.

    A named tuple: the parser makes one per node, and a tuple is made three times faster than a
    frozen dataclass."""

    line: int
    column: int
    start: int
    end: int
    end_line: int | None = None
    end_column: int | None = None

    def text(self, source: str) -> str:
        """The source text this span covers."""
        return source[self.start:self.end]


def source_line(source: str, line: int) -> str:
    # Lines as the lexer counts them: split at \n only (str.splitlines also splits at \f, \x85,
    # \u2028 and others, which may sit in a comment, and would show the wrong line).
    lines = source.split("\n")
    return lines[line - 1].removesuffix("\r") if 1 <= line <= len(lines) else ""


def render_caret(source: str, line: int, column: int, width: int = 1) -> str:
    """The source line followed by a caret line under `column` (1-based)."""
    text = source_line(source, line)
    # Keep tabs in the caret line so the caret lines up under the character.
    pad = "".join(c if c == "\t" else " " for c in text[: max(column - 1, 0)])
    width = max(1, min(width, len(text) - column + 1)) if text else 1
    return f"    {text}\n    {pad}{'^' * width}"


class SymExprError(Exception):
    """Base class of every error symexpr raises on bad input."""

    def __init__(self, message: str, *, source: str | None = None, span: Span | None = None,
                 statement: Span | None = None):
        self.message = message
        self.source = source
        self.span = span
        # Call-time errors name their statement in the message ("line 2, `c = a + b`: ...") and
        # carry its place as .line/.column without a caret: `statement` is that place.
        where = span or statement
        self.line = where.line if where else None
        self.column = where.column if where else None
        super().__init__(self._render())

    def _render(self) -> str:
        if self.span is None or self.source is None:
            return self.message
        s = self.span
        width = (s.end - s.start) if (s.end_line in (None, s.line)) else 1
        caret = render_caret(self.source, s.line, s.column, width)
        return f"line {s.line}, column {s.column}: {self.message}\n{caret}"


class ParseError(SymExprError, SyntaxError):
    """The program text is not a valid symexpr program."""

    def __init__(self, message: str, *, source: str | None = None, span: Span | None = None):
        SymExprError.__init__(self, message, source=source, span=span)
        # SyntaxError's own attributes, so tools that know SyntaxError can show it.
        self.msg = message
        self.lineno = self.line
        self.offset = self.column
        self.text = source_line(source, self.line) if source and self.line else None
        self.filename = "<symexpr>"

    def __str__(self) -> str:
        return self._render()


class CallError(SymExprError, TypeError):
    """The program was called with missing, unknown or too many arguments."""


class ShapeError(SymExprError, ValueError):
    """Inputs whose shapes do not broadcast together."""


class DTypeError(SymExprError, TypeError):
    """A dtype symexpr or the device does not support, or an operation NumPy refuses for it."""


class BackendError(SymExprError, RuntimeError):
    """The OpenCL runtime failed: no platform, a build failure, out of device memory."""


class EvaluationError(SymExprError, ValueError):
    """A value NumPy refuses at run time, such as an integer raised to a negative power."""


class FileFormatError(SymExprError, ValueError):
    """A program file (symexpr.load) that is damaged, or from a newer symexpr."""

"""Program text -> dataflow graph, with a source position on every node.

The grammar lives in grammar/symexpr.lark. Lark compiles it (terminals and LALR tables, cached on
disk: parser_tables.py); `frontend.Parser` runs those tables with a lean loop, and `_Builder.reduce`
makes the graph's nodes as the parser reduces, bottom-up, so no parse tree is built. The loop is
iterative: the depth of the input is limited only by memory (and parentheses by MAX_NESTING). What a
syntax error says is syntax_errors.py's.
"""
from __future__ import annotations

import bisect
import math
import re
import warnings

import numpy as np

from . import frontend
from .errors import ParseError, Span
from .graph import Graph, Node, collector_paused, constant
from .ops import CASTS, CONSTANTS, FUNCTIONS, OPS, SUPPORTED_DTYPES, VALUE_NAMES, keeps_weak
from .parser_tables import forget_broken_tables, lean_parser

INT64_MAX = 2**63 - 1


def _suggest(name: str, choices) -> str:
    from .syntax_errors import suggest  # (errors only: syntax_errors.py loads when one is made)

    return suggest(name, choices)


# Tree aliases whose op name differs from the alias.
_ALIAS_OPS = {"true_divide": "divide"}
_COMPARISONS = {"<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal",
                "==": "equal", "!=": "not_equal"}

MAX_NESTING = 500


class Lines:
    """1-based lines and columns of a text's offsets, as Lark counts them."""

    def __init__(self, text: str):
        self.breaks = [m.start() for m in re.finditer("\n", text)]
        self._line = (0, -1, -1)  # the line found last: its number, the break before it and the one after

    def position(self, offset: int) -> tuple[int, int]:
        line, before, after = self._line
        if not before < offset <= after:  # (the parser asks about one line many times in a row)
            k = bisect.bisect_left(self.breaks, offset)
            line, before = k + 1, self.breaks[k - 1] if k else -1
            after = self.breaks[k] if k < len(self.breaks) else math.inf
            self._line = (line, before, after)
        return line, offset - before

    def span(self, start: int, end: int) -> Span:
        line, before, after = self._line
        if before < start and end <= after:  # on the line found last, as most spans are
            return Span(line, start - before, start, end, line, end - before)
        line, column = self.position(start)
        end_line, end_column = self.position(end) if end != start else (line, column)
        return Span(line, column, start, end, end_line, end_column)


def tokens(source: str, lines: Lines) -> tuple[list[tuple], list[tuple[int, int]]]:
    """The token tuples the grammar parses, and each statement's (start, end) offsets.

    Newlines inside parentheses continue the line, as in Python; every run of newlines and `;`
    becomes one _SEP, and none is sent before the first statement or after the last.
    Raises frontend.BadCharacter.
    """
    out: list[tuple] = []
    extents: list[tuple[int, int]] = []
    depth = 0
    pending = None
    for tok in lean_parser().scan(source):
        kind = tok[0]
        if kind == "_NEWLINE" or kind == "SEMICOLON":
            if pending is None and (kind == "SEMICOLON" or not depth):
                pending = tok
            continue
        if kind == "LPAR":
            depth += 1
            if depth > MAX_NESTING:
                raise ParseError(f"parentheses nested more than {MAX_NESTING} deep", source=source,
                                 span=lines.span(tok[2], tok[3]))
        elif kind == "RPAR":
            depth = max(depth - 1, 0)
        if not out:
            first = tok[2]
        elif pending is not None:
            extents.append((first, out[-1][3]))
            first = tok[2]
            out.append(("_SEP", pending[1], pending[2], pending[3]))
        pending = None
        out.append(tok)
    if out:
        extents.append((first, out[-1][3]))
    return out, extents


class _Int64MinMagnitude:
    """The literal 9223372036854775808: an int64 only under a unary minus (`negative` takes it)."""


class _Static:
    """A value that is not an array: `None`, a tuple `(0, 1)`, or a keyword argument `axis=1`.

    Only a call's keywords (and the positions that stand for them) take these; anywhere else they
    are a ParseError at their span.
    """

    __slots__ = ("what", "value", "span", "name")

    def __init__(self, what: str, value, span: Span, name: str | None = None):
        self.what, self.value, self.span, self.name = what, value, span, name


_STATIC_TEXT = {"none": "`None`", "tuple": "a tuple", "keyword": "a keyword argument"}


class _Builder:
    """Builds the graph as the parser reduces, resolving names as it goes (SSA).

    The parser's values are tuples (label, payload, start offset, end offset): tokens are labelled
    with their terminal, the builder's own values with None and carry a Node.
    """

    def __init__(self, source: str, lines: Lines, extents: list[tuple[int, int]]):
        self.source = source
        self.lines = lines
        self.extents = extents                 # each statement's (start, end)
        self.env: dict[str, Node] = {}        # variable -> its newest value
        self.inputs: dict[str, Node] = {}     # names read before any assignment
        self.nodes: list[Node] = []
        self.read_after: dict[str, bool] = {}  # was the newest value read since it was assigned?
        self.assigned_at: dict[str, int] = {}  # statement index of the newest assignment
        self.count = 0                          # statements reduced so far
        self.statement: Span | None = lines.span(*extents[0]) if extents else None

    def _add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def error(self, message, span: Span) -> ParseError:
        return ParseError(message, source=self.source, span=span)

    def reduce(self, kind: str, kids: list) -> tuple:
        if kind == "start":  # the statements are in already
            return (None, None, 0, len(self.source))
        start, end = kids[0][2], kids[-1][3]
        if kind == "name":
            return (None, self.name(kids[0]), start, end)
        if kind == "number":
            return (None, self.number(kids[0], self.lines.span(start, end)), start, end)
        if kind == "negative" and kids[1][1] is _Int64MinMagnitude:
            # -9223372036854775808 is an int64 although 9223372036854775808 alone is not.
            node = constant(-INT64_MAX - 1, span=self.lines.span(start, end), statement=self.statement)
            return (None, self._add(node), start, end)
        if kind == "none":
            return (None, _Static("none", None, self.lines.span(start, end)), start, end)
        args = [k[1] for k in kids if k[0] is None]
        if kind == "tuple":
            return (None, _Static("tuple", args, self.lines.span(start, end)), start, end)
        if kind == "keyword":
            return (None, _Static("keyword", args[0], self.lines.span(start, end), kids[0][1]), start, end)
        if _Int64MinMagnitude in args:
            bad = next(k for k in kids if k[1] is _Int64MinMagnitude)
            raise self.error(f"integer literal {self.source[bad[2]:bad[3]]} does not fit in int64",
                             self.lines.span(bad[2], bad[3]))
        if kind == "atom":  # `( expr )`: the expression, with the parentheses' span
            return (None, args[0], start, end)
        if kind == "call":
            return (None, self.call(kids[0], args, self.lines.span(start, end)), start, end)
        static = next((a for a in args if isinstance(a, _Static)), None)
        if static is not None:
            where = "a call's keyword" if static.what != "keyword" else "a call's arguments"
            raise self.error(f"{_STATIC_TEXT[static.what]} is allowed only as {where}, "
                             f"as in `sum(x, axis=(0, 1))`", static.span)
        if kind in ("assign", "bare_expression"):
            self.statement_done(kind, kids, args, start, end)
            return (None, None, start, end)
        span = self.lines.span(start, end)
        if kind in ("true", "false"):
            node = self._add(constant(kind == "true", span=span, statement=self.statement))
        elif kind == "compare":
            node = self.compare([k[1] for k in kids if k[0] == "COMPARE"], args, span)
        else:
            opname = _ALIAS_OPS.get(kind, kind)
            if opname not in OPS:
                raise self.error(f"internal: no op for `{kind}`", span)  # pragma: no cover
            node = self.apply(opname, args, span)
        return (None, node, start, end)

    def number(self, tok: tuple, span: Span):
        text = tok[1]
        if text[-1] in "jJ":  # an imaginary literal, `2j`, `1.5e3j`: a Python complex, weak
            value = complex(0.0, float(text[:-1]))
        elif not text.isdigit():  # a fraction or an exponent
            value = float(text)
        else:
            # Leading zeros do not count, but a literal of thousands of digits must not reach int()
            # (Python refuses more than 4,300 digits with a ValueError of its own).
            digits = text.lstrip("0") or "0"
            if len(digits) > 19:
                raise self.error(f"integer literal {text} does not fit in int64", span)
            value = int(digits)
            if value == INT64_MAX + 1:
                return _Int64MinMagnitude
            if value > INT64_MAX:
                raise self.error(f"integer literal {text} does not fit in int64", span)
        return self._add(constant(value, span=span, statement=self.statement))

    def name(self, tok: tuple) -> Node:
        name = tok[1]
        if name in self.env:
            self.read_after[name] = True
            return self.env[name]
        if name in self.inputs:
            return self.inputs[name]
        span = self.lines.span(tok[2], tok[3])
        if name in CONSTANTS:
            return self._add(constant(CONSTANTS[name], span=span, statement=self.statement))
        if name in FUNCTIONS and name not in VALUE_NAMES:
            raise self.error(f"`{name}` is a function: call it as {name}(...)", span)
        node = Node("input", (), (name,), None, span, self.statement)
        self.inputs[name] = self._add(node)
        return node

    def call(self, tok: tuple, args: list, span: Span) -> Node:
        fname = tok[1]
        op = FUNCTIONS.get(fname)
        if op is None:
            what = "a constant" if fname in CONSTANTS else "not a function"
            if fname in self.env or fname in self.inputs:
                what = "a variable, not a function"
            raise self.error(f"`{fname}` is {what}{_suggest(fname, FUNCTIONS)}", self.lines.span(tok[2], tok[3]))
        positional = [a for a in args if not (isinstance(a, _Static) and a.what == "keyword")]
        keywords = [a for a in args if isinstance(a, _Static) and a.what == "keyword"]
        if keywords and args.index(keywords[0]) < len(positional):
            late = positional[-1]
            raise self.error("an argument by position cannot follow a keyword argument",
                             late.span if late.span is not None else span)
        most = op.arity + op.positional
        if not op.arity <= len(positional) <= most:
            plural = "s" if op.arity != 1 else ""
            takes = f"{op.arity} argument{plural}" if most == op.arity else f"{op.arity} to {most} arguments"
            raise self.error(f"{fname}() takes {takes}, got {len(positional)}", span)
        given = {}
        for (kname, _), value in zip(op.keywords, positional[op.arity:]):
            given[kname] = (value, value.span)
        for kw in keywords:
            kspan = Span(kw.span.line, kw.span.column, kw.span.start, kw.span.start + len(kw.name))
            if all(kname != kw.name for kname, _ in op.keywords):
                takes = ", ".join(f"`{k}`" for k, _ in op.keywords)
                raise self.error(f"{fname}() takes no keyword `{kw.name}`"
                                 + (f" (it takes {takes})" if takes else " (it takes no keywords)")
                                 + _suggest(kw.name, [k for k, _ in op.keywords]), kspan)
            if kw.name in given:
                raise self.error(f"{fname}() got `{kw.name}` twice", kspan)
            given[kw.name] = (kw.value, kw.value.span)
        attrs = tuple((kname, static_keyword(fname, kname, *given[kname], self.error) if kname in given else default)
                      for kname, default in op.keywords)
        operands = positional[:op.arity]
        for a in operands:
            if isinstance(a, _Static):
                raise self.error(f"{_STATIC_TEXT[a.what]} is not an array: {fname}() takes "
                                 f"{'it only as a keyword' if op.keywords else 'arrays'}", a.span)
        if op.name in CASTS or keeps_weak(op.name):
            typed = self.typed_literal(op, operands, span)
            if typed is not None:
                return typed
        return self._add(Node(op.name, tuple(operands), attrs, None, span, self.statement))

    def typed_literal(self, op, args: list[Node], span: Span) -> Node | None:
        """`float32(2)`, `int8(-1)`, `pow(2, 0.5)`: a function of literals is a strong NumPy scalar
        constant, as np.float32(2) and np.pow(2, 0.5) are.

        A cast is strong as a node too; `pow` is the op of `**`, which keeps literals weak, so only
        the call, seen here, can say that `pow(2, 0.5)` is NumPy's float64 and not Python's float.
        """
        values = [literal_value(a) for a in args]
        if any(v is None for v in values):
            return None
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                typed = np.asarray(op.numpy(*values))[()]
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            return None  # (pow(2, -1)) raised at run time, with the statement, as NumPy raises it
        if typed.dtype not in SUPPORTED_DTYPES:
            return None  # refused by dtype inference, with the statement
        return self._add(constant(typed, span=span, statement=self.statement))

    def apply(self, opname: str, args, span: Span) -> Node:
        return self._add(Node(opname, tuple(args), (), None, span, self.statement))

    def compare(self, operators: list[str], args: list[Node], span: Span) -> Node:
        result = None
        for k, text in enumerate(operators):
            term = self.apply(_COMPARISONS[text], (args[k], args[k + 1]), span)
            result = term if result is None else self.apply("logical_and", (result, term), span)
        return result

    def statement_done(self, kind: str, kids: list, args: list[Node], start: int, end: int) -> None:
        if kind == "bare_expression":
            raise self.error("a statement must assign its value to a name, as in `c = a + b`",
                             self.lines.span(start, end))
        self.assign(kids[0], args[0], self.count)
        self.count += 1
        if self.count < len(self.extents):
            self.statement = self.lines.span(*self.extents[self.count])

    def assign(self, target: tuple, value: Node, index: int) -> None:
        name = target[1]
        if (name in FUNCTIONS and name not in VALUE_NAMES) or name in CONSTANTS:
            what = "a function" if name in FUNCTIONS else "a constant"
            raise self.error(f"cannot assign to `{name}`: it is {what}", self.lines.span(target[2], target[3]))
        if value.op not in ("input", "constant") and value.name is None and value is self.nodes[-1]:
            # Name the statement's own result after its variable, for printing and kernels.
            named = Node(value.op, value.inputs, value.attrs, name, value.span, value.statement)
            self.nodes[-1] = named
            value = named
        self.env[name] = value
        self.read_after[name] = False
        self.assigned_at[name] = index


def static_keyword(fname: str, name: str, value, span: Span, error):
    """A keyword's value as the op's attrs hold it: literals only (`axis=-1`, `axis=(0, 1)`,
    `axis=None`, `keepdims=True`, `ddof=1`), since shapes are planned before any data is seen."""
    def integer(v):
        if isinstance(v, Node):
            lit = literal_value(v)
            if type(lit) is int:
                return lit
        return None

    if name in ("axis", "axes"):
        if isinstance(value, _Static) and value.what == "none":
            return None
        if isinstance(value, _Static) and value.what == "tuple":
            items = [integer(v) for v in value.value]
            if all(i is not None for i in items):
                return tuple(items)
        elif integer(value) is not None:
            return integer(value)
        hint = ""
        if fname in ("min", "max", "amin", "amax") and name == "axis":
            # Python's min(a, b) of two values; the language's min is NumPy's reduction.
            hint = (f"; {fname}(x, axis) is NumPy's reduction: for the element-wise "
                    f"{'minimum' if 'min' in fname else 'maximum'} of two values write "
                    f"`{'minimum' if 'min' in fname else 'maximum'}(a, b)`")
        raise error(f"{fname}(): `{name}` is an integer, a tuple of integers or None, written in the "
                    f"program (as in `{name}=(0, 1)`){hint}", span)
    if name == "decimals":
        if integer(value) is not None:
            return integer(value)
        raise error(f"{fname}(): `decimals` is an integer written in the program (as in `decimals=2`)", span)
    if name == "keepdims":
        lit = literal_value(value) if isinstance(value, Node) else None
        if type(lit) is bool:
            return lit
        raise error(f"{fname}(): `keepdims` is True or False", span)
    if name == "ddof":
        lit = literal_value(value) if isinstance(value, Node) else None
        if type(lit) in (int, float):
            return lit
        raise error(f"{fname}(): `ddof` is a number written in the program", span)
    raise error(f"internal: no rule for keyword `{name}`", span)  # pragma: no cover


def _check_syntax(kind: str, kids: list) -> tuple:
    return (kind, None, kids[0][2] if kids else 0, kids[-1][3] if kids else 0)


def _run(source: str, reduce_for) -> None:
    """Scan and parse `source`, reducing with `reduce_for(lines, extents)`; syntax errors as ParseError.

    A syntax error anywhere is reported before an error the reducer raises (an unknown function on
    line 1, a missing `)` on line 9: the `)`), as Python reports a SyntaxError before running anything.
    """
    lines = Lines(source)
    try:
        toks, extents = tokens(source, lines)
        try:
            lean_parser().parse(toks, reduce_for(lines, extents), len(source))
        except ParseError:
            lean_parser().parse(toks, _check_syntax, len(source))
            raise
    except frontend.BadCharacter as err:
        from .syntax_errors import bad_character  # (an error's path only: loaded when first needed)

        raise bad_character(source, lines, err.pos) from None
    except frontend.UnexpectedToken as err:
        from .syntax_errors import syntax_error

        raise syntax_error(source, lines, err) from None


def statements(source: str) -> list[tuple[str, Span, str | None]]:
    """(target name, the statement's span, the name it copies if it is `y = x`, else None) for each
    statement of a program that parses."""
    out = []

    def reducer(lines: Lines, extents):
        def reduce(kind, kids):
            if kind == "assign":
                value = kids[-1]
                out.append((kids[0][1], lines.span(kids[0][2], value[3]), value[1] if value[0] == "name" else None))
            return (kind, kids[0][1] if kind == "name" else None, kids[0][2] if kids else 0,
                    kids[-1][3] if kids else 0)
        return reduce

    _run(source, reducer)
    return out


def literal_value(node: Node):
    """The weak Python value of an expression made of literals and operators alone (`-1`, `2 + 3`),
    else None (a function of literals, `cos(0)`, is a strong NumPy scalar)."""
    # A loop over the expression, not recursion: `float32(----...1)` may nest thousands deep.
    values: dict[Node, object] = {}
    stack = [node]
    while stack:
        n = stack[-1]
        if n in values:
            stack.pop()
            continue
        if n.op == "constant":
            values[n] = n.value if n.is_weak else None
        elif n.op not in OPS or not n.inputs or not keeps_weak(n.op):
            values[n] = None
        else:
            missing = [i for i in n.inputs if i not in values]
            if missing:
                stack.extend(missing)
                continue
            values[n] = _literal_op(n, [values[i] for i in n.inputs])
        stack.pop()
    return values[node]


def _literal_op(node: Node, values: list):
    if any(v is None for v in values):
        return None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = np.asarray(OPS[node.op].function(node.attrs)(*values))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    pytype = {"b": bool, "i": int, "u": int, "f": float, "c": complex}.get(out.dtype.kind)
    return pytype(out[()]) if pytype is not None and out.ndim == 0 else None


def parse(source: str, outputs=None) -> Graph:
    """Parse a program into its graph, every statement kept (no optimization)."""
    if not isinstance(source, str):
        raise ParseError(f"a program is a string, not {type(source).__name__}")
    with collector_paused():
        return _parse(source, outputs)


def _parse(source: str, outputs) -> Graph:
    built: list[_Builder] = []

    def reducer(lines: Lines, extents):
        built.append(_Builder(source, lines, extents))
        return built[0].reduce

    try:
        _run(source, reducer)
    except frontend.BrokenTables:  # a damaged cache entry, found while parsing: built again, parsed again
        forget_broken_tables()
        built.clear()
        _run(source, reducer)
    b = built[0]
    if not b.count:
        raise ParseError("the program is empty: write at least one statement such as `c = a + b`",
                         source=source, span=Span(1, 1, 0, 0))

    if outputs is None:
        names = [n for n in b.env if not b.read_after[n]]
        names.sort(key=lambda n: b.assigned_at[n])
    else:
        if not isinstance(outputs, str) and not hasattr(outputs, "__iter__"):
            raise ParseError(f"outputs: a name or a sequence of names, not {type(outputs).__name__}")
        names = [outputs] if isinstance(outputs, str) else list(outputs)
        for n in names:
            if not isinstance(n, str) or n not in b.env:
                known = ", ".join(sorted(b.env))
                raise ParseError(f"outputs: `{n}` is never assigned by the program (it assigns {known})"
                                 + (_suggest(n, b.env) if isinstance(n, str) else ""))
        if not names:
            raise ParseError("outputs: name at least one output")
        if len(set(names)) != len(names):
            raise ParseError(f"outputs: a name is repeated in {names}")
    outs = tuple((n, b.env[n]) for n in names)
    inputs = tuple(b.inputs.values())
    return Graph(tuple(b.nodes), inputs, outs, source)

"""Program text -> dataflow graph, with a source position on every node.

The grammar lives in grammar/symexpr.lark and is loaded once, lazily. Parsing
(Lark, LALR) and building the graph are separate steps, so that the builder
sees every position. The builder walks the parse tree with an explicit stack,
so the depth of the input is limited only by memory.
"""
from __future__ import annotations

import difflib
import functools
import warnings
from pathlib import Path

import lark
import numpy as np
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .cache import cache_dir
from .errors import ParseError, Span
from .graph import Graph, Node, collector_paused, constant
from .ops import CASTS, CONSTANTS, FUNCTIONS, OPS

INT64_MAX = 2**63 - 1

# Tree aliases whose op name differs from the alias.
_ALIAS_OPS = {"true_divide": "divide"}

# Readable names of the grammar's terminals, for "expected ..." messages.
_TERMINAL_TEXT = {
    "NAME": "a name", "NUMBER": "a number", "LPAR": "`(`", "RPAR": "`)`", "EQUAL": "`=`",
    "COMMA": "`,`", "SEMICOLON": "`;`", "_NEWLINE": "a new line", "$END": "the end of the program",
    "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "COMPARE": "a comparison",
    "TRUE": "`True`", "FALSE": "`False`", "NOT": "`not`", "TILDE": "`~`",
}


def _grammar_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammar" / "symexpr.lark", here.parent / "grammar" / "symexpr.lark"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("symexpr's grammar file symexpr.lark is missing from the installation")


MAX_NESTING = 500


class _Separators:
    """Post-lexer: statement separators as the grammar wants them.

    Newlines inside parentheses continue the line, as in Python; every run of
    newlines and `;` becomes one _SEP, and none is sent before the first
    statement or after the last.
    """

    always_accept = ("_NEWLINE", "SEMICOLON")

    def process(self, stream):
        depth = 0
        started = False
        pending = None
        for tok in stream:
            if tok.type == "_NEWLINE" and depth:
                continue
            if tok.type in ("_NEWLINE", "SEMICOLON"):
                pending = pending or tok
                continue
            if tok.type == "LPAR":
                depth += 1
                if depth > MAX_NESTING:
                    raise ParseError(f"parentheses nested more than {MAX_NESTING} deep",
                                     span=_span_of(tok))
            elif tok.type == "RPAR":
                depth = max(depth - 1, 0)
            if pending is not None and started:
                yield lark.Token.new_borrow_pos("_SEP", pending.value, pending)
            pending = None
            started = True
            yield tok


@functools.cache
def parser() -> lark.Lark:
    """The LALR parser; its tables are cached on disk (lark's cache, keyed by the grammar's hash and
    the options): building them takes about 30 ms, loading them 2 ms."""
    # No propagate_positions: it costs half of a large program's parse. Every token is kept
    # instead (keep_all_tokens), so a subtree's span runs from its first token to its last,
    # parentheses included, and the builder computes spans bottom-up as it walks (`_Builder.spans`).
    options = dict(parser="lalr", lexer="basic", keep_all_tokens=True, maybe_placeholders=False,
                   postlex=_Separators())
    text = _grammar_path().read_text()
    folder = cache_dir("parser")
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return lark.Lark(text, cache=str(folder / f"lark-{lark.__version__}.cache"), **options)
        except Exception:  # noqa: BLE001 - a broken or unwritable cache: build without it
            pass
    return lark.Lark(text, **options)


def _span_of(item, known: dict | None = None) -> Span:
    """A token's span, or a subtree's from its first token to its last (`known`: spans by tree id)."""
    if isinstance(item, lark.Token):
        return Span(item.line, item.column, item.start_pos, item.end_pos, item.end_line, item.end_column)
    if known is not None and id(item) in known:
        return known[id(item)]
    return _join(_span_of(_edge_token(item, 0), known), _span_of(_edge_token(item, -1), known))


def _edge_token(tree, end: int) -> lark.Token:
    """The first (end=0) or last (end=-1) token of a subtree."""
    while not isinstance(tree, lark.Token):
        tree = tree.children[end]
    return tree


def _join(first: Span, last: Span) -> Span:
    return Span(first.line, first.column, first.start, last.end, last.end_line, last.end_column)


def statements(source: str) -> list[tuple[lark.Token | None, lark.Tree, Span]]:
    """(target name token, or None for a bare expression; the expression's tree; the statement's span)."""
    out = []
    for stmt in parse_tree(source).children:
        if isinstance(stmt, lark.Token):
            continue  # a separator
        target = stmt.children[0] if stmt.data == "assign" else None
        out.append((target, stmt.children[-1], _span_of(stmt)))
    return out


def _describe_token(tok) -> str:
    if tok.type == "$END":
        return "the end of the program"
    if tok.type == "_NEWLINE" or (tok.type == "_SEP" and tok.value != ";"):
        return "end of the line"
    return f"`{tok.value}`"


def _paren_depth(source: str, pos: int) -> int:
    """How many parentheses are open at offset `pos` (comments skipped)."""
    depth = 0
    code = "\n".join(line.split("#", 1)[0] for line in source[:pos].split("\n"))
    for c in code:
        depth += (c == "(") - (c == ")")
    return max(depth, 0)


def _syntax_error(source: str, err: UnexpectedInput) -> ParseError:
    if isinstance(err, UnexpectedCharacters):
        ch = source[err.pos_in_stream] if err.pos_in_stream < len(source) else ""
        if ch and not ch.isascii():
            msg = f"`{ch}` is not allowed: names are ASCII letters, digits and underscores"
        else:
            msg = f"unexpected character `{ch}`"
        span = Span(err.line, err.column, err.pos_in_stream, err.pos_in_stream + 1)
        return ParseError(msg, source=source, span=span)
    tok = getattr(err, "token", None)
    expected = set(getattr(err, "expected", ()) or ())
    if expected & {"NAME", "NUMBER"}:
        hint = "; expected a value, a name or `(`"
    elif expected:
        ends = expected & {"_SEP", "$END"}
        # LALR merges states, so `)` and `,` can be "expected" outside any parentheses: say so only inside.
        inside = tok is not None and tok.start_pos is not None and _paren_depth(source, tok.start_pos) > 0
        closers = [_TERMINAL_TEXT[t] for t in ("RPAR", "COMMA") if t in expected and inside]
        choices = ["an operator", *closers] + (["the end of the statement"] if ends and not inside else [])
        hint = "; expected " + (", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0])
    else:
        hint = ""
    if tok is None or tok.type == "$END" or isinstance(err, UnexpectedEOF):
        lines = source.rstrip().splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        offset = len(source.rstrip())
        return ParseError(f"unexpected end of the program{hint}", source=source,
                          span=Span(line, col, offset, offset))
    if tok.type == "EQUAL":
        target = _bad_target(source, tok)
        if target is not None:
            return target
    after = source[tok.end_pos:].lstrip(" \t") if tok.end_pos is not None else ""
    if tok.value in _KEYWORDS and after.startswith("=") and not after.startswith("=="):
        span = Span(tok.line, tok.column, tok.start_pos, tok.end_pos)
        return ParseError(f"cannot assign to `{tok.value}`: it is {_KEYWORDS[tok.value]}", source=source, span=span)
    span = Span(tok.line, tok.column, tok.start_pos, tok.end_pos or tok.start_pos + 1)
    return ParseError(f"unexpected {_describe_token(tok)}{hint}", source=source, span=span)


_KEYWORDS = {"True": "a constant", "False": "a constant", "and": "a keyword", "or": "a keyword", "not": "a keyword"}


def _bad_target(source: str, tok) -> ParseError | None:
    """`1 = a`, `True = a`, `f(a) = b`: the statement's left side is not a name. None if it is not that."""
    line_start = source.rfind("\n", 0, tok.start_pos) + 1
    stmt_start = max(line_start, source.rfind(";", 0, tok.start_pos) + 1)
    before = source[stmt_start:tok.start_pos]
    target = before.strip()
    if not target or "=" in target:
        return None
    start = stmt_start + len(before) - len(before.lstrip())
    what = _KEYWORDS.get(target, "only a name can be assigned to, as in `c = a + b`")
    what = f"it is {what}" if target in _KEYWORDS else what
    span = Span(tok.line, start - line_start + 1, start, start + len(target))
    return ParseError(f"cannot assign to `{target}`: {what}", source=source, span=span)


def parse_tree(source: str) -> lark.Tree:
    try:
        return parser().parse(source)
    except ParseError as err:  # from the post-lexer, which does not know the source
        raise ParseError(err.message, source=source, span=err.span) from None
    except UnexpectedInput as err:
        raise _syntax_error(source, err) from None


def _number(source: str, tok: lark.Token):
    text = tok.value
    if any(c in text for c in ".eE"):
        return float(text)
    value = int(text)
    if value > INT64_MAX:
        raise ParseError(f"integer literal {text} does not fit in int64", source=source, span=_span_of(tok))
    return value


def _is_int64_min(tree: lark.Tree) -> bool:
    """`-9223372036854775808`: unary minus applied directly to the literal 2**63."""
    if tree.data != "negative" or len(tree.children) != 2:  # `-` and the operand
        return False
    child = tree.children[1]
    return (isinstance(child, lark.Tree) and child.data == "number"
            and child.children[0].value.isdigit() and int(child.children[0].value) == INT64_MAX + 1)


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean `{close[0]}`?" if close else ""


class _Builder:
    """Builds the graph statement by statement, resolving names as it goes (SSA)."""

    def __init__(self, source: str):
        self.source = source
        self.env: dict[str, Node] = {}        # variable -> its newest value
        self.inputs: dict[str, Node] = {}     # names read before any assignment
        self.nodes: list[Node] = []
        self.read_after: dict[str, bool] = {}  # was the newest value read since it was assigned?
        self.assigned_at: dict[str, int] = {}  # statement index of the newest assignment
        self.statement: Span | None = None
        self.spans: dict[int, Span] = {}         # subtree id -> span, filled bottom-up by `expression`

    def span(self, item) -> Span:
        return _span_of(item, self.spans)

    def _add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def error(self, message, item) -> ParseError:
        return ParseError(message, source=self.source, span=self.span(item))

    def name(self, tok: lark.Token) -> Node:
        name = tok.value
        if name in self.env:
            self.read_after[name] = True
            return self.env[name]
        if name in CONSTANTS:
            return self._add(constant(CONSTANTS[name], span=self.span(tok), statement=self.statement))
        if name in FUNCTIONS:
            raise self.error(f"`{name}` is a function: call it as {name}(...)", tok)
        if name not in self.inputs:
            node = Node("input", (), (name,), None, self.span(tok), self.statement)
            self.inputs[name] = self._add(node)
        return self.inputs[name]

    def call(self, tree: lark.Tree, args: list[Node]) -> Node:
        tok = tree.children[0]
        fname = tok.value
        op = FUNCTIONS.get(fname)
        if op is None:
            what = "a constant" if fname in CONSTANTS else "not a function"
            if fname in self.env or fname in self.inputs:
                what = "a variable, not a function"
            raise self.error(f"`{fname}` is {what}{_suggest(fname, FUNCTIONS)}", tok)
        if len(args) != op.arity:
            plural = "s" if op.arity != 1 else ""
            raise self.error(f"{fname}() takes {op.arity} argument{plural}, got {len(args)}", tree)
        if op.name in CASTS:
            typed = self.typed_literal(op, args[0], tree)
            if typed is not None:
                return typed
        return self.apply(op.name, args, tree)

    def typed_literal(self, op, arg: Node, tree) -> Node | None:
        """`float32(2)`, `int8(-1)`: a cast of literals is a strong NumPy scalar constant, as np.float32(2) is.

        Left as a cast node, the engines would compute it from weak operands and keep it weak.
        """
        value = literal_value(arg)
        if value is None:
            return None
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            typed = op.numpy(value)[()]
        return self._add(constant(typed, span=self.span(tree), statement=self.statement))

    def apply(self, opname: str, args, item) -> Node:
        return self._add(Node(opname, tuple(args), (), None, self.span(item), self.statement))

    def assign(self, target: lark.Token, value: Node, index: int) -> None:
        name = target.value
        if name in FUNCTIONS:
            raise self.error(f"cannot assign to `{name}`: it is a function", target)
        if name in CONSTANTS:
            raise self.error(f"cannot assign to `{name}`: it is a constant", target)
        if value.op not in ("input", "constant") and value.name is None and value is self.nodes[-1]:
            # Name the statement's own result after its variable, for printing and kernels.
            named = Node(value.op, value.inputs, value.attrs, name, value.span, value.statement)
            self.nodes[-1] = named
            value = named
        self.env[name] = value
        self.read_after[name] = False
        self.assigned_at[name] = index

    def expression(self, tree) -> Node:
        """Post-order over the expression's tree, with an explicit stack."""
        done: dict[int, Node] = {}
        stack = [(tree, False)]
        while stack:
            item, expanded = stack.pop()
            if isinstance(item, lark.Token):
                continue
            if not expanded and _is_int64_min(item):
                # -9223372036854775808 is an int64 although 9223372036854775808 alone is not.
                done[id(item)] = self._add(constant(-INT64_MAX - 1, span=self.span(item), statement=self.statement))
                continue
            if not expanded:
                stack.append((item, True))
                for child in reversed(item.children):
                    if isinstance(child, lark.Tree):
                        stack.append((child, False))
                continue
            kids = [done.pop(id(c)) for c in item.children if isinstance(c, lark.Tree)]
            first, last = item.children[0], item.children[-1]
            self.spans[id(item)] = _join(self.span(first), self.span(last))
            done[id(item)] = self.node_for(item, kids)
        return done[id(tree)]

    def node_for(self, tree: lark.Tree, kids: list[Node]) -> Node:
        kind = tree.data
        if kind == "name":
            return self.name(tree.children[0])
        if kind == "number":
            value = _number(self.source, tree.children[0])
            return self._add(constant(value, span=self.span(tree), statement=self.statement))
        if kind in ("true", "false"):
            return self._add(constant(kind == "true", span=self.span(tree), statement=self.statement))
        if kind == "atom":  # `( expr )`
            return kids[0]
        if kind == "call":
            return self.call(tree, kids)
        if kind == "compare":
            return self.compare(tree, kids)
        opname = _ALIAS_OPS.get(kind, kind)
        if opname not in OPS:
            raise self.error(f"internal: no op for `{kind}`", tree)  # pragma: no cover
        return self.apply(opname, kids, tree)

    def compare(self, tree: lark.Tree, kids: list[Node]) -> Node:
        ops = [tok for tok in tree.children if isinstance(tok, lark.Token)]
        names = {"<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal",
                 "==": "equal", "!=": "not_equal"}
        result = None
        for k, tok in enumerate(ops):
            term = self.apply(names[tok.value], (kids[k], kids[k + 1]), tree)
            result = term if result is None else self.apply("logical_and", (result, term), tree)
        return result


def literal_value(node: Node):
    """The weak Python value of an expression made of literals alone (`-1`, `2 + 3`), else None."""
    if node.op == "constant":
        return node.value if node.is_weak else None
    if node.op not in OPS or not node.inputs:
        return None
    values = [literal_value(i) for i in node.inputs]
    if any(v is None for v in values):
        return None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = np.asarray(OPS[node.op].numpy(*values))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    pytype = {"b": bool, "i": int, "u": int, "f": float}.get(out.dtype.kind)
    return pytype(out[()]) if pytype is not None and out.ndim == 0 else None


def parse(source: str, outputs=None) -> Graph:
    """Parse a program into its graph, every statement kept (no optimization)."""
    if not isinstance(source, str):
        raise ParseError(f"a program is a string, not {type(source).__name__}")
    with collector_paused():
        return _parse(source, outputs)


def _parse(source: str, outputs) -> Graph:
    tree = parse_tree(source)
    b = _Builder(source)
    statements = [c for c in tree.children if isinstance(c, lark.Tree)]  # not the separators
    if not statements:
        raise ParseError("the program is empty: write at least one statement such as `c = a + b`",
                         source=source, span=Span(1, 1, 0, 0))
    for index, stmt in enumerate(statements):
        if stmt.data == "bare_expression":
            raise ParseError("a statement must assign its value to a name, as in `c = a + b`",
                             source=source, span=_span_of(stmt))
        target, expr = stmt.children[0], stmt.children[-1]
        b.statement = _span_of(stmt)
        value = b.expression(expr) if isinstance(expr, lark.Tree) else None
        b.assign(target, value, index)

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

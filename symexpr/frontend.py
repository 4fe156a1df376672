"""A Lark LALR grammar, run by a lean loop: Lark compiles the grammar (terminals, LALR tables); this
module scans and parses with them, three to four times faster than Lark's own lexer and parser
(10,000 statements: 0.17 s against 0.6 s, building no tree).

Why: at 10,000 statements Lark's runtime was most of the compile time. Its lexer makes a `Token`
(a str subclass with eight attributes) per token, and its parser calls a callback per reduction,
twelve of them (`?atom` up to `?expr`) for every operand of the precedence ladder. Here a token is a
plain tuple, and the chain of single-child `?rule` reductions between two stack states is looked up
once and remembered, so an operand climbs the ladder in one step.

The trees are Lark's: `Parser.parse` reduces exactly as Lark's tree builder shapes a tree (`_rule`s
spliced into their parent, a `?rule` with one child replaced by that child unless aliased, every
token kept), and the tests check it against Lark's own parser on generated programs. A token is a
tuple `(terminal name, text, start offset, end offset)`; the caller's `reduce(rule name, children)`
makes every other value (symexpr's are `(None, node, start, end)`). A post-lexer, if the grammar
has one, is the caller's to run between `scan` and `parse`.
"""
from __future__ import annotations

import re
from typing import NamedTuple
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Lark is imported only where tables are built from the grammar
    import lark


# (Plain classes and NamedTuples rather than dataclasses on the path of a new process's first
# compile: making a dataclass costs about a millisecond and a half.)
class BadCharacter(Exception):
    """No terminal matches at `pos`."""

    def __init__(self, pos: int):
        super().__init__(pos)
        self.pos = pos


class UnexpectedToken(Exception):
    """`token` (a token tuple; `("$END", "", n, n)` at the end) is not allowed where it is; `expected`
    holds the terminal names that are, as Lark computes them (the row of the state that rejected it)."""

    def __init__(self, token: tuple, expected: frozenset):
        super().__init__(token, expected)
        self.token, self.expected = token, expected


class _Splice(list):
    """The children of a `_rule`, to be spliced into the parent's."""


class _Rule(NamedTuple):
    size: int
    origin: str      # the nonterminal reduced to, for the goto
    name: str        # the tree's name: the alias, else the origin
    unit: bool       # a `?rule` with one child: the value passes through untouched
    splice: bool     # a `_rule`: its children go to the parent
    spliced: bool    # a child of it may be a `_rule`'s splice


class Parser:
    def __init__(self, grammar: lark.Lark):
        from lark.parsers.lalr_analysis import Shift

        options = grammar.options
        # A post-lexer is the caller's to run on `scan`'s tokens; Lark keeps the terminals it accepts.
        if (options.parser != "lalr" or not options.keep_all_tokens or options.maybe_placeholders
                or any(t.pattern.flags for t in grammar.terminals)):
            raise ValueError("frontend.Parser runs LALR grammars built with keep_all_tokens=True, "
                             "maybe_placeholders=False and no regular expression flags")
        self._scanner, self._ignore, self._keywords = _scanner(grammar)
        table = grammar.parser.parser._parse_table  # noqa: SLF001 - Lark has no public accessor
        self._start = table.start_states["start"]
        self._end = table.end_states["start"]
        rules = {}
        self._rows = {}
        for state, row in table.states.items():
            self._rows[state] = {symbol: (True, arg) if action is Shift else (False, rules.get(id(arg)) or
                                          rules.setdefault(id(arg), _rule(arg)))
                                 for symbol, (action, arg) in row.items()}
        self._chains: dict[tuple, tuple] = {}

    # The tables as plain data (JSON), so that a later process parses without importing Lark.
    def tables(self) -> dict:
        rules: dict[int, int] = {}
        listed: list = []

        def rule_index(rule: _Rule) -> int:
            if id(rule) not in rules:
                rules[id(rule)] = len(listed)
                listed.append(list(rule))
            return rules[id(rule)]

        rows = {str(state): {symbol: [1, arg] if shift else [0, rule_index(arg)] for symbol, (shift, arg) in row.items()}
                for state, row in self._rows.items()}
        return {"scanner": self._scanner.pattern, "ignore": sorted(self._ignore), "keywords": self._keywords,
                "start": self._start, "end": self._end, "rows": rows, "rules": listed}

    @classmethod
    def from_tables(cls, data: dict) -> "Parser":
        self = cls.__new__(cls)
        self._scanner = re.compile(data["scanner"])
        self._ignore = frozenset(data["ignore"])
        self._keywords = {k: dict(v) for k, v in data["keywords"].items()}
        self._start, self._end = int(data["start"]), int(data["end"])
        self._rows = _Rows(data["rows"], [_Rule(*r) for r in data["rules"]])
        self._chains = {}
        return self

    def scan(self, text: str):
        """The tokens of `text`, ignored terminals dropped: tuples (terminal name, text, start, end)."""
        pos = 0
        keywords = self._keywords
        ignore = self._ignore
        for m in self._scanner.finditer(text):
            start, end = m.span()
            if start != pos:
                raise BadCharacter(pos)
            pos = end
            kind = m.lastgroup
            if kind in ignore:
                continue
            value = m.group()
            if kind in keywords:
                kind = keywords[kind].get(value, kind)
            yield (kind, value, start, end)
        if pos != len(text):
            raise BadCharacter(pos)

    def parse(self, tokens, reduce, end: int):
        """Parse the token tuples; `reduce(name, children)` builds each tree node; `end` is the text's
        length (where `$END` sits). Raises UnexpectedToken."""
        rows, chains, chain = self._rows, self._chains, self._chain
        states = [self._start, self._start]  # the bottom twice: a unit chain reads the state below
        values: list = []
        for token in _with_end(tokens, end):
            kind = token[0]
            while True:
                key = (states[-2], states[-1], kind)
                try:
                    top, shift, arg = chains[key]
                except KeyError:
                    top, shift, arg = chains[key] = chain(*key, token)
                states[-1] = top
                if shift:
                    states.append(arg)
                    values.append(token)
                    break
                if arg.size:
                    children = values[-arg.size:]
                    del states[-arg.size:]
                    del values[-arg.size:]
                else:
                    children = []
                if arg.spliced:
                    children = _spliced(children)
                if arg.splice:
                    value = children if type(children) is _Splice else _Splice(children)
                elif arg.unit and len(children) == 1:  # a ?rule whose one child came from a splice
                    value = children[0]
                else:
                    value = reduce(arg.name, children)
                states.append(rows[states[-1]][arg.origin][1])
                values.append(value)
                if kind == "$END" and states[-1] == self._end:
                    return value

    def _chain(self, below: int, top: int, kind: str, token) -> tuple:
        """From `top` (over `below`) with lookahead `kind`: the single-child `?rule` reductions taken
        in one go, then (the new top, shift?, the shift's state or the reduction's rule)."""
        rows = self._rows
        while True:
            row = rows[top]
            if kind not in row:
                raise UnexpectedToken(token, frozenset(s for s in row if s.isupper()))
            shift, arg = row[kind]
            if shift or not arg.unit or arg.size != 1:
                return top, shift, arg
            top = rows[below][arg.origin][1]


class BrokenTables(Exception):
    """Tables loaded from data whose row for a state the parser reached does not hold together."""


class _Rows(dict):
    """The rows of tables loaded from data, each made when the parser first reaches its state (a
    short program reaches a fifth of them: a new process's first compile makes no more)."""

    def __init__(self, data: dict, rules: list):
        super().__init__()
        self._data, self._rules = data, rules

    def __missing__(self, state: int) -> dict:
        rules = self._rules
        try:
            row = {symbol: (True, arg) if shift else (False, rules[arg])
                   for symbol, (shift, arg) in self._data[str(state)].items()}
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise BrokenTables(f"the parser tables' state {state!r} is damaged") from None
        self[state] = row
        return row

    def items(self):  # every row (for tables()), made now
        return ((int(state), self[int(state)]) for state in self._data)


def _rule(rule) -> _Rule:
    def is_splice(symbol):
        return not symbol.is_term and symbol.name.startswith("_")
    return _Rule(size=len(rule.expansion), origin=rule.origin.name, name=rule.alias or rule.origin.name,
                 unit=bool(rule.options.expand1) and not rule.alias and len(rule.expansion) == 1
                 and not is_splice(rule.expansion[0]),
                 splice=is_splice(rule.origin), spliced=any(is_splice(s) for s in rule.expansion))


def _spliced(children: list) -> list:
    # A left-recursive `_rule` (`_items: _items "," item`) extends its first child in place: linear, as in Lark.
    out = children[0] if type(children[0]) is _Splice else [children[0]]
    for child in children[1:]:
        if type(child) is _Splice:
            out.extend(child)
        else:
            out.append(child)
    return out


def _with_end(tokens, end: int):
    yield from tokens
    yield ("$END", "", end, end)


def _scanner(grammar: lark.Lark):
    """One regular expression for every terminal, in Lark's order of preference (priority, then the
    longest possible match first), and the keywords that a wider terminal also matches (`and` is a
    NAME's text): a match of that terminal whose whole text is the keyword becomes the keyword."""
    terminals = sorted(grammar.terminals, key=lambda t: (-t.priority, -t.pattern.max_width,
                                                         -len(t.pattern.value), t.name))
    regexps = [t for t in terminals if t.pattern.type == "re"]
    keywords: dict[str, dict[str, str]] = {}
    embedded = set()
    for t in terminals:
        if t.pattern.type != "str":
            continue
        for r in regexps:
            m = re.match(r.pattern.to_regexp(), t.pattern.value)
            if r.priority == t.priority and m is not None and m.group(0) == t.pattern.value:
                keywords.setdefault(r.name, {})[t.pattern.value] = t.name
                embedded.add(t.name)
    scanned = [t for t in terminals if t.name not in embedded]
    pattern = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanned)
    return re.compile(pattern), frozenset(grammar.lexer_conf.ignore), keywords

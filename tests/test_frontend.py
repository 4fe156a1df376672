"""The lean front end agrees with Lark: the same tokens as Lark's lexer, the same trees as Lark's
LALR parser (and the same failing token and expected terminals), on generated text."""
from __future__ import annotations

import json
import os

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symexpr import frontend
from symexpr.errors import ParseError
from symexpr.parse import Lines, tokens
from symexpr.parser_tables import lean_parser, parser

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of text: every terminal, the keywords and names that contain them, numbers of each form,
# whitespace, comments, continuation lines and characters no terminal matches.
FRAGMENTS = ["a", "b", "x1", "_t", "sin", "where", "float32", "pi", "andy", "nota", "Truex", "and", "or", "not",
             "True", "False", "0", "7", "12", "1.", ".5", "2.5e3", "1e-2", "3E+4", "9223372036854775808",
             "+", "-", "*", "/", "//", "%", "**", "~", "&", "|", "^", "<", "<=", ">", ">=", "==", "!=", "=",
             "(", ")", ",", ";", "\n", "\r\n", " ", "\t", "# note\n", "\\\n", "$", "é", "'", "."]


@st.composite
def expressions(draw, depth=3):
    leaf = st.sampled_from(["a", "b", "c1", "2", "0.5", "1e3", "True", "False", "pi", ".25"])
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(leaf)
    kind = draw(st.integers(0, 5))
    sub = expressions(depth - 1)
    if kind == 0:
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "&", "|", "^", "and", "or"]))
        return f"{draw(sub)} {op} {draw(sub)}"
    if kind == 1:
        ops = draw(st.lists(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), min_size=1, max_size=3))
        return " ".join([draw(sub)] + [f"{op} {draw(sub)}" for op in ops])
    if kind == 2:
        return f"{draw(st.sampled_from(['-', '+', '~', 'not ']))}{draw(sub)}"
    if kind == 3:
        args = draw(st.lists(sub, max_size=3))
        comma = draw(st.sampled_from(["", ","])) if args else ""
        return f"{draw(st.sampled_from(['sin', 'where', 'f']))}({', '.join(args)}{comma})"
    return f"({draw(st.sampled_from(['', chr(10)]))}{draw(sub)})"


@st.composite
def programs(draw):
    statements = [f"{draw(st.sampled_from(['a', 'c1', 't']))} = {draw(expressions())}"
                  for _ in range(draw(st.integers(1, 4)))]
    seps = [draw(st.sampled_from(["\n", ";", "\n\n", " ; ", "  # c\n"])) for _ in statements]
    return "".join(s + sep for s, sep in zip(statements, seps))


soups = st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join)
texts = st.one_of(programs(), soups, programs().flatmap(lambda p: soups.map(lambda s: p + s)))


def lark_tokens(text):
    return [(t.type, t.value, t.start_pos, t.end_pos) for t in parser().lex(text)]


@settings(max_examples=400, **SETTINGS)
@given(text=texts)
def test_scan_matches_lark_lexer(text):
    try:
        expected = lark_tokens(text)
    except lark.exceptions.UnexpectedCharacters as err:
        with pytest.raises(frontend.BadCharacter) as ours:
            list(lean_parser().scan(text))
        assert ours.value.pos == err.pos_in_stream
        return
    assert list(lean_parser().scan(text)) == expected
    lines = Lines(text)
    for t in parser().lex(text):
        assert lines.span(t.start_pos, t.end_pos) == (t.line, t.column, t.start_pos, t.end_pos,
                                                      t.end_line, t.end_column), t


@settings(max_examples=200, **SETTINGS)
@given(text=programs().flatmap(lambda p: soups.map(lambda s: p + s)), data=st.data())
def test_positions_in_any_order(text, data):
    """Lines remembers the line it found last: positions asked in any order are still Lark's."""
    toks = []
    try:
        for t in parser().lex(text):  # the tokens before a character no terminal matches, if any
            toks.append(t)
    except lark.exceptions.UnexpectedCharacters:
        pass
    toks = data.draw(st.permutations(toks))
    lines = Lines(text)
    for t in toks:
        assert lines.position(t.start_pos) == (t.line, t.column), t
        assert lines.position(t.end_pos) == (t.end_line, t.end_column), t
    for t in data.draw(st.permutations(toks)):
        assert lines.span(t.start_pos, t.end_pos) == (t.line, t.column, t.start_pos, t.end_pos,
                                                      t.end_line, t.end_column), t


def _to_lark(tok):
    return lark.Token(tok[0], tok[1], start_pos=tok[2], end_pos=tok[3])


def _tree(kind, kids):
    return lark.Tree(kind, [_to_lark(k) if isinstance(k, tuple) else k for k in kids])


def _lark_parse(toks):
    interactive = parser().parse_interactive("")
    for tok in toks:
        interactive.feed_token(_to_lark(tok))
    return interactive.feed_eof()


@settings(max_examples=400, **SETTINGS)
@given(text=texts)
def test_parse_matches_lark_parser(text):
    try:
        toks, _ = tokens(text, Lines(text))
    except (frontend.BadCharacter, ParseError):  # lexing is the test above's
        return
    try:
        expected = _lark_parse(toks)
    except lark.exceptions.UnexpectedToken as err:
        with pytest.raises(frontend.UnexpectedToken) as ours:
            lean_parser().parse(toks, _tree, len(text))
        if err.token.type == "$END":
            assert ours.value.token[0] == "$END"
        else:
            assert ours.value.token[2] == err.token.start_pos
        assert ours.value.expected == frozenset(err.expected)
        return
    assert lean_parser().parse(toks, _tree, len(text)) == expected


def test_generated_programs_parse():
    """The generator above makes valid programs, so the tree comparison is exercised."""
    text = "t = -a ** -b < 2 <= sin(a, b,) or not (\n a // 2)\nc1 = where(a, b, c1) ; x = ~True"
    toks, extents = tokens(text, Lines(text))
    assert lean_parser().parse(toks, _tree, len(text)) == _lark_parse(toks)
    assert [text[s:e] for s, e in extents] == ["t = -a ** -b < 2 <= sin(a, b,) or not (\n a // 2)",
                                               "c1 = where(a, b, c1)", "x = ~True"]


def test_statement_list_is_spliced_into_start():
    """The statement list, a left-recursive `_rule` that the parser extends in place, reaches the start
    rule as one flat list of statements and separators."""
    text = "\n".join(f"t{k} = a + {k}" for k in range(20000))
    toks, _ = tokens(text, Lines(text))
    calls = []
    lean_parser().parse(toks, lambda kind, kids: calls.append(len(kids)) or (kind, None, 0, 0), len(text))
    assert calls[-1] == 2 * 20000 - 1  # the start rule: every statement and separator, once


def test_the_grammar_keeps_the_separator_terminals(monkeypatch, tmp_path):
    """No rule uses _NEWLINE and `;` (they reach the grammar as _SEP), so Lark keeps them only
    because the post-lexer accepts them: built afresh, saved to the cache and loaded from it."""
    from symexpr import parse as parse_module, parser_tables

    text = "a = 1\nb = (a +\n 2); c = b"
    for env in ({"SYMEXPR_NO_CACHE": "1"}, {"SYMEXPR_CACHE_DIR": str(tmp_path)}, {"SYMEXPR_CACHE_DIR": str(tmp_path)}):
        monkeypatch.delenv("SYMEXPR_NO_CACHE", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        built = parser_tables.parser.__wrapped__()
        assert {"_NEWLINE", "SEMICOLON"} <= {t.name for t in built.terminals}
        lean = frontend.Parser(built)
        assert [t[0] for t in lean.scan("a\n;")] == ["NAME", "_NEWLINE", "SEMICOLON"]
    assert list(tmp_path.rglob("*.cache"))  # the second and third builds went through the cache
    assert [n for n, _ in parse_module.parse(text).outputs] == ["c"]


def test_lean_parser_refuses_grammars_it_does_not_shape_like_lark():
    grammar = lark.Lark("start: A\nA: \"a\"", parser="lalr")
    with pytest.raises(ValueError, match="keep_all_tokens"):
        frontend.Parser(grammar)


def test_tables_as_data_parse_as_the_grammar_does(tmp_path, monkeypatch):
    # The lean parser's tables go to disk as JSON; loaded back they scan and parse the same.
    from symexpr import frontend

    built = frontend.Parser(parser())
    loaded = frontend.Parser.from_tables(json.loads(json.dumps(built.tables())))
    for text in ["c = a * (b + 1) ** -2\nd = where(c > 0, c, 0)  # note", "x = sum(a, axis=(0, 1), keepdims=True)"]:
        assert list(loaded.scan(text)) == list(built.scan(text))
        toks, _ = tokens(text, Lines(text))  # after the post-lexer: newlines as separators
        assert loaded.parse(toks, _tree, len(text)) == built.parse(toks, _tree, len(text))


def test_a_new_process_parses_without_importing_lark(tmp_path):
    # With the tables cached, importing symexpr and compiling never imports Lark; a broken entry is
    # built again (with Lark) and the program still compiles.
    import subprocess
    import sys

    env = {**os.environ, "SYMEXPR_CACHE_DIR": str(tmp_path)}
    code = "import sys, symexpr as sx; sx.compile('c = a + b'); print('lark' in sys.modules)"
    run = lambda: subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,  # noqa: E731
                                 timeout=120)
    first, second = run(), run()
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() == "True" and second.stdout.strip() == "False"
    import marshal

    (entry,) = (tmp_path / "parser").glob("frontend-*.marshal")
    entry.write_bytes(b"{broken")
    third = run()
    assert third.returncode == 0 and third.stdout.strip() == "True", third.stderr
    assert marshal.loads(entry.read_bytes())["tables"]["rows"]  # written again, whole
    # An entry of another grammar under the same name (a checksum's collision, an edited grammar file)
    # is not read: built again.
    entry.write_bytes(marshal.dumps({"grammar": "another grammar", "tables": marshal.loads(entry.read_bytes())["tables"]}))
    fourth = run()
    assert fourth.returncode == 0 and fourth.stdout.strip() == "True", fourth.stderr


def test_a_cached_entry_with_damaged_rows_is_built_again(tmp_path, monkeypatch):
    # Rows are made from the loaded tables when the parser first reaches them, so a damaged row shows
    # only while parsing: the entry is then built again with Lark, and the program still compiles.
    import marshal

    from symexpr import parse as parse_module, parser_tables

    monkeypatch.setenv("SYMEXPR_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SYMEXPR_NO_CACHE", raising=False)
    parser_tables.lean_parser.cache_clear()
    try:
        parser_tables.lean_parser()
        (entry,) = (tmp_path / "parser").glob("frontend-*.marshal")
        good = marshal.loads(entry.read_bytes())
        for damage in ("rule", "state", "shape"):
            data = marshal.loads(entry.read_bytes() if damage == "rule" else marshal.dumps(good))
            for row in data["tables"]["rows"].values():
                for symbol, action in row.items():
                    if damage == "rule" and not action[0]:
                        action[1] = 10**6  # a reduction by a rule that is not there
                    elif damage == "state" and action[0]:
                        action[1] = 10**6  # a shift to a state that is not there
                    elif damage == "shape":
                        row[symbol] = None
            entry.write_bytes(marshal.dumps(data))
            parser_tables.lean_parser.cache_clear()
            graph = parse_module.parse("c = a * (b + 1)\nd = where(c > 0, c, 0)")
            assert [n for n, _ in graph.outputs] == ["d"], damage
            with pytest.raises(ParseError, match="unexpected"):
                parse_module.parse("c = a +* b")
            assert marshal.loads(entry.read_bytes())["tables"] == good["tables"], damage  # written again
    finally:
        parser_tables.lean_parser.cache_clear()

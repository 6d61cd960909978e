"""Property tests: whatever the input, the evaluator answers with a report or an ``EvaluatorError``.

Examples per property come from the ``sandbox`` hypothesis profile (tests/conftest.py: 60 by
default, derandomized; ``SANDBOX_FUZZ_EXAMPLES`` raises it). Anything other than a report or
an ``EvaluatorError`` -- a ``KeyError`` in a template, a ``TypeError`` in the engine, a crash in
the YAML reader -- fails the property with the input that caused it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from evaluator.cli import main
from evaluator.errors import EvaluatorError
from evaluator.evaluate import Evaluator
from evaluator.loader import load_bytes, load_file
from evaluator.model import build_proposal
from evaluator.pipeline import Session
from evaluator.policy import load_policy
from evaluator.render import render_report
from evaluator.results import Report, build_report
from evaluator.rulebook import assemble, load_packs
from evaluator.textsafe import visible
from evaluator.validate import proposal_schema, validate_proposal

from conftest import EXAMPLES, MINI, MINIMAL_PROPOSAL

INT64 = 2**63
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@cache
def shipped() -> Session:
    return Session()


@cache
def mini() -> Session:
    return Session((MINI,))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)


def check(session: Session, path: Path) -> Report | EvaluatorError:
    """The report, or the ``EvaluatorError`` raised; any other exception fails the test."""
    try:
        report = session.check(path)
    except EvaluatorError as exc:
        assert exc.problems, "an EvaluatorError must carry at least one problem"
        assert [str(p) for p in exc.problems if p.file != str(path)] == [], "every problem names the file"
        event(f"refused: {type(exc).__name__}")
        return exc
    event(f"report: {report.decision}")
    return report


# --- (a) schema-valid descriptors -------------------------------------------------------------

def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy for instances of the proposal schema (the keywords it uses; see test below)."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in properties.items() if k in required},
            optional={k: from_schema(v) for k, v in properties.items() if k not in required},
        )
    if kind == "array":
        unique = schema.get("uniqueItems", False)
        return st.lists(from_schema(schema["items"]), max_size=3,
                        unique_by=(lambda item: yaml.safe_dump(item)) if unique else None)
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", -INT64), schema.get("maximum", INT64 - 1))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if schema.get("format") == "date":
        return st.dates().map(lambda day: day.isoformat())
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) >= schema.get("minLength", 0))
    return st.text(min_size=schema.get("minLength", 0), max_size=12)


DESCRIPTORS = from_schema(proposal_schema())


def test_the_strategy_knows_every_schema_keyword() -> None:
    """``from_schema`` honours every constraint the schema uses; a new keyword must be added there."""
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            seen.update(node)
            for sub in [*node.get("properties", {}).values(), node.get("items")]:
                walk(sub)

    walk(proposal_schema())
    handled = {"type", "properties", "required", "additionalProperties", "items", "uniqueItems", "enum",
               "const", "minimum", "maximum", "minLength", "pattern", "format", "description", "title",
               "$schema", "$id"}
    assert sorted(seen - handled) == []


@given(data=DESCRIPTORS)
def test_valid_descriptors_give_a_report_and_the_same_one_twice(scratch: Path, data: dict[str, Any]) -> None:
    path = scratch / "valid.yaml"
    path.write_text(dump(data), encoding="utf-8")
    first = check(shipped(), path)
    assert isinstance(first, Report), str(first)
    second = check(shipped(), path)
    assert isinstance(second, Report)
    assert first.to_dict() == second.to_dict()


# --- (b) mutated descriptors ------------------------------------------------------------------

@cache
def example_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in EXAMPLE_FILES]


@cache
def example_trees() -> list[dict[str, Any]]:
    return [load_file(path).data for path in EXAMPLE_FILES]


NASTY_TEXT = st.lists(st.characters(codec="utf-8") | st.sampled_from(
    ["\x00", "\x07", "\x1b[2J", "\x85", "\u2028", "\ufeff", "\u202e", "\u2066", "\ud7ff", "\U0010ffff", "\t", "\r\n", "'", '"',
     ": ", "- ", "#", "&a", "*a", "!!str", "!x", "{", "[", "|", ">", "%", "@", "`", "---", "..."]),
    max_size=8).map("".join)
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from([10**30, -(10**30), INT64, -INT64 - 1])
    | st.floats() | NASTY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NASTY_TEXT, inner, max_size=3),
    max_leaves=6,
)


def paths_of(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths_of(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += paths_of(value, prefix + (index,))
    return out


@st.composite
def mutated_tree(draw: st.DrawFn) -> dict[str, Any]:
    tree = copy.deepcopy(draw(st.sampled_from(example_trees())))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths_of(tree)[1:]))
        parent: Any = tree
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(ANY_VALUE)
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(NASTY_TEXT)] = draw(ANY_VALUE)
        elif isinstance(parent[path[-1]], list):
            parent[path[-1]].append(draw(ANY_VALUE))
    return tree


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(example_texts()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "truncate", "duplicate-line"]))
        if action == "insert":
            text = text[:at] + draw(NASTY_TEXT) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif action == "truncate":
            text = text[:at]
        else:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            end = len(text) if end < 0 else end + 1
            text = text[:end] + text[start:end] + text[end:]
    return text


@given(tree=mutated_tree())
def test_mutated_descriptor_trees_give_a_report_or_an_error(scratch: Path, tree: dict[str, Any]) -> None:
    path = scratch / "mutated-tree.yaml"
    path.write_text(dump(tree), encoding="utf-8")
    check(shipped(), path)


@given(text=mutated_text())
def test_mutated_descriptor_texts_give_a_report_or_an_error(scratch: Path, text: str) -> None:
    path = scratch / "mutated-text.yaml"
    path.write_text(text, encoding="utf-8")
    check(shipped(), path)


# Control characters (newline aside) and bidirectional formatting: a terminal acts on them.
TERMINAL_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


@given(tree=mutated_tree())
def test_the_terminal_gets_no_control_character_from_a_proposal(scratch: Path, tree: dict[str, Any]) -> None:
    """Text output and error messages show whatever a proposal holds as visible text, one line each."""
    path = scratch / "terminal.yaml"
    path.write_text(dump(tree), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(path), "--rules", str(MINI), "--framework", "ru-elr", "--fail-on", "none"])
    assert code in (0, 2)
    event(f"exit {code}")
    shown = out.getvalue() + err.getvalue()
    assert TERMINAL_UNSAFE.findall(shown) == []
    assert [line for line in err.getvalue().splitlines() if not line.startswith(f"error: {path}")] == []


# --- (c) random bytes and text ----------------------------------------------------------------

YAMLISH = st.text(st.sampled_from(list(":-?[]{},&*!|>'\"#%@`~ \n\tabcx01.") + ["\u00e9", "\x00", "\ufeff"]),
                  max_size=80)


@given(raw=st.binary(max_size=300) | YAMLISH.map(lambda s: s.encode("utf-8")))
def test_random_input_is_refused_with_an_evaluator_error(scratch: Path, raw: bytes) -> None:
    path = scratch / "random.yaml"
    path.write_bytes(raw)
    outcome = check(mini(), path)
    assert isinstance(outcome, EvaluatorError)
    assert {p.file for p in outcome.problems} == {str(path)}


# --- (d) mutated rule packs -------------------------------------------------------------------

MINI_PACK = (MINI / "mini.yaml").read_text(encoding="utf-8")


@cache
def mini_tree() -> dict[str, Any]:
    tree: dict[str, Any] = load_file(MINI / "mini.yaml").data
    return tree


@cache
def mini_proposals() -> list[Any]:
    out = []
    for text in (MINIMAL_PROPOSAL, MINIMAL_PROPOSAL.replace("sae_level: 4", "sae_level: 2")
                 + "insurance: {sum_per_unit: 9999999, risks_covered: [life]}\n"):
        document = load_bytes(text.encode(), "p.yaml")
        validate_proposal(document)
        out.append(build_proposal(document))
    return out


PACK_WORDS = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "matches", "contains", "min_items", "every", "any",
              "all", "not", "field", "fact", "param", "value", "op", "(a+)+$", "[", "\\", "", "high", "low",
              "driverless", "risk_tier", "max_term_months", "min_sum", "scope.term", "safety.hazards",
              "blocker", "major", "minor", "info", "safety", "oversight", "ru-elr", "eu-ai-act", "MINI-TERM"]
PACK_VALUE = st.one_of(
    ANY_VALUE,
    st.sampled_from(PACK_WORDS),
    st.fixed_dictionaries({"field": st.sampled_from(["scope.term.duration_months", "safety.hazards", "nope"]),
                           "op": st.sampled_from(["eq", "lte", "matches", "min_items", "every", "bogus"]),
                           "value": ANY_VALUE}),
)


def plausible(draw: st.DrawFn, value: Any) -> Any:
    """A value of the same kind as ``value``, so that more mutated packs get past the schema."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.integers(-5, 100) | st.sampled_from([0, 10**7, INT64 - 1, INT64, 10**30]))
    if isinstance(value, float):
        return draw(st.floats(allow_nan=False))
    if isinstance(value, str):
        return draw(st.sampled_from(PACK_WORDS) | NASTY_TEXT)
    if isinstance(value, list) and value:
        return draw(st.sampled_from([value[:-1], value + value[-1:], value[::-1]]))
    return draw(PACK_VALUE)


@st.composite
def mutated_pack(draw: st.DrawFn) -> str:
    mode = draw(st.sampled_from(["text", "any", "plausible", "plausible"]))
    if mode == "text":
        text = MINI_PACK
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(NASTY_TEXT) + text[at + draw(st.integers(0, 6)):]
        return text
    tree = copy.deepcopy(mini_tree())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(tree)[1:]))
        parent: Any = tree
        for part in path[:-1]:
            parent = parent[part]
        if mode == "plausible":
            parent[path[-1]] = plausible(draw, parent[path[-1]])
        elif draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(PACK_VALUE)
    return dump(tree)


@given(text=mutated_pack())
def test_mutated_rule_packs_are_refused_or_evaluate(scratch: Path, text: str) -> None:
    pack = scratch / "pack" / "mini.yaml"
    pack.parent.mkdir(exist_ok=True)
    pack.write_text(text, encoding="utf-8")
    try:
        evaluator = Evaluator(assemble(load_packs([pack]), "ru-elr", "autonomous_vehicles"))
    except EvaluatorError as exc:
        assert exc.problems
        event(f"pack refused: {type(exc).__name__}")
        return
    event("pack accepted")
    for proposal in mini_proposals():
        build_report(evaluator.evaluate(proposal), load_policy(None)).to_dict()


# --- (e) hostile markup in proposal text ------------------------------------------------------

MARKUP = ["<script>alert(1)</script>", "<SCRIPT SRC=//evil.example/x.js>", '"><img src=x onerror=alert(1)>',
          "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "![i](http://evil.example/i.png)",
          "<javascript:alert(1)>", "<http://evil.example>", "www.evil.example", "x@evil.example",
          "{{ 7*7 }}", "{% raw %}", "{% endraw %}", "{#", "&lt;b&gt;", "&#60;script&#62;", "<!--", "-->",
          "</td></tr></table>", "| cell |", "\n# heading\n", "\n- item", "1. x", "> quote", "```", "`code`",
          "*em*", "__b__", "~~s~~", "\\", "[ref]: http://evil.example", "<details open>", "'", '"', "&"]
HOSTILE_TEXT = st.lists(st.sampled_from(MARKUP) | st.text(max_size=3), min_size=1, max_size=6).map("".join).filter(bool)
MARKED_FIELDS = [("metadata", "title"), ("metadata", "version"), ("applicant", "name"),
                 ("innovation", "summary"), ("technology", "description")]


@cache
def showcase() -> dict[str, Any]:
    """An example proposal that the shipped packs judge with many findings and evidence values."""
    tree: dict[str, Any] = load_file(EXAMPLES / "weak-self-driving.yaml").data
    return tree


@cache
def baseline() -> tuple[set[str], set[str], set[str]]:
    """Tags the HTML template itself emits; links and raw HTML the Markdown template itself emits."""
    report = shipped().check(EXAMPLES / "weak-self-driving.yaml").to_dict()
    markdown = MarkdownFacts(render_report(report, "markdown"))
    return HtmlFacts(render_report(report, "html")).tags, markdown.links, markdown.raw_html


class HtmlFacts(HTMLParser):
    """The tags and attributes of an HTML page, and the text of its ``<h1>`` (entities decoded)."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []
        self.h1 = ""
        self._in_h1 = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        self._in_h1 = self._in_h1 or tag == "h1"

    def handle_endtag(self, tag: str) -> None:
        self._in_h1 = self._in_h1 and tag != "h1"

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1 += data


class MarkdownFacts:
    """Links, images and raw HTML of a CommonMark document (tables on), and its first heading's text."""

    def __init__(self, text: str) -> None:
        self.links: set[str] = set()
        self.raw_html: set[str] = set()
        self.h1: str | None = None
        tokens = MarkdownIt("commonmark").enable("table").parse(text)
        for index, token in enumerate(tokens):
            if token.type == "heading_open" and token.tag == "h1" and self.h1 is None:
                children = tokens[index + 1].children or []
                self.h1 = "".join(child.content for child in children if child.type == "text")
            if token.type == "html_block":
                self.raw_html.add(re.sub(r"\d+", "N", token.content.strip()))  # counts differ between reports
            for child in token.children or ():
                if child.type in ("link_open", "image"):
                    self.links.add(str(child.attrs.get("href") or child.attrs.get("src")))
                if child.type == "html_inline":
                    self.raw_html.add(re.sub(r"\d+", "N", child.content))


@given(texts=st.lists(HOSTILE_TEXT, min_size=len(MARKED_FIELDS), max_size=len(MARKED_FIELDS)),
       hazard=HOSTILE_TEXT)
def test_hostile_markup_in_proposal_text_stays_text(scratch: Path, texts: list[str], hazard: str) -> None:
    tree = copy.deepcopy(showcase())
    for (section, key), text in zip(MARKED_FIELDS, texts, strict=True):
        tree[section][key] = text
    tree["safety"]["hazards"][0]["description"] = hazard
    tree["safety"]["hazards"][0]["mitigations"] = [hazard]
    path = scratch / "markup.yaml"
    path.write_text(dump(tree), encoding="utf-8")
    report = check(shipped(), path)
    assert isinstance(report, Report), str(report)
    data = report.to_dict()
    title = data["proposal"]["title"]
    template_tags, template_links, template_html = baseline()

    html = render_report(data, "html")
    page = HtmlFacts(html)
    assert sorted(page.tags - template_tags) == []
    assert [(n, v) for n, v in page.attributes if n.startswith("on") or "evil" in v or "javascript" in v] == []
    # The title shows literally (not markup, not a template); control characters as escapes.
    assert page.h1 == visible(title, keep_layout=True)
    assert TERMINAL_UNSAFE.findall(html.replace("\t", "")) == []

    markdown = render_report(data, "markdown")
    facts = MarkdownFacts(markdown)
    assert sorted(facts.links - template_links) == []
    assert sorted(facts.raw_html - template_html) == []
    assert facts.h1 == visible(" ".join(title.split()))  # whitespace runs collapse to one space
    assert TERMINAL_UNSAFE.findall(markdown) == []
    # GFM autolinks www. and http(s):// after a space, a line start or one of *_~( (and any @ address).
    autolinks = re.finditer(r"(?im)(?:^|[\s*_~(])(?:https?://|www\.)evil|[\w.+-]@evil", markdown)
    assert [m.group(0) for m in autolinks] == []


"""What the shipped report templates show, arranged in Python rather than in Jinja.

Helpers registered as Jinja globals by ``render``; the two that matter most:

- ``layout(report)`` groups a report's findings the way both report templates present them
  (attention by pillar then severity, passed checks by pillar then severity, conditions by
  rule). Grouping with Jinja's ``selectattr`` in every loop cost more than writing the page.
- ``once(macro, *args)`` renders a macro once per distinct set of arguments and reuses the
  text. Most of a report is rule text that repeats in every report of an intake (a rule's
  heading, its legal basis, a passed-check row), so a batch writes each such fragment once.

``once`` is only for macros whose output depends on nothing but their arguments and constants
of their own template; every argument is part of the key, compared by type and value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jinja2

from evaluator.rulebook import PILLARS, SEVERITIES

_ATTENTION = ("fail", "indeterminate")
_MEMO_LIMIT = 4096  # fragments per macro; past it the memo starts again, so memory stays flat
_DICT_ATTRIBUTES = frozenset(dir(dict))


class ReportEnvironment(jinja2.Environment):
    """The shipped templates' environment: ``finding.title`` on a report dict reads the key
    directly. Jinja's default tries the attribute first and fails into the key on every read,
    a fifth of the rendering time; what a template sees is unchanged (a dict method still wins)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


class Layout(NamedTuple):
    """A report's findings arranged for reading (see ``layout``)."""

    attention: list[dict[str, Any]]  # failed and indeterminate findings, report order
    failed: int
    undecided: int
    passed: int
    by_pillar: list[tuple[str, list[tuple[dict[str, Any], int]]]]  # (pillar, [(finding, fields missing)])
    passed_rows: list[dict[str, Any]]  # passed findings, by pillar then severity
    conditions_for: dict[str, list[dict[str, Any]]]  # rule id -> its conditions at admission
    attention_ids: frozenset[str]
    fact_names: frozenset[str]
    scores: tuple[Any, ...]  # the pillar scores, in the rulebook's pillar order


def layout(report: dict[str, Any]) -> Layout:
    """Group ``report``'s findings for the report templates.

    Only the pillars and severities of the rulebook appear in the grouped lists, in their
    order; within one group the report's order is kept.
    """
    findings = report["findings"]
    attention = [f for f in findings if f["outcome"] in _ATTENTION]
    passed = [f for f in findings if f["outcome"] == "pass"]
    conditions_for: dict[str, list[dict[str, Any]]] = {}
    for condition in report["conditions"]:
        conditions_for.setdefault(condition["rule_id"], []).append(condition)
    by_pillar = []
    for pillar, group in _grouped(attention):
        by_pillar.append((pillar, [(f, sum(1 for e in f["evidence"] if not e["present"])) for f in group]))
    failed = sum(1 for f in attention if f["outcome"] == "fail")
    return Layout(attention, failed, len(attention) - failed, len(passed), by_pillar,
                  [f for _, group in _grouped(passed) for f in group], conditions_for,
                  frozenset(f["rule_id"] for f in attention),
                  frozenset(fact["name"] for fact in report["derived_facts"]),
                  tuple(report["pillars"][pillar]["score"] for pillar in PILLARS))


def _grouped(findings: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(pillar, findings by severity) for each pillar that has findings."""
    slots: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for finding in findings:
        slots.setdefault((finding["pillar"], finding["severity"]), []).append(finding)
    out = []
    for pillar in PILLARS:
        group = [f for severity in SEVERITIES for f in slots.get((pillar, severity), ())]
        if group:
            out.append((pillar, group))
    return out


def count_outcome(findings: list[dict[str, Any]], outcome: str) -> int:
    """How many of ``findings`` have ``outcome`` (the summary counts one row at a time)."""
    return sum(1 for finding in findings if finding["outcome"] == outcome)


def clamp_score(score: Any) -> int:
    """A pillar score as a whole number from 0 to 100 (a bar's width)."""
    return max(0, min(100, int(score)))


class Shown(str):
    """Text a template has already printed through its ``finalize`` (every value in it shown
    safely), so printing it again needs no second look (render._visible_value)."""

    __slots__ = ()


class _Memo:
    """The fragments one macro has rendered, by argument key (see ``once``)."""

    __slots__ = ("code", "texts")

    def __init__(self, code: object) -> None:
        self.code = code  # held so that its id is never reused while the memo lives
        self.texts: dict[tuple[Any, ...], Any] = {}


_MEMOS: dict[int, _Memo] = {}


def once(macro: Callable[..., Any], *args: Any) -> Any:
    """``macro(*args)``, rendered once per distinct ``args`` in this process."""
    return _rendered(macro, _memo_of(macro), args)


def rows(macro: Callable[..., Any], items: list[dict[str, Any]], *keys: str) -> Any:
    """``once(macro, item[key]...)`` for each of ``items``, each followed by a newline: a table's
    rows in one call from the template."""
    memo = _memo_of(macro)
    texts = [_rendered(macro, memo, [item[key] for key in keys]) for item in items]
    joined = "".join(f"{text}\n" for text in texts)
    return type(texts[0])(joined) if texts else ""  # Markup stays Markup, Shown stays Shown


def _memo_of(macro: Callable[..., Any]) -> _Memo:
    code = macro._func.__code__  # type: ignore[attr-defined]  # a jinja2.runtime.Macro
    memo = _MEMOS.get(id(code))
    if memo is None or memo.code is not code:
        memo = _MEMOS[id(code)] = _Memo(code)
    return memo


def _rendered(macro: Callable[..., Any], memo: _Memo, args: Sequence[Any]) -> Any:
    key = tuple(map(_frozen, args))
    text = memo.texts.get(key)
    if text is None:
        if len(memo.texts) >= _MEMO_LIMIT:
            memo.texts.clear()
        text = macro(*args)
        text = memo.texts[key] = Shown(text) if type(text) is str else text  # Markup stays Markup
    return text


def _frozen(value: Any) -> Any:
    """A hashable key that tells apart values a template would print differently (1, 1.0, True)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is dict:  # texts, the usual leaves, are kept without a call
        return (dict, tuple([(key, item if type(item) is str else _frozen(item)) for key, item in value.items()]))
    if kind is list or kind is tuple:
        return (list, tuple([item if type(item) is str else _frozen(item) for item in value]))
    return (kind, value)


#: What the shipped templates can call, besides Jinja's own.
TEMPLATE_GLOBALS: dict[str, Callable[..., Any]] = {
    "layout": layout, "once": once, "rows": rows, "count_outcome": count_outcome, "clamp_score": clamp_score,
}

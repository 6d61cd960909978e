"""The report templates' helpers: grouping in Python, fragments rendered once, dict reads."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from evaluator import reportview
from evaluator.render import md_escape
from evaluator.reportview import ReportEnvironment, layout, once


def _finding(rule_id: str, pillar: str, severity: str, outcome: str, missing: int = 0) -> dict[str, Any]:
    evidence = [{"path": "a", "present": True}] + [{"path": f"m{i}", "present": False} for i in range(missing)]
    return {"rule_id": rule_id, "pillar": pillar, "severity": severity, "outcome": outcome, "evidence": evidence}


def test_layout_groups_attention_by_pillar_then_severity_keeping_report_order_within_a_group() -> None:
    findings = [
        _finding("S-MINOR", "safety", "minor", "fail"),
        _finding("E-MAJOR", "eligibility", "major", "indeterminate", missing=2),
        _finding("S-BLOCK-1", "safety", "blocker", "indeterminate", missing=1),
        _finding("S-BLOCK-2", "safety", "blocker", "fail"),
        _finding("O-PASS", "oversight", "info", "pass"),
        _finding("F-PASS", "freedom", "blocker", "pass"),
        _finding("E-PASS", "eligibility", "minor", "pass"),
        _finding("X-NA", "safety", "major", "not_applicable"),
        _finding("ODD", "unknown-pillar", "major", "fail"),
    ]
    report = {"findings": findings, "conditions": [{"rule_id": "S-MINOR", "text": "c1"},
                                                   {"rule_id": "S-MINOR", "text": "c2"}],
              "derived_facts": [{"name": "level"}],
              "pillars": {"freedom": {"score": 4}, "oversight": {"score": 3}, "safety": {"score": 2},
                          "eligibility": {"score": 1}}}
    view = layout(report)
    assert [(pillar, [(f["rule_id"], missing) for f, missing in group]) for pillar, group in view.by_pillar] == [
        ("eligibility", [("E-MAJOR", 2)]),
        ("safety", [("S-BLOCK-1", 1), ("S-BLOCK-2", 0), ("S-MINOR", 0)]),
    ]
    assert [f["rule_id"] for f in view.attention] == ["S-MINOR", "E-MAJOR", "S-BLOCK-1", "S-BLOCK-2", "ODD"]
    assert (view.failed, view.undecided, view.passed) == (3, 2, 3)
    assert [f["rule_id"] for f in view.passed_rows] == ["E-PASS", "O-PASS", "F-PASS"]
    assert [c["text"] for c in view.conditions_for["S-MINOR"]] == ["c1", "c2"]
    assert view.attention_ids == {"S-MINOR", "E-MAJOR", "S-BLOCK-1", "S-BLOCK-2", "ODD"}
    assert view.fact_names == {"level"}
    assert view.scores == (1, 2, 3, 4)


def _macro(source: str) -> Any:
    env = ReportEnvironment(undefined=jinja2.StrictUndefined)
    return env.from_string(source).module.m  # type: ignore[attr-defined]


def test_once_renders_a_fragment_once_per_distinct_arguments() -> None:
    calls: list[Any] = []
    env = ReportEnvironment()
    env.globals["seen"] = lambda value: calls.append(value) or ""
    macro = env.from_string("{% macro m(v) %}{{ seen(v) }}[{{ v }}]{% endmacro %}").module.m  # type: ignore[attr-defined]
    assert [once(macro, v) for v in ("a", "a", {"k": [1]}, {"k": [1]}, "a")] == ["[a]", "[a]", "[{'k': [1]}]",
                                                                                "[{'k': [1]}]", "[a]"]
    assert calls == ["a", {"k": [1]}]


def test_once_tells_apart_values_that_compare_equal_but_print_differently() -> None:
    macro = _macro("{% macro m(v) %}{{ v }}{% endmacro %}")
    assert [once(macro, v) for v in (1, True, 1.0, [1], [True], (1,))] == ["1", "True", "1.0", "[1]", "[True]", "[1]"]


def test_a_markdown_fragment_is_shown_safely_once_and_then_printed_as_it_is() -> None:
    # The shipped environment's finalize shows control and bidi characters as escapes; a
    # memoised fragment has been through it already and is not scanned a second time.
    from evaluator.render import _environment, _visible_value

    markdown = _environment().overlay(autoescape=False)  # as for report.md.j2
    macro = markdown.from_string("{% macro m(v) %}({{ v }}){% endmacro %}").module.m  # type: ignore[attr-defined]
    text = once(macro, "a\u202eb")
    assert (type(text), text) == (reportview.Shown, "(a\\u202eb)")
    assert _visible_value(text) is text and _visible_value(str(text)) == str(text)
    assert _visible_value("a\u202eb") == "a\\u202eb"


def test_once_keeps_memory_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reportview, "_MEMO_LIMIT", 3)
    macro = _macro("{% macro m(v) %}<{{ v }}>{% endmacro %}")
    assert [once(macro, i) for i in range(10)] == [f"<{i}>" for i in range(10)]
    memo = reportview._MEMOS[id(macro._func.__code__)]
    assert len(memo.texts) <= 3


def test_report_environment_reads_dict_keys_as_jinja_does() -> None:
    env = ReportEnvironment(undefined=jinja2.StrictUndefined)
    data = {"title": "T", "items": "shadowed", "nested": {"x": 1}}
    assert env.from_string("{{ d.title }} {{ d.nested.x }} {{ d['items'] }}").render(d=data) == "T 1 shadowed"
    assert env.from_string("{{ d.items is callable }}").render(d=data) == "True"  # a dict method still wins
    with pytest.raises(jinja2.UndefinedError, match="'dict object' has no attribute 'absent'"):
        env.from_string("{{ d.absent }}").render(d=data)


@pytest.mark.parametrize("value", [0, 7, -5, 10**30])
def test_markdown_escape_of_an_integer_is_its_digits(value: int) -> None:
    assert md_escape(value) == str(value)
    assert md_escape(True) == "true"


@pytest.mark.parametrize("macros", ["_macros.html.j2", "_macros.md.j2"])
def test_the_templates_order_pillars_and_severities_as_the_rulebook_does(macros: str) -> None:
    # layout() groups in the rulebook's order and passes scores by position (the pillar chart).
    from evaluator.render import _environment
    from evaluator.rulebook import PILLARS, SEVERITIES

    module = _environment().get_template(macros).module
    assert (tuple(module.PILLARS), tuple(module.SEVERITIES)) == (PILLARS, SEVERITIES)

"""Every shipped example gives the decision and key findings stated in its header; reports are golden.

An example starts with ``# expected: <decision>`` and may follow it with lines
``# key finding: RULE-ID <outcome>``, each checked against the rule's outcome.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from evaluator.pipeline import Session
from evaluator.render import render_report
from evaluator.validate import proposal_schema

from conftest import EXAMPLES
from golden_files import check_golden

FIRST_LINE = re.compile(r"^# expected: (admit|admit_with_conditions|revise|reject)$")
KEY_FINDING = re.compile(r"^# key finding: ([A-Z0-9-]+) (pass|fail|not_applicable|indeterminate)$")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def expected_decision(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = FIRST_LINE.match(first)
    assert match, f"{path.name}: first line must be '# expected: <decision>'"
    return match.group(1)


def key_findings(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        if match := KEY_FINDING.match(line):
            found[match.group(1)] = match.group(2)
        elif line.startswith("# key finding"):
            pytest.fail(f"{path.name}: malformed key finding line: {line!r}")
    return found


def test_examples_cover_every_domain_every_framework_and_every_decision() -> None:
    metadata = [yaml.safe_load(p.read_text(encoding="utf-8"))["metadata"] for p in EXAMPLE_FILES]
    assert len(EXAMPLE_FILES) >= 12
    assert {m["domain"] for m in metadata} == set(proposal_schema()["properties"]["metadata"]["properties"]
                                                  ["domain"]["enum"])
    assert {m["framework"] for m in metadata} == set(proposal_schema()["properties"]["metadata"]["properties"]
                                                     ["framework"]["enum"])
    assert {expected_decision(p) for p in EXAMPLE_FILES} == {"admit", "admit_with_conditions", "revise", "reject"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_gives_its_key_findings(session: Session, path: Path) -> None:
    expected = key_findings(path)
    assert expected, f"{path.name}: name at least one '# key finding: RULE-ID outcome'"
    outcomes = {finding.rule.id: finding.outcome for finding in session.check(path).findings}
    assert {rule_id: outcomes.get(rule_id, "(no such rule)") for rule_id in expected} == expected


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_gives_its_stated_decision(session: Session, path: Path) -> None:
    report = session.check(path)
    assert report.decision == expected_decision(path), report.reasons


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_reports_match_golden_files(session: Session, path: Path, update_goldens: bool) -> None:
    report = session.check(path).to_dict()
    report["proposal"]["path"] = f"examples/{path.name}"  # independent of where the tests run
    check_golden(f"reports/{path.stem}.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                 update_goldens)
    check_golden(f"reports/{path.stem}.md", render_report(report, "markdown"), update_goldens)
    check_golden(f"reports/{path.stem}.html", render_report(report, "html"), update_goldens)


def test_reports_are_byte_identical_across_runs(session: Session) -> None:
    path = EXAMPLE_FILES[0]
    first = render_report(session.check(path).to_dict(), "html")
    second = render_report(Session().check(path).to_dict(), "html")
    assert first == second


@pytest.mark.parametrize("path", EXAMPLE_FILES[:3], ids=lambda p: p.stem)
def test_a_report_without_its_trace_is_the_same_object_less_the_trace(session: Session, path: Path) -> None:
    report = session.check(path)
    full, slim = report.to_dict(), report.to_dict(trace=False)
    assert full["trace"]
    assert slim == {key: value for key, value in full.items() if key != "trace"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_reports_and_plain_text_need_only_the_evidence_of_findings_that_need_attention(
        session: Session, path: Path) -> None:
    from evaluator.render import summary_row
    from evaluator.textout import render_text

    full, lean = session.check(path).to_dict(trace=False), session.check(path, all_evidence=False).to_dict(trace=False)
    assert [f["evidence"] for f in lean["findings"] if f["outcome"] in ("pass", "not_applicable")] != \
        [f["evidence"] for f in full["findings"] if f["outcome"] in ("pass", "not_applicable")]
    for fmt in ("html", "markdown"):
        assert render_report(lean, fmt) == render_report(full, fmt)
    assert render_text(lean, False, False) == render_text(full, False, False)
    assert summary_row(lean) == summary_row(full)

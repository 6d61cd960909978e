"""Decisions a regulator would sign: incomplete is not failing, evidence that may follow admission
becomes a condition with a deadline, a rejection imposes nothing, revise asks for what is missing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from evaluator.cli import main
from evaluator.errors import EvaluatorError, RuleFileError
from evaluator.loader import load_bytes
from evaluator.model import build_proposal
from evaluator.pipeline import Session
from evaluator.policy import load_policy
from evaluator.results import Report, build_report
from evaluator.validate import validate_proposal

from conftest import EXAMPLES, MINIMAL_PROPOSAL

HEAD = 'pack: {id: dec, title: Decisions, version: "1.0.0", framework: ru-elr, effective: "2026-01-01"}\n'
BASIS = '[{instrument: I, article: A, url: "https://example.org"}]'


def rule(rule_id: str, check: str, severity: str = "major", extra: str = "") -> str:
    return f"""\
  - id: {rule_id}
    title: Rule {rule_id}
    pillar: safety
    severity: {severity}
    check: {check}
    basis: {BASIS}
    message: M.
    remediation: R {rule_id}.
{extra}"""


def session_with(tmp_path: Path, *rules: str) -> Session:
    directory = tmp_path / "packs"
    directory.mkdir(exist_ok=True)
    (directory / "pack.yaml").write_text(HEAD + "require:\n" + "".join(rules), encoding="utf-8")
    return Session(rule_dirs=(directory,))


def report_for(session: Session, text: str) -> Report:
    document = load_bytes(text.encode(), "p.yaml")
    validate_proposal(document)
    proposal = build_proposal(document)
    return build_report(session.evaluator("ru-elr", proposal.domain).evaluate(proposal), session.policy)


def outcomes(report: Report) -> dict[str, str]:
    return {f.rule.id: f.outcome for f in report.findings}


# --- provided: asked for when missing, never failed --------------------------------------------

@pytest.mark.parametrize(("check", "given", "missing"), [
    ("{field: insurance.sum_per_unit, op: provided}", "insurance: {sum_per_unit: 5}\n", "insurance: {}\n"),
    ("{field: insurance, op: provided}", "insurance: {}\n", ""),
    ("{field: safety.hazards, op: every, where: {field: severity, op: provided}}",
     "", ""),
])
def test_provided_passes_when_given_and_is_indeterminate_when_missing(tmp_path: Path, check: str, given: str,
                                                                       missing: str) -> None:
    session = session_with(tmp_path, rule("DEC-ONE", check))
    if "every" in check:
        given_text = MINIMAL_PROPOSAL.replace("description: x,", "description: x, severity: critical,") \
            .replace("description: y,", "description: y, severity: marginal,")
        missing_text = MINIMAL_PROPOSAL.replace("description: x,", "description: x, severity: critical,")
    else:
        given_text, missing_text = MINIMAL_PROPOSAL + given, MINIMAL_PROPOSAL + missing
    assert outcomes(report_for(session, given_text)) == {"DEC-ONE": "pass"}
    assert outcomes(report_for(session, missing_text)) == {"DEC-ONE": "indeterminate"}


def test_not_provided_fails_on_a_given_value_and_still_asks_when_missing(tmp_path: Path) -> None:
    session = session_with(tmp_path, rule("DEC-NOT", "{not: {field: insurance.sum_per_unit, op: provided}}"))
    assert outcomes(report_for(session, MINIMAL_PROPOSAL + "insurance: {sum_per_unit: 5}\n")) == {"DEC-NOT": "fail"}
    assert outcomes(report_for(session, MINIMAL_PROPOSAL)) == {"DEC-NOT": "indeterminate"}


def test_a_missing_item_field_is_named_with_its_index_and_line(tmp_path: Path) -> None:
    session = session_with(tmp_path, rule("DEC-ITEMS", "{field: safety.hazards, op: every, where: "
                                                       "{field: severity, op: eq, value: critical}}"))
    text = MINIMAL_PROPOSAL.replace("description: x,", "description: x, severity: critical,")
    report = report_for(session, text)
    [request] = report.requests
    assert (request.rule_id, request.missing, request.line, request.column) == \
        ("DEC-ITEMS", ("safety.hazards[1].severity",), 16, 7)


# --- the decision: reject, revise, conditions -----------------------------------------------

DEFERRED = """\
    defer:
      deliver: A safety case for driverless operation.
      before: stage
      stage: driverless
"""


def test_missing_evidence_that_may_follow_admission_becomes_a_dated_condition(tmp_path: Path) -> None:
    session = session_with(tmp_path, rule("DEC-CASE", "{field: insurance.sum_per_unit, op: provided}",
                                          "blocker", DEFERRED))
    report = report_for(session, MINIMAL_PROPOSAL)
    assert report.decision == "admit_with_conditions"
    assert [c.to_dict() for c in report.conditions] == [{
        "rule_id": "DEC-CASE", "text": "A safety case for driverless operation.",
        "due": "before the stage 'driverless' starts"}]
    assert report.requests == ()
    assert report.reasons[1] == "indeterminate rules whose evidence may follow admission: DEC-CASE"


def test_a_deferrable_rule_that_fails_on_stated_facts_is_a_failure(tmp_path: Path) -> None:
    session = session_with(tmp_path, rule("DEC-CASE", "{field: insurance.sum_per_unit, op: gte, value: 10}",
                                          "blocker", DEFERRED))
    report = report_for(session, MINIMAL_PROPOSAL + "insurance: {sum_per_unit: 5}\n")
    assert (report.decision, report.conditions) == ("reject", ())


def test_missing_evidence_needed_before_admission_asks_for_the_field(tmp_path: Path) -> None:
    session = session_with(tmp_path, rule("DEC-INS", "{field: insurance.sum_per_unit, op: gte, value: 10}",
                                          "blocker"))
    report = report_for(session, MINIMAL_PROPOSAL)
    assert report.decision == "revise"
    assert [r.to_dict() for r in report.requests] == [{
        "rule_id": "DEC-INS", "title": "Rule DEC-INS", "severity": "blocker",
        "missing": ["insurance.sum_per_unit"], "location": {"line": 1, "column": 1}}]


def test_a_rejection_lists_no_conditions_even_when_minor_rules_fail(tmp_path: Path) -> None:
    session = session_with(tmp_path,
                           rule("DEC-TERM", "{field: scope.term.duration_months, op: lte, value: 12}", "blocker"),
                           rule("DEC-MINOR", "{field: oversight.reporting.frequency_months, op: lte, value: 3}",
                                "minor"))
    report = report_for(session, MINIMAL_PROPOSAL)
    assert outcomes(report) == {"DEC-TERM": "fail", "DEC-MINOR": "fail"}
    assert (report.decision, report.conditions) == ("reject", ())


def test_a_failed_minor_eligibility_rule_does_not_reject(tmp_path: Path) -> None:
    minor = rule("DEC-ELIG", "{field: scope.term.duration_months, op: lte, value: 12}", "minor")
    session = session_with(tmp_path, minor.replace("pillar: safety", "pillar: eligibility"))
    report = report_for(session, MINIMAL_PROPOSAL)
    assert report.decision == "admit_with_conditions"
    assert [c.to_dict() for c in report.conditions] == [{"rule_id": "DEC-ELIG", "text": "R DEC-ELIG.",
                                                          "due": None}]


@pytest.mark.parametrize(("defer", "message"), [
    ("    defer: {deliver: X, before: stage}\n", "'stage' is a required property"),
    ("    defer: {deliver: X, before: operations, within_days: 30}\n", "is not valid under any of the given"),
    ("    defer: {deliver: X}\n", "is not valid under any of the given schemas"),
])
def test_a_deferral_without_a_single_deadline_is_refused(tmp_path: Path, defer: str, message: str) -> None:
    with pytest.raises(RuleFileError) as raised:
        session_with(tmp_path, rule("DEC-BAD", "{field: insurance, op: provided}", "major", defer))
    assert message in str(raised.value)


def test_the_text_output_names_what_to_add_and_what_follows_admission(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    session_with(tmp_path, rule("DEC-CASE", "{field: insurance.sum_per_unit, op: provided}", "major", DEFERRED),
                 rule("DEC-INS", "{field: oversight.on_site_response_minutes, op: provided}", "major"))
    proposal = tmp_path / "p.yaml"
    proposal.write_text(MINIMAL_PROPOSAL, encoding="utf-8")
    code = main(["check", str(proposal), "--rules", str(tmp_path / "packs")])
    out = capsys.readouterr().out
    assert code == 1
    assert "Decision: REVISE" in out
    assert (f"Information requested before admission\n  - {proposal}:17: DEC-INS (major) Rule DEC-INS: add "
            "oversight.on_site_response_minutes\n") in out
    assert ("Conditions admission would carry\n  - DEC-CASE: A safety case for driverless operation. "
            "Due before the stage 'driverless' starts.\n") in out
    assert "      may follow admission: A safety case for driverless operation. Due before the stage" in out


def test_the_default_policy_rejects_only_on_failed_blockers() -> None:
    [reject, revise, conditional, fallback] = load_policy().rules
    assert [(s.severities, s.outcomes, s.deferrable) for s in reject.selectors] == [(("blocker",), ("fail",), None)]
    assert [(s.severities, s.outcomes, s.deferrable) for s in revise.selectors] == [
        (("major",), ("fail",), None), (("blocker", "major"), ("indeterminate",), False)]
    assert [(s.severities, s.outcomes, s.deferrable) for s in conditional.selectors] == [
        (("minor",), ("fail",), None), (("blocker", "major", "minor"), ("indeterminate",), True)]
    assert (fallback.decision, fallback.selectors) == ("admit", ())


# --- no single deletion rejects an admitted example ----------------------------------------

def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if not isinstance(node, dict):
        return []
    return [p for key, value in node.items() for p in [(*prefix, key), *_paths(value, (*prefix, key))]]


def _without(data: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return data


def test_deleting_any_one_field_of_an_admitted_example_never_rejects() -> None:
    session = Session()
    rejected, tried, admitted = [], 0, 0
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if session.check(path).decision not in ("admit", "admit_with_conditions"):
            continue
        admitted += 1
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for deleted in _paths(data):
            if deleted[0] in ("descriptor_version", "metadata"):
                continue
            document = load_bytes(yaml.safe_dump(_without(data, deleted), allow_unicode=True).encode(), path.name)
            try:
                validate_proposal(document)
            except EvaluatorError:
                continue  # the schema requires it: exit 2, never a decision
            proposal = build_proposal(document)
            report = build_report(session.evaluator(proposal.framework, proposal.domain).evaluate(proposal),
                                  session.policy, all_evidence=False)
            tried += 1
            if report.decision == "reject":
                rejected.append(f"{path.name}: {'.'.join(map(str, deleted))}")
    assert rejected == []
    assert admitted >= 8 and tried >= 800  # the test covers what it claims to

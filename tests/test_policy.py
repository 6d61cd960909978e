"""The default decision policy, rule by rule, and broken policy files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evaluator.errors import RuleFileError
from evaluator.policy import load_policy
from evaluator.results import Finding, decide, score_pillars
from evaluator.rulebook import Basis, RequireRule

ALWAYS = None


def finding(pillar: str, severity: str, outcome: str, rule_id: str = "R-1", condition: str | None = None) -> Finding:
    rule = RequireRule(rule_id, "t", pillar, severity, None, ALWAYS, (Basis("i", "a", "u"),),  # type: ignore[arg-type]
                       "m", "r", condition, "p", "f.yaml", 1)
    return Finding(rule, outcome, (), ())


@pytest.mark.parametrize(("findings", "decision"), [
    ([], "admit"),
    ([("safety", "blocker", "pass"), ("oversight", "minor", "not_applicable")], "admit"),
    ([("eligibility", "minor", "fail")], "admit_with_conditions"),
    ([("eligibility", "major", "fail")], "revise"),
    ([("eligibility", "blocker", "fail")], "reject"),
    ([("eligibility", "info", "fail")], "admit"),
    ([("safety", "blocker", "fail"), ("safety", "major", "fail")], "reject"),
    ([("oversight", "major", "fail")], "revise"),
    ([("oversight", "blocker", "indeterminate")], "revise"),
    ([("freedom", "major", "indeterminate")], "revise"),
    ([("freedom", "minor", "indeterminate")], "admit"),
    ([("safety", "minor", "fail"), ("oversight", "info", "fail")], "admit_with_conditions"),
])
def test_default_policy(findings: list[tuple[str, str, str]], decision: str) -> None:
    made = tuple(finding(*f, rule_id=f"R-{i}") for i, f in enumerate(findings))
    assert decide(made, load_policy())[0] == decision


def test_reasons_name_the_rules_that_decided() -> None:
    made = (finding("oversight", "major", "fail", "A-1"), finding("safety", "blocker", "indeterminate", "B-2"),
            finding("safety", "major", "indeterminate", "C-3"))
    decision, reasons = decide(made, load_policy())
    assert decision == "revise"
    assert reasons[1:] == ("failed major rules: A-1",
                           "indeterminate blocker or major rules whose evidence is needed before admission: B-2, C-3")


def test_pillar_scores_weight_by_severity() -> None:
    made = (finding("safety", "blocker", "pass"), finding("safety", "major", "fail"),
            finding("safety", "minor", "indeterminate"), finding("safety", "info", "fail"),
            finding("safety", "major", "not_applicable"))
    score = score_pillars(made, load_policy())["safety"]
    assert score.score == 56  # 5 / (5 + 3 + 1), rounded half up
    assert score.counts == {"passed": 1, "failed": 2, "not_applicable": 1, "indeterminate": 1}
    assert score_pillars((), load_policy())["freedom"].score == 100


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    load_policy.cache_clear()
    with pytest.raises(RuleFileError) as caught:
        load_policy(path)
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


HEAD = "policy: {id: p, version: '1', title: P}\nweights: {blocker: 5, major: 3, minor: 1, info: 0}\n"


def test_policy_errors_are_located(tmp_path: Path) -> None:
    text = HEAD + "decisions:\n  - {decision: admit, reason: r, when: {any: [{outcome: fail}]}}\n"
    assert problems(tmp_path, text) == [
        "policy.yaml:4:34: [decisions[0].when] the last entry in 'decisions' must have no 'when': "
        "it is the fallback"]
    text = HEAD + "decisions:\n  - {decision: accept, reason: r}\n"
    assert problems(tmp_path, text) == [
        "policy.yaml:4:16: [decisions[0].decision] 'accept' is not one of ['admit', "
        "'admit_with_conditions', 'revise', 'reject']"]


def test_custom_policy_changes_the_decision(tmp_path: Path) -> None:
    path = tmp_path / "strict.yaml"
    path.write_text(HEAD + "decisions:\n  - {decision: reject, reason: any failure, when: {any: "
                    "[{outcome: [fail, indeterminate]}]}}\n  - {decision: admit, reason: clean}\n",
                    encoding="utf-8")
    policy: Any = load_policy(path)
    assert decide((finding("safety", "info", "fail"),), policy)[0] == "reject"

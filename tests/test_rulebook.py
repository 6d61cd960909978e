from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.errors import RuleFileError
from evaluator.rulebook import assemble, load_packs

from conftest import MINI

HEADER = """\
pack: {id: t, title: T, version: "1.0.0", framework: ru-elr, effective: "2026-01-01"}
parameters:
  cap: {value: 36, description: Cap.}
facts:
  flag: {type: boolean, default: false, description: A flag.}
"""

RULE = """\
require:
  - id: T-ONE
    title: One
    pillar: oversight
    severity: major
    check: {CHECK}
    basis: [{instrument: I, article: A, url: "https://example.org"}]
    message: M.
    remediation: R.
"""


def errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        assemble(load_packs([tmp_path]), "ru-elr", "medical_ai")
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def with_check(check: str) -> str:
    return HEADER + RULE.replace("{CHECK}", check)


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ("{field: scope.term.duration_months, op: lte_than, value: 3}",
         "pack.yaml:11:52: [require[0].check.op] unknown operator 'lte_than' (did you mean 'lte'?)"),
        ("{field: scope.term.duraton_months, op: lte, value: 3}",
         "pack.yaml:11:20: [require[0].check.field] unknown field 'scope.term.duraton_months': "
         "'scope.term' has no 'duraton_months' (did you mean 'duration_months'?)"),
        ("{field: scope.term.duration_months, op: lte, value: '3'}",
         "pack.yaml:11:64: [require[0].check.value] '3' does not fit a field of type whole number"),
        ("{field: scope.term.duration_months, op: lte, value: {param: capp}}",
         "pack.yaml:11:72: [require[0].check.value.param] unknown parameter 'capp' (did you mean 'cap'?)"),
        ("{field: metadata.domain, op: eq, value: self_driving}",
         "pack.yaml:11:52: [require[0].check.value] 'self_driving' is not one of the field's values: "
         "autonomous_vehicles, medical_ai, unmanned_aircraft, telemedicine, "
         "financial_services, digital_innovation"),
        ("{field: safety.hazards.mitigations, op: present}",
         "pack.yaml:11:20: [require[0].check.field] 'safety.hazards' is a list: use every/some/none to "
         "look inside it"),
        ("{field: applicant.name, op: lt, value: x}",
         "pack.yaml:11:40: [require[0].check.op] 'lt' needs a number or date field, not text"),
        ("{fact: flg, op: eq, value: true}",
         "pack.yaml:11:19: [require[0].check.fact] unknown fact 'flg' (did you mean 'flag'?)"),
        ("{field: applicant.name, op: matches, value: '^ACME$'}",
         "pack.yaml:11:56: [require[0].check.value] pattern '^ACME$': anchors are implicit (the whole "
         "value must match); remove '^'"),
        ("{field: applicant.name, op: matches, value: 'A\\wB'}",
         "pack.yaml:11:56: [require[0].check.value] pattern 'A\\\\wB': escape '\\w' is not supported (use \\d, "
         "\\s or an escaped punctuation mark)"),
        ("{all: []}", "pack.yaml:11:13: [require[0].check.all] 'all' takes a non-empty list of conditions"),
        ("{field: safety.hazards, op: every, where: {field: mitigations, op: every, where: {op: eq, value: x}}}",
         "pack.yaml:11:79: [require[0].check.where.op] quantifiers cannot be nested inside 'where' in "
         "rule language v1"),
    ],
)
def test_broken_condition_is_reported_with_file_line_and_field(tmp_path: Path, check: str, expected: str) -> None:
    assert errors(tmp_path, with_check(check)) == [expected]


def test_fact_read_but_never_derived(tmp_path: Path) -> None:
    assert errors(tmp_path, with_check("{fact: flag, op: eq, value: true}")) == [
        "pack.yaml:7:1: T-ONE: fact 'flag' is read but no derive rule in the packs for ru-elr/medical_ai sets it"
    ]


def test_duplicate_rule_ids_and_schema_errors(tmp_path: Path) -> None:
    text = with_check("{field: applicant.name, op: present}")
    text += RULE.replace("require:\n", "").replace("{CHECK}", "{field: applicant.name, op: present}")
    assert errors(tmp_path, text) == [
        "pack.yaml:15:9: [require[1].id] duplicate rule id 'T-ONE' (first defined at pack.yaml:7)"
    ]


def test_unknown_rule_key_gets_did_you_mean(tmp_path: Path) -> None:
    text = with_check("{field: applicant.name, op: present}").replace("    message: M.", "    mesage: M.")
    assert errors(tmp_path, text) == [
        "pack.yaml:7:5: [require[0]] 'message' is a required property",
        "pack.yaml:7:5: [require[0]] unknown key 'mesage' (did you mean 'message'?)",
    ]


def test_derive_cycle_is_refused(tmp_path: Path) -> None:
    text = HEADER + """\
  other: {type: boolean, default: false, description: Another.}
derive:
  - id: T-DRV-A
    title: A
    when: {fact: other, op: eq, value: true}
    set: {flag: true}
  - id: T-DRV-B
    title: B
    when: {fact: flag, op: eq, value: true}
    set: {other: true}
"""
    assert errors(tmp_path, text) == [
        "pack.yaml:8:1: T-DRV-A: derive rules form a cycle: T-DRV-A -> T-DRV-B -> T-DRV-A"
    ]


def test_fact_value_must_fit_its_type(tmp_path: Path) -> None:
    text = HEADER + """\
derive:
  - id: T-DRV-A
    title: A
    when: {field: applicant.name, op: present}
    set: {flag: "yes"}
"""
    assert errors(tmp_path, text) == [
        "pack.yaml:10:17: [derive[0].set.flag] fact 'flag' is of type boolean; 'yes' does not fit"
    ]


def test_mini_pack_levels_and_facts() -> None:
    book = assemble(load_packs([MINI]), "ru-elr", "autonomous_vehicles")
    assert book.levels == {"MINI-DRV-DRIVERLESS": 0, "MINI-DRV-HIGH": 1}
    assert sorted(book.facts) == ["driverless", "risk_tier"]
    assert [r.id for r in book.require][:2] == ["MINI-TERM", "MINI-HAZARDS"]


def test_no_packs_for_framework() -> None:
    with pytest.raises(RuleFileError, match="no rule packs for framework 'eu-ai-act'"):
        assemble(load_packs([MINI]), "eu-ai-act", "medical_ai")


PARAMETERS = """\
  sum: {value: 10000000, unit: RUB, description: Insured sum.}
  ratio: {value: 0.5, description: A ratio.}
"""


def test_param_placeholders_in_texts_show_value_and_unit(tmp_path: Path) -> None:
    text = (HEADER.replace("cap: {value: 36,", "cap: {value: 36, unit: months,") + with_check("{field: scope.term.duration_months, op: lte, value: {param: cap}}")[len(HEADER):]).replace(
        "facts:", PARAMETERS + "facts:").replace(
        "remediation: R.", "remediation: 'At most {param:cap}, insured for {param:sum}, ratio {param:ratio}.'")
    (tmp_path / "pack.yaml").write_text(text, encoding="utf-8")
    [rule] = assemble(load_packs([tmp_path]), "ru-elr", "medical_ai").require
    assert rule.remediation == "At most 36 months, insured for 10,000,000 RUB, ratio 0.5."


def test_unknown_param_placeholder_is_refused_at_its_line(tmp_path: Path) -> None:
    text = with_check("{field: scope.term.duration_months, op: lte, value: {param: cap}}").replace("message: M.", "message: 'Longer than {param:capp}.'")
    assert errors(tmp_path, text) == [
        "pack.yaml:13:14: [require[0].message] unknown parameter 'capp' in {param:...} (did you mean 'cap'?)"]


def shipped_require_rules() -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    from evaluator.rulebook import default_rules_dir

    return [(pack.framework, rule) for pack in load_packs([default_rules_dir()])
            for rule in pack.raw.get("require", [])]


def test_shipped_rulebooks_are_deep_in_every_pillar() -> None:
    from collections import Counter

    from evaluator.rulebook import PILLARS

    counts = Counter((framework, rule["pillar"]) for framework, rule in shipped_require_rules())
    ru_elr = {pillar: counts["ru-elr", pillar] for pillar in PILLARS}
    eu_ai_act = {pillar: counts["eu-ai-act", pillar] for pillar in PILLARS}
    assert sum(ru_elr.values()) >= 60, ru_elr
    assert min(ru_elr.values()) >= 10, ru_elr
    assert min(eu_ai_act.values()) >= 4, eu_ai_act


def test_every_uncertain_basis_says_what_is_uncertain() -> None:
    vague = [rule["id"] for _, rule in shipped_require_rules() for basis in rule["basis"]
             if basis.get("confidence", "verified") != "verified" and not basis.get("note", "").strip()]
    assert vague == []

"""Rule-author tooling: `sandbox rules lint|list|doc`, `sandbox explain` and `sandbox init`."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from evaluator import conditions as c
from evaluator.cli import main
from evaluator.lint_overrides import exclusive
from evaluator.loader import load_bytes
from evaluator.pipeline import Session
from evaluator.skeleton import schema_choices
from evaluator.validate import proposal_schema, validate_proposal

from conftest import ROOT

PACKS = "tests/fixtures/packs"
CLEAN, BROKEN, MINI = f"{PACKS}/lint-clean", f"{PACKS}/lint-broken", f"{PACKS}/mini"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in the output are relative to the working directory: run from the repository root."""
    monkeypatch.chdir(ROOT)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- rules lint ---------------------------------------------------------------------------------

def test_lint_of_a_clean_pack_set_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "rules", "lint", "--rules", CLEAN) == (0, "No problems in 2 pack files.\n", "")


B = f"{BROKEN}/"
BROKEN_FINDINGS = [  # the paths in the pack as `sandbox check` writes them; the rule's id begins the message
    B + "a-schema.yaml:2:60: [pack.version] '1.0' does not match '^\\\\d+\\\\.\\\\d+\\\\.\\\\d+$'",
    B + "a-schema.yaml:4:5: [require[0]] BAD-PILLAR: 'remediation' is a required property",
    B + "a-schema.yaml:6:13: [require[0].pillar] BAD-PILLAR: 'safty' is not one of ['eligibility', 'safety', "
        "'oversight', 'freedom']",
    B + "core.yaml:8:5: [parameters.max_term_months.basis] basis with confidence 'unverified' needs a note "
        "saying what is uncertain",
    B + "core.yaml:9:3: [parameters.spare_cap] parameter 'spare_cap' has no basis: say where the limit comes "
        "from (instrument, article, url)",
    B + "core.yaml:9:3: [parameters.spare_cap] parameter 'spare_cap' is not used by any condition or rule text "
        "of ru-elr",
    B + "core.yaml:15:3: [facts.orphan] fact 'orphan' is declared but no rule of ru-elr sets or reads it",
    B + "core.yaml:20:12: [derive[0].title] BRK-DRV-TIER-HIGH: unknown parameter 'max_terms' in {param:...} "
        "(did you mean 'max_term_months'?)",
    B + "core.yaml:23:1: BRK-DRV-LOOP-A: derive rules form a cycle: BRK-DRV-LOOP-A -> BRK-DRV-LOOP-B -> "
        "BRK-DRV-LOOP-A",
    B + "core.yaml:32:5: [require[0]] BRK-TERM: a minor rule needs a 'condition': the condition imposed at "
        "admission when it fails",
    B + "core.yaml:38:51: [require[0].check.all[0].op] BRK-TERM: unknown operator 'lte_than' (did you mean "
        "'lte'?)",
    B + "core.yaml:39:19: [require[0].check.all[1].field] BRK-TERM: unknown field 'scope.term.duraton_months': "
        "'scope.term' has no 'duraton_months' (did you mean 'duration_months'?)",
    B + "core.yaml:39:50: [require[0].check.all[1].op] BRK-TERM: a missing 'scope.term.duraton_months' would "
        "fail this rule; ask for it with 'op: provided' (indeterminate when missing), or test a stated value",
    B + "core.yaml:41:14: [require[0].message] BRK-TERM: '36 months' is written by hand; use "
        "{param:max_term_months} so the text follows the parameter",
    B + "core.yaml:42:18: [require[0].remediation] BRK-TERM: unknown parameter 'max_term_month' in {param:...} "
        "(did you mean 'max_term_months'?)",
    B + "core.yaml:43:1: BRK-FLAG: fact 'flag' is read but no derive rule in the packs for "
        "ru-elr/{autonomous_vehicles, digital_innovation, financial_services, medical_ai, telemedicine, "
        "unmanned_aircraft} sets it",
    B + "core.yaml:52:9: [require[2].id] BRK-TERM: duplicate rule id 'BRK-TERM' (first defined at "
        f"{B}core.yaml:32)",
    B + "core.yaml:56:40: [require[2].check.op] BRK-TERM: a missing 'scope.term.end' would fail this rule; ask "
        "for it with 'op: provided' (indeterminate when missing), or test a stated value",
    B + "zz-av.yaml:17:63: [require[0].check.value.param] BRK-SHARED-ID: unknown parameter 'spare_capp' "
        "(did you mean 'spare_cap'?)",
    B + "zz-trap-domain.yaml:3:1: TRAP-AV-DRV-LOW: sets tier = low, but TRAP-DRV-HIGH "
        f"({B}zz-trap-core.yaml:6) runs first (an earlier file, same stratum) and sets high: where both "
        "conditions hold, high stands; make the conditions exclusive (e.g. add not: TRAP-DRV-HIGH's condition)",
    B + "zz-uav.yaml:3:9: [require[0].id] BRK-SHARED-ID: rule id 'BRK-SHARED-ID' is also used in pack "
        f"'broken-av' ({B}zz-av.yaml:12); ids must name one rule",
]


def test_lint_lists_every_problem_of_every_pack_sorted_by_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rules", "lint", "--rules", BROKEN)
    assert (code, err) == (1, "")
    assert out.splitlines() == [*BROKEN_FINDINGS, "Found 21 problems in 5 of 6 pack files."]


PLACE_AND_PATH = re.compile(r"^(?:error: )?(?P<where>\S+:\d+:\d+): (?:\[(?P<path>.*?)\] )?")


def places_and_paths(lines: list[str]) -> set[tuple[str, str | None]]:
    return {(m["where"], m["path"]) for m in map(PLACE_AND_PATH.match, lines) if m}


@pytest.mark.parametrize("pack", ["a-schema.yaml", "core.yaml", "zz-av.yaml"])
def test_check_and_lint_write_a_problem_at_the_same_place_with_the_same_path(
        pack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Where `check --rules` finds a problem in a broken pack, `rules lint` finds one at the same file,
    line and column with the same [path in the pack] (lint finds more: its authoring checks)."""
    (tmp_path / pack).write_bytes((ROOT / BROKEN / pack).read_bytes())
    code, _, err = run(capsys, "check", "examples/m11-truck-corridor.yaml", "--rules", str(tmp_path))
    lines = err.splitlines()
    assert (code, len(lines) >= 2, [line for line in lines if not PLACE_AND_PATH.match(line)]) == (2, True, []), err
    checked = places_and_paths(lines)
    _, out, _ = run(capsys, "rules", "lint", "--rules", str(tmp_path))
    assert sorted(checked - places_and_paths(out.splitlines())) == []


def test_shipped_packs_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rules", "lint")
    assert (code, err) == (0, "")
    assert re.fullmatch(r"No problems in \d+ pack files\.\n", out), out


def test_lint_goes_on_past_a_file_that_is_not_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("pack: {id: x\n", encoding="utf-8")
    (tmp_path / "core.yaml").write_text((ROOT / CLEAN / "core.yaml").read_text("utf-8"), encoding="utf-8")
    code, out, err = run(capsys, "rules", "lint", "--rules", str(tmp_path))
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{tmp_path}/bad.yaml:2:1: ")
    assert lines[1] == "Found 1 problem in 1 of 2 pack files."


def test_lint_of_a_missing_directory_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "rules", "lint", "--rules", "nowhere") == (
        2, "", "error: nowhere: rules directory or file does not exist\n")


UNITS = c.Subject("field", ("scope", "scale", "units"))


def units(op: str, value: Any = None) -> c.Leaf:
    return c.Leaf(UNITS, op, value, line=7)


@pytest.mark.parametrize(("a", "b", "expected"), [
    (units("gte", 100), units("lt", 100), True),
    (units("gte", 100), units("lt", 1000), False),
    (units("gt", 100), units("lte", 100), True),
    (units("gte", 100), units("lte", 100), False),
    (units("eq", 5), units("gt", 5), True),
    (units("in", (1, 2)), units("not_in", (1, 2, 3)), True),
    (units("eq", 1), units("ne", 2), False),
    (units("present"), units("absent"), True),
    (c.AllOf((units("gte", 3), units("present"))), c.Not(c.AllOf((units("gte", 3), units("present")))), True),
    (units("gte", 3), c.AllOf((c.Not(c.Leaf(UNITS, "gte", 3, line=99)), units("present"))), True),
])
def test_derive_conditions_are_exclusive_only_when_they_cannot_both_hold(a: c.Condition, b: c.Condition,
                                                                         expected: bool) -> None:
    assert (exclusive(a, b), exclusive(b, a)) == (expected, expected)


# --- rules list ---------------------------------------------------------------------------------

def test_list_shows_one_row_per_rule_and_counts_require_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rules", "list", "--rules", MINI)
    assert (code, err) == (0, "")
    assert out == (
        "ID                   KIND     FRAMEWORK  PACK  PILLAR       SEVERITY  TITLE\n"
        "MINI-DRV-DRIVERLESS  derive   ru-elr     mini  -            -         Nobody in the cabin\n"
        "MINI-DRV-HIGH        derive   ru-elr     mini  -            -         High risk when driverless and level 4+\n"
        "MINI-TERM            require  ru-elr     mini  oversight    blocker   Term within the cap\n"
        "MINI-HAZARDS         require  ru-elr     mini  safety       major     Every hazard mitigated\n"
        "MINI-REMOTE          require  ru-elr     mini  safety       blocker   Driverless needs dispatcher control\n"
        "MINI-HIGH-REPORT     require  ru-elr     mini  oversight    minor     High risk reports quarterly\n"
        "MINI-EMAIL           require  ru-elr     mini  eligibility  info      Contact email at a .ru domain\n"
        "MINI-INSURED         require  ru-elr     mini  safety       major     Insurance\n"
        "\n"
        "Require rules by framework and pillar:\n"
        "FRAMEWORK  eligibility  safety  oversight  freedom  TOTAL\n"
        "ru-elr               1       3          2        0      6\n"
        "\n"
        "8 rules: 6 require, 2 derive\n"
    )


def test_list_pillar_filter_keeps_require_rules_of_that_pillar(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "list", "--rules", MINI, "--pillar", "safety", "--format", "json")
    listed = json.loads(out)
    assert code == 0
    assert [r["id"] for r in listed["rules"]] == ["MINI-HAZARDS", "MINI-REMOTE", "MINI-INSURED"]
    assert listed["counts"] == {"ru-elr": {"eligibility": 0, "safety": 3, "oversight": 0, "freedom": 0}}
    assert listed["rules"][1] == {
        "id": "MINI-REMOTE", "kind": "require", "framework": "ru-elr", "pack": "mini", "pillar": "safety",
        "severity": "blocker", "title": "Driverless needs dispatcher control", "domains": None,
        "file": f"{MINI}/mini.yaml", "line": 45,
    }


@pytest.mark.parametrize(("args", "ids"), [
    (["--domain", "medical_ai"], ["CLEAN-DRV-HIGH", "CLEAN-TERM", "CLEAN-REPORT"]),
    (["--domain", "autonomous_vehicles"], ["CLEAN-AV-DRV-DRIVERLESS", "CLEAN-AV-DRV-HIGH", "CLEAN-AV-DISPATCH",
                                           "CLEAN-DRV-HIGH", "CLEAN-TERM", "CLEAN-REPORT"]),
    (["--framework", "ru-elr", "--pillar", "safety"], ["CLEAN-AV-DISPATCH"]),
])
def test_list_domain_and_framework_filters(capsys: pytest.CaptureFixture[str], args: list[str],
                                           ids: list[str]) -> None:
    code, out, _ = run(capsys, "rules", "list", "--rules", CLEAN, "--format", "json", *args)
    assert (code, [r["id"] for r in json.loads(out)["rules"]]) == (0, ids)


@pytest.mark.parametrize(("args", "message"), [
    (["--pillar", "safty"], "unknown pillar 'safty' (did you mean 'safety'?); pillars: eligibility, safety, "
                            "oversight, freedom"),
    (["--framework", "ru-elrr"], "unknown framework 'ru-elrr' (did you mean 'ru-elr'?); frameworks: ru-elr"),
    (["--domain", "medical"], "unknown domain 'medical' (did you mean 'medical_ai'?); domains: "
                              "autonomous_vehicles, medical_ai, unmanned_aircraft, telemedicine, financial_services, "
                              "digital_innovation"),
])
def test_list_with_an_unknown_filter_value_exits_2(capsys: pytest.CaptureFixture[str], args: list[str],
                                                   message: str) -> None:
    assert run(capsys, "rules", "list", "--rules", CLEAN, *args) == (2, "", f"error: {message}\n")


def test_list_of_broken_packs_exits_2_and_names_the_problems(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rules", "list", "--rules", BROKEN)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == "error: " + BROKEN_FINDINGS[0]


# --- explain ------------------------------------------------------------------------------------

def test_explain_a_require_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", "MINI-HIGH-REPORT", "--rules", MINI)
    assert (code, err) == (0, "")
    assert out == f"""\
MINI-HIGH-REPORT: High risk reports quarterly
  require rule in pack mini (ru-elr; every domain), {MINI}/mini.yaml:54
  pillar: oversight, severity: minor

What it checks
  applies when:
    fact risk_tier = high
  checks:
    oversight.reporting.frequency_months <= 3
  facts it reads:
    risk_tier: set by MINI-DRV-HIGH (high)

Why
  Reports too rare.

Basis
  - HAV programme, p.56 <https://example.org/hav> (confidence: verified)

How to satisfy it
  Report quarterly.

Condition imposed at admission if it fails
  Report every three months.

Passing example (rule test {MINI}/mini.tests.yaml:9, 'driverless at level 4 is high risk and needs dispatcher control')
  # the rule passes with these fields (those it and its facts read):
  technology:
    autonomous_vehicle:
      intervention: remote_operator
      sae_level: 4
  oversight:
    reporting:
      frequency_months: 3
"""


def test_explain_a_derive_rule_and_accept_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", "mini-drv-high", "--rules", MINI)
    assert (code, err) == (0, "")
    assert out == f"""\
MINI-DRV-HIGH: High risk when driverless and level 4+
  derive rule in pack mini (ru-elr; every domain), {MINI}/mini.yaml:18

What it derives
  sets risk_tier = high when:
    all of:
      fact driverless = true
      technology.autonomous_vehicle.sae_level >= 4
  read by: MINI-HIGH-REPORT

Passing example (rule test {MINI}/mini.tests.yaml:9, 'driverless at level 4 is high risk and needs dispatcher control')
  # the rule fires with these fields (those it and its facts read):
  technology:
    autonomous_vehicle:
      intervention: remote_operator
      sae_level: 4
"""


def test_explain_quantifiers_parameters_and_a_rule_without_tests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "MINI-HAZARDS", "--rules", MINI)
    assert code == 0
    assert ("What it checks\n"
            "  applies to every proposal of its framework and domains\n"
            "  checks:\n"
            "    all of:\n"
            "      safety.hazards has at least 1 item\n"
            "      every item of safety.hazards satisfies:\n"
            "        mitigations has at least 1 item\n") in out
    code, out, _ = run(capsys, "explain", "CLEAN-TERM", "--rules", CLEAN)
    assert code == 0
    assert "    scope.term.duration_months <= max_term_months (36 months)\n" in out
    assert "How to satisfy it\n  Shorten scope.term to at most 36 months.\n" in out
    assert out.endswith("Passing example\n  none (no rule test has one)\n")


def test_explain_an_unknown_rule_exits_2_with_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "explain", "MINI-TERN", "--rules", MINI) == (
        2, "", "error: unknown rule 'MINI-TERN' (did you mean 'MINI-TERM'?); `sandbox rules list` shows every "
               "rule\n")


def test_explain_without_readable_rule_tests_still_explains(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mini.yaml").write_text((ROOT / MINI / "mini.yaml").read_text("utf-8"), encoding="utf-8")
    (tmp_path / "mini.tests.yaml").write_text("suite: {pack: mini}\n", encoding="utf-8")
    code, out, err = run(capsys, "explain", "MINI-TERM", "--rules", str(tmp_path))
    assert (code, err) == (0, "")
    assert out.endswith(f"Passing example\n  none (the rule tests could not be read: {tmp_path}/mini.tests.yaml:1:1: "
                        "'cases' is a required property)\n")


# --- rules doc ----------------------------------------------------------------------------------

def test_committed_rulebook_reference_is_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "rulebook.md"
    assert run(capsys, "rules", "doc", "-o", str(target)) == (0, "", f"wrote {target}\n")
    assert target.read_text("utf-8") == (ROOT / "docs" / "rulebook.md").read_text("utf-8"), (
        "docs/rulebook.md is stale: run `sandbox rules doc -o docs/rulebook.md --force`")


def test_doc_prints_markdown_and_shows_what_each_fact_switches_on(capsys: pytest.CaptureFixture[str]) -> None:
    code, first, err = run(capsys, "rules", "doc", "--rules", MINI)
    assert (code, err) == (0, "")
    assert run(capsys, "rules", "doc", "--rules", MINI)[1] == first
    assert first.startswith("<!-- Generated by `sandbox rules doc` from the rule packs; do not edit by hand.")
    assert ("| Framework | Packs | Derive rules | Eligibility | Safety | Oversight | Freedom | Require rules |\n"
            "|:--|--:|--:|--:|--:|--:|--:|--:|\n"
            "| ru-elr | 1 | 2 | 1 | 3 | 2 | 0 | 6 |\n") in first
    assert ("##### MINI-HIGH-REPORT: High risk reports quarterly\n\n"
            "```text\napplies when:\n  fact risk_tier = high\nchecks:\n"
            "  oversight.reporting.frequency_months <= 3\n```\n\n"
            "- Severity: **minor**\n"
            "- If it fails: Reports too rare.\n"
            "- Basis: [HAV programme, p.56](https://example.org/hav)\n"
            "- Remediation: Report quarterly.\n"
            "- Condition imposed at admission: Report every three months.\n") in first
    assert first.endswith(
        "| Fact | Set by | Gates (applies_when) | Also read by |\n"
        "|:--|:--|:--|:--|\n"
        "| `driverless` | MINI-DRV-DRIVERLESS (true) | MINI-REMOTE | MINI-DRV-HIGH |\n"
        "| `risk_tier` | MINI-DRV-HIGH (high) | MINI-HIGH-REPORT | nothing |\n")


def test_doc_into_a_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "rules", "doc", "--rules", MINI, "-o", str(tmp_path)) == (
        2, "", f"error: {tmp_path}: is a directory; give a file name\n")


# --- init ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def technology_section(domain: str) -> str | None:
    """The domain's own block under ``technology`` (the generic domain has none)."""
    sections = proposal_schema()["properties"]["technology"]["properties"]
    return next((name for name in sections if name in (domain, domain.removesuffix("s"))), None)


@pytest.mark.parametrize("framework", schema_choices("framework"))
@pytest.mark.parametrize("domain", schema_choices("domain"))
def test_init_skeleton_validates_and_evaluates_for_every_domain_and_framework(
        domain: str, framework: str, session: Session, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "init", "--domain", domain, "--framework", framework)
    assert (code, err) == (0, "")
    validate_proposal(load_bytes(out.encode(), "skeleton.yaml"))
    path = tmp_path / "proposal.yaml"
    path.write_text(out, encoding="utf-8")
    report = session.check(path)
    assert (report.to_dict()["proposal"]["domain"], report.to_dict()["proposal"]["framework"]) == (domain, framework)
    own = technology_section(domain)
    others = {technology_section(d) for d in schema_choices("domain")} - {own, None}
    keys = {line.strip("# ").removesuffix(":") for line in out.splitlines() if line.startswith("#   ")}
    assert (own is None or own in keys) and not others & keys
    assert (("# ai_act:" in out.splitlines()) == (framework == "eu-ai-act"))


def test_init_comments_come_from_the_schema_and_uncommented_blocks_are_schema_keys(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init", "--domain", "unmanned_aircraft", "--framework", "eu-ai-act")
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == ["# Proposal descriptor skeleton: domain unmanned_aircraft, framework eu-ai-act.",
                         "# A project's application to a regulatory sandbox (experimental legal regime), checked "
                         "by `sandbox"]
    assert ("metadata:\n"
            "  # Stable identifier of the proposal; also names its report files. (text)\n"
            "  id: \"my-unmanned-aircraft-proposal\"\n") in out
    assert "#     # Maximum take-off mass, kg. (number >= 0)\n#     mtow_kg:\n" in out
    body = lines[lines.index(""):]
    uncommented = yaml.safe_load("\n".join(map(uncomment, body)))
    assert unknown_keys(uncommented, proposal_schema()) == []
    assert set(uncommented) == set(proposal_schema()["properties"]) - {"fca"}  # uk-fca's own section


def uncomment(line: str) -> str:
    """A commented-out line of YAML without its '# ' (descriptions of set fields stay comments)."""
    rest = line.removeprefix("# ")
    return rest if rest != line and (rest[:1] in (" ", "#") or re.match(r"[a-z_]+:", rest)) else line


def unknown_keys(data: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    if isinstance(data, list):
        return [k for item in data for k in unknown_keys(item, schema.get("items", {}), path + "[]")]
    if not isinstance(data, dict):
        return []
    props = schema.get("properties", {})
    return [f"{path}.{key}" for key in data if key not in props] + [
        k for key, value in data.items() if key in props for k in unknown_keys(value, props[key], f"{path}.{key}")]


def test_init_writes_a_file_and_refuses_to_overwrite_it_without_force(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "proposal.yaml"
    assert run(capsys, "init", "--domain", "telemedicine", "-o", str(target)) == (0, "", f"wrote {target}\n")
    written = target.read_text("utf-8")
    assert "  framework: \"ru-elr\"\n" in written
    target.write_text("mine\n", encoding="utf-8")
    assert run(capsys, "init", "--domain", "telemedicine", "-o", str(target)) == (
        2, "", f"error: {target}: file exists; use --force to overwrite it\n")
    assert target.read_text("utf-8") == "mine\n"
    assert run(capsys, "init", "--domain", "telemedicine", "-o", str(target), "--force")[0] == 0
    assert target.read_text("utf-8") == written
    assert [p.name for p in tmp_path.iterdir()] == ["proposal.yaml"]


@pytest.mark.parametrize(("args", "message"), [
    (["--domain", "drones"], "error: unknown domain 'drones'; domains: autonomous_vehicles, medical_ai, "
                             "unmanned_aircraft, telemedicine, financial_services, digital_innovation\n"),
    (["--domain", "telemedicin"], "error: unknown domain 'telemedicin' (did you mean 'telemedicine'?); domains: "
                                  "autonomous_vehicles, medical_ai, unmanned_aircraft, telemedicine, "
                                  "financial_services, digital_innovation\n"),
    (["--domain", "medical_ai", "--framework", "eu-ai"],
     "error: unknown framework 'eu-ai' (did you mean 'eu-ai-act'?); frameworks: ru-elr, eu-ai-act, uk-fca\n"),
])
def test_init_with_an_unknown_domain_or_framework_exits_2(capsys: pytest.CaptureFixture[str], args: list[str],
                                                          message: str) -> None:
    assert run(capsys, "init", *args) == (2, "", message)


def test_init_without_a_domain_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "init")
    assert (code, out) == (2, "")
    assert "Missing option '--domain'" in err


# --- docs/rule-tooling.md -----------------------------------------------------------------------

FENCE = re.compile(r"^```\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def documented_runs() -> list[tuple[str, str]]:
    """(command, shown output) for each `$ sandbox ...` in the doc that only prints."""
    text = (ROOT / "docs" / "rule-tooling.md").read_text("utf-8")
    runs = []
    for block in FENCE.findall(text):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, shown = chunk.partition("\n")
            if " -o " not in command:
                runs.append((command, shown.rstrip("\n") + "\n"))
    return runs


@pytest.mark.parametrize(("command", "shown"), documented_runs())
def test_documented_output_is_what_the_tool_prints(command: str, shown: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args, _, head = command.partition(" | head -")
    code, out, err = run(capsys, *shlex.split(args)[1:])
    assert code in (0, 1) and err == ""
    printed = "".join(out.splitlines(keepends=True)[:int(head)]) if head else out
    assert printed == shown

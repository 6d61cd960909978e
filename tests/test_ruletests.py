"""Rule tests as data: `sandbox rules test`, its coverage check and its error reporting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluator.cli import main
from evaluator.errors import RuleFileError
from evaluator.rulebook import default_rules_dir
from evaluator.ruletests import load_suites, passing_example, run_rule_tests

from conftest import MINI


def mini_copy(tmp_path: Path, tests_text: str | None = None) -> Path:
    """A copy of the mini pack, with its tests file replaced when ``tests_text`` is given."""
    target = tmp_path / "mini"
    shutil.copytree(MINI, target)
    if tests_text is not None:
        (target / "mini.tests.yaml").write_text(tests_text, encoding="utf-8")
    return target


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["rules", "test", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_fixture_suite_passes_with_full_coverage(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(MINI.parent.parent.parent.parent)
    code, out, err = run(capsys, "--rules", str(MINI.relative_to(Path.cwd())))
    assert (code, err) == (0, "")
    assert out == (
        "mini (tests/fixtures/packs/mini/mini.tests.yaml): 7 cases, 23 expectations: ok\n"
        "\n"
        "Rule tests OK: 1 packs, 7 cases, 23 expectations; 0 mismatches, 0 rules lacking cases\n"
    )


def test_mismatches_and_missing_cases_are_listed_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    original = (MINI / "mini.tests.yaml").read_text(encoding="utf-8")
    changed = (original.replace("MINI-TERM: fail", "MINI-TERM: pass")
               .replace("risk_tier: high}", "risk_tier: medium}")
               .replace("      MINI-EMAIL: fail\n", ""))
    monkeypatch.chdir(tmp_path)
    mini_copy(tmp_path, changed)
    code, out, err = run(capsys, "--rules", "mini")
    assert (code, err) == (1, "")
    assert out == (
        "mini (mini/mini.tests.yaml): 7 cases, 22 expectations: 2 mismatches, 2 rules lacking cases\n"
        "\n"
        "Mismatches:\n"
        "  mini/mini.tests.yaml:21: case 'driverless at level 4 is high risk and needs dispatcher control': "
        "fact risk_tier: expected \"medium\", got \"high\" (derived by MINI-DRV-HIGH)\n"
        "  mini/mini.tests.yaml:47: case 'term over the cap, a hazard without mitigation': MINI-TERM: "
        "expected pass, got fail (applies: true, check: false)\n"
        "\n"
        "Rules without enough cases:\n"
        "  mini/mini.yaml:26: MINI-TERM (require): needs a case where it fails\n"
        "  mini/mini.yaml:64: MINI-EMAIL (require): needs a case where it fails\n"
        "\n"
        "Rule tests FAILED: 1 packs, 7 cases, 22 expectations; 2 mismatches, 2 rules lacking cases\n"
    )


def test_pack_without_tests_file_lists_every_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (mini_copy(tmp_path) / "mini.tests.yaml").unlink()
    code, out, _ = run(capsys, "--rules", "mini", "mini")
    assert code == 1
    assert "mini (no tests file): 0 cases, 0 expectations: 0 mismatches, 8 rules lacking cases" in out
    assert "  mini/mini.yaml:14: MINI-DRV-DRIVERLESS (derive): needs a case where it fires\n" in out
    assert "  mini/mini.yaml:26: MINI-TERM (require): needs a case where it passes and a case where it fails\n" in out


@pytest.mark.parametrize(("edit", "expected"), [
    (("MINI-HAZARDS: fail", "MINI-HAZARD: fail"),
     "error: mini/mini.tests.yaml:48:20: [cases] case 'term over the cap, a hazard without mitigation': "
     "unknown rule 'MINI-HAZARD' in this rulebook (did you mean 'MINI-HAZARDS'?)"),
    (("MINI-TERM: fail", "MINI-TERM: fails"),
     "error: mini/mini.tests.yaml:47:18: [cases[3].expect.MINI-TERM] 'fails' is not one of "
     "['pass', 'fail', 'not_applicable', 'indeterminate', 'fires', 'silent']"),
    (("MINI-DRV-HIGH: silent", "MINI-DRV-HIGH: fail"),
     "error: mini/mini.tests.yaml:28:22: [cases] case 'a driver in the seat is neither driverless nor high "
     "risk': MINI-DRV-HIGH is a derive rule: expect fires or silent"),
    (("scope.term.duration_months: 37", "scope.term.duration_months: long"),
     "error: mini/mini.tests.yaml:43:5: [cases] case 'term over the cap, a hazard without mitigation': the "
     "merged descriptor is not valid: [scope.term.duration_months] expected a whole number, found 'long'"),
    (("unset: [scope.term]", "unset: [scope.terms]"),
     "error: mini/mini.tests.yaml:51:13: [cases[4].unset[0]] unset: 'scope.terms' is not in the merged fragment"),
    (("  pack: mini", "  pack: mimi"),
     "error: mini/mini.tests.yaml:2:9: [suite.pack] unknown pack 'mimi' (did you mean 'mini'?)"),
])
def test_broken_tests_file_exits_2_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     edit: tuple[str, str], expected: str) -> None:
    original = (MINI / "mini.tests.yaml").read_text(encoding="utf-8")
    assert edit[0] in original
    monkeypatch.chdir(tmp_path)
    mini_copy(tmp_path, original.replace(edit[0], edit[1], 1))
    code, out, err = run(capsys, "--rules", "mini")
    assert (code, out) == (2, "")
    assert err.splitlines() == [expected]


def test_dotted_keys_and_base_from_a_file_merge_into_one_fragment(tmp_path: Path) -> None:
    target = mini_copy(tmp_path, """\
suite:
  pack: mini
  domain: autonomous_vehicles
  base: ../base.yaml
cases:
  - name: dotted keys merge with nested ones
    given:
      technology.autonomous_vehicle.sae_level: 4
      technology: {autonomous_vehicle: {intervention: none}}
    unset: [scope.term.extension_months]
    expect: {MINI-DRV-HIGH: fires, MINI-TERM: pass}
""")
    (tmp_path / "base.yaml").write_text(
        "descriptor_version: 1\nmetadata: {id: ignored}\nscope: {term: {duration_months: 12, extension_months: 6}}\n",
        encoding="utf-8")
    suites = load_suites((target,))
    [case] = suites[0].cases
    assert case.given == {"scope": {"term": {"duration_months": 12}},
                          "technology": {"autonomous_vehicle": {"sae_level": 4, "intervention": "none"}}}
    run_ = run_rule_tests((target,))
    assert run_.mismatches == []
    assert passing_example(suites, "MINI-TERM") is case
    assert passing_example(suites, "MINI-EMAIL") is None


def test_unknown_pack_selected_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--rules", str(mini_copy(tmp_path)), "minx")
    assert (code, out, err) == (2, "", "error: unknown pack 'minx' (did you mean 'mini'?)\n")


def test_suite_for_a_pack_without_a_single_domain_must_name_one(tmp_path: Path) -> None:
    original = (MINI / "mini.tests.yaml").read_text(encoding="utf-8")
    target = mini_copy(tmp_path, original.replace("  domain: autonomous_vehicles\n", ""))
    with pytest.raises(RuleFileError) as caught:
        run_rule_tests((target,))
    assert [p.message for p in caught.value.problems] == [
        "pack 'mini' has no single domain: say which one judges the cases with suite.domain"]


def test_shipped_packs_pass_their_rule_tests_with_every_rule_covered() -> None:
    result = run_rule_tests((default_rules_dir(),))
    assert [(m.file, m.line, m.case, m.subject, m.expected, m.actual) for m in result.mismatches] == []
    assert [(g.rule_id, g.missing) for g in result.gaps] == []

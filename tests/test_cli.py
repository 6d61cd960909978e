from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evaluator.cli import main

from conftest import MINI, MINIMAL_PROPOSAL

RULES = ["--rules", str(MINI)]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def proposal(write: Any) -> Path:
    return write("p.yaml", MINIMAL_PROPOSAL)


def test_text_output_and_exit_code_for_revise(capsys: pytest.CaptureFixture[str], proposal: Path) -> None:
    code, out, err = run(capsys, "check", str(proposal), *RULES)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[1] == "Decision: REVISE"
    assert f"  {proposal}:14:3: fail major MINI-HAZARDS Every hazard mitigated" in lines
    assert f"  {proposal}:1:1: indeterminate major MINI-INSURED Insurance" in lines
    assert "      missing: insurance.sum_per_unit, insurance.risks_covered" in lines
    assert f"  {proposal}:18:33: fail minor MINI-HIGH-REPORT High risk reports quarterly" in lines
    assert "      fix: Add mitigations." in lines
    assert lines[-1] == "Rule outcomes: 3 pass, 2 fail, 1 indeterminate, 0 not applicable"
    assert "\x1b[" not in out


@pytest.mark.parametrize(("fail_on", "expected"), [("revise", 1), ("reject", 0), ("none", 0),
                                                    ("admit_with_conditions", 1)])
def test_fail_on_threshold(capsys: pytest.CaptureFixture[str], proposal: Path, fail_on: str, expected: int) -> None:
    assert run(capsys, "check", str(proposal), *RULES, "--fail-on", fail_on)[0] == expected


def test_admit_with_conditions_passes_by_default(capsys: pytest.CaptureFixture[str], write: Any) -> None:
    good = MINIMAL_PROPOSAL.replace("mitigations: []", "mitigations: [b]") + "insurance: {sum_per_unit: 20000000}\n"
    code, out, _ = run(capsys, "check", str(write("g.yaml", good)), *RULES, "--format", "json")
    report = json.loads(out)
    assert (code, report["decision"]) == (0, "admit_with_conditions")
    assert report["conditions"] == [{"rule_id": "MINI-HIGH-REPORT", "text": "Report every three months.", "due": None}]


def test_json_contract(capsys: pytest.CaptureFixture[str], proposal: Path) -> None:
    code, out, _ = run(capsys, "check", str(proposal), *RULES, "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert list(report) == ["schema_version", "tool_version", "proposal", "rulebook", "decision", "reasons",
                            "pillars", "derived_facts", "findings", "conditions", "information_requests", "not_applied",
                            "key_parameters", "trace"]
    assert report["proposal"]["id"] == "p1" and len(report["proposal"]["sha256"]) == 64
    assert [p["id"] for p in report["rulebook"]["packs"]] == ["mini"]
    assert report["pillars"]["safety"] == {"score": 45, "passed": 1, "failed": 1, "not_applicable": 0,
                                           "indeterminate": 1}
    hazards = next(f for f in report["findings"] if f["rule_id"] == "MINI-HAZARDS")
    assert hazards["evidence"] == [{"path": "safety.hazards", "value": [
        {"id": "H1", "description": "x", "mitigations": ["a"]},
        {"id": "H2", "description": "y", "mitigations": []}], "line": 14, "column": 3, "present": True}]
    insured = next(f for f in report["findings"] if f["rule_id"] == "MINI-INSURED")
    assert insured["outcome"] == "indeterminate"
    assert insured["evidence"][0] == {"path": "insurance.sum_per_unit", "value": None, "line": 1,
                                      "column": 1, "present": False}
    assert [(f["name"], f["value"], f["origin"], f["rule_id"]) for f in report["derived_facts"]] == [
        ("driverless", True, "derived", "MINI-DRV-DRIVERLESS"), ("risk_tier", "high", "derived", "MINI-DRV-HIGH")]
    assert report["derived_facts"][1]["depends_on"] == ["driverless"]


def test_several_proposals_give_a_json_list_and_a_broken_one_exit_2(
        capsys: pytest.CaptureFixture[str], proposal: Path, write: Any) -> None:
    broken = write("b.yaml", "descriptor_version: 1\nmetadata: {id: b}\n")
    code, out, err = run(capsys, "check", str(proposal), str(broken), *RULES, "--format", "json")
    assert code == 2
    assert [r["proposal"]["id"] for r in json.loads(out)] == ["p1"]
    assert err.splitlines() == [
        f"error: {broken}:1:1: [(top level)] 'applicant' is required",
        f"error: {broken}:2:1: [metadata] 'domain' is required",
        f"error: {broken}:2:1: [metadata] 'framework' is required",
        f"error: {broken}:2:1: [metadata] 'title' is required",
        f"error: {broken}:2:1: [metadata] 'version' is required",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("a: [1\n", "YAML syntax error"),
    ("descriptor_version: 1\nmetadat: {}\n", "unknown key 'metadat' (did you mean 'metadata'?)"),
])
def test_malformed_proposal_exit_2_with_file_line(capsys: pytest.CaptureFixture[str], write: Any, text: str,
                                                  message: str) -> None:
    path = write("m.yaml", text)
    code, out, err = run(capsys, "check", str(path), *RULES)
    assert (code, out) == (2, "")
    assert f"error: {path}:2:" in err and message in err
    assert "Traceback" not in err


def test_broken_rules_exit_2(capsys: pytest.CaptureFixture[str], proposal: Path, write: Any) -> None:
    bad = write("rules/bad.yaml", "pack: {id: x}\n")
    code, out, err = run(capsys, "check", str(proposal), "--rules", str(bad.parent))
    assert (code, out) == (2, "")
    assert f"error: {bad}:1:1: [pack] 'title' is a required property\n" in err


def test_report_dir_writes_html_and_markdown(capsys: pytest.CaptureFixture[str], proposal: Path,
                                             tmp_path: Path) -> None:
    out_dir = tmp_path / "reports"
    code, _, err = run(capsys, "check", str(proposal), *RULES, "--report-dir", str(out_dir))
    assert code == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["p1.html", "p1.md"]
    assert err == f"wrote 2 report files to {out_dir}\n"


def test_version_schema_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    from evaluator import __version__

    assert run(capsys, "--version") == (0, f"sandbox {__version__}\n", "")
    code, out, _ = run(capsys, "schema")
    assert code == 0 and json.loads(out)["title"] == "sandbox proposal descriptor, version 1"
    code, _, err = run(capsys, "check", "--nope")
    assert code == 2 and "No such option: --nope" in err


def test_module_entry_point_and_no_color(proposal: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "evaluator", "check", str(proposal), *RULES],
                          check=False, capture_output=True, text=True,
                          env={"NO_COLOR": "1", "PATH": "/usr/bin"})
    assert done.returncode == 1
    assert "Decision: REVISE" in done.stdout and "\x1b[" not in done.stdout


def test_report_dir_for_an_intake_writes_a_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from conftest import EXAMPLES

    out_dir = tmp_path / "intake"
    code, out, err = run(capsys, "check", str(EXAMPLES), "--report-dir", str(out_dir), "--format", "json")
    assert code == 1  # the weak examples do not pass
    decisions = {r["proposal"]["id"]: r["decision"] for r in json.loads(out)}
    stated = sorted(p.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expected: ")
                    for p in EXAMPLES.glob("*.yaml"))
    assert sorted(decisions.values()) == stated
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(["index.html", "summary.md", *(f"{i}.{ext}" for i in decisions for ext in ("html", "md"))])
    summary = (out_dir / "summary.md").read_text(encoding="utf-8")
    for proposal_id in decisions:
        assert f"({proposal_id}.md)" in summary or f"(<{proposal_id}.md>)" in summary
    assert err == f"wrote {2 * len(decisions) + 2} report files to {out_dir}\n"


def test_existing_reports_survive_a_failed_write(capsys: pytest.CaptureFixture[str], proposal: Path,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    (out_dir / "p1.html").write_text("previous", encoding="utf-8")
    (out_dir / "p1.md").write_text("previous md", encoding="utf-8")
    from evaluator import render

    write = render._write_new
    staged: list[Path] = []

    def second_fails(path: Path, text: str) -> None:
        if staged:  # the first file is staged, the second hits a full disk
            raise OSError(28, "No space left on device")
        write(path, text)
        staged.append(path)

    monkeypatch.setattr("evaluator.render._write_new", second_fails)
    code, _, err = run(capsys, "check", str(proposal), *RULES, "--report-dir", str(out_dir))
    assert code == 2
    assert err == f"error: {out_dir}: cannot write reports: No space left on device\n"
    # all or nothing: neither report replaced, no temporary file left behind
    assert sorted(p.name for p in out_dir.iterdir()) == ["p1.html", "p1.md"]
    assert (out_dir / "p1.html").read_text(encoding="utf-8") == "previous"
    assert (out_dir / "p1.md").read_text(encoding="utf-8") == "previous md"


@pytest.mark.parametrize(("text", "expected"), [
    ("<h1>{{ report.proposal.title }}</h1> {{ report.decision }}\n", None),
    ("{{ report.__class__.__mro__[1].__subclasses__() }}\n",
     "error: {t}:1:1: template error: SecurityError: access to attribute '__class__' of 'dict' object is unsafe.\n"),
    ("line one\n{{ report.decision }\n", "error: {t}:2:1: template error: unexpected '}}'\n"),
    ("ok\n{{ report.nope }}\n", "error: {t}:2:1: template error: UndefinedError: 'dict object' has no attribute 'nope'\n"),
])
def test_custom_template_renders_in_the_sandbox(capsys: pytest.CaptureFixture[str], proposal: Path, tmp_path: Path,
                                                text: str, expected: str | None) -> None:
    template = tmp_path / "mine.html.j2"
    template.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "check", str(proposal), *RULES, "--template", str(template))
    if expected is None:
        assert (code, err) == (1, "")
        assert out == "<h1>Test proposal</h1> revise\n"
    else:
        assert (code, out, err) == (2, "", expected.format(t=template))


def test_custom_template_escapes_proposal_markup(capsys: pytest.CaptureFixture[str], write: Any,
                                                 tmp_path: Path) -> None:
    hostile = write("h.yaml", MINIMAL_PROPOSAL.replace("title: Test proposal", "title: \"<script>x</script>\""))
    template = tmp_path / "mine.html.j2"
    template.write_text("<h1>{{ report.proposal.title }}</h1>\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", str(hostile), *RULES, "--template", str(template))
    assert (code, out) == (1, "<h1>&lt;script&gt;x&lt;/script&gt;</h1>\n")


def test_an_internal_error_in_one_proposal_does_not_stop_the_batch(capsys: pytest.CaptureFixture[str], write: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluator.pipeline import Session

    good = write("good.yaml", MINIMAL_PROPOSAL)
    bad = write("bad.yaml", MINIMAL_PROPOSAL)
    original = Session.check

    def flaky(self: Session, path: Any, *args: Any) -> Any:
        if Path(path).name == "bad.yaml":
            raise RuntimeError("boom")
        return original(self, path, *args)

    monkeypatch.setattr(Session, "check", flaky)
    code, out, err = run(capsys, "check", str(bad), str(good), *RULES, "--format", "json")
    assert code == 2
    assert [r["proposal"]["id"] for r in [json.loads(out)][0]] == ["p1"]
    assert err == (f"error: {bad}: internal error while checking this proposal (RuntimeError: boom). This is a bug "
                   "in sandbox; the other proposals were still checked. Please report it with this file (run with "
                   "--debug for the traceback).\n")


def test_a_python_tag_in_a_proposal_is_refused(capsys: pytest.CaptureFixture[str], write: Any) -> None:
    path = write("t.yaml", MINIMAL_PROPOSAL.replace("applicant:\n", 'applicant: !!python/object/apply:os.system '
                                                                     '["echo hi"]\n', 1))
    assert run(capsys, "check", str(path), *RULES) == (2, "", (
        f"error: {path}:3:12: [applicant] YAML tag '!!python/object/apply:os.system' is not allowed: the file must "
        "hold plain data (remove the tag)\n"))


def copy_mini(tmp_path: Path, name: str, edit: tuple[str, str]) -> Path:
    """The mini pack and its tests in ``tmp_path/rules``, with one edit to the file ``name``."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for source in MINI.iterdir():
        text = source.read_text(encoding="utf-8")
        (rules / source.name).write_text(text.replace(*edit, 1) if source.name == name else text, encoding="utf-8")
    return rules


def test_a_tag_in_a_rule_pack_is_refused(capsys: pytest.CaptureFixture[str], proposal: Path, tmp_path: Path) -> None:
    rules = copy_mini(tmp_path, "mini.yaml", ("title: Minimal pack", "title: !include Minimal pack"))
    assert run(capsys, "check", str(proposal), "--rules", str(rules)) == (2, "", (
        f"error: {rules / 'mini.yaml'}:3:10: [pack.title] YAML tag '!include' is not allowed: the file must hold "
        "plain data (remove the tag)\n"))


def test_a_tag_in_a_rule_test_file_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = copy_mini(tmp_path, "mini.tests.yaml", ("pack: mini", "pack: !!python/name:os.system mini"))
    assert run(capsys, "rules", "test", "--rules", str(rules)) == (2, "", (
        f"error: {rules / 'mini.tests.yaml'}:2:9: [suite.pack] YAML tag '!!python/name:os.system' is not allowed: "
        "the file must hold plain data (remove the tag)\n"))


LIMIT_OPTIONS = {"--max-file-size": "max_bytes", "--max-depth": "max_depth", "--max-nodes": "max_nodes",
                 "--max-string-length": "max_string"}


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--max-file-size", "100", f"{{path}}: file is {len(MINIMAL_PROPOSAL)} bytes, over the limit of 100 (sandbox "
                               "check --max-file-size raises it)"),
    ("--max-depth", "2", "{path}:5:20: nesting reaches 3 levels here, over the limit of 2 (sandbox check --max-depth "
                         "raises it)"),
    ("--max-nodes", "10", "{path}:5:12: [applicant.contact] the document grows to 11 values here (aliases count "
                          "each time they are used), over the limit of 10 (sandbox check --max-nodes raises it)"),
    ("--max-string-length", "20", "{path}:12:24: [technology.autonomous_vehicle.remote_operation] key is 27 "
                                  "characters long, over the limit of 20 (sandbox check --max-string-length raises it)"),
])
def test_limit_options_refuse_a_proposal_over_them(capsys: pytest.CaptureFixture[str], proposal: Path, option: str,
                                                   value: str, message: str) -> None:
    assert run(capsys, "check", str(proposal), *RULES, option, value) == (
        2, "", "error: " + message.format(path=proposal) + "\n")


@pytest.mark.parametrize(("option", "text", "raised"), [
    ("--max-file-size", "x: 1 #" + "#" * 6_000_000 + "\n", "10000000"),
    ("--max-depth", "x: " + "[" * 70 + "]" * 70 + "\n", "900"),  # the most --max-depth takes
    ("--max-string-length", "x: " + "a" * 150_000 + "\n", "10000000"),
])
def test_limit_options_raise_the_defaults(capsys: pytest.CaptureFixture[str], write: Any, option: str,
                                          text: str, raised: str) -> None:
    """(--max-nodes takes the same path; a file over its default would take seconds to read.)"""
    path = write("big.yaml", MINIMAL_PROPOSAL + text)
    code, _, err = run(capsys, "check", str(path), *RULES)
    assert (code, err.count("\n"), f"(sandbox check {option} raises it)\n" in err) == (2, 1, True)
    code, _, err = run(capsys, "check", str(path), *RULES, option, raised)
    assert (code, err) == (2, f"error: {path}:19:1: [x] unknown key 'x'; allowed keys: ai_act, applicant, "
                              "descriptor_version, exit_plan, fca, innovation, insurance, metadata, oversight, "
                              "personal_data, safety, scope, technology\n")


def test_limit_options_must_be_positive(capsys: pytest.CaptureFixture[str], proposal: Path) -> None:
    code, out, err = run(capsys, "check", str(proposal), "--max-depth", "0")
    assert (code, out, err.splitlines()[-1]) == (
        2, "", "Error: Invalid value for '--max-depth': 0 is not in the range 1<=x<=900.")


def test_limit_option_help_states_the_loader_defaults() -> None:
    import typer.main

    from evaluator.cli import app
    from evaluator.loader import Limits

    command = typer.main.get_command(app).commands["check"]  # type: ignore[attr-defined]
    helps = {option: param.help for param in command.params for option in param.opts if option in LIMIT_OPTIONS}
    assert {option: f"(default: {getattr(Limits(), field)}" in helps[option]
            for option, field in LIMIT_OPTIONS.items()} == dict.fromkeys(LIMIT_OPTIONS, True)


@pytest.mark.parametrize("argv", [
    ["check", "--help"], ["check"], ["check", "--bogus", "x.yaml"], ["check", "--format", "pdf", "x.yaml"],
    ["schema", "--help"], ["init", "--help"], ["init"], ["explain"],
])
def test_a_command_run_alone_behaves_as_in_the_whole_app(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    # main() builds only the command named first (cli._app_for): help, usage errors and exit
    # codes must be those of the full application.
    from evaluator import cli

    assert [info.callback.__name__ for info in cli._app_for(argv).registered_commands] == [argv[0]]
    alone = main(argv), capsys.readouterr()
    monkeypatch.setattr(cli, "_app_for", lambda args: cli.app)
    whole = main(argv), capsys.readouterr()
    assert alone == whole
    assert alone[0] in (0, 2)


def test_max_depth_above_what_the_parser_can_read_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "p.yaml", "--max-depth", "901")
    assert (code, out) == (2, "")
    assert "Invalid value for '--max-depth': 901 is not in the range 1<=x<=900." in err

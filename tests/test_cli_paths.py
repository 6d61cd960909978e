"""Paths given to the CLI: report directories refused up front, directory batches that say what
they read, and generated files that are never overwritten without --force."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluator.cli import main

from conftest import EXAMPLES

ROBOTAXI = str(EXAMPLES / "robotaxi-pilot.yaml")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_empty_report_dir_is_refused_before_any_proposal_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "missing.yaml", "--report-dir", "") == (
        2, "", "error: --report-dir: the path is empty; name a directory (use '.' for this one)\n")


def test_a_file_as_report_dir_is_refused_up_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("mine", encoding="utf-8")
    assert run(capsys, "check", "missing.yaml", "--report-dir", str(blocker)) == (
        2, "", f"error: --report-dir {blocker}: exists and is not a directory\n")
    assert blocker.read_text(encoding="utf-8") == "mine"


def test_a_directory_batch_reads_upper_case_suffixes_and_reports_broken_links(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    intake = tmp_path / "intake"
    (intake / "deeper").mkdir(parents=True)
    shutil.copy(ROBOTAXI, intake / "A.YAML")
    shutil.copy(ROBOTAXI, intake / "deeper" / "b.Yml")
    (intake / "notes.txt").write_text("not a proposal", encoding="utf-8")
    (intake / "broken.yaml").symlink_to("nowhere.yaml")
    (intake / "loop.yaml").symlink_to("loop.yaml")
    (intake / "linked.yaml").symlink_to(intake / "deeper")  # a link to a directory is not a file
    code, out, err = run(capsys, "check", str(intake), "--jobs", "1", "--fail-on", "none")
    assert code == 2
    assert out.count("Decision: ADMIT WITH CONDITIONS") == 2
    assert f"{intake}/A.YAML: " in out and f"{intake}/deeper/b.Yml: " in out
    assert err.splitlines() == [f"error: {intake}/broken.yaml: cannot read file: No such file or directory",
                                f"error: {intake}/loop.yaml: cannot read file: Too many levels of symbolic links"]


@pytest.mark.parametrize("command", [["rules", "doc"], ["init", "--domain", "medical_ai"]])
def test_generated_files_need_force_to_be_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   command: list[str]) -> None:
    target = tmp_path / "out.md"
    target.write_text("keep me", encoding="utf-8")
    assert run(capsys, *command, "-o", str(target)) == (2, "", f"error: {target}: file exists; use --force to "
                                                           "overwrite it\n")
    assert target.read_text(encoding="utf-8") == "keep me"
    assert run(capsys, *command, "-o", str(target), "--force") == (0, "", f"wrote {target}\n")
    assert target.read_text(encoding="utf-8") != "keep me"


def test_help_lists_every_command_without_cutting_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--help"], ["rules", "--help"]):
        code, out, _ = run(capsys, *args)
        commands = out.split("Commands:\n", 1)[1]
        assert code == 0 and "..." not in commands and len(commands.splitlines()) >= 4


def test_bare_sandbox_prints_its_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 2
    assert "Usage: sandbox [OPTIONS] COMMAND [ARGS]..." in out + err and "check" in out + err


@pytest.mark.parametrize(("fmt", "shown"), [
    ("text", "(eu-ai-act, autonomous_vehicles)"),
    ("markdown", "- **Framework:** eu-ai-act (chosen with --framework; the descriptor states ru-elr)"),
])
def test_the_framework_that_judged_the_proposal_is_the_one_shown(capsys: pytest.CaptureFixture[str], fmt: str,
                                                                  shown: str) -> None:
    code, out, _ = run(capsys, "check", ROBOTAXI, "--framework", "eu-ai-act", "--format", fmt, "--fail-on", "none")
    assert code == 0 and shown in out and "(ru-elr, autonomous_vehicles)" not in out

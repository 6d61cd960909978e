"""The hostile-input corpus (tests/hostile/): every file with the exact stderr and exit code.

The manifest ``tests/hostile/cases.yaml`` says what each case runs and expects; its header
documents the keys. Files too big to commit are generated here (``GENERATORS``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from evaluator.cli import main
from evaluator.loader import MAX_DEPTH_CEILING, MAX_FILE_BYTES, MAX_STRING

from conftest import MINI, ROOT, TESTS

HOSTILE = TESTS / "hostile"
MANIFEST: dict[str, Any] = yaml.safe_load((HOSTILE / "cases.yaml").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = MANIFEST["cases"]
CASE_KEYS = {"name", "file", "generate", "args", "exit", "stderr", "stdout", "stdout_lines", "stdout_absent",
             "reports_before", "reports_after", "tmp_before"}
NOT_CASES = {"cases.yaml", ".gitattributes"}

#: A schema-valid proposal (the batch and id files are variants of it); REVISE under the mini pack.
VALID = (HOSTILE / "utf8-bom.yaml").read_bytes().removeprefix(b"\xef\xbb\xbf")


def _padded(size: int) -> bytes:
    """``VALID`` padded with a comment line to exactly ``size`` bytes."""
    padding = size - len(VALID) - 1
    return VALID + b"#" * padding + b"\n"


def _titled(length: int) -> bytes:
    """``VALID`` with a title of ``length`` characters."""
    return VALID.replace(b"title: Test proposal", b"title: " + b"A" * length)


def _nested(depth: int) -> bytes:
    """``VALID`` and a key ``nested`` whose deepest value is ``depth`` levels down (block style)."""
    lines = [b" " * level + b"k:\n" for level in range(1, depth - 1)]
    return VALID + b"nested:\n" + b"".join(lines) + b" " * (depth - 1) + b"k: 1\n"


GENERATORS: dict[str, Callable[[], bytes]] = {
    "nested-900.yaml": lambda: _nested(MAX_DEPTH_CEILING),
    "nested-901.yaml": lambda: _nested(MAX_DEPTH_CEILING + 1),
    "oversized.yaml": lambda: _padded(MAX_FILE_BYTES + 1),
    "at-size-limit.yaml": lambda: _padded(MAX_FILE_BYTES),
    "long-string.yaml": lambda: _titled(MAX_STRING + 1),
    "at-string-limit.yaml": lambda: _titled(MAX_STRING),
}


def case_id(case: dict[str, Any]) -> str:
    name = case.get("name") or case.get("generate") or case["file"]
    return str(name).removesuffix(".yaml")


def substitute(text: str, tmp: Path) -> str:
    return text.replace("{reports}", str(reports_dir(tmp))).replace("{tmp}", str(tmp))


def reports_dir(tmp: Path) -> Path:
    return tmp / "a" / "b" / "reports"


def populate(directory: Path, entries: dict[str, str | None]) -> None:
    for name, text in entries.items():
        if name.endswith("/"):
            (directory / name).mkdir(parents=True)
        else:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(str(text), encoding="utf-8")


def snapshot(directory: Path, skip: Path | None = None) -> dict[str, bytes | None]:
    """Every entry under ``directory`` (but not under ``skip``): name -> bytes, None for a directory."""
    if not directory.is_dir():
        return {}
    out: dict[str, bytes | None] = {}
    for path in sorted(directory.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        name = path.relative_to(directory).as_posix()
        out[name + "/" if path.is_dir() else name] = None if path.is_dir() else path.read_bytes()
    return out


def test_the_manifest_covers_the_corpus() -> None:
    """Every corpus file has a case, every case names a real file, and no key is misspelt."""
    used: set[str] = set()
    for case in CASES:
        assert set(case) <= CASE_KEYS, (case_id(case), set(case) - CASE_KEYS)
        assert ("file" in case) != ("generate" in case), case_id(case)
        assert "exit" in case and "stderr" in case, case_id(case)
        files = case.get("file", [])
        for name in files if isinstance(files, list) else [files]:
            assert (HOSTILE / name).exists(), name
            used |= {name} if (HOSTILE / name).is_file() else {
                p.relative_to(HOSTILE).as_posix() for p in (HOSTILE / name).rglob("*") if p.is_file()}
        assert case.get("generate") in (None, *GENERATORS), case_id(case)
    corpus = {p.relative_to(HOSTILE).as_posix() for p in HOSTILE.rglob("*") if p.is_file()} - NOT_CASES
    assert sorted(corpus - used) == []
    ids = [case_id(case) for case in CASES]
    assert len(ids) == len(set(ids))
    assert MANIFEST["common_args"] == ["--rules", str(MINI.relative_to(ROOT))]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hostile_input(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    if "generate" in case:
        generated = tmp_path / case["generate"]
        generated.write_bytes(GENERATORS[case["generate"]]())
        files = [str(generated)]
    else:
        names = case["file"] if isinstance(case["file"], list) else [case["file"]]
        files = [(HOSTILE / name).relative_to(ROOT).as_posix() for name in names]
    reports = reports_dir(tmp_path)
    reports.parent.mkdir(parents=True)
    populate(tmp_path, case.get("tmp_before", {}))
    populate(reports, case.get("reports_before", {}))
    elsewhere = snapshot(tmp_path, skip=reports)

    args = [substitute(arg, tmp_path) for arg in case.get("args", [])]
    code = main(["check", *files, *MANIFEST["common_args"], *args])
    out, err = capsys.readouterr()

    expected_err = "".join(substitute(line, tmp_path) + "\n" for line in case["stderr"])
    assert (code, err) == (case["exit"], expected_err)
    if "stdout" in case:
        assert out == substitute(case["stdout"], tmp_path)
    elif "stdout_lines" in case or "stdout_absent" in case:
        lines = set(out.splitlines())
        assert [line for line in case.get("stdout_lines", []) if substitute(line, tmp_path) not in lines] == []
        assert [text for text in case.get("stdout_absent", []) if text in out] == []
    else:
        assert out == ""
    if "reports_after" in case:
        expected = {name: None if text is None else str(text).encode() for name, text in case["reports_after"].items()}
        actual = snapshot(reports)
        assert sorted(actual) == sorted(expected)
        assert {n: v for n, v in actual.items() if expected[n] is not None} == {
            n: v for n, v in expected.items() if v is not None}
    assert snapshot(tmp_path, skip=reports) == elsewhere, "something was written outside the report directory"


@pytest.mark.parametrize(("proposal_id", "stem"), [
    ("../../etc/passwd", "etc_passwd"),
    ("/etc/passwd", "etc_passwd"),
    ("..", "proposal"),
    ("CON", "_CON"),
    ("lpt1.txt", "_lpt1.txt"),
    ("C:\\Windows\\win.ini", "C_Windows_win.ini"),
    ("a" * 300, "a" * 80),
])
def test_report_files_stay_inside_the_directory_whatever_the_id(tmp_path: Path, proposal_id: str,
                                                               stem: str) -> None:
    """Behind the schema's id pattern: ``write_reports`` itself keeps every file in the directory."""
    from evaluator.pipeline import Session
    from evaluator.render import write_reports

    report = Session((MINI,)).check(HOSTILE / "utf8-bom.yaml").to_dict()
    report["proposal"]["id"] = proposal_id
    written = write_reports([report], reports_dir(tmp_path))
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [f"a/b/reports/{stem}.md",
                                                                     f"a/b/reports/{stem}.html"]
    assert sorted(snapshot(tmp_path)) == ["a/", "a/b/", "a/b/reports/", f"a/b/reports/{stem}.html",
                                          f"a/b/reports/{stem}.md"]


def test_a_terminal_gets_no_escape_sequence_from_the_proposal() -> None:
    """With colour on (a terminal), the title's sequences still arrive as visible escapes."""
    from evaluator.pipeline import Session
    from evaluator.textout import render_text

    report = Session((MINI,)).check(HOSTILE / "terminal-escapes.yaml").to_dict()
    coloured = render_text(report, color=True)
    assert "\x1b[1m" in coloured  # colour is on ...
    assert [s for s in ("\x1b]", "\x1b\\", "\x1b[2J", "\u202e") if s in coloured] == []  # ... the payload is not
    assert "\\x1b]8;;http://evil.example\\x1b\\click" in coloured

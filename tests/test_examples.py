"""Every shipped example gives the decision stated on its first line, and its reports are golden."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evaluator.pipeline import Session
from evaluator.render import render_report

from conftest import EXAMPLES
from golden_files import check_golden

FIRST_LINE = re.compile(r"^# expected: (admit|admit_with_conditions|revise|reject)$")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def expected_decision(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = FIRST_LINE.match(first)
    assert match, f"{path.name}: first line must be '# expected: <decision>'"
    return match.group(1)


def test_there_are_examples_for_both_domains() -> None:
    names = {p.name for p in EXAMPLE_FILES}
    assert {"robotaxi-pilot.yaml", "weak-self-driving.yaml", "radiology-triage.yaml",
            "weak-medical-ai.yaml"} <= names


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

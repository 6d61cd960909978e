"""The calibration corpus: descriptors of real, public programmes and what their regulators decided.

Each case in ``tests/calibration/cases.yaml`` names the decisions of ours that agree with the
real outcome (``expected``). A case we do not (yet) agree with says why in
``known_disagreement`` and pins the decision we give (``ours``), so that any change, better or
worse, is seen. The README reports the agreement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from evaluator.pipeline import Session

CALIBRATION = Path(__file__).parent / "calibration"
CASES: list[dict[str, Any]] = yaml.safe_load((CALIBRATION / "cases.yaml").read_text(encoding="utf-8"))["cases"]
OUTCOMES = {"admitted", "admitted_with_conditions", "refused", "terminated", "extended"}


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def test_the_corpus_is_large_and_every_case_has_its_descriptor_and_sources() -> None:
    files = sorted(p.name for p in (CALIBRATION / "proposals").glob("*.yaml"))
    assert sorted(case["file"] for case in CASES) == files
    assert len(CASES) >= 20
    for case in CASES:
        assert case["real_outcome"] in OUTCOMES, case["file"]
        assert case["sources"] and all(s["url"].startswith(("http://", "https://")) for s in case["sources"])
        assert set(case["expected"]) <= {"admit", "admit_with_conditions", "revise", "reject"}


@pytest.mark.parametrize("case", CASES, ids=[case["file"].removesuffix(".yaml") for case in CASES])
def test_our_decision_agrees_with_the_real_outcome(session: Session, case: dict[str, Any]) -> None:
    report = session.check(CALIBRATION / "proposals" / case["file"])
    assert report.proposal.framework == case["framework"]
    if "known_disagreement" in case:
        assert report.decision == case["ours"], "the decision changed: update the case (perhaps it agrees now)"
        assert report.decision not in case["expected"]
    else:
        assert report.decision in case["expected"], report.reasons


def test_no_programme_a_regulator_admitted_is_rejected(session: Session) -> None:
    admitted = [c for c in CASES if c["real_outcome"] != "refused"]
    rejected = [c["file"] for c in admitted if session.check(CALIBRATION / "proposals" / c["file"]).decision == "reject"]
    assert rejected == []


def test_no_stated_fact_of_an_admitted_programme_fails_a_blocker_or_major_rule(session: Session) -> None:
    """Our rules do not contradict what regulators accepted: where we disagree, it is because the
    public record lacks what the filing held, and we ask for it."""
    failed = {}
    for case in (c for c in CASES if c["real_outcome"] != "refused"):
        report = session.check(CALIBRATION / "proposals" / case["file"])
        hits = [f.rule.id for f in report.findings
                if f.outcome == "fail" and f.rule.severity in ("blocker", "major")]
        if hits:
            failed[case["file"]] = hits
    assert failed == {}

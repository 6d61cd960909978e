"""Plain-text report of a rule-test run (``sandbox rules test``)."""

from __future__ import annotations

from pathlib import Path

from evaluator.ruletests import Gap, Mismatch, PackResult, TestRun


def render_test_run(run: TestRun) -> str:
    """One line per pack, then every mismatch and every coverage gap, then a total line."""
    lines = [_pack_line(result) for result in run.packs]
    mismatches, gaps = run.mismatches, run.gaps
    if mismatches:
        lines += ["", "Mismatches:"] + [_mismatch_line(m) for m in mismatches]
    if gaps:
        lines += ["", "Rules without enough cases:"] + [_gap_line(g) for g in gaps]
    cases = sum(r.cases for r in run.packs)
    expectations = sum(r.expectations for r in run.packs)
    verdict = "OK" if run.ok else "FAILED"
    total = (f"Rule tests {verdict}: {len(run.packs)} packs, {cases} cases, {expectations} expectations; "
             f"{len(mismatches)} mismatches, {len(gaps)} rules lacking cases")
    lines += ["", total]
    return "\n".join(lines) + "\n"


def _pack_line(result: PackResult) -> str:
    files = ", ".join(_rel(suite.file) for suite in result.suites) or "no tests file"
    status = "ok" if not result.mismatches and not result.gaps else (
        f"{len(result.mismatches)} mismatches, {len(result.gaps)} rules lacking cases")
    return f"{result.pack.id} ({files}): {result.cases} cases, {result.expectations} expectations: {status}"


def _mismatch_line(m: Mismatch) -> str:
    detail = f" ({m.detail})" if m.detail else ""
    return f"  {_rel(m.file)}:{m.line}: case '{m.case}': {m.subject}: expected {m.expected}, got {m.actual}{detail}"


def _gap_line(g: Gap) -> str:
    wanted = " and ".join(f"a case where it {'fires' if o == 'fires' else o + 'es' if o == 'pass' else o + 's'}"
                          for o in g.missing)
    return f"  {_rel(g.file)}:{g.line}: {g.rule_id} ({g.kind}): needs {wanted}"


def _rel(path: str) -> str:
    """Paths under the working directory are shown relative to it, as editors expect."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path

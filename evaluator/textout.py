"""Terminal output of a report: decision, reasons, pillar scores, findings with file:line:col.

Returns a string; colour (ANSI, via rich) only when the caller asks for it.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.markup import escape as _markup_escape

from evaluator.textsafe import visible

DECISION_STYLE = {"admit": "bold green", "admit_with_conditions": "bold yellow",
                  "revise": "bold dark_orange", "reject": "bold red"}
OUTCOME_STYLE = {"fail": "red", "indeterminate": "yellow", "pass": "green", "not_applicable": "dim"}
SEVERITY_ORDER = {"blocker": 0, "major": 1, "minor": 2, "info": 3}
PILLARS = ("eligibility", "safety", "oversight", "freedom")


def escape(text: str) -> str:
    """Proposal or rule text for the console: no rich markup, no control characters."""
    return _markup_escape(visible(text))


def render_text(report: dict[str, Any], color: bool, verbose: bool = False) -> str:
    """The human summary of one report."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=100,
                      highlight=False, emoji=False, soft_wrap=True)
    _header(console, report)
    for pillar in PILLARS:
        _pillar_findings(console, report, pillar, verbose)
    _conditions(console, report)
    _totals(console, report)
    return buffer.getvalue()


def _header(console: Console, report: dict[str, Any]) -> None:
    p = report["proposal"]
    console.print(f"[bold]{escape(p['path'])}[/]: {escape(p['id'])} \u2014 {escape(p['title'])} "
                  f"({escape(p['framework'])}, {escape(p['domain'])})")
    decision = report["decision"]
    console.print(f"Decision: [{DECISION_STYLE[decision]}]{decision.upper().replace('_', ' ')}[/]")
    for reason in report["reasons"]:
        console.print(f"  - {escape(reason)}")
    scores = "  ".join(f"{name} {report['pillars'][name]['score']}" for name in PILLARS)
    console.print(f"Pillar scores: {scores}")


def _pillar_findings(console: Console, report: dict[str, Any], pillar: str, verbose: bool) -> None:
    shown = {"fail", "indeterminate"} | ({"pass", "not_applicable"} if verbose else set())
    findings = [f for f in report["findings"] if f["pillar"] == pillar and f["outcome"] in shown]
    if not findings:
        return
    findings.sort(key=lambda f: (SEVERITY_ORDER[f["severity"]], f["location"]["line"], f["rule_id"]))
    console.print(f"\n[bold]{pillar.upper()}[/]")
    path = report["proposal"]["path"]
    for f in findings:
        where = f"{path}:{f['location']['line']}:{f['location']['column']}"
        style = OUTCOME_STYLE[f["outcome"]]
        console.print(f"  {escape(where)}: [{style}]{f['outcome']}[/] {f['severity']} "
                      f"[bold]{escape(f['rule_id'])}[/] {escape(f['title'])}")
        if f["outcome"] in ("fail", "indeterminate"):
            _details(console, f)


def _details(console: Console, finding: dict[str, Any]) -> None:
    if finding["outcome"] == "indeterminate":
        missing = [e["path"] for e in finding["evidence"] if not e["present"]]
        unknown = [fact["name"] for fact in finding["facts"] if fact["origin"] == "unknown"]
        needed = ", ".join([*missing, *(f"fact {n}" for n in unknown)]) or "evidence"
        console.print(f"      missing: {escape(needed)}")
    else:
        console.print(f"      {escape(finding['message'])}")
    for basis in finding["basis"]:
        confidence = "" if basis["confidence"] == "verified" else f" ({basis['confidence']})"
        console.print(escape(f"      basis: {basis['instrument']}, {basis['article']} <{basis['url']}>"
                             f"{confidence}"))
    console.print(f"      fix: {escape(finding['remediation'])}")


def _conditions(console: Console, report: dict[str, Any]) -> None:
    if report["conditions"]:
        console.print("\n[bold]Conditions to impose at admission[/]")
        for item in report["conditions"]:
            console.print(f"  - {escape(item['rule_id'])}: {escape(item['text'])}")


def _totals(console: Console, report: dict[str, Any]) -> None:
    counts = {"pass": 0, "fail": 0, "indeterminate": 0, "not_applicable": 0}
    for f in report["findings"]:
        counts[f["outcome"]] += 1
    console.print(f"\nRule outcomes: {counts['pass']} pass, {counts['fail']} fail, "
                  f"{counts['indeterminate']} indeterminate, {counts['not_applicable']} not applicable")

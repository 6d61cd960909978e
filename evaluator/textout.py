"""Terminal output of a report: decision, reasons, pillar scores, findings with file:line:col.

Returns a string. The report is laid out once as lines of (text, style) spans; without colour
they are joined as they are, and only with colour does rich (40 ms to import) turn styles into
ANSI codes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from evaluator.textsafe import visible

DECISION_STYLE = {"admit": "bold green", "admit_with_conditions": "bold yellow",
                  "revise": "bold dark_orange", "reject": "bold red"}
OUTCOME_STYLE = {"fail": "red", "indeterminate": "yellow", "pass": "green", "not_applicable": "dim"}
SEVERITY_ORDER = {"blocker": 0, "major": 1, "minor": 2, "info": 3}
PILLARS = ("eligibility", "safety", "oversight", "freedom")

Span = tuple[str, str | None]  # text (already made visible), rich style or None
Line = list[Span]


def render_text(report: dict[str, Any], color: bool, verbose: bool = False) -> str:
    """The human summary of one report."""
    lines = list(_lines(report, verbose))
    if not color:
        return "".join("".join(text for text, _ in line) + "\n" for line in lines)
    return _colored(lines)


def _colored(lines: list[Line]) -> str:
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, highlight=False, emoji=False,
                      soft_wrap=True)
    for line in lines:
        console.print(Text.assemble(*((text, style or "") for text, style in line)))
    return buffer.getvalue()


def _plain(text: str) -> Span:
    return (visible(text), None)


def _lines(report: dict[str, Any], verbose: bool) -> Iterator[Line]:
    yield from _header(report)
    for pillar in PILLARS:
        yield from _pillar_findings(report, pillar, verbose)
    yield from _requests(report)
    yield from _conditions(report)
    yield from _totals(report)


def _header(report: dict[str, Any]) -> Iterator[Line]:
    p = report["proposal"]
    yield [(visible(p["path"]), "bold"),
           _plain(f": {p['id']} \u2014 {p['title']} ({report['rulebook']['framework']}, {p['domain']})")]
    decision = report["decision"]
    yield [("Decision: ", None), (decision.upper().replace("_", " "), DECISION_STYLE[decision])]
    for reason in report["reasons"]:
        yield [_plain(f"  - {reason}")]
    scores = "  ".join(f"{name} {report['pillars'][name]['score']}" for name in PILLARS)
    yield [(f"Pillar scores: {scores}", None)]


def _pillar_findings(report: dict[str, Any], pillar: str, verbose: bool) -> Iterator[Line]:
    shown = {"fail", "indeterminate"} | ({"pass", "not_applicable"} if verbose else set())
    findings = [f for f in report["findings"] if f["pillar"] == pillar and f["outcome"] in shown]
    if not findings:
        return
    findings.sort(key=lambda f: (SEVERITY_ORDER[f["severity"]], f["location"]["line"], f["rule_id"]))
    yield []
    yield [(pillar.upper(), "bold")]
    path = report["proposal"]["path"]
    for f in findings:
        where = f"{path}:{f['location']['line']}:{f['location']['column']}"
        yield [_plain(f"  {where}: "), (f["outcome"], OUTCOME_STYLE[f["outcome"]]), (f" {f['severity']} ", None),
               (visible(f["rule_id"]), "bold"), _plain(f" {f['title']}")]
        if f["outcome"] in ("fail", "indeterminate"):
            yield from _details(f)


def _details(finding: dict[str, Any]) -> Iterator[Line]:
    if finding["outcome"] == "indeterminate":
        missing = [e["path"] for e in finding["evidence"] if not e["present"]]
        unknown = [fact["name"] for fact in finding["facts"] if fact["origin"] == "unknown"]
        needed = ", ".join([*missing, *(f"fact {n}" for n in unknown)]) or "evidence"
        yield [_plain(f"      missing: {needed}")]
        if finding["defer"]:
            yield [_plain(f"      may follow admission: {finding['defer']['deliver']} "
                          f"Due {finding['defer']['due']}.")]
    else:
        yield [_plain(f"      {finding['message']}")]
    for basis in finding["basis"]:
        confidence = "" if basis["confidence"] == "verified" else f" ({basis['confidence']})"
        yield [_plain(f"      basis: {basis['instrument']}, {basis['article']} <{basis['url']}>{confidence}")]
    yield [_plain(f"      fix: {finding['remediation']}")]


def _requests(report: dict[str, Any]) -> Iterator[Line]:
    if report["information_requests"]:
        yield []
        yield [("Information requested before admission", "bold")]
        path = report["proposal"]["path"]
        for item in report["information_requests"]:
            needed = ", ".join(item["missing"]) or "the evidence it asks for"
            yield [_plain(f"  - {path}:{item['location']['line']}: {item['rule_id']} ({item['severity']}) "
                          f"{item['title']}: add {needed}")]


def _conditions(report: dict[str, Any]) -> Iterator[Line]:
    if report["conditions"]:
        yield []
        heading = "Conditions admission would carry" if report["decision"] == "revise" else \
            "Conditions to impose at admission"
        yield [(heading, "bold")]
        for item in report["conditions"]:
            due = f" Due {item['due']}." if item["due"] else ""
            yield [_plain(f"  - {item['rule_id']}: {item['text']}{due}")]


def _totals(report: dict[str, Any]) -> Iterator[Line]:
    counts = {"pass": 0, "fail": 0, "indeterminate": 0, "not_applicable": 0}
    for f in report["findings"]:
        counts[f["outcome"]] += 1
    yield []
    totals = (f"Rule outcomes: {counts['pass']} pass, {counts['fail']} fail, "
              f"{counts['indeterminate']} indeterminate, {counts['not_applicable']} not applicable")
    yield [(totals, None)]

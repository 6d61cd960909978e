"""Stage 5: findings with evidence, pillar scores and the decision, as one ``Report`` value.

``Report.to_dict()`` is the stable JSON contract (docs/json-output.md); the Markdown and HTML
templates render the same dictionary.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from evaluator import __version__
from evaluator import conditions as c
from evaluator.evaluate import Evaluation, FactValue, RuleResult
from evaluator.loader import dotted
from evaluator.model import Proposal
from evaluator.policy import DECISIONS, DecisionPolicy, Selector
from evaluator.records import record
from evaluator.rulebook import PILLARS, SEVERITIES, DeriveRule, RequireRule

SCHEMA_VERSION = "1.1"
#: Proposal fields shown as "key parameters" in reports, when present.
KEY_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("Term start", "scope.term.start"),
    ("Term end", "scope.term.end"),
    ("Term (months)", "scope.term.duration_months"),
    ("Regions", "scope.territory.regions"),
    ("Units", "scope.scale.units"),
    ("Participants (max)", "scope.scale.participants_max"),
    ("SAE level", "technology.autonomous_vehicle.sae_level"),
    ("Who can intervene", "technology.autonomous_vehicle.intervention"),
    ("Device class", "technology.medical_ai.device_class"),
    ("Registration", "technology.medical_ai.registration.status"),
    ("Insured sum per unit", "insurance.sum_per_unit"),
    ("Insurance currency", "insurance.currency"),
    ("Reporting every (months)", "oversight.reporting.frequency_months"),
)


@record(slots=True)
class Evidence:
    """A value a rule read; ``present`` False means the field is missing and the position is
    that of the nearest existing parent."""

    path: str
    value: Any
    line: int
    column: int
    present: bool

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "value": self.value, "line": self.line, "column": self.column,
                "present": self.present}


@record(slots=True)
class Finding:
    rule: RequireRule
    outcome: str
    evidence: tuple[Evidence, ...]
    facts: tuple[FactValue, ...]

    @property
    def location(self) -> tuple[int, int]:
        """Where to point the applicant: the first missing field, else the first field read."""
        for item in self.evidence:
            if not item.present:
                return item.line, item.column
        return (self.evidence[0].line, self.evidence[0].column) if self.evidence else (1, 1)

    def to_dict(self) -> dict[str, Any]:
        head, tail, basis = self.rule.shown
        line, column = self.location
        return {
            **head, "outcome": self.outcome, **tail,
            "basis": [dict(b) for b in basis],
            "evidence": [e.to_dict() for e in self.evidence],
            "facts": [{"name": f.name, "value": f.value, "origin": f.origin} for f in self.facts],
            "location": {"line": line, "column": column},
        }


@record(slots=True)
class AdmissionCondition:
    """What admission would impose: a failed minor rule's condition (``due`` None: for the whole
    term), or evidence that may follow admission (``due`` says by when)."""

    rule_id: str
    text: str
    due: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "text": self.text, "due": self.due}


@record(slots=True)
class InformationRequest:
    """Evidence the applicant must add before admission: the rule that needs it and the fields."""

    rule_id: str
    title: str
    severity: str
    missing: tuple[str, ...]
    line: int
    column: int

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "title": self.title, "severity": self.severity,
                "missing": list(self.missing), "location": {"line": self.line, "column": self.column}}


@record(slots=True)
class PillarScore:
    score: int
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, **self.counts}


@record
class Report:
    """Everything decided about one proposal."""

    evaluation: Evaluation
    policy: DecisionPolicy
    decision: str
    reasons: tuple[str, ...]
    findings: tuple[Finding, ...]
    pillars: dict[str, PillarScore]
    conditions: tuple[AdmissionCondition, ...]
    requests: tuple[InformationRequest, ...] = ()

    @property
    def proposal(self) -> Proposal:
        return self.evaluation.proposal

    def passes(self, fail_on: str) -> bool:
        """True when the decision is better than ``fail_on`` (``none``: always)."""
        if fail_on == "none":
            return True
        return DECISIONS.index(self.decision) < DECISIONS.index(fail_on)

    def to_dict(self, trace: bool = True) -> dict[str, Any]:
        """The documented JSON object (schema_version 1.0).

        ``trace=False`` leaves out ``trace``, which only the JSON output and custom templates
        show (a third of the cost of building the object).
        """
        proposal, rulebook = self.proposal, self.evaluation.rulebook
        return {
            "schema_version": SCHEMA_VERSION,
            "tool_version": __version__,
            "proposal": {"path": proposal.path, "id": proposal.id, "title": proposal.title,
                         "version": proposal.version, "domain": proposal.domain,
                         "framework": proposal.framework, "applicant": proposal.applicant,
                         "sha256": proposal.sha256},
            "rulebook": {"framework": rulebook.framework, "domain": rulebook.domain, "sha256": rulebook.sha256,
                         "packs": [{"id": p.id, "title": p.title, "version": p.version, "framework": p.framework,
                                    "sha256": p.sha256} for p in rulebook.packs],
                         "policy": {"id": self.policy.id, "version": self.policy.version,
                                    "sha256": self.policy.sha256}},
            "decision": self.decision,
            "reasons": list(self.reasons),
            "pillars": {name: score.to_dict() for name, score in self.pillars.items()},
            "derived_facts": _derived_facts(self.evaluation),
            "findings": [f.to_dict() for f in self.findings],
            "conditions": [condition.to_dict() for condition in self.conditions],
            "information_requests": [request.to_dict() for request in self.requests],
            "not_applied": [{"rule_id": f.rule.id, "title": f.rule.title, "why": _why_not_applied(f, proposal)}
                            for f in self.findings if f.outcome == "not_applicable"],
            "key_parameters": _key_parameters(proposal),
            **({"trace": _trace(self.evaluation)} if trace else {}),
        }


def build_report(evaluation: Evaluation, policy: DecisionPolicy, all_evidence: bool = True) -> Report:
    """Attach evidence, score the pillars and apply the decision policy.

    ``all_evidence=False`` attaches evidence only to the findings that need attention (failed
    and indeterminate): all that the shipped reports and the plain text output show. A passed or
    not-applicable finding then has no evidence and points at line 1, so such a report is not for
    the JSON output, the verbose text output or a custom template.
    """
    evidence: dict[tuple[str, ...], list[Evidence]] = {}  # rules often read the same fields
    findings = tuple(_finding(evaluation, result, evidence if all_evidence or result.outcome in _ATTENTION else None)
                     for result in evaluation.results)
    decision, reasons = decide(findings, policy)
    conditions = () if decision == "reject" else admission_conditions(findings)
    return Report(evaluation, policy, decision, reasons, findings, score_pillars(findings, policy), conditions,
                  information_requests(findings))


def admission_conditions(findings: tuple[Finding, ...]) -> tuple[AdmissionCondition, ...]:
    """Failed minor rules' conditions, then evidence that may follow admission, in rule order.

    A rejection imposes nothing, so ``build_report`` gives it none.
    """
    out = []
    for f in findings:
        if f.outcome == "fail" and f.rule.severity == "minor":
            out.append(AdmissionCondition(f.rule.id, f.rule.condition or f.rule.remediation))
        elif f.outcome == "indeterminate" and f.rule.defer is not None and f.rule.severity != "info":
            out.append(AdmissionCondition(f.rule.id, f.rule.defer.deliver, f.rule.defer.due))
    return tuple(out)


def information_requests(findings: tuple[Finding, ...]) -> tuple[InformationRequest, ...]:
    """What to add before admission: each indeterminate rule whose evidence cannot follow it
    (info rules ask for nothing), with the missing fields and facts it reads."""
    out = []
    for f in findings:
        if f.outcome != "indeterminate" or f.rule.defer is not None or f.rule.severity == "info":
            continue
        missing = tuple(dict.fromkeys(e.path for e in f.evidence if not e.present))
        missing += tuple(f"fact {v.name}" for v in f.facts if v.origin == "unknown")
        line, column = f.location
        out.append(InformationRequest(f.rule.id, f.rule.title, f.rule.severity, missing, line, column))
    return tuple(sorted(out, key=lambda r: (SEVERITIES.index(r.severity), r.line, r.rule_id)))


def decide(findings: tuple[Finding, ...], policy: DecisionPolicy) -> tuple[str, tuple[str, ...]]:
    """First policy entry whose selectors match wins; the reasons name the rules that matched."""
    for rule in policy.rules:
        matched = [(s, _matching(findings, s)) for s in rule.selectors]
        matched = [(s, hits) for s, hits in matched if len(hits) >= s.min_count]
        if rule.selectors and not matched:
            continue
        reasons = [rule.reason]
        for selector, hits in matched:
            ids = ", ".join(f.rule.id for f in hits)
            reasons.append(f"{selector.describe()}: {ids}")
        return rule.decision, tuple(reasons)
    raise AssertionError("a policy always ends with a fallback entry")


def _matching(findings: tuple[Finding, ...], selector: Selector) -> list[Finding]:
    return [f for f in findings if f.outcome in selector.outcomes and f.rule.severity in selector.severities
            and f.rule.pillar in selector.pillars
            and (selector.deferrable is None or (f.rule.defer is not None) == selector.deferrable)]


def score_pillars(findings: tuple[Finding, ...], policy: DecisionPolicy) -> dict[str, PillarScore]:
    """0-100 per pillar: weight of passed rules over the weight of applicable rules."""
    out: dict[str, PillarScore] = {}
    for pillar in PILLARS:
        mine = [f for f in findings if f.rule.pillar == pillar]
        counts = {"passed": 0, "failed": 0, "not_applicable": 0, "indeterminate": 0}
        for f in mine:
            counts[{"pass": "passed", "fail": "failed"}.get(f.outcome, f.outcome)] += 1
        weight = sum(policy.weights[f.rule.severity] for f in mine if f.outcome != "not_applicable")
        passed = sum(policy.weights[f.rule.severity] for f in mine if f.outcome == "pass")
        score = 100 if weight == 0 else math.floor(100 * passed / weight + 0.5)
        out[pillar] = PillarScore(score, counts)
    return out


_ATTENTION = ("fail", "indeterminate")


def _finding(evaluation: Evaluation, result: RuleResult,
             known: dict[tuple[str, ...], list[Evidence]] | None) -> Finding:
    """``known``: evidence found so far, by path (None: attach no evidence)."""
    rule = result.rule
    evidence: tuple[Evidence, ...] = ()
    if known is not None:
        paths = rule.fields_read()
        for path in paths:
            if path not in known:
                known[path] = evidence_for(evaluation.proposal, path)
        evidence = tuple(e for path in paths for e in known[path])
        if result.outcome == "indeterminate":
            evidence += tuple(missing_item_fields(evaluation.proposal, rule))
    fact_values = tuple(evaluation.facts[name] for name in rule.facts_read() if name in evaluation.facts)
    return Finding(rule, result.outcome, evidence, fact_values)


def evidence_for(proposal: Proposal, path: tuple[str, ...]) -> list[Evidence]:
    """Evidence entries for a field a rule read (a computed field yields its sources too)."""
    entries = []
    for source in dict.fromkeys((path, *proposal.source_paths(path))):
        present, value = proposal.value_at(source)
        # A computed field has no node of its own: point at the first field it comes from.
        _, position = proposal.source_map.locate(proposal.source_paths(source)[0])
        entries.append(Evidence(_dotted(source), value if present else None, position.line,
                                position.column, present))
    return entries


def missing_item_fields(proposal: Proposal, rule: RequireRule) -> list[Evidence]:
    """The fields that list items lack for the rule's every/some/none tests (``hazards[1].mitigations``),
    each pointing at its item: what "indeterminate" asks for when every list is there."""
    out: list[Evidence] = []
    for _, condition in rule.conditions:
        for node in _quantifiers(condition):
            present, items = proposal.value_at(node.path)
            if not present or not isinstance(items, list):
                continue
            fields = list(dict.fromkeys(_item_fields(node.where)))
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                for field_path in fields:
                    if proposal.value_at((*node.path, index, *field_path))[0]:
                        continue
                    _, position = proposal.source_map.locate((*node.path, index))
                    shown = f"{_dotted(node.path)}[{index}].{'.'.join(field_path)}"
                    out.append(Evidence(shown, None, position.line, position.column, False))
    return out


def _quantifiers(condition: c.Condition) -> list[c.Quantified]:
    if isinstance(condition, c.Quantified):
        return [condition]
    if isinstance(condition, c.Not):
        return _quantifiers(condition.part)
    if isinstance(condition, c.Leaf):
        return []
    return [q for part in condition.parts for q in _quantifiers(part)]


def _item_fields(condition: c.Condition) -> list[tuple[str, ...]]:
    """Item fields whose absence leaves a ``where`` unknown (presence tests are always decided)."""
    if isinstance(condition, c.Leaf):
        keep = condition.subject.kind == "item" and condition.subject.path and condition.op not in c.PRESENCE
        return [condition.subject.path] if keep else []
    if isinstance(condition, c.Not):
        return _item_fields(condition.part)
    if isinstance(condition, c.Quantified):
        return []
    return [path for part in condition.parts for path in _item_fields(part)]


_dotted = lru_cache(maxsize=4096)(dotted)  # rules read the same few hundred paths in every report


def _derived_facts(evaluation: Evaluation) -> list[dict[str, Any]]:
    rules = {rule.id: rule for rule in evaluation.rulebook.derive}
    out = []
    for fact in evaluation.facts.values():
        rule = rules.get(fact.rule_id) if fact.rule_id else None
        reads = ([e.to_dict() for p in rule.fields_read() for e in evidence_for(evaluation.proposal, p)]
                 if rule else [])
        out.append({"name": fact.name, "value": fact.value, "origin": fact.origin, "rule_id": fact.rule_id,
                    "rule_title": rule.title if rule else None, "reads": reads,
                    "depends_on": rule.facts_read() if rule else []})
    return out


def _trace(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Every rule in evaluation order: its verdict, the values it read, the facts it set."""
    rules: dict[str, DeriveRule | RequireRule] = {r.id: r for r in evaluation.rulebook.derive}
    rules.update((r.id, r) for r in evaluation.rulebook.require)
    out = []
    for step in evaluation.trace:
        rule = rules[step.rule_id]
        reads = [{"path": ".".join(path), "value": evaluation.proposal.value_at(path)[1]}
                 for path in rule.fields_read()]
        reads += [{"fact": name, "value": evaluation.facts[name].value}
                  for name in rule.facts_read() if name in evaluation.facts]
        out.append({"stratum": step.stratum, "rule_id": step.rule_id, "role": step.role,
                    "truth": step.truth, "reads": reads, "derived": dict(step.derived)})
    return out


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps with an argument builds an encoder per call


def _why_not_applied(finding: Finding, proposal: Proposal) -> str:
    """The values that made ``applies_when`` false, in JSON spelling."""
    rule = finding.rule
    assert rule.applies_when is not None
    shown = []
    for path in c.fields_read(rule.applies_when):
        present, value = proposal.value_at(path)
        shown.append(f"{'.'.join(path)} = {_JSON.encode(value)}" if present
                      else f"{'.'.join(path)} is missing")
    facts = {f.name: f.value for f in finding.facts}
    shown += [f"fact {name} = {_JSON.encode(facts.get(name))}"
              for name in c.facts_read(rule.applies_when)]
    return "applies_when is false" + (f" ({'; '.join(shown)})" if shown else "")


def _key_parameters(proposal: Proposal) -> list[dict[str, Any]]:
    out = []
    for label, dotted_path in KEY_PARAMETERS:
        path = tuple(dotted_path.split("."))
        present, value = proposal.value_at(path)
        if present:
            out.append({"label": label, "path": dotted_path, "value": value,
                        "line": proposal.source_map.locate(path)[1].line})
    return out


__all__ = ["SEVERITIES", "AdmissionCondition", "Evidence", "Finding", "InformationRequest", "PillarScore", "Report",
           "build_report", "decide"]

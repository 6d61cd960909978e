"""``sandbox explain RULE-ID``: what a rule checks, why, on what basis, how to satisfy it, and
a passing example taken from the rule tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evaluator.catalog import Catalog, Entry, load_catalog
from evaluator.condtext import condition_lines, literal
from evaluator.errors import EvaluatorError, display_path
from evaluator.rulebook import DeriveRule, RequireRule, did_you_mean

#: A computed field and the descriptor section it is computed from.
COMPUTED_FROM: dict[tuple[str, ...], tuple[str, ...]] = {("computed", "term_months"): ("scope", "term")}
PAD = "  "


def explain(rule_id: str, rule_dirs: tuple[Path, ...] = ()) -> str:
    """The explanation of every rule with this id (one per framework that has it)."""
    catalog = load_catalog(rule_dirs)
    entries = catalog.find(rule_id)
    if not entries:
        known = [e.rule.id for e in catalog.entries]
        raise EvaluatorError(f"unknown rule '{rule_id}'{did_you_mean(rule_id.upper(), known)}; "
                             "`sandbox rules list` shows every rule")
    example = _Examples(rule_dirs)
    return "\n\n".join(_explain(entry, catalog, example) for entry in entries) + "\n"


def _explain(entry: Entry, catalog: Catalog, examples: _Examples) -> str:
    rule = entry.rule
    sections = [_heading(entry), _what(entry, catalog)]
    if isinstance(rule, RequireRule):
        sections += [_section("Why", [rule.message]), _section("Basis", _basis(rule)),
                     _section("How to satisfy it", [rule.remediation])]
        if rule.condition:
            sections.append(_section("Condition imposed at admission if it fails", [rule.condition]))
        if rule.defer:
            sections.append(_section("Evidence that may follow admission",
                                     [f"{rule.defer.deliver} Due {rule.defer.due}."]))
    sections.append(examples.render(entry, catalog))
    return "\n\n".join(sections)


def _heading(entry: Entry) -> str:
    rule = entry.rule
    domains = ", ".join(entry.pack.domains) if entry.pack.domains else "every domain"
    where = f"{display_path(rule.file)}:{rule.line}"
    lines = [f"{rule.id}: {rule.title}",
             f"{PAD}{entry.kind} rule in pack {entry.pack.id} ({entry.framework}; {domains}), {where}"]
    if isinstance(rule, RequireRule):
        lines.append(f"{PAD}pillar: {rule.pillar}, severity: {rule.severity}")
    return "\n".join(lines)


def _what(entry: Entry, catalog: Catalog) -> str:
    rule = entry.rule
    parameters = catalog.parameters(entry.framework)
    if isinstance(rule, DeriveRule):
        sets = ", ".join(f"{name} = {literal(value)}" for name, value in rule.sets)
        body = [f"sets {sets} when:", *condition_lines(rule.when, parameters, 1)]
        readers = _readers(rule, catalog, entry.framework)
        return _section("What it derives", body + ([f"read by: {readers}"] if readers else []))
    body = []
    if rule.applies_when is not None:
        body += ["applies when:", *condition_lines(rule.applies_when, parameters, 1)]
    else:
        body.append("applies to every proposal of its framework and domains")
    body += ["checks:", *condition_lines(rule.check, parameters, 1)]
    setters = [f"{PAD}{use.fact.name}: set by {', '.join(f'{i} ({literal(v)})' for i, v in use.set_by)}"
               for use in catalog.fact_uses(entry.framework) if use.fact.name in rule.facts_read()]
    return _section("What it checks", body + (["facts it reads:", *setters] if setters else []))


def _readers(rule: DeriveRule, catalog: Catalog, framework: str) -> str:
    names = {name for name, _ in rule.sets}
    ids = [i for use in catalog.fact_uses(framework) if use.fact.name in names
           for i in (*use.gates, *use.checks, *use.derives)]
    return ", ".join(dict.fromkeys(ids))


def _basis(rule: RequireRule) -> list[str]:
    lines = []
    for basis in rule.basis:
        lines.append(f"- {basis.instrument}, {basis.article} <{basis.url}> (confidence: {basis.confidence})")
        if basis.note:
            lines.append(f"  note: {' '.join(basis.note.split())}")
    return lines


def _section(title: str, body: list[str]) -> str:
    lines = [title]
    for text in body:
        lines += [PAD + line if line else "" for line in text.strip("\n").splitlines()]
    return "\n".join(lines)


class _Examples:
    """Passing examples from the rule tests, read once; unreadable tests are said, not fatal."""

    def __init__(self, rule_dirs: tuple[Path, ...]) -> None:
        from evaluator.ruletests import load_suites

        self.problem = ""
        try:
            self.suites = load_suites(rule_dirs)
        except EvaluatorError as exc:
            self.suites, self.problem = [], str(exc.problems[0])

    def render(self, entry: Entry, catalog: Catalog) -> str:
        from evaluator.ruletests import passing_example

        case = passing_example(self.suites, entry.rule.id)
        verb = "fires" if entry.kind == "derive" else "passes"
        if case is None:
            why = f"the rule tests could not be read: {self.problem}" if self.problem else "no rule test has one"
            return _section("Passing example", [f"none ({why})"])
        fragment = prune(case.given, relevant_fields(entry, catalog))
        text = yaml.safe_dump(fragment, sort_keys=False, allow_unicode=True).strip() if fragment else "{}"
        title = f"Passing example (rule test {display_path(case.file)}:{case.line}, '{case.name}')"
        return _section(title, [f"# the rule {verb} with these fields (those it and its facts read):", text])


def relevant_fields(entry: Entry, catalog: Catalog) -> set[tuple[str, ...]]:
    """Fields the rule reads, and those read by the derive rules that set the facts it reads."""
    derive = [e.rule for e in catalog.entries if e.framework == entry.framework and isinstance(e.rule, DeriveRule)]
    fields = set(entry.rule.fields_read())
    facts, seen = list(entry.rule.facts_read()), set()
    while facts:
        name = facts.pop()
        if name in seen:
            continue
        seen.add(name)
        for setter in (r for r in derive if any(f == name for f, _ in r.sets)):
            fields |= set(setter.fields_read())
            facts += setter.facts_read()
    return {COMPUTED_FROM.get(path, path) for path in fields}


def prune(data: dict[str, Any], paths: set[tuple[str, ...]]) -> dict[str, Any]:
    """The parts of ``data`` on the given paths (a path's whole value is kept)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        below = {path[1:] for path in paths if path and path[0] == key}
        if () in below:
            out[key] = value
        elif below and isinstance(value, dict):
            kept = prune(value, below)
            if kept:
                out[key] = kept
    return out

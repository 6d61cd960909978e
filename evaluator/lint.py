"""``sandbox rules lint``: every problem in every rule pack, not just the first that stops a check.

Three sources, merged, deduplicated and sorted by file and line:

1. reading each pack file (YAML, the pack schema): ``rulebook.read_packs``;
2. the cross-pack checks of every (framework, domain) rulebook (fields, operators, values,
   parameters, facts, duplicate ids, cycles, facts read but never derived), including every
   test of a condition after the first broken one: ``rulebook.assemble`` and
   ``rulebook.condition_problems``;
3. authoring checks that the loader does not make: ``evaluator.lint_checks``.

A pack that cannot be read is left out of the cross-pack checks, so problems it causes in other
packs (an unknown parameter it would have declared) show up until it is fixed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluator.errors import EvaluatorError, Problem, RuleFileError, display_path
from evaluator.loader import load_file
from evaluator.records import record
from evaluator.rulebook import (
    Rulebook,
    RulePack,
    assemble,
    condition_problems,
    default_rules_dir,
    discover,
    domains,
    read_packs,
)

_RULE_PATH = re.compile(r"^(derive|require)\[(\d+)\](?:\.|$)")
_RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_PER_DOMAIN = re.compile(r"^(?P<head>.* in the packs for [a-z0-9-]+)/(?P<domain>[a-z_]+)(?P<tail> .*)$",
                         re.DOTALL)


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: where, about what (a path in the pack, as ``sandbox check`` writes it), and what is wrong."""

    file: str
    line: int
    column: int
    subject: str
    message: str

    def __str__(self) -> str:
        subject = f" [{self.subject}]" if self.subject else ""
        return f"{self.file}:{self.line}:{self.column}:{subject} {self.message}"


@record
class LintResult:
    """Every finding, sorted, and how many pack files were read."""

    findings: tuple[Finding, ...]
    files: int

    @property
    def ok(self) -> bool:
        return not self.findings


def lint(rule_dirs: tuple[Path, ...] = ()) -> LintResult:
    """Lint the packs under ``rule_dirs`` (default: the shipped packs).

    Raises ``EvaluatorError`` only when a directory or file given does not exist.
    """
    from evaluator.lint_checks import authoring_problems

    dirs = rule_dirs or (default_rules_dir(),)
    files = discover(dirs)
    packs, problems = read_packs(dirs)
    books = _assemble_every(packs, problems)
    problems += authoring_problems(packs, books)
    raw = _raw_by_file(files, packs)
    findings = _merge_domains({to_finding(p, raw.get(p.file)) for p in problems})
    return LintResult(tuple(sorted(findings)), len(files))


def _assemble_every(packs: list[RulePack], problems: list[Problem]) -> list[Rulebook]:
    """Assemble every (framework, domain) the packs cover; collect problems instead of stopping."""
    books = []
    for framework in sorted({p.framework for p in packs}):
        for domain in domains():
            if not any(p.framework == framework and p.applies_to(domain) for p in packs):
                continue
            try:
                books.append(assemble(packs, framework, domain))
            except RuleFileError as exc:
                problems.extend(exc.problems)
            problems.extend(condition_problems(packs, framework, domain))
    return books


def _merge_domains(findings: set[Finding]) -> set[Finding]:
    """One finding, naming every domain, for a problem the same rule has in several rulebooks."""
    groups: dict[tuple[Finding, str, str], list[str]] = {}
    kept: set[Finding] = set()
    for finding in findings:
        match = _PER_DOMAIN.match(finding.message)
        if match is None:
            kept.add(finding)
            continue
        key = (dataclasses.replace(finding, message=""), match["head"], match["tail"])
        groups.setdefault(key, []).append(match["domain"])
        groups[key].sort()
    for (finding, head, tail), names in groups.items():
        where = names[0] if len(names) == 1 else f"{{{', '.join(names)}}}"
        kept.add(dataclasses.replace(finding, message=f"{head}/{where}{tail}"))
    return kept


def _raw_by_file(files: Iterable[Path], packs: list[RulePack]) -> dict[str, Any]:
    """Each file's data (also for packs that failed their schema), to name rules by id."""
    raw: dict[str, Any] = {pack.path: pack.raw for pack in packs}
    for path in files:
        if str(path) not in raw:
            try:
                raw[str(path)] = load_file(path).data
            except EvaluatorError:
                continue
    return raw


def to_finding(problem: Problem, data: Any) -> Finding:
    """A problem as ``sandbox check`` writes it: the same path in the pack (``[require[0].check.op]``);
    the rule it lies in is named by id at the start of the message (``BRK-TERM: ...``), as the
    messages about a whole rule already are."""
    message = problem.message
    match = _RULE_PATH.match(problem.field)
    rule_id = _rule_id(data, match.group(1), int(match.group(2))) if match else None
    if rule_id and not message.startswith(f"{rule_id}: "):
        message = f"{rule_id}: {message}"
    return Finding(display_path(problem.file), max(problem.line, 1), max(problem.column, 1), problem.field, message)


def _rule_id(data: Any, kind: str, index: int) -> str | None:
    rules = data.get(kind) if isinstance(data, dict) else None
    if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
        rule_id = rules[index].get("id")
        if isinstance(rule_id, str) and _RULE_ID.match(rule_id):
            return rule_id
    return None


def render_lint(result: LintResult) -> str:
    """One line per finding, then a count line."""
    lines = [str(f) for f in result.findings]
    files = len({f.file for f in result.findings})
    noun = "pack file" if result.files == 1 else "pack files"
    if result.ok:
        lines.append(f"No problems in {result.files} {noun}.")
    else:
        problems = "problem" if len(result.findings) == 1 else "problems"
        lines.append(f"Found {len(result.findings)} {problems} in {files} of {result.files} {noun}.")
    return "\n".join(lines) + "\n"

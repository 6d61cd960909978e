"""The public entry point: load -> validate -> model -> evaluate -> results, for many proposals.

Rule packs are read once and each (framework, domain) rulebook is compiled once per
``Session``; proposals evaluated in one session share no state (each gets fresh engine
sessions).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from evaluator.errors import InputError, Problem
from evaluator.evaluate import Evaluator
from evaluator.loader import Limits, load_file
from evaluator.model import Proposal, build_proposal
from evaluator.policy import DecisionPolicy, load_policy
from evaluator.results import Report, build_report
from evaluator.rulebook import (
    Rulebook,
    RulePack,
    assemble,
    assemble_all,
    default_rules_dir,
    load_packs,
)
from evaluator.validate import validate_proposal


@dataclass
class Session:
    """Rule packs and a policy, loaded once; evaluators compiled on first use and reused."""

    rule_dirs: tuple[Path, ...] = ()
    framework: str | None = None
    policy_path: Path | None = None
    limits: Limits = field(default_factory=Limits)  # for proposals; rule packs keep the defaults
    packs: list[RulePack] = field(init=False)
    policy: DecisionPolicy = field(init=False)
    _rulebooks: dict[tuple[str, str], Rulebook] = field(init=False)
    _evaluators: dict[tuple[str, str], Evaluator] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.packs = load_packs(self.rule_dirs or (default_rules_dir(),))
        self._rulebooks = assemble_all(self.packs)  # every pack is checked, not just the ones used
        self.policy = load_policy(self.policy_path)

    def evaluator(self, framework: str, domain: str) -> Evaluator:
        """The compiled evaluator for one framework and domain (compiled once)."""
        key = (framework, domain)
        if key not in self._evaluators:
            book = self._rulebooks.get(key) or assemble(self.packs, framework, domain)
            self._evaluators[key] = Evaluator(book)
        return self._evaluators[key]

    def check(self, path: str | Path) -> Report:
        """Evaluate one proposal file; raises ``EvaluatorError`` subclasses on bad input."""
        document = load_file(path, self.limits)
        validate_proposal(document)
        proposal = build_proposal(document)
        framework = self.framework or proposal.framework
        if not any(p.framework == framework and p.applies_to(proposal.domain) for p in self.packs):
            raise InputError(self._no_packs(proposal, framework))
        evaluation = self.evaluator(framework, proposal.domain).evaluate(proposal)
        return build_report(evaluation, self.policy)

    def _no_packs(self, proposal: Proposal, framework: str) -> Problem:
        """Which proposal has no rulebook, pointing at the field that chose the framework."""
        chosen_by = "--framework" if self.framework else "metadata.framework"
        _, where = proposal.source_map.locate(("metadata", "framework"))
        known = ", ".join(sorted({p.framework for p in self.packs})) or "none"
        return Problem(proposal.path, where.line, where.column,
                       f"no rule packs for framework '{framework}' (from {chosen_by}) and domain "
                       f"'{proposal.domain}'; the loaded packs cover: {known}", "metadata.framework")

    def check_all(self, paths: Iterable[str | Path]) -> list[Report]:
        return [self.check(path) for path in paths]

"""The public entry point: load -> validate -> model -> evaluate -> results, for many proposals.

Rule packs are read once and each (framework, domain) rulebook is compiled once per
``Session``; proposals evaluated in one session share no state (each gets fresh engine
sessions).
"""

from __future__ import annotations

import gc
import pickle
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from evaluator.cache import cached
from evaluator.compile import CompiledRulebook, CompileError, compile_rulebook
from evaluator.errors import InputError, Problem, RuleFileError
from evaluator.evaluate import Evaluator
from evaluator.loader import Limits, load_file
from evaluator.model import Proposal, build_proposal
from evaluator.policy import DecisionPolicy, default_policy_path, load_policy
from evaluator.records import record
from evaluator.results import Report, build_report
from evaluator.rulebook import (
    Rulebook,
    assemble_all,
    default_rules_dir,
    discover,
    for_evaluation,
    load_packs,
    registry_files,
)
from evaluator.validate import validate_proposal


@record
class CheckedPacks:
    """What a session needs from the rule packs, cached as one entry (cache.py).

    Each (framework, domain) rulebook is pickled with its compiled rules on its own, so a start
    unpickles only the one its proposal uses.
    """

    frameworks: tuple[str, ...]
    books: dict[tuple[str, str], bytes]

    @classmethod
    def build(cls, dirs: tuple[Path, ...]) -> CheckedPacks:
        """Read, check, assemble and compile every rulebook (raises on the first bad pack)."""
        with _collector_paused():
            return cls._build(dirs)

    @classmethod
    def _build(cls, dirs: tuple[Path, ...]) -> CheckedPacks:
        packs = load_packs(dirs)
        slim = {key: for_evaluation(book) for key, book in assemble_all(packs).items()}
        books = {key: pickle.dumps((book, compiled(book)), protocol=pickle.HIGHEST_PROTOCOL)
                 for key, book in slim.items()}
        return cls(tuple(sorted({p.framework for p in packs})), books)

    def load(self, key: tuple[str, str]) -> tuple[Rulebook, CompiledRulebook]:
        """One rulebook and its compiled rules."""
        with _collector_paused():
            book, rules = pickle.loads(self.books[key])  # pickled by build() above
        return book, rules


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a rulebook is built or unpickled: it creates thousands
    of objects that all stay alive, and each collection would scan them all again (a third of
    the time for 5,000 rules, and the part that grew faster than the rule count)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Session:
    """Rule packs and a policy, loaded once; evaluators compiled on first use and reused."""

    rule_dirs: tuple[Path, ...] = ()
    framework: str | None = None
    policy_path: Path | None = None
    limits: Limits = field(default_factory=Limits)  # for proposals; rule packs keep the defaults
    policy: DecisionPolicy = field(init=False)
    _packs: CheckedPacks = field(init=False)
    _evaluators: dict[tuple[str, str], Evaluator] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        dirs = self.rule_dirs or (default_rules_dir(),)
        # Every pack is checked, not just the ones used; the result is cached per user (cache.py).
        files = discover(dirs)
        self._packs = cached("rulebooks", files + registry_files(files), lambda: CheckedPacks.build(dirs))
        self.policy = cached("policy", [self.policy_path or default_policy_path()],
                             lambda: load_policy(self.policy_path))

    def evaluator(self, framework: str, domain: str) -> Evaluator:
        """The compiled evaluator for one framework and domain (compiled once)."""
        key = (framework, domain)
        if key not in self._evaluators:
            if key not in self._packs.books:
                raise RuleFileError(f"no rule packs for framework '{framework}' and domain '{domain}' "
                                    f"(frameworks with packs: {', '.join(self._packs.frameworks) or 'none'})")
            self._evaluators[key] = Evaluator(*self._packs.load(key))
        return self._evaluators[key]

    def check(self, path: str | Path, all_evidence: bool = True) -> Report:
        """Evaluate one proposal file; raises ``EvaluatorError`` subclasses on bad input.

        ``all_evidence=False``: see ``build_report``."""
        document = load_file(path, self.limits)
        validate_proposal(document)
        proposal = build_proposal(document)
        framework = self.framework or proposal.framework
        if (framework, proposal.domain) not in self._packs.books:
            raise InputError(self._no_packs(proposal, framework))
        evaluation = self.evaluator(framework, proposal.domain).evaluate(proposal)
        return build_report(evaluation, self.policy, all_evidence)

    def _no_packs(self, proposal: Proposal, framework: str) -> Problem:
        """Which proposal has no rulebook, pointing at the field that chose the framework."""
        chosen_by = "--framework" if self.framework else "metadata.framework"
        _, where = proposal.source_map.locate(("metadata", "framework"))
        known = ", ".join(self._packs.frameworks) or "none"
        return Problem(proposal.path, where.line, where.column,
                       f"no rule packs for framework '{framework}' (from {chosen_by}) and domain "
                       f"'{proposal.domain}'; the loaded packs cover: {known}", "metadata.framework")

    def check_all(self, paths: Iterable[str | Path]) -> list[Report]:
        """Evaluate several proposal files in order (the first bad one raises)."""
        return [self.check(path) for path in paths]


def compiled(book: Rulebook) -> CompiledRulebook:
    """``compile_rulebook``, with a rule the engine cannot hold reported at its line."""
    try:
        return compile_rulebook(book)
    except CompileError as exc:
        raise RuleFileError(Problem(exc.rule.file, exc.rule.line, 1, f"{exc.rule.id}: {exc.message}")) from None

"""Rule tests kept as data next to the packs: descriptor fragments and the outcomes they must give.

A pack ``rules/<framework>/<name>.yaml`` keeps its cases in ``<name>.tests.yaml``. Each case is
a small descriptor fragment merged over the suite's ``base`` and a generated skeleton (metadata,
descriptor_version, applicant name), then judged by the real evaluator, so a test exercises the
same compile and engine path as ``sandbox check``. Coverage is part of the result: every require
rule needs a passing and a failing case, every derive rule a case where it fires.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evaluator.errors import EvaluatorError, Problem, RuleFileError
from evaluator.evaluate import Evaluation, Evaluator
from evaluator.loader import Document, PathKey, load_bytes, load_file
from evaluator.model import build_proposal
from evaluator.records import record
from evaluator.rulebook import (
    Rulebook,
    RulePack,
    assemble,
    bundled_validator,
    default_rules_dir,
    did_you_mean,
    load_packs,
    located,
)
from evaluator.validate import validate_proposal

TESTS_SUFFIX = ".tests.yaml"
REQUIRE_OUTCOMES = ("pass", "fail", "not_applicable", "indeterminate")
DERIVE_OUTCOMES = ("fires", "silent")


@record
class Case:
    """One rule test. ``given`` is the effective fragment: the suite's base with the case merged in."""

    name: str
    given: dict[str, Any]
    expect: dict[str, str]
    facts: dict[str, Any]
    file: str
    line: int
    lines: dict[str, tuple[int, int]]  # (line, column) of each expectation, by rule id or "fact:<name>"
    given_at: tuple[int, int]  # where the case's fragment starts (its name when it has none)


@record
class Suite:
    """The cases for one pack, read from one ``*.tests.yaml`` file."""

    pack: str
    domain: str | None
    cases: tuple[Case, ...]
    file: str
    line: int
    column: int = 1


@record
class Mismatch:
    """An expectation the evaluator did not meet."""

    file: str
    line: int
    case: str
    subject: str
    expected: str
    actual: str
    detail: str = ""


@record
class Gap:
    """A rule whose cases do not cover every required outcome."""

    file: str
    line: int
    rule_id: str
    kind: str
    missing: tuple[str, ...]


@dataclass
class PackResult:
    pack: RulePack
    suites: list[Suite] = field(default_factory=list)
    cases: int = 0
    expectations: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


@dataclass
class TestRun:
    """What ``sandbox rules test`` found, pack by pack."""

    packs: list[PackResult]

    @property
    def mismatches(self) -> list[Mismatch]:
        return [m for p in self.packs for m in p.mismatches]

    @property
    def gaps(self) -> list[Gap]:
        return [g for p in self.packs for g in p.gaps]

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.gaps


def load_suites(rule_dirs: tuple[Path, ...] = ()) -> list[Suite]:
    """Every rule-test suite under the given rule directories (default: the shipped packs)."""
    problems: list[Problem] = []
    suites: list[Suite] = []
    for path in discover_tests(rule_dirs or (default_rules_dir(),)):
        try:
            suites.append(_read_suite(path))
        except EvaluatorError as exc:
            problems.extend(exc.problems)
    if problems:
        raise RuleFileError(problems)
    return suites


def passing_example(suites: Iterable[Suite], rule_id: str) -> Case | None:
    """The first case in which ``rule_id`` passes (or, for a derive rule, fires)."""
    for suite in suites:
        for case in suite.cases:
            if case.expect.get(rule_id) in ("pass", "fires"):
                return case
    return None


def discover_tests(dirs: Iterable[Path]) -> list[Path]:
    """``*.tests.yaml`` files under the directories, and next to any pack file given directly."""
    found: list[Path] = []
    for base in dirs:
        if base.is_dir():
            found.extend(base.rglob(f"*{TESTS_SUFFIX}"))
        elif base.name.endswith(TESTS_SUFFIX):
            found.append(base)
        else:
            sibling = base.with_name(base.name.removesuffix(base.suffix) + TESTS_SUFFIX)
            if sibling.is_file():
                found.append(sibling)
    return sorted(dict.fromkeys(found))


def run_rule_tests(rule_dirs: tuple[Path, ...] = (), selected: tuple[str, ...] = ()) -> TestRun:
    """Run the suites of the selected packs (ids or pack files; default all) and check coverage."""
    dirs = rule_dirs or (default_rules_dir(),)
    packs = load_packs(dirs)
    suites = load_suites(dirs)
    chosen = _select(packs, selected)
    known = {pack.id for pack in packs}
    problems = [Problem(s.file, s.line, s.column, f"unknown pack '{s.pack}'{did_you_mean(s.pack, known)}", "suite.pack")
                for s in suites if s.pack not in known]
    if problems:
        raise RuleFileError(problems)
    runner = _Runner(packs)
    results = []
    for pack in chosen:
        result = PackResult(pack, [s for s in suites if s.pack == pack.id])
        for suite in result.suites:
            runner.run_suite(pack, suite, result)
        result.gaps = _gaps(pack, result.suites)
        results.append(result)
    if runner.problems:
        raise RuleFileError(runner.problems)
    return TestRun(results)


def _select(packs: list[RulePack], selected: tuple[str, ...]) -> list[RulePack]:
    if not selected:
        return packs
    by_id = {pack.id: pack for pack in packs}
    by_file = {Path(pack.path).resolve(): pack for pack in packs}
    chosen: dict[str, RulePack] = {}
    for name in selected:
        pack = by_id.get(name) or by_file.get(Path(name).resolve())
        if pack is None:
            raise EvaluatorError(f"unknown pack '{name}'{did_you_mean(name, by_id)}")
        chosen[pack.id] = pack
    return list(chosen.values())


class _Runner:
    """Evaluates cases; one compiled evaluator per (framework, domain)."""

    def __init__(self, packs: list[RulePack]) -> None:
        self.packs = packs
        self.problems: list[Problem] = []
        self._evaluators: dict[tuple[str, str], Evaluator] = {}

    def run_suite(self, pack: RulePack, suite: Suite, result: PackResult) -> None:
        domain = suite.domain or (pack.domains[0] if pack.domains and len(pack.domains) == 1 else None)
        if domain is None:
            self.problems.append(Problem(suite.file, suite.line, suite.column, f"pack '{pack.id}' has no single "
                                         "domain: say which one judges the cases with suite.domain", "suite"))
            return
        if not pack.applies_to(domain):
            self.problems.append(Problem(suite.file, suite.line, suite.column, f"pack '{pack.id}' does not apply to "
                                         f"domain '{domain}'", "suite.domain"))
            return
        evaluator = self._evaluator(pack.framework, domain)
        for case in suite.cases:
            result.cases += 1
            result.expectations += len(case.expect) + len(case.facts)
            evaluation = self._evaluate(case, pack.framework, domain, evaluator)
            if evaluation is not None:
                result.mismatches.extend(self._compare(case, evaluation, evaluator.rulebook))

    def _evaluator(self, framework: str, domain: str) -> Evaluator:
        key = (framework, domain)
        if key not in self._evaluators:
            self._evaluators[key] = Evaluator(assemble(self.packs, framework, domain))
        return self._evaluators[key]

    def _evaluate(self, case: Case, framework: str, domain: str, evaluator: Evaluator) -> Evaluation | None:
        data = _deep_merge(_skeleton(case.name, framework, domain), case.given)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        try:
            document = load_bytes(text.encode("utf-8"), f"{case.file}:{case.line}")
            validate_proposal(document)
            return evaluator.evaluate(build_proposal(document))
        except EvaluatorError as exc:
            for problem in exc.problems:
                where = f"[{problem.field}] " if problem.field else ""
                self.problems.append(Problem(case.file, *case.given_at, f"case '{case.name}': the merged "
                                             f"descriptor is not valid: {where}{problem.message}", "cases"))
            return None

    def _compare(self, case: Case, evaluation: Evaluation, rulebook: Rulebook) -> list[Mismatch]:
        outcomes = {r.rule.id: r for r in evaluation.results}
        fired = {step.rule_id for step in evaluation.trace if step.role == "when" and step.truth == "true"}
        derive_ids = {rule.id for rule in rulebook.derive}
        found: list[Mismatch] = []
        for rule_id, expected in case.expect.items():
            at = case.lines[rule_id]
            if rule_id in outcomes:
                if expected not in REQUIRE_OUTCOMES:
                    self._bad(case, at, f"{rule_id} is a require rule: expect one of {', '.join(REQUIRE_OUTCOMES)}")
                    continue
                got = outcomes[rule_id]
                if got.outcome != expected:
                    found.append(Mismatch(case.file, at[0], case.name, rule_id, expected, got.outcome,
                                          f"applies: {got.applies}, check: {got.check}"))
            elif rule_id in derive_ids:
                if expected not in DERIVE_OUTCOMES:
                    self._bad(case, at, f"{rule_id} is a derive rule: expect fires or silent")
                    continue
                actual = "fires" if rule_id in fired else "silent"
                if actual != expected:
                    found.append(Mismatch(case.file, at[0], case.name, rule_id, expected, actual))
            else:
                known = [*outcomes, *derive_ids]
                self._bad(case, at, f"unknown rule '{rule_id}' in this rulebook{did_you_mean(rule_id, known)}")
        for name, expected_value in case.facts.items():
            at = case.lines[f"fact:{name}"]
            fact = evaluation.facts.get(name)
            if fact is None:
                self._bad(case, at, f"unknown fact '{name}'{did_you_mean(name, evaluation.facts)}")
            elif fact.value != expected_value or type(fact.value) is not type(expected_value):
                origin = f"{fact.origin}" + (f" by {fact.rule_id}" if fact.rule_id else "")
                found.append(Mismatch(case.file, at[0], case.name, f"fact {name}", _show(expected_value),
                                      _show(fact.value), origin))
        return found

    def _bad(self, case: Case, at: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(case.file, *at, f"case '{case.name}': {message}", "cases"))


def _gaps(pack: RulePack, suites: list[Suite]) -> list[Gap]:
    seen: dict[str, set[str]] = {}
    for suite in suites:
        for case in suite.cases:
            for rule_id, outcome in case.expect.items():
                seen.setdefault(rule_id, set()).add(outcome)
    gaps: list[Gap] = []
    for kind in ("derive", "require"):
        for index, raw in enumerate(pack.raw.get(kind, [])):
            needed = ("fires",) if kind == "derive" else ("pass", _second_outcome(raw["check"]))
            missing = tuple(o for o in needed if o not in seen.get(raw["id"], set()))
            if missing:
                line = pack.document.source_map.locate((kind, index))[1].line
                gaps.append(Gap(pack.path, line, raw["id"], kind, missing))
    return gaps


def _second_outcome(check: Any) -> str:
    """``fail``, or ``indeterminate`` for a check that only asks for evidence and so cannot fail."""
    return "fail" if _can_be(check, False) else "indeterminate"


def _can_be(node: Any, truth: bool) -> bool:
    """Whether a condition (as written in the pack) can come out ``truth`` on some proposal."""
    if not isinstance(node, dict):
        return True
    if "all" in node or "any" in node:
        parts = node.get("all") or node.get("any") or []
        every_part_needed = ("all" in node) == truth
        results = [_can_be(part, truth) for part in parts]
        return all(results) if every_part_needed else any(results)
    if "not" in node:
        return _can_be(node["not"], not truth)
    op = node.get("op")
    if op == "provided":
        return truth
    if op in ("every", "none") and not truth:
        return _can_be(node.get("where"), op == "none")  # an empty list makes both true
    if op == "some" and truth:
        return _can_be(node.get("where"), True)
    return True


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _skeleton(name: str, framework: str, domain: str) -> dict[str, Any]:
    return {
        "descriptor_version": 1,
        "metadata": {"id": "rule-test", "title": name, "version": "1", "framework": framework, "domain": domain},
        "applicant": {"name": "Rule test applicant"},
    }


def _expand(fragment: dict[str, Any]) -> dict[str, Any]:
    """Turn dotted keys (``a.b.c: 1``) into nested mappings, merging in order."""
    out: dict[str, Any] = {}
    for key, value in fragment.items():
        nested = _expand(value) if isinstance(value, dict) else copy.deepcopy(value)
        for part in reversed(key.split(".")[1:]):
            nested = {part: nested}
        out = _deep_merge(out, {key.split(".")[0]: nested})
    return out


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) in ``over`` replaces ``base``."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _unset(data: dict[str, Any], path: str) -> bool:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


def _read_suite(path: Path) -> Suite:
    document = load_file(path)
    errors = sorted(bundled_validator("ruletests-v1.schema.json").iter_errors(document.data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise RuleFileError([located(document, tuple(e.absolute_path), e.message) for e in errors])
    raw = document.data
    base = _base(document, raw["suite"].get("base", {}))
    cases = tuple(_case(document, index, item, base) for index, item in enumerate(raw["cases"]))
    position = document.source_map.locate(("suite", "pack"))[1]
    return Suite(raw["suite"]["pack"], raw["suite"].get("domain"), cases, str(path), position.line,
                 position.column)


def _base(document: Document, base: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(base, dict):
        return _expand(base)
    target = Path(document.path).parent / base
    try:
        data = load_file(target).data
    except EvaluatorError as exc:
        raise RuleFileError([located(document, ("suite", "base"), f"cannot read base descriptor {base}: "
                                 f"{exc.problems[0].message}")]) from None
    if not isinstance(data, dict):
        raise RuleFileError([located(document, ("suite", "base"), f"base descriptor {base} is not a mapping")])
    return {k: v for k, v in data.items() if k not in ("descriptor_version", "metadata")}


def _case(document: Document, index: int, raw: dict[str, Any], base: dict[str, Any]) -> Case:
    path: PathKey = ("cases", index)
    given = _deep_merge(base, _expand(raw.get("given", {})))
    for position, dotted_path in enumerate(raw.get("unset", [])):
        if not _unset(given, dotted_path):
            raise RuleFileError([located(document, (*path, "unset", position),
                                     f"unset: '{dotted_path}' is not in the merged fragment")])
    lines = {rule_id: _where(document, (*path, "expect", rule_id)) for rule_id in raw["expect"]}
    lines |= {f"fact:{name}": _where(document, (*path, "facts", name)) for name in raw.get("facts", {})}
    given_at = _where(document, (*path, "given") if "given" in raw else (*path, "name"))
    line = document.source_map.locate(path)[1].line
    return Case(raw["name"], given, dict(raw["expect"]), dict(raw.get("facts", {})), document.path, line, lines,
                given_at)


def _where(document: Document, path: PathKey) -> tuple[int, int]:
    position = document.source_map.locate(path)[1]
    return position.line, position.column

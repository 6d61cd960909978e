"""Stage 4: run a proposal through the compiled rulebook and decide each rule's outcome.

Derive rules run stratum by stratum (a rule only after every rule that sets a fact it reads),
so forward chaining reaches its fixed point in one pass per stratum. Then every require rule
gets exactly one outcome: pass, fail, not_applicable or indeterminate.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from evaluator.compile import (
    DERIVED_ROOT,
    QUANTIFIER_ROOT,
    CompiledRulebook,
    CompileError,
    Quantifier,
    Stratum,
    Target,
    compile_rulebook,
    match_marker,
)
from evaluator.engine import DurableAdapter, UnsafeValue, node_at, normalise
from evaluator.errors import EngineError, InputError, Problem, RuleFileError
from evaluator.loader import dotted
from evaluator.model import Proposal
from evaluator.records import record
from evaluator.regex import full_match
from evaluator.rulebook import DeriveRule, RequireRule, Rulebook

Truth = Literal["true", "false", "unknown"]
_BLOCKED = object()  # in a fact's pending values: equal to no value a later setter could give
Outcome = Literal["pass", "fail", "not_applicable", "indeterminate"]
OUTCOMES: tuple[Outcome, ...] = ("pass", "fail", "not_applicable", "indeterminate")


@record(slots=True)
class FactValue:
    """A derived fact's final value and where it came from (``value`` is None when unknown)."""

    name: str
    value: Any
    origin: Literal["derived", "default", "unknown"]
    rule_id: str | None


@record(slots=True)
class RuleResult:
    rule: RequireRule
    outcome: Outcome
    applies: Truth
    check: Truth


@record(slots=True)
class TraceStep:
    """One rule's verdict in evaluation order; ``derived`` lists facts it set."""

    stratum: int
    rule_id: str
    role: str
    truth: Truth
    derived: tuple[tuple[str, Any], ...] = ()


@record
class Evaluation:
    proposal: Proposal
    rulebook: Rulebook
    results: tuple[RuleResult, ...]
    facts: dict[str, FactValue]
    #: the derive rules' steps, in evaluation order (``trace`` adds the require rules')
    derivations: tuple[TraceStep, ...]
    #: the stratum of the require rules (after every derive stratum)
    require_stratum: int

    @cached_property
    def trace(self) -> tuple[TraceStep, ...]:
        """Every rule's verdict in evaluation order: the derive rules', then each require rule's
        (its check where it applies, else its ``applies_when``). Worked out when first read: only
        the JSON output, custom templates and rule tests show it."""
        level = self.require_stratum
        return self.derivations + tuple(
            TraceStep(level, r.rule.id, "check", r.check) if r.applies == "true"
            else TraceStep(level, r.rule.id, "applies", r.applies) for r in self.results)


class Evaluator:
    """Compiles a rulebook once; evaluates any number of proposals without shared state."""

    def __init__(self, rulebook: Rulebook, compiled: CompiledRulebook | None = None,
                 exhaustive: bool = False) -> None:
        """``exhaustive`` fires every judge shard and checks that each screened verdict agrees
        with it: slower, for tests of the compiler (see ``Stratum``)."""
        self.rulebook = rulebook
        self.exhaustive = exhaustive
        if compiled is None:
            try:
                compiled = compile_rulebook(rulebook)
            except CompileError as exc:
                raise RuleFileError(Problem(exc.rule.file, exc.rule.line, 1,
                                            f"{exc.rule.id}: {exc.message}")) from None
        self.compiled: CompiledRulebook = compiled
        self._adapter = DurableAdapter(self.compiled)
        self._screening = {stratum.level: Screening(stratum) for stratum in self.compiled.strata}
        # Derived facts join the document later: their values can need the float rewrite too.
        values = [v for r in rulebook.derive for _, v in r.sets] + [f.default for f in rulebook.facts.values()]
        self._derived_exponents = any(isinstance(v, float) and "e" in repr(v) for v in values)
        self._derive = {rule.id: rule for rule in rulebook.derive}
        #: (field path, the key of its marker, compiled pattern) of every ``matches`` test
        self._match_sites = [(path, path[-1] + match_marker(pattern), compiled)
                             for (path, pattern), compiled in self.compiled.patterns.items()]
        require = {rule.id: rule for rule in rulebook.require}
        #: per require rule, in order: the rule and the keys of its conditions (no ``applies``
        #: key when it has no ``applies_when``), worked out once
        self._outcome_plan = [(rule, None if rule.applies_when is None else (rule.id, "applies"), (rule.id, "check"))
                              for rule in (require[r] for r in self.compiled.strata[-1].rule_ids)]
        # A fact is final after the last stratum that holds one of its setters.
        self._final_after = {
            name: max((rulebook.levels[r.id] for r in rulebook.derive if any(n == name for n, _ in r.sets)),
                      default=-1)
            for name in rulebook.facts
        }

    def evaluate(self, proposal: Proposal) -> Evaluation:
        """Evaluate one proposal."""
        document = self._normalised(proposal)
        _mark_matches(document, self._match_sites)
        document[QUANTIFIER_ROOT] = self._quantifier_verdicts(document)
        derived: dict[str, Any] = {}
        document[DERIVED_ROOT] = derived
        facts: dict[str, FactValue] = {}
        pending: dict[str, list[Any]] = {}
        derivations: list[TraceStep] = []
        results: list[RuleResult] = []
        for index, stratum in enumerate(self.compiled.strata):
            verdicts, default = self._verdicts(stratum, document)
            if stratum.kind == "derive":
                self._apply_derivations(index, stratum.rule_ids, verdicts, default, facts, pending, derivations)
                self._finalise_facts(index, facts)
                derived.clear()
                derived.update({n: f.value for n, f in facts.items() if f.origin != "unknown"})
            else:
                results.extend(self._outcome(plan, verdicts, default) for plan in self._outcome_plan)
        final = {n: f if f.origin != "unknown" else FactValue(n, None, "unknown", f.rule_id)
                 for n, f in sorted(facts.items())}
        return Evaluation(proposal, self.rulebook, tuple(results), final, tuple(derivations), len(self.compiled.strata) - 1)

    def _verdicts(self, stratum: Stratum, document: dict[str, Any]) -> tuple[dict[tuple[str, str], Truth], Truth]:
        """Every condition of a stratum, true, false or unknown (see ``Stratum`` for the method):
        the verdicts that differ from the stratum's default, and that default (most conditions
        have it, and a dict of only the others is much smaller)."""
        screening = self._screening[stratum.level]
        doubtful = screening.doubtful(document)
        if self.exhaustive:
            hits = self._adapter.fire(stratum, sorted(stratum.shard_of), document)
            return _cross_checked(screening, hits, doubtful), screening.other
        judged = sorted({rule_id for rule_id, _ in doubtful})
        hits = self._adapter.fire(stratum, judged, document)
        screened = stratum.screened_truth
        on_screen = {(t.rule_id, t.role) for t in hits if t.truth == screened}
        on_judge = {(t.rule_id, t.role) for t in hits if t.truth != screened}
        if clash := sorted(on_screen & on_judge):
            raise _both_forms(clash[0])
        for rule_id in judged:  # a judged rule's other conditions are decided twice: they must agree
            for key in screening.rule_keys[rule_id]:
                if key not in doubtful and (key in on_screen) == (key in on_judge):
                    raise _neither_form(key)
        # A condition has the unscreened form unless its screen fired or it is doubtful and unjudged.
        out: dict[tuple[str, str], Truth] = dict.fromkeys(doubtful - on_judge, "unknown")
        out.update(dict.fromkeys(on_screen, screening.screened))
        return out, screening.other

    def _quantifier_verdicts(self, document: dict[str, Any]) -> dict[str, str]:
        """Fold the engine's per-item verdicts: "T"/"F" per quantifier, absent when unknown."""
        quantifiers = self.compiled.quantifiers
        if not quantifiers:
            return {}
        judged = self._adapter.fire_items(self.compiled.items, document, self.exhaustive)
        verdicts: dict[str, str] = {}
        for qid, items in judged.items():
            truths: list[Truth] = ["unknown" if t is None else _name(t) for t in items]
            folded = _fold(quantifiers[qid], truths)
            if folded != "unknown":
                verdicts[qid] = "T" if folded == "true" else "F"
        return verdicts

    def _normalised(self, proposal: Proposal) -> dict[str, Any]:
        try:
            exponents: list[float] = []
            document: dict[str, Any] = normalise(proposal.data, exponents=exponents)
            self._adapter.exponents = bool(exponents) or self._derived_exponents
        except UnsafeValue as exc:
            _, position = proposal.source_map.locate(exc.path)
            raise InputError(Problem(proposal.path, position.line, position.column, exc.reason,
                                     dotted(exc.path))) from None
        return document

    def _apply_derivations(self, stratum: int, rule_ids: list[str], verdicts: dict[tuple[str, str], Truth],
                           default: Truth, facts: dict[str, FactValue], pending: dict[str, list[Any]],
                           trace: list[TraceStep]) -> None:
        for rule_id in rule_ids:
            rule = self._derive[rule_id]
            truth = verdicts.get((rule_id, "when"), default)
            newly: list[tuple[str, Any]] = []
            for name, value in rule.sets:
                if self._settle(facts, pending, name, value, truth, rule_id):
                    newly.append((name, value))
            trace.append(TraceStep(stratum, rule_id, "when", truth, tuple(newly)))

    def _settle(self, facts: dict[str, FactValue], pending: dict[str, list[Any]], name: str,
                value: Any, truth: Truth, rule_id: str) -> bool:
        """Record one derive rule's effect on fact ``name``; True when it set the value.

        Rules run in order (stratum, then file order) and the first that fires wins. Earlier
        rules whose condition is unknown leave the fact unknown, unless each of them would
        have set the very same value.
        """
        if name in facts and facts[name].origin == "derived":
            return False
        if truth == "unknown":
            pending.setdefault(name, []).append(value)
            facts[name] = FactValue(name, None, "unknown", rule_id)
            return False
        if truth != "true":
            return False
        if any(other != value for other in pending.get(name, [])):
            # The first true setter is blocked by an earlier unknown one: the fact stays
            # unknown, and no later setter may decide it either.
            pending[name].append(_BLOCKED)
            return False
        facts[name] = FactValue(name, value, "derived", rule_id)
        return True

    def _finalise_facts(self, stratum: int, facts: dict[str, FactValue]) -> None:
        """Facts whose setters have all run take their default when none set them."""
        for name, fact in self.rulebook.facts.items():
            if self._final_after[name] <= stratum and name not in facts:
                facts[name] = FactValue(name, fact.default, "default", None)

    @staticmethod
    def _outcome(plan: tuple[RequireRule, tuple[str, str] | None, tuple[str, str]],
                 verdicts: dict[tuple[str, str], Truth], default: Truth) -> RuleResult:
        rule, applies_key, check_key = plan
        applies: Truth = "true" if applies_key is None else verdicts.get(applies_key, default)
        check = verdicts.get(check_key, default)
        outcome: Outcome
        if applies == "false":
            outcome = "not_applicable"
        elif applies == "unknown" or check == "unknown":
            outcome = "indeterminate"
        else:
            outcome = "pass" if check == "true" else "fail"
        return RuleResult(rule, outcome, applies, check)


def _fold(quantifier: Quantifier, truths: list[Truth]) -> Truth:
    """every: all true / any false; some: any true / all false; none: the opposite of some."""
    if quantifier.op == "every":
        return "false" if "false" in truths else "unknown" if "unknown" in truths else "true"
    some: Truth = "true" if "true" in truths else "unknown" if "unknown" in truths else "false"
    if quantifier.op == "some":
        return some
    return {"true": "false", "false": "true", "unknown": "unknown"}[some]  # type: ignore[return-value]


class Screening:
    """What ``Evaluator._verdicts`` needs for a stratum, worked out once."""

    def __init__(self, stratum: Stratum) -> None:
        screened = stratum.screened_truth
        self.screened, self.other = _name(screened), _name(not screened)
        #: condition -> (its screen target, its judge target), for the exhaustive cross-check
        self.conditions = {key: (Target(key[0], key[1], screened), Target(key[0], key[1], not screened))
                           for key in stratum.uncertain}
        #: rule id -> its conditions
        self.rule_keys: dict[str, list[tuple[str, str]]] = {}
        #: the values whose absence makes conditions doubtful, as a tree (see ``_missing``)
        self.tree: _DoubtTree = {}
        for key, reads in stratum.uncertain.items():
            self.rule_keys.setdefault(key[0], []).append(key)
            for path in reads:
                level = self.tree
                for part in path:
                    below, level = level.setdefault(part, (set(), {}))
                    below.add(key)

    def doubtful(self, document: dict[str, Any]) -> set[tuple[str, str]]:
        """The conditions that read a value missing from ``document``."""
        out: set[tuple[str, str]] = set()
        _missing(document, self.tree, out)
        return out


#: key -> (the conditions that read a value at or below it, the tree below it)
_DoubtTree = dict[str, tuple[set[tuple[str, str]], "_DoubtTree"]]


def _missing(node: Any, tree: _DoubtTree, out: set[tuple[str, str]]) -> None:
    """Add to ``out`` the conditions of ``tree`` that read a value missing under ``node``: one
    walk of the document, and a missing section settles everything below it at once."""
    for part, (below, children) in tree.items():
        value = node.get(part) if type(node) is dict else None
        if value is None:
            out |= below
        elif children:
            _missing(value, children, out)


def _cross_checked(screening: Screening, hits: set[Target], doubtful: set[tuple[str, str]]) -> dict[tuple[str, str], Truth]:
    """Every condition's verdict from both of its forms, raising where screen and judge disagree."""
    out: dict[tuple[str, str], Truth] = {}
    for key, (screen_target, judge_target) in screening.conditions.items():
        on_screen, on_judge = screen_target in hits, judge_target in hits
        if on_screen and on_judge:
            raise _both_forms(key)
        if key not in doubtful and on_screen == on_judge:
            raise _neither_form(key)
        out[key] = screening.screened if on_screen else screening.other if on_judge or key not in doubtful \
            else "unknown"
    return out


def _both_forms(key: tuple[str, str]) -> EngineError:
    return EngineError(f"rule {key[0]}: its {key[1]} condition came out both true and false")


def _neither_form(key: tuple[str, str]) -> EngineError:
    return EngineError(f"rule {key[0]}: its {key[1]} condition reads only present values "
                       "but the engine found it neither true nor false")


def _name(truth: bool) -> Truth:
    return "true" if truth else "false"


__all__ = ["OUTCOMES", "DeriveRule", "Evaluation", "Evaluator", "FactValue", "RuleResult", "TraceStep"]


def _mark_matches(document: dict[str, Any], sites: list[tuple[tuple[str, ...], str, Any]]) -> None:
    """Store each ``matches`` verdict beside its field (only where the field holds text)."""
    for path, marker, compiled in sites:
        parent = node_at(document, path[:-1])
        value = parent.get(path[-1]) if isinstance(parent, dict) else None
        if isinstance(value, str):
            parent[marker] = full_match(compiled, value)

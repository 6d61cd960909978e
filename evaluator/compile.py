"""Compile a ``Rulebook`` into durable_rules ruleset definitions (pure data, no engine import).

Each condition C is compiled twice, into positive formulas T(C) ("C is true") and F(C)
("C is false"); when neither fires, C is unknown because evidence is missing. That works
because durable_rules makes every comparison false on a missing field, and every operator has
a positive negation ($lt <-> $gte, $eq <-> $neq, ...). Both formulas are expanded here into
disjunctive normal form, one durable rule per term, so the compiler knows exactly how many
alpha branches a ruleset holds and can shard below the engine's limits (64 simultaneously
true conditions, 512 distinct conditions under one node) by construction.

The engine's cost grows with the rules each fact meets and the rules that fire, so a
proposal meets one polarity per condition first (the screen, see ``Stratum``) and the other
only where a value it reads is missing (the judges). A well-prepared proposal fires little
more than its failures and its not-applicable rules.

Every pattern starts with a discriminator (``kind: proposal``, ``item`` or ``judge``), so no
pattern can match the engine's session-state document (which otherwise re-fires rules forever).

Facts are flat: each value a shard's rules test travels under a short name of its own
(``Shard.fields``: ``f0``, ``f1``, ...), and the rules test those names. The engine copies the
whole fact into the message of every rule that fires, and it parses every byte it is sent, so
nested sections under their full key names made up two thirds of what it handled.

Quantifiers (every/some/none over a list) run in a first pass: each list item is asserted as
its own fact (``kind: item``, ``g: <item group>``, ``i: <index>``, the item under ``it``:
the engine treats a top-level ``id`` as the fact's identity), once for all the quantifiers over
its list that share a group (``ItemGroup``), and item rules judge it true or false; the adapter
folds the item verdicts and the rule reads the result from ``__q.<quantifier id>`` ("T" or
"F"; absent when unknown). ``$or`` inside ``$iany``/``$iall``
and ``$not`` around ``$iany`` were measured to give wrong answers, so neither is ever emitted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from itertools import product
from typing import Any, NamedTuple

from evaluator import conditions as c
from evaluator.records import record
from evaluator.regex import compile_pattern
from evaluator.rulebook import DeriveRule, RequireRule, Rulebook

DISCRIMINATOR = {"kind": "proposal"}
CATCH_ALL = "~catch-all"
LENGTH_SUFFIX = "__len"
SET_SUFFIX = "__set"
DERIVED_ROOT = "derived"
QUANTIFIER_ROOT = "__q"
ITEM_DISCRIMINATOR = {"kind": "item"}
JUDGE_DISCRIMINATOR = {"kind": "judge"}  # a judge fact is {"j": <rule id>, "kind": "judge", ...}
#: The rules that hold a shard's judges are named ``~judge|<role>|<n>``: each holds the judge
#: terms of many conditions, one ``$or`` alternative per term, each led by its rule's ``j``.
JUDGE_RULE = "~judge"
ITEM_JUDGE_DISCRIMINATOR = {"kind": "item_judge"}  # a doubtful item, asserted a second time
#: Item and judge sessions hold many facts: one marker fact meets their catch-all, so it fires
#: once per session instead of once per fact (facts that match nothing are then legal).
SESSION_MARKER = {"kind": "session"}
ITEM_ROOT = "it"  # an item is asserted as {"kind": "item", "q": ..., "i": ..., "it": <item>}
#: Alpha branches per ruleset. Below the engine's 64 simultaneously-true limit, which a node
#: can only reach with that many distinct child conditions; one branch per DNF term.
SHARD_BUDGET = 60
#: Judge terms per ruleset. A judge fact meets only its own rule's terms (it is discriminated on
#: the rule), so this bounds the ruleset's size, well below the engine's 4,096 rules, not the
#: number of conditions true at once.
JUDGE_BUDGET = 1_000
#: DNF terms one rule condition may expand to (both polarities together).
MAX_TERMS_PER_RULE = SHARD_BUDGET
#: Properties one asserted fact may carry; the engine refuses more than 255 (error 302).
MAX_PROPERTIES = 240
#: Properties of a fact besides its fields: ``kind``, ``sid`` and ``j``, or ``g`` and ``i``.
FACT_OVERHEAD = 4

Atom = tuple[str, str]  # ("c", canonical JSON of a condition)
MATCH_SUFFIX = "__re"
Term = tuple[Atom, ...]


class CompileError(Exception):
    """A rule whose condition cannot be compiled within the engine's limits."""

    def __init__(self, rule: DeriveRule | RequireRule, message: str) -> None:
        super().__init__(f"{rule.file}:{rule.line}: {rule.id}: {message}")
        self.rule, self.message = rule, message


class Target(NamedTuple):
    """What a fired durable rule means: ``rule_id``'s ``role`` condition has ``truth``.

    A named tuple, not a dataclass: evaluation hashes thousands of these per proposal."""

    rule_id: str
    role: str  # "when" (derive), "applies" or "check" (require)
    truth: bool


_EXPONENT = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![\w.])(-?\d+)(e[+-]?\d+)')
_MAYBE_EXPONENT = re.compile(r"\de[+-]\d")


#: Built once; facts are trees. Compact: the engine parses every byte it is sent and copies a
#: fact into the message of each rule it fires (about 19 µs per KB of facts in a session).
_ENGINE_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))


def engine_json(value: Any, exponents: bool = True) -> str:
    """JSON for the engine: ``1e-05`` becomes ``1.0e-05`` (it rejects a mantissa without '.').

    ``exponents=False`` promises that no float in ``value`` prints with an exponent (normalise()
    finds out), which skips scanning the text.
    """
    text = _ENGINE_ENCODER.encode(value)
    if not exponents or _MAYBE_EXPONENT.search(text) is None:  # the rewrite walks every string
        return text
    return _EXPONENT.sub(lambda m: m.group(0) if m.group(1) is None else f"{m.group(1)}.0{m.group(2)}", text)


@dataclass
class Shard:
    """One durable ruleset: rule name -> definition (without ``run``), and what it reads.

    It holds both forms of each of its rules' conditions: the screen's (``cost`` terms, met by
    the proposal or item fact, one durable rule per condition) and the judges' (``judge_cost``
    terms, each met only by its own rule's or group's judge facts, sent in the same session;
    a rule's judge terms share the rules in ``judges`` with other rules', see ``_add_judges``).
    """

    name: str
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    #: dotted engine path of every value the rules test -> the name it has in a fact
    fields: dict[str, str] = field(default_factory=dict)
    #: the paths some test compares; the others are only tested for presence, and a fact
    #: carries ``true`` for them instead of their value (often a long text)
    compared: set[str] = field(default_factory=set)
    cost: int = 0
    judge_cost: int = 0
    #: judge rule name -> the role of the conditions it judges (which rule fired is the fact's ``j``)
    judges: dict[str, str] = field(default_factory=dict)
    #: judge rule name -> expressions its join node lists so far (see ``MAX_RULE_EXPRESSIONS``)
    judge_expressions: dict[str, int] = field(default_factory=dict)
    #: ``rules`` as the engine's JSON, written once when compiling (a start reads it from the cache)
    definition: str = ""

    def field_name(self, path: str) -> str:
        """The short name ``path`` has in this shard's facts (given on first use)."""
        if path not in self.fields:
            self.fields[path] = f"f{len(self.fields)}"
        return self.fields[path]


@record
class Quantifier:
    """One every/some/none node of a rule, judged item by item in the first pass."""

    qid: str
    path: tuple[str, ...]
    op: str
    where: c.Condition

    @property
    def screened_truth(self) -> bool:
        """The form of ``where`` its items meet first (the screen), chosen to fire seldom.

        ``every``: the false form (an item that breaks the rule); ``some`` and ``none``: the
        true form (an item the rule looks for). Item rules fired 12.9 times per example
        proposal with the false form for all three, 9.3 times with this choice (generated
        proposals: 11.2 and 7.3).
        """
        return self.op != "every"


@record
class ItemGroup:
    """Quantifiers over the same list whose items are asserted once for all of them.

    An item fact carries what any member's ``where`` tests (``reads``, dotted paths from the
    fact's root, ``it`` being the item) and meets every member's item rules, which sit in one
    shard (``shard``). Most lists are tested by two or three rules, so this halved the item facts.
    """

    gid: int
    path: tuple[str, ...]
    qids: tuple[str, ...]
    reads: frozenset[str]
    shard: int


@dataclass
class Stratum:
    """Shards that run together on the same fact; derive strata precede the require stratum.

    Each shard screens every proposal with one polarity of each condition: F for require
    rules (a well-prepared proposal fires almost nothing), T for derive rules (they must fire
    to set facts); list items meet the form their quantifier names
    (``Quantifier.screened_truth``). When every field a condition reads is present, the
    engine decides it and "did not fire" means the other polarity. Only for a condition that
    reads a missing field (listed in ``uncertain``) does the evaluator also ask the judge
    rules holding its other polarity, to tell "true" or "false" from "unknown".

    A shard's judge rules discriminate on the rule (``kind: judge``, then ``j`` in each
    alternative): every doubtful rule becomes one small fact, asserted in the same session as
    the proposal fact, so judging costs no session of its own. In the item stratum the screens
    discriminate on the item group (``kind: item``, ``g``) and a doubtful item is asserted a
    second time for the judges (``kind: item_judge``, ``g``).
    """

    level: int
    kind: str  # "derive", "require" or "items"
    rule_ids: list[str] = field(default_factory=list)
    shards: list[Shard] = field(default_factory=list)
    #: (rule id, role) -> engine paths whose absence can leave that condition unknown
    uncertain: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    #: rule id (quantifier id in the item stratum) -> index into ``shards`` of the shard holding it
    shard_of: dict[str, int] = field(default_factory=dict)
    #: rule id -> dotted engine paths its conditions test (what its judge fact carries)
    reads: dict[str, frozenset[str]] = field(default_factory=dict)
    #: the item stratum's groups, in shard order
    groups: list[ItemGroup] = field(default_factory=list)

    @property
    def screened_truth(self) -> bool:
        """The polarity ``shards`` hold for each condition (derive: True; require: False; the
        item stratum's is per quantifier, ``Quantifier.screened_truth``)."""
        return self.kind == "derive"


@dataclass
class CompiledRulebook:
    rulebook: Rulebook
    items: Stratum
    quantifiers: dict[str, Quantifier]
    strata: list[Stratum]
    patterns: dict[tuple[tuple[str, ...], str], Any] = field(default_factory=dict)  # compiled RE2

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the pattern sites only: compiled RE2 objects do not pickle (cache.py)."""
        return {**self.__dict__, "patterns": list(self.patterns)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["patterns"] = {site: compile_pattern(site[1]) for site in state["patterns"]}
        self.__dict__.update(state)

    def definitions(self) -> dict[str, dict[str, dict[str, Any]]]:
        """All rulesets as durable JSON (stable order): what the golden tests compare."""
        return {shard.name: shard.rules for stratum in [self.items, *self.strata] for shard in stratum.shards}

    def fields(self) -> dict[str, dict[str, str]]:
        """Each ruleset's field names (dotted engine path -> name in a fact), for reading ``definitions``."""
        return {shard.name: shard.fields for stratum in [self.items, *self.strata] for shard in stratum.shards}


def compile_rulebook(rulebook: Rulebook, prefix: str = "sbx") -> CompiledRulebook:
    """Compile every rule of ``rulebook`` into sharded durable rulesets."""
    quantifiers: dict[str, Quantifier] = {}
    owners: dict[str, DeriveRule | RequireRule] = {}
    rules: list[DeriveRule | RequireRule] = [*rulebook.derive, *rulebook.require]
    for rule in rules:
        for _, condition in rule.conditions:
            found: dict[str, Quantifier] = {}
            _collect_quantifiers(rule.id, condition, found)
            quantifiers.update(found)
            owners.update(dict.fromkeys(found, rule))
    items = Stratum(-1, "items")
    for members in _item_groups(quantifiers, owners):
        _place_group(items, members, prefix)
    strata: list[Stratum] = []
    levels = sorted(set(rulebook.levels.values()))
    for level in levels:
        stratum = Stratum(level, "derive")
        for rule in rulebook.derive:
            if rulebook.levels[rule.id] == level:
                _place(stratum, rule.id, list(rule.conditions), prefix, rule)
        strata.append(stratum)
    final = Stratum(len(levels), "require")
    for req in rulebook.require:
        _place(final, req.id, list(req.conditions), prefix, req)
    strata.append(final)
    patterns = {site: compile_pattern(site[1]) for rule in rules for _, condition in rule.conditions
                for site in sorted(match_sites(condition))}
    for stratum in [items, *strata]:
        for shard in stratum.shards:
            shard.definition = engine_json(shard.rules)
    return CompiledRulebook(rulebook, items, quantifiers, strata, patterns)


def quantifier_id(rule_id: str, node: c.Quantified) -> str:
    """A stable id for a quantifier node: the rule id plus where the node stands in the file."""
    return f"{rule_id}__{node.line}_{node.column}_{'_'.join(node.path)}_{node.op}"


def _collect_quantifiers(rule_id: str, condition: c.Condition, out: dict[str, Quantifier]) -> None:
    if isinstance(condition, c.Quantified):
        qid = quantifier_id(rule_id, condition)
        out.setdefault(qid, Quantifier(qid, condition.path, condition.op, condition.where))
    elif isinstance(condition, c.Not):
        _collect_quantifiers(rule_id, condition.part, out)
    elif isinstance(condition, (c.AllOf, c.AnyOf)):
        for part in condition.parts:
            _collect_quantifiers(rule_id, part, out)


Compiled = list[tuple[Target, Term]]  # each DNF term of a condition's polarity, and what it means


def _compiled(rule_id: str, groups: list[tuple[str, c.Condition]],
              rule: DeriveRule | RequireRule) -> dict[bool, Compiled]:
    """Both polarities of a rule's conditions, as named DNF terms."""
    compiled: dict[bool, Compiled] = {True: [], False: []}
    for role, condition in groups:
        for truth in (True, False):
            terms = truth_terms(condition, truth, rule)
            compiled[truth] += [(Target(rule_id, role, truth), term) for term in terms]
    cost = sum(_term_cost(term) for terms in compiled.values() for _, term in terms)
    if cost > MAX_TERMS_PER_RULE:
        raise CompileError(rule, f"its conditions expand to {cost} engine branches; the limit is "
                           f"{MAX_TERMS_PER_RULE}. Split the rule or simplify any/in lists.")
    return compiled


def _place(stratum: Stratum, rule_id: str, groups: list[tuple[str, c.Condition]], prefix: str,
           rule: DeriveRule | RequireRule) -> None:
    compiled = _compiled(rule_id, groups, rule)
    paths = _check_fact_size(compiled, rule)
    stratum.rule_ids.append(rule_id)
    screened = stratum.screened_truth
    shard = _shard_for(stratum, compiled[screened], compiled[not screened], paths, prefix)
    _fill(stratum.shards[shard], compiled[screened], [dict(DISCRIMINATOR)])
    _add_judges(stratum.shards[shard], compiled[not screened])
    stratum.shard_of[rule_id] = shard
    stratum.reads[rule_id] = paths
    for role, condition in groups:
        stratum.uncertain[(rule_id, role)] = tuple(sorted(uncertain_paths(rule_id, condition)))


def _check_fact_size(compiled: dict[bool, Compiled], rule: DeriveRule | RequireRule) -> frozenset[str]:
    """The paths a rule's terms test, refused when they would not fit in one fact."""
    paths = _tested_paths(compiled)
    if len(paths) + FACT_OVERHEAD > MAX_PROPERTIES:
        raise CompileError(rule, f"its conditions test {len(paths)} values; one fact holds at most "
                           f"{MAX_PROPERTIES - FACT_OVERHEAD}. Split the rule.")
    return paths


#: A quantifier of an item group: its compiled polarities and the paths they test.
Member = tuple[Quantifier, dict[bool, Compiled], frozenset[str]]


def _item_groups(quantifiers: dict[str, Quantifier], owners: dict[str, DeriveRule | RequireRule]) -> list[list[Member]]:
    """Quantifiers grouped by list, each group small enough for one shard and one item fact."""
    by_list: dict[tuple[str, ...], list[Quantifier]] = {}
    for quantifier in quantifiers.values():
        by_list.setdefault(quantifier.path, []).append(quantifier)
    groups: list[list[Member]] = []
    for members in by_list.values():
        current: list[Member] = []
        for quantifier in members:
            compiled = _compiled(quantifier.qid, [("item", quantifier.where)], owners[quantifier.qid])
            member = (quantifier, compiled, _check_fact_size(compiled, owners[quantifier.qid]))
            if current and not _fits_one_group([*current, member]):
                groups.append(current)
                current = []
            current.append(member)
        groups.append(current)
    return groups


def _fits_one_group(members: list[Member]) -> bool:
    """Whether one shard and one item fact can hold these quantifiers together."""
    return (sum(len(compiled[q.screened_truth]) for q, compiled, _ in members) <= SHARD_BUDGET
            and sum(len(compiled[not q.screened_truth]) for q, compiled, _ in members) <= JUDGE_BUDGET
            and len(_group_paths(members)) + FACT_OVERHEAD <= MAX_PROPERTIES)


def _group_paths(members: list[Member]) -> frozenset[str]:
    return frozenset().union(*(paths for _, _, paths in members))


def _place_group(stratum: Stratum, members: list[Member], prefix: str) -> None:
    """Put one item group's rules in one shard, each quantifier screened in its own form
    (``Quantifier.screened_truth``)."""
    screens = [term for q, compiled, _ in members for term in compiled[q.screened_truth]]
    judges = [term for q, compiled, _ in members for term in compiled[not q.screened_truth]]
    paths = _group_paths(members)
    shard = _shard_for(stratum, screens, judges, frozenset(), prefix)
    gid = len(stratum.groups)
    _fill(stratum.shards[shard], screens, [dict(ITEM_DISCRIMINATOR), {"g": gid}])
    _fill(stratum.shards[shard], judges, [dict(ITEM_JUDGE_DISCRIMINATOR), {"g": gid}])
    quantifiers = [quantifier for quantifier, _, _ in members]
    stratum.groups.append(ItemGroup(gid, quantifiers[0].path, tuple(q.qid for q in quantifiers), paths, shard))
    for quantifier in quantifiers:
        stratum.rule_ids.append(quantifier.qid)
        stratum.shard_of[quantifier.qid] = shard
        stratum.uncertain[(quantifier.qid, "item")] = tuple(sorted(uncertain_paths(quantifier.qid, quantifier.where)))


def _shard_for(stratum: Stratum, screens: Compiled, judges: Compiled, paths: frozenset[str],
               prefix: str) -> int:
    """The index of the last shard when these terms and the values they test fit in it, else of
    a new one. (An item fact carries only its group's values: ``paths`` is empty for items.)"""
    shards = stratum.shards
    item = stratum.kind == "items"
    screen_cost = sum(_term_cost(term) for _, term in screens)
    judge_cost = sum(_term_cost(term) for _, term in judges)
    if (not shards or shards[-1].cost + screen_cost > SHARD_BUDGET
            or shards[-1].judge_cost + judge_cost > JUDGE_BUDGET
            or len(shards[-1].fields.keys() | paths) + FACT_OVERHEAD > MAX_PROPERTIES):
        catch = SESSION_MARKER if item else DISCRIMINATOR
        level = "" if item else str(stratum.level)
        shards.append(Shard(f"{prefix}_{stratum.kind}{level}_{len(shards)}",
                            {CATCH_ALL: {"all": [{"m": dict(catch)}], "pri": 65535}}))
    shards[-1].cost += screen_cost
    shards[-1].judge_cost += judge_cost
    return len(shards) - 1


def _fill(shard: Shard, compiled: Compiled, discriminator: list[dict[str, Any]]) -> None:
    """One durable rule per condition and polarity, its DNF terms joined by ``$or``.

    A session costs the engine about half a microsecond for every rule in its ruleset, fired
    or not (each rule gets about 12 KB of fresh state), so one rule per term made every
    session a third dearer. A condition with very many alternatives is cut into several rules
    (``_chunks``).
    """
    terms: dict[Target, list[Term]] = {}
    for target, term in compiled:
        terms.setdefault(target, []).append(term)
    for target, alternatives in terms.items():
        name = f"{target.rule_id}|{target.role}|{'T' if target.truth else 'F'}"
        for index, chunk in enumerate(_chunks(alternatives)):
            shard.rules[f"{name}|{index}"] = _durable_rule(chunk, [dict(d) for d in discriminator], shard)
            shard.targets[f"{name}|{index}"] = target


def _add_judges(shard: Shard, compiled: Compiled) -> None:
    """Add one condition's judge terms to the shard's judge rules of its role.

    A judge fact names its rule (``j``), so one durable rule can judge the conditions of many
    rules: the fired message holds the fact, and its ``j`` says which rule's condition fired.
    Each term is one ``$or`` alternative, ``j`` first; a rule takes alternatives until its join
    node would list too many expressions (``MAX_RULE_EXPRESSIONS``). A session clears about
    12 KB of state per rule of its ruleset, and this takes the judges from one rule per
    condition to one per dozen terms.
    """
    for target, term in compiled:
        cost = 2 + _field_comparisons(term)  # the alternative's $and, then its comparisons of two fields
        names = [name for name, role in shard.judges.items() if role == target.role]
        name = names[-1] if names else ""
        if not name or shard.judge_expressions[name] + cost > MAX_RULE_EXPRESSIONS - 4:
            name = f"{JUDGE_RULE}|{target.role}|{len(names)}"
            shard.judges[name] = target.role
            shard.judge_expressions[name] = 0
            shard.rules[name] = {"all": [{"m": {"$and": [dict(JUDGE_DISCRIMINATOR), {"$or": []}]}}]}
        tests = [_renamed(json.loads(text), shard) for _, text in term]
        shard.rules[name]["all"][0]["m"]["$and"][1]["$or"].append({"$and": [{"j": target.rule_id}, *tests]})
        shard.judge_expressions[name] += cost


def _tested_paths(compiled: dict[bool, Compiled]) -> frozenset[str]:
    """The dotted engine paths that a rule's terms (both polarities) test."""
    return frozenset(path for terms in compiled.values() for _, term in terms for _, text in term
                     for path in _atom_paths(json.loads(text)))


def _atom_paths(test: dict[str, Any]) -> list[str]:
    """The paths one test reads: ``{path: value}``, or ``{"$op": {path: operand}}`` where the
    operand may name a second field (``{"$m": path}``)."""
    paths: list[str] = []
    for key, value in test.items():
        if not key.startswith("$"):
            paths.append(key)
            continue
        for path, operand in value.items():
            paths.append(path)
            if isinstance(operand, dict) and "$m" in operand:
                paths.append(operand["$m"])
    return paths


def _renamed(test: dict[str, Any], shard: Shard) -> dict[str, Any]:
    """``test`` with every path replaced by its field name in ``shard`` (see ``_atom_paths``)."""
    out: dict[str, Any] = {}
    for key, value in test.items():
        if not key.startswith("$"):
            out[shard.field_name(key)] = value
            shard.compared.add(key)
            continue
        if key not in _PRESENCE:
            shard.compared.update(_atom_paths({key: value}))
        out[key] = {shard.field_name(path): ({"$m": shard.field_name(operand["$m"])}
                                             if isinstance(operand, dict) and "$m" in operand else operand)
                    for path, operand in value.items()}
    return out


_PRESENCE = ("$ex", "$nex")


#: Entries one rule may add to its join node's expression list, below the engine's 32 (error
#: 113): the discriminator's ``$and`` and the ``$or`` take two each (start and end), an
#: alternative of several tests two more, and a test comparing two fields one.
MAX_RULE_EXPRESSIONS = 28


def _chunks(terms: list[Term]) -> list[list[Term]]:
    """Alternatives of one condition, cut where a rule would hold too many expressions."""
    chunks: list[list[Term]] = []
    used = 0
    for term in terms:
        cost = (2 if len(term) > 1 else 0) + _field_comparisons(term)
        if not chunks or used + cost > MAX_RULE_EXPRESSIONS - 4:
            chunks.append([])
            used = 0
        chunks[-1].append(term)
        used += cost
    return chunks


def _field_comparisons(term: Term) -> int:
    """The tests of ``term`` that compare two fields: each lists one more expression at the join node."""
    return sum('"$m"' in text for _, text in term)


def uncertain_paths(rule_id: str, condition: c.Condition) -> set[tuple[str, ...]]:
    """Engine paths whose absence can leave ``condition`` neither true nor false.

    Presence tests are always decided; every other test is unknown exactly when a value it
    reads is missing: a field, a list (its length), a ``matches`` marker, a derived fact or a
    quantifier's verdict (the rule loader has already checked that values have the field's type).
    """
    if isinstance(condition, c.Not):
        return uncertain_paths(rule_id, condition.part)
    if isinstance(condition, (c.AllOf, c.AnyOf)):
        return {p for part in condition.parts for p in uncertain_paths(rule_id, part)}
    if isinstance(condition, c.Quantified):
        return {(QUANTIFIER_ROOT, quantifier_id(rule_id, condition))}
    if condition.op in c.PRESENCE:
        return set()
    path = tuple(subject_path(condition.subject).split("."))
    if condition.op == "provided":
        return {(*path[:-1], path[-1] + SET_SUFFIX)} if condition.container else {path}
    found: set[tuple[str, ...]] = set()
    if condition.other is not None:
        found.add(tuple(condition.other))
    if condition.op == "matches":
        return found | {(*path[:-1], path[-1] + match_marker(str(condition.value)))}
    if condition.op in ("min_items", "max_items"):
        return found | {(*path[:-1], path[-1] + LENGTH_SUFFIX)}
    if condition.container:
        return found | {(*path[:-1], path[-1] + SET_SUFFIX)}
    return found | {path}


def _term_cost(term: Term) -> int:
    return 1


def _durable_rule(terms: list[Term], discriminator: list[dict[str, Any]], shard: Shard) -> dict[str, Any]:
    """The discriminator, then the one term's tests or an ``$or`` of the terms."""
    if len(terms) == 1:
        conds: list[Any] = [*discriminator, *(_renamed(json.loads(text), shard) for _, text in terms[0])]
    else:
        conds = [*discriminator, {"$or": [_conjunction(term, shard) for term in terms]}]
    return {"all": [{"m": conds[0] if len(conds) == 1 else {"$and": conds}}]}


def _conjunction(term: Term, shard: Shard) -> dict[str, Any]:
    tests = [_renamed(json.loads(text), shard) for _, text in term]
    return tests[0] if len(tests) == 1 else {"$and": tests}


def truth_terms(condition: c.Condition, truth: bool, rule: DeriveRule | RequireRule) -> list[Term]:
    """DNF of T(condition) (``truth``) or F(condition), as a list of conjunctive terms."""
    if isinstance(condition, c.Not):
        return truth_terms(condition.part, not truth, rule)
    if isinstance(condition, (c.AllOf, c.AnyOf)):
        conjunctive = isinstance(condition, c.AllOf) == truth
        parts = [truth_terms(part, truth, rule) for part in condition.parts]
        if not conjunctive:
            return _dedupe([term for terms in parts for term in terms])
        size = 1
        for terms in parts:
            size *= max(1, len(terms))
            if size > MAX_TERMS_PER_RULE:
                raise CompileError(rule, f"a condition expands to more than {MAX_TERMS_PER_RULE} "
                                   "alternatives; split the rule")
        return _dedupe([tuple(dict.fromkeys(a for term in combo for a in term))
                        for combo in product(*parts)])
    if isinstance(condition, c.Quantified):
        return _quantified(condition, truth, rule)
    return _leaf(condition, truth)


def _dedupe(terms: list[Term]) -> list[Term]:
    return list(dict.fromkeys(terms))


def _atom(cond: dict[str, Any]) -> Atom:
    return ("c", json.dumps(cond, sort_keys=True, ensure_ascii=False))


def subject_path(subject: c.Subject) -> str:
    """The dotted path the engine sees for a leaf's subject."""
    if subject.kind == "fact":
        return f"{DERIVED_ROOT}.{subject.path[0]}"
    if subject.kind == "item":
        return ".".join((ITEM_ROOT, *subject.path))
    return ".".join(subject.path)


_NEGATE = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt",
           "in": "not_in", "not_in": "in", "present": "absent", "absent": "present",
           "min_items": "_lt_len", "max_items": "_gt_len", "_lt_len": "min_items", "_gt_len": "max_items"}
_DURABLE_CMP = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte", "ne": "$neq"}


def _expr(op: str, path: str, value: Any) -> dict[str, Any]:
    """One durable condition for a (positive) operator on ``path``."""
    if op == "eq":
        return {"$eq": {path: value}} if isinstance(value, dict) else {path: value}
    if op in _DURABLE_CMP:
        return {_DURABLE_CMP[op]: {path: value}}
    if op == "present":
        return {"$ex": {path: 1}}
    if op == "absent":
        return {"$nex": {path: 1}}
    if op == "min_items":
        return {"$gte": {path + LENGTH_SUFFIX: value}}
    if op == "max_items":
        return {"$lte": {path + LENGTH_SUFFIX: value}}
    if op == "_lt_len":
        return {"$lt": {path + LENGTH_SUFFIX: value}}
    if op == "_gt_len":
        return {"$gt": {path + LENGTH_SUFFIX: value}}
    raise AssertionError(op)


def _operand(leaf: c.Leaf) -> Any:
    return {"$m": ".".join(leaf.other)} if leaf.other is not None else leaf.value


def _leaf(leaf: c.Leaf, truth: bool) -> list[Term]:
    path = subject_path(leaf.subject)
    if leaf.op == "contains":
        if truth:
            return [(_atom({"$iany": {path: {"$i": leaf.value}}}),)]
        return [(_atom({path + LENGTH_SUFFIX: 0}),),
                (_atom({"$iall": {path: {"$neq": {"$i": leaf.value}}}}),)]
    if leaf.op == "provided":
        # True when given; never false, so a missing value leaves it unknown.
        return [(_atom(_expr("present", path + (SET_SUFFIX if leaf.container else ""), None)),)] if truth else []
    if leaf.op == "matches":
        # Decided in Python (regex.py says why); the marker is absent when the field is.
        return [(_atom({path + match_marker(str(leaf.value)): truth}),)]
    op = leaf.op if truth else _NEGATE[leaf.op]
    if leaf.container:
        path += SET_SUFFIX
    if op == "in":
        return [(_atom(_expr("eq", path, v)),) for v in leaf.value]
    if op == "not_in":
        return [tuple(_atom(_expr("ne", path, v)) for v in leaf.value)]
    if leaf.other is not None:
        # Measured: with the right-hand field missing, $lt and $gte are BOTH true. Guard it.
        return [(_atom({"$ex": {".".join(leaf.other): 1}}), _atom(_expr(op, path, _operand(leaf))))]
    return [(_atom(_expr(op, path, _operand(leaf))),)]


def _quantified(node: c.Quantified, truth: bool, rule: DeriveRule | RequireRule) -> list[Term]:
    path = f"{QUANTIFIER_ROOT}.{quantifier_id(rule.id, node)}"
    return [(_atom({path: "T" if truth else "F"}),)]


def match_marker(pattern: str) -> str:
    """Suffix of the boolean marker that says whether a field matches ``pattern``."""
    return MATCH_SUFFIX + hashlib.sha256(pattern.encode("utf-8")).hexdigest()[:12]


def match_sites(condition: c.Condition) -> set[tuple[tuple[str, ...], str]]:
    """(field path, pattern) of every ``matches`` leaf in a condition."""
    if isinstance(condition, c.Leaf):
        return {(condition.subject.path, str(condition.value))} if condition.op == "matches" else set()
    if isinstance(condition, c.Not):
        return match_sites(condition.part)
    if isinstance(condition, (c.AllOf, c.AnyOf)):
        return {site for part in condition.parts for site in match_sites(part)}
    return set()

"""Test oracle: a direct, independent reading of the rule language (no engine, no compiler).

It interprets the parsed condition AST over plain Python data with three-valued logic and
runs derive rules by repeated passes until nothing changes. Tests compare the product's
durable_rules outcomes with this oracle. It is deliberately naive; it is not product code.
"""

from __future__ import annotations

import re
from typing import Any

from evaluator import conditions as c
from evaluator.rulebook import Rulebook

UNKNOWN = None  # three values: True, False, None (unknown)


def lookup(data: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    node = data
    for part in path:
        if not isinstance(node, dict) or node.get(part) is None:
            return False, None
        node = node[part]
    return True, node


def evaluate(cond: c.Condition, data: dict[str, Any], facts: dict[str, Any], item: Any = None) -> bool | None:
    if isinstance(cond, c.AllOf):
        values = [evaluate(p, data, facts, item) for p in cond.parts]
        if False in values:
            return False
        return None if None in values else True
    if isinstance(cond, c.AnyOf):
        values = [evaluate(p, data, facts, item) for p in cond.parts]
        if True in values:
            return True
        return None if None in values else False
    if isinstance(cond, c.Not):
        value = evaluate(cond.part, data, facts, item)
        return None if value is None else not value
    if isinstance(cond, c.Quantified):
        present, items = lookup(data, cond.path)
        if not present:
            return None
        values = [evaluate(cond.where, data, facts, entry) for entry in items]
        if cond.op == "every":
            return False if False in values else (None if None in values else True)
        some = True if True in values else (None if None in values else False)
        if cond.op == "some":
            return some
        return None if some is None else not some
    return _leaf(cond, data, facts, item)


def _subject(leaf: c.Leaf, data: dict[str, Any], facts: dict[str, Any], item: Any) -> tuple[bool, Any]:
    if leaf.subject.kind == "fact":
        name = leaf.subject.path[0]
        return (name in facts and facts[name] is not None), facts.get(name)
    if leaf.subject.kind == "item":
        if not leaf.subject.path:
            return True, item
        return lookup(item, leaf.subject.path)
    return lookup(data, leaf.subject.path)


def _leaf(leaf: c.Leaf, data: dict[str, Any], facts: dict[str, Any], item: Any) -> bool | None:
    present, value = _subject(leaf, data, facts, item)
    if leaf.op == "present":
        return present
    if leaf.op == "absent":
        return not present
    if leaf.op == "provided":
        return True if present else None
    if not present:
        return None
    expected = leaf.value
    if leaf.other is not None:
        other_present, expected = lookup(data, leaf.other)
        if not other_present:
            return None
    op = leaf.op
    if op == "eq":
        return bool(value == expected)
    if op == "ne":
        return bool(value != expected)
    if op in ("lt", "lte", "gt", "gte"):
        return {"lt": value < expected, "lte": value <= expected,
                "gt": value > expected, "gte": value >= expected}[op]
    if op == "in":
        return value in expected
    if op == "not_in":
        return value not in expected
    if op == "contains":
        return expected in value
    if op == "matches":
        return re.fullmatch(expected, value, flags=re.ASCII | re.DOTALL) is not None
    if op == "min_items":
        return len(value) >= expected
    if op == "max_items":
        return len(value) <= expected
    raise AssertionError(op)


def run(rulebook: Rulebook, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(facts, outcome per require rule id) by the book, without the engine.

    A fact takes the value of the first of its derive rules (by level, then file order) whose
    condition is true, unless an earlier one is unknown and would set a different value
    (then it is unknown, None); with no true rule it is unknown if any was unknown, else its
    default.
    """
    facts: dict[str, Any] = {}
    ordered = sorted(rulebook.derive, key=lambda r: rulebook.levels[r.id])  # stable: file order kept

    def last_level(name: str) -> int:
        return max((rulebook.levels[r.id] for r in ordered if any(n == name for n, _ in r.sets)), default=-1)

    for name in sorted(rulebook.facts, key=last_level):
        unknown_values: list[Any] = []
        value: Any = rulebook.facts[name].default
        decided = False
        for rule in ordered:
            for fact_name, fact_value in rule.sets:
                if fact_name != name or decided:
                    continue
                truth = evaluate(rule.when, data, facts)
                if truth is True:
                    decided = True
                    value = fact_value if all(v == fact_value for v in unknown_values) else None
                elif truth is None:
                    unknown_values.append(fact_value)
        if not decided and unknown_values:
            value = None
        facts[name] = value
    outcomes = {}
    for rule in rulebook.require:
        applies = True if rule.applies_when is None else evaluate(rule.applies_when, data, facts)
        check = evaluate(rule.check, data, facts)
        if applies is False:
            outcomes[rule.id] = "not_applicable"
        elif applies is None or check is None:
            outcomes[rule.id] = "indeterminate"
        else:
            outcomes[rule.id] = "pass" if check else "fail"
    return facts, outcomes

"""The derive-rule trap of ``sandbox rules lint``: a value that an earlier rule can override.

For each fact, the first derive rule whose condition is true sets it, in (stratum, file, line)
order (docs/rule-format.md, "Which rule sets a fact"). When a rule in a later stratum or a later
file sets a different value than an earlier one, and both conditions can hold at once, the
earlier value silently wins. Conditions are taken as exclusive when one contains the negation of
the other (or of one of its parts), or when both test the same subject with values that cannot
both hold (``eq``/``in``/``ne``/``not_in``, number ranges, ``present``/``absent``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from evaluator import conditions as c
from evaluator.errors import Problem, display_path
from evaluator.rulebook import DeriveRule, Rulebook


def override_problems(books: list[Rulebook]) -> list[Problem]:
    """One problem per derive rule whose value an earlier, possibly overlapping rule overrides."""
    problems = []
    for book in books:
        order = {pack.path: index for index, pack in enumerate(book.packs)}
        for fact in book.facts:
            setters = sorted((r for r in book.derive if any(n == fact for n, _ in r.sets)),
                             key=lambda r: (book.levels.get(r.id, 0), order.get(r.file, 0), r.line))
            for index, later in enumerate(setters):
                earlier = next((e for e in setters[:index] if _overrides(e, later, fact, book)), None)
                if earlier is not None:
                    problems.append(_problem(earlier, later, fact, book))
    return problems


def _value(rule: DeriveRule, fact: str) -> Any:
    return next(v for n, v in rule.sets if n == fact)


def _overrides(earlier: DeriveRule, later: DeriveRule, fact: str, book: Rulebook) -> bool:
    if _value(earlier, fact) == _value(later, fact):
        return False
    apart = book.levels.get(earlier.id, 0) != book.levels.get(later.id, 0) or earlier.file != later.file
    return apart and not exclusive(earlier.when, later.when)


def _problem(earlier: DeriveRule, later: DeriveRule, fact: str, book: Rulebook) -> Problem:
    first, second = book.levels.get(earlier.id, 0), book.levels.get(later.id, 0)
    why = f"stratum {first} before {second}" if first != second else "an earlier file, same stratum"
    old, new = _show(_value(earlier, fact)), _show(_value(later, fact))
    return Problem(later.file, later.line, 1,
                   f"{later.id}: sets {fact} = {new}, but {earlier.id} ({display_path(earlier.file)}:"
                   f"{earlier.line}) runs first ({why}) and sets {old}: where both conditions hold, {old} "
                   f"stands; make the conditions exclusive (e.g. add not: {earlier.id}'s condition)")


def _show(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def exclusive(a: c.Condition, b: c.Condition) -> bool:
    """Whether ``a`` and ``b`` can never both be true (a cheap, sound-when-true test)."""
    a, b = _plain(a), _plain(b)
    left, right = _conjuncts(a), _conjuncts(b)
    if c.Not(a) in right or c.Not(b) in left:
        return True
    return any(_contradict(x, y) for x in left for y in right)


def _plain(condition: c.Condition) -> c.Condition:
    """The condition without source positions, so equal conditions compare equal."""
    if isinstance(condition, c.Leaf):
        return dataclasses.replace(condition, line=0)
    if isinstance(condition, c.Quantified):
        return dataclasses.replace(condition, where=_plain(condition.where), line=0, column=0)
    if isinstance(condition, c.Not):
        return c.Not(_plain(condition.part))
    parts = tuple(_plain(p) for p in condition.parts)
    return c.AllOf(parts) if isinstance(condition, c.AllOf) else c.AnyOf(parts)


def _conjuncts(condition: c.Condition) -> list[c.Condition]:
    if isinstance(condition, c.AllOf):
        return [x for part in condition.parts for x in _conjuncts(part)]
    return [condition]


def _contradict(x: c.Condition, y: c.Condition) -> bool:
    if x == c.Not(y) or y == c.Not(x):
        return True
    if not (isinstance(x, c.Leaf) and isinstance(y, c.Leaf)) or x.subject != y.subject:
        return False
    if x.other is not None or y.other is not None:
        return False
    return _disjoint(_allowed(x), _allowed(y))


Allowed = tuple[str, Any]


def _allowed(leaf: c.Leaf) -> Allowed | None:
    """What values a test lets through: a set, all but a set, a number range, or absence."""
    if leaf.op in ("absent", "present", "provided"):
        return ("absent" if leaf.op == "absent" else "present", None)
    if leaf.op in ("eq", "in"):
        return ("set", frozenset(leaf.value if leaf.op == "in" else (leaf.value,)))
    if leaf.op in ("ne", "not_in"):
        return ("not", frozenset(leaf.value if leaf.op == "not_in" else (leaf.value,)))
    if leaf.op in ("lt", "lte", "gt", "gte") and isinstance(leaf.value, int | float):
        low = (leaf.value, leaf.op == "gte") if leaf.op in ("gt", "gte") else (float("-inf"), False)
        high = (leaf.value, leaf.op == "lte") if leaf.op in ("lt", "lte") else (float("inf"), False)
        return ("range", (low, high))
    return None


def _disjoint(x: Allowed | None, y: Allowed | None) -> bool:
    if x is None or y is None:
        return False
    if "absent" in (x[0], y[0]):
        return x[0] != y[0]
    if "present" in (x[0], y[0]):
        return False
    if x[0] == "not":
        x, y = y, x
    kinds = (x[0], y[0])
    if kinds == ("set", "set"):
        return not (x[1] & y[1])
    if kinds == ("set", "not"):
        return bool(x[1]) and x[1] <= y[1]
    if kinds == ("range", "range"):
        return _ranges_apart(x[1], y[1])
    if kinds in (("set", "range"), ("range", "set")):
        values, bounds = (x[1], y[1]) if x[0] == "set" else (y[1], x[1])
        return all(isinstance(v, int | float) and not _within(v, bounds) for v in values)
    return False


def _within(value: float, bounds: Any) -> bool:
    (low, low_in), (high, high_in) = bounds
    return bool((value > low or (low_in and value == low)) and (value < high or (high_in and value == high)))


def _ranges_apart(a: Any, b: Any) -> bool:
    return _below(a, b) or _below(b, a)


def _below(first: Any, second: Any) -> bool:
    """Every number in range ``first`` is less than every number in range ``second``."""
    (high, high_in), (low, low_in) = first[1], second[0]
    return bool(high < low or (high == low and not (high_in and low_in)))

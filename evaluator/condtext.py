"""Conditions as indented plain text, for people: ``sandbox explain`` and ``sandbox rules doc``.

``all of:`` / ``any of:`` / ``not:`` open a block; each test is one line such as
``technology.autonomous_vehicle.sae_level >= 4`` or
``scope.term.duration_months <= max_term_months (36 months)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evaluator import conditions as c
from evaluator.rulebook import Parameter

INDENT = "  "
_SYMBOLS = {"eq": "=", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_BLOCKS = {"every": "every item of {} satisfies:", "some": "some item of {} satisfies:",
           "none": "no item of {} satisfies:"}


def condition_lines(condition: c.Condition, parameters: Mapping[str, Parameter],
                    depth: int = 0) -> list[str]:
    """The condition as lines of text, nested blocks indented by two spaces per level."""
    pad = INDENT * depth
    if isinstance(condition, c.AllOf | c.AnyOf):
        head = "all of:" if isinstance(condition, c.AllOf) else "any of:"
        return [pad + head] + [line for part in condition.parts
                               for line in condition_lines(part, parameters, depth + 1)]
    if isinstance(condition, c.Not):
        return [pad + "not:", *condition_lines(condition.part, parameters, depth + 1)]
    if isinstance(condition, c.Quantified):
        head = _BLOCKS[condition.op].format(".".join(condition.path))
        return [pad + head, *condition_lines(condition.where, parameters, depth + 1)]
    return [pad + leaf_text(condition, parameters)]


def leaf_text(leaf: c.Leaf, parameters: Mapping[str, Parameter]) -> str:
    """One test: ``subject op value``."""
    subject = "item" if leaf.subject.kind == "item" and not leaf.subject.path else str(leaf.subject)
    if leaf.op == "present":
        return f"{subject} is given"
    if leaf.op == "provided":
        return f"{subject} is provided (asked for when missing)"
    if leaf.op == "absent":
        return f"{subject} is not given"
    value = ".".join(leaf.other) if leaf.other is not None else _value(leaf, parameters)
    if leaf.op in _SYMBOLS:
        return f"{subject} {_SYMBOLS[leaf.op]} {value}"
    if leaf.op == "in":
        return f"{subject} is one of: {value}"
    if leaf.op == "not_in":
        return f"{subject} is none of: {value}"
    if leaf.op == "min_items":
        return f"{subject} has at least {value} item{'' if leaf.value == 1 else 's'}"
    if leaf.op == "max_items":
        return f"{subject} has at most {value} item{'' if leaf.value == 1 else 's'}"
    if leaf.op == "matches":
        return f"{subject} matches the pattern {value}"
    return f"{subject} {leaf.op} {value}"


def _value(leaf: c.Leaf, parameters: Mapping[str, Parameter]) -> str:
    if leaf.param is not None:
        parameter = parameters.get(leaf.param)
        shown = parameter.display() if parameter else literal(leaf.value)
        return f"{leaf.param} ({shown})"
    if leaf.op == "matches":
        return f"'{leaf.value}'"
    return literal(leaf.value)


def literal(value: Any) -> str:
    """A value as written in a pack: ``true``, ``4``, ``remote_operator``, lists joined by commas."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(literal(v) for v in value)
    return str(value)

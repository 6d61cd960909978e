"""The condition language of rule packs: a small typed AST and its three-valued meaning.

Conditions are parsed from YAML by ``evaluator.rulebook``; this module only defines the values
and the operator vocabulary. The engine adapter compiles them; nothing here evaluates them.
"""

from __future__ import annotations

from typing import Any, Literal

from evaluator.records import record

#: Operators on a single operand; the value (if any) is a literal, a parameter or another field.
COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte")
MEMBERSHIP = ("in", "not_in", "contains")
PRESENCE = ("present", "absent")
#: ``provided``: true when the value is given, unknown (never false) when it is missing. It is
#: how a check asks for evidence: leaving a field out makes the rule indeterminate, not failed.
EVIDENCE = ("provided",)
#: The operators that take no value.
VALUELESS = (*PRESENCE, *EVIDENCE)
LENGTH = ("min_items", "max_items")
QUANTIFIERS = ("every", "some", "none")
LEAF_OPERATORS = (*VALUELESS, *COMPARISONS, *MEMBERSHIP, "matches", *LENGTH)
OPERATORS = (*LEAF_OPERATORS, *QUANTIFIERS)

SubjectKind = Literal["field", "fact", "item"]


@record
class Subject:
    """What a leaf reads: a descriptor field path, a derived fact, or a field of a list item.

    ``path`` is empty for the list item itself (lists of scalars).
    """

    kind: SubjectKind
    path: tuple[str, ...]

    def __str__(self) -> str:
        if self.kind == "fact":
            return f"fact {self.path[0]}"
        if self.kind == "item":
            return ".".join(self.path) or "(item)"
        return ".".join(self.path)


@record
class Leaf:
    """``subject op value``. ``value`` is resolved (parameters substituted); ``other`` is a field."""

    subject: Subject
    op: str
    value: Any = None
    other: tuple[str, ...] | None = None
    param: str | None = None
    line: int = 0
    container: bool = False  # the subject is a section or a list (presence tests use a marker)


@record
class Quantified:
    """``every`` / ``some`` / ``none`` item of the list at ``path`` satisfies ``where``."""

    path: tuple[str, ...]
    op: str
    where: Condition
    line: int = 0
    column: int = 0


@record
class AllOf:
    parts: tuple[Condition, ...]


@record
class AnyOf:
    parts: tuple[Condition, ...]


@record
class Not:
    part: Condition


Condition = Leaf | Quantified | AllOf | AnyOf | Not


def fields_read(condition: Condition) -> list[tuple[str, ...]]:
    """Descriptor field paths a condition reads, in order of appearance, without repeats."""
    out: list[tuple[str, ...]] = []
    _walk(condition, out, facts=None)
    return list(dict.fromkeys(out))


def facts_read(condition: Condition) -> list[str]:
    """Derived facts a condition reads."""
    out: list[str] = []
    _walk(condition, None, facts=out)
    return list(dict.fromkeys(out))


def _walk(condition: Condition, fields: list[tuple[str, ...]] | None, facts: list[str] | None) -> None:
    if isinstance(condition, Leaf):
        if condition.subject.kind == "field" and fields is not None:
            fields.append(condition.subject.path)
        if condition.subject.kind == "fact" and facts is not None:
            facts.append(condition.subject.path[0])
        if condition.other is not None and fields is not None:
            fields.append(condition.other)
    elif isinstance(condition, Quantified):
        if fields is not None:
            fields.append(condition.path)
    elif isinstance(condition, Not):
        _walk(condition.part, fields, facts)
    else:
        for part in condition.parts:
            _walk(part, fields, facts)

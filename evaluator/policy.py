"""The decision policy: which rule outcomes lead to admit, admit_with_conditions, revise or reject.

The policy is YAML (``rules/policy/default.yaml``); ``--policy FILE`` replaces it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from evaluator.errors import EvaluatorError, Problem, RuleFileError
from evaluator.loader import Document, dotted, load_file
from evaluator.packagedata import package_dir
from evaluator.records import record
from evaluator.rulebook import PILLARS, SEVERITIES

DECISIONS = ("admit", "admit_with_conditions", "revise", "reject")  # best first
OUTCOME_NAMES = ("pass", "fail", "not_applicable", "indeterminate")
_OUTCOME_WORDS = {"pass": "passed", "fail": "failed", "not_applicable": "not applicable",
                  "indeterminate": "indeterminate"}


def _one_or_many(values: tuple[str, ...]) -> dict[str, Any]:
    return {"oneOf": [{"enum": list(values)},
                      {"type": "array", "items": {"enum": list(values)}, "minItems": 1, "uniqueItems": True}]}


_SELECTOR = {"type": "object", "additionalProperties": False, "required": ["outcome"],
             "properties": {"pillar": _one_or_many(PILLARS), "severity": _one_or_many(SEVERITIES),
                            "outcome": _one_or_many(OUTCOME_NAMES), "min_count": {"type": "integer", "minimum": 1},
                            "deferrable": {"type": "boolean"}}}
POLICY_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["policy", "decisions", "weights"],
    "properties": {
        "policy": {"type": "object", "additionalProperties": False, "required": ["id", "version", "title"],
                   "properties": {"id": {"type": "string"}, "version": {"type": "string"},
                                  "title": {"type": "string"}}},
        "decisions": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["decision", "reason"],
            "properties": {"decision": {"enum": list(DECISIONS)}, "reason": {"type": "string", "minLength": 1},
                           "when": {"type": "object", "additionalProperties": False, "required": ["any"],
                                    "properties": {"any": {"type": "array", "items": _SELECTOR,
                                                           "minItems": 1}}}}}},
        "weights": {"type": "object", "additionalProperties": False, "required": list(SEVERITIES),
                    "properties": {s: {"type": "number", "minimum": 0} for s in SEVERITIES}},
    },
}


@record
class Selector:
    """Matches findings by pillar, severity and outcome, and optionally by whether the rule's
    evidence may follow admission (``deferrable``); fires when at least ``min_count`` match."""

    pillars: tuple[str, ...]
    severities: tuple[str, ...]
    outcomes: tuple[str, ...]
    min_count: int = 1
    deferrable: bool | None = None

    def describe(self) -> str:
        """E.g. "failed eligibility rules", "indeterminate blocker or major rules"."""
        words = [" or ".join(_OUTCOME_WORDS[o] for o in self.outcomes)]
        if self.pillars != PILLARS:
            words.append(" or ".join(self.pillars))
        if not {"blocker", "major", "minor"} <= set(self.severities):
            words.append(" or ".join(self.severities))
        words.append("rules")
        if self.deferrable is not None:
            words.append("whose evidence may follow admission" if self.deferrable
                         else "whose evidence is needed before admission")
        return " ".join(words)


@record
class DecisionRule:
    decision: str
    reason: str
    selectors: tuple[Selector, ...]  # empty: matches always (the fallback)


@record
class DecisionPolicy:
    id: str
    version: str
    title: str
    rules: tuple[DecisionRule, ...]
    weights: dict[str, float]
    path: str
    sha256: str


def default_policy_path() -> Path:
    return package_dir("evaluator.rules") / "policy" / "default.yaml"


@cache
def load_policy(path: Path | None = None) -> DecisionPolicy:
    """Load and check a decision policy (the shipped default when ``path`` is None)."""
    path = path or default_policy_path()
    try:
        document = load_file(path)
    except EvaluatorError as exc:
        raise RuleFileError(exc.problems) from None
    _check(document)
    data = document.data
    rules = tuple(DecisionRule(entry["decision"], entry["reason"], _selectors(entry))
                  for entry in data["decisions"])
    meta = data["policy"]
    return DecisionPolicy(meta["id"], meta["version"], meta["title"], rules,
                          {k: float(v) for k, v in data["weights"].items()}, str(path), document.sha256)


def _check(document: Document) -> None:
    import jsonschema  # only when the policy is read from source (cache.py)

    validator = jsonschema.Draft202012Validator(POLICY_SCHEMA)
    problems = []
    for error in validator.iter_errors(document.data):
        path = tuple(error.absolute_path)
        _, pos = document.source_map.locate(path)
        problems.append(Problem(document.path, pos.line, pos.column, error.message, dotted(path)))
    if problems:
        raise RuleFileError(problems)
    last = len(document.data["decisions"]) - 1
    if "when" in document.data["decisions"][last]:
        pos = document.source_map.locate(("decisions", last, "when"))[1]
        raise RuleFileError(Problem(document.path, pos.line, pos.column, "the last entry in 'decisions' "
                                    "must have no 'when': it is the fallback", f"decisions[{last}].when"))


def _tuple(value: str | list[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    return (value,) if isinstance(value, str) else tuple(value)


def _selectors(entry: dict[str, Any]) -> tuple[Selector, ...]:
    return tuple(
        Selector(_tuple(s.get("pillar"), PILLARS), _tuple(s.get("severity"), SEVERITIES),
                 _tuple(s.get("outcome"), OUTCOME_NAMES), int(s.get("min_count", 1)), s.get("deferrable"))
        for s in entry.get("when", {}).get("any", [])
    )

"""Authoring checks of ``sandbox rules lint`` that loading a pack does not make.

Each check returns ``Problem``s located in the pack file: unused parameters and facts, limits
without a basis, uncertain sources without a note, empty texts, minor rules without an
admission condition, ``{param:NAME}`` in texts the loader does not fill, parameter values
written by hand, rule ids reused by packs that never judge together, derive rules whose
value an earlier rule can silently override, checks that a missing field would fail, and
sources marked ``verified`` whose URL is not an official text (per the framework's registry),
and blockers that rest on unverified sources alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evaluator.errors import Problem, display_path
from evaluator.lint_overrides import override_problems
from evaluator.loader import PathKey, dotted
from evaluator.rulebook import PARAM_PLACEHOLDER, Rulebook, RulePack, did_you_mean
from evaluator.sources import registry_beside

RULE_TEXTS = ("title", "message", "remediation", "condition")
UNFILLED_TEXTS = {"derive": ("title", "description"), "require": ("description",)}


def authoring_problems(packs: list[RulePack], books: list[Rulebook]) -> list[Problem]:
    """Every authoring problem in the packs; ``books`` are the rulebooks that assembled."""
    problems: list[Problem] = []
    for framework in sorted({p.framework for p in packs}):
        family = [p for p in packs if p.framework == framework]
        problems += _unused_parameters(family) + _unused_facts(family) + _placeholders(family)
        problems += _hand_written_values(family)
    for pack in packs:
        problems += _missing_basis(pack) + _uncertain_without_note(pack) + _texts(pack)
        problems += _absence_fails(pack) + _unofficial_verified(pack) + _uncited(pack)
        problems += _unsupported_blockers(pack)
    problems += _reused_ids(packs) + override_problems(books)
    return problems


def at(pack: RulePack, path: PathKey, message: str) -> Problem:
    """A problem at ``path`` in the pack file (or the nearest parent that exists)."""
    position = pack.document.source_map.locate(path)[1]
    return Problem(pack.path, position.line, position.column, message, dotted(path))


def _rules(pack: RulePack) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for kind in ("derive", "require"):
        for index, raw in enumerate(pack.raw.get(kind, [])):
            yield kind, index, raw


def _param_refs(node: Any) -> Iterator[str]:
    """Parameter names used in conditions (``{param: NAME}``) and texts (``{param:NAME}``)."""
    if isinstance(node, dict):
        if set(node) == {"param"} and isinstance(node["param"], str):
            yield node["param"]
        for value in node.values():
            yield from _param_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _param_refs(value)
    elif isinstance(node, str):
        yield from (m.group(1) for m in PARAM_PLACEHOLDER.finditer(node))


def _unused_parameters(family: list[RulePack]) -> list[Problem]:
    used = {name for pack in family for _, _, raw in _rules(pack) for name in _param_refs(raw)}
    return [at(pack, ("parameters", name), f"parameter '{name}' is not used by any condition or rule "
               f"text of {pack.framework}")
            for pack in family for name in pack.raw.get("parameters", {}) if name not in used]


def _unused_facts(family: list[RulePack]) -> list[Problem]:
    used = {name for pack in family for _, _, raw in _rules(pack) for name in _fact_refs(raw)}
    return [at(pack, ("facts", name), f"fact '{name}' is declared but no rule of {pack.framework} "
               "sets or reads it")
            for pack in family for name in pack.raw.get("facts", {}) if name not in used]


def _fact_refs(raw: dict[str, Any]) -> Iterator[str]:
    yield from raw.get("set", {}) if isinstance(raw.get("set"), dict) else ()
    stack = [raw.get(k) for k in ("when", "applies_when", "check")]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("fact"), str):
                yield node["fact"]
            stack += list(node.values())
        elif isinstance(node, list):
            stack += node


def _placeholders(family: list[RulePack]) -> list[Problem]:
    """``{param:NAME}`` with an unknown NAME in the texts that the loader does not fill."""
    names = {name for pack in family for name in pack.raw.get("parameters", {})}
    problems = []
    for pack in family:
        for kind, index, raw in _rules(pack):
            for key in UNFILLED_TEXTS[kind]:
                for match in PARAM_PLACEHOLDER.finditer(str(raw.get(key, ""))):
                    name = match.group(1)
                    if name not in names:
                        problems.append(at(pack, (kind, index, key), f"unknown parameter '{name}' in "
                                           f"{{param:...}}{did_you_mean(name, names)}"))
    return problems


def _hand_written_values(family: list[RulePack]) -> list[Problem]:
    """A parameter's value and unit typed into a require rule's text instead of ``{param:NAME}``."""
    patterns = _value_patterns(family)
    problems = []
    for pack in family:
        for kind, index, raw in _rules(pack):
            for key in RULE_TEXTS if kind == "require" else ():
                text = PARAM_PLACEHOLDER.sub("", str(raw.get(key, "")))
                for shown, names in patterns.items():
                    found = shown.search(text)
                    if found:
                        listed = " or ".join(f"{{param:{n}}}" for n in names)
                        problems.append(at(pack, (kind, index, key), f"'{found.group(0)}' is written by hand; "
                                           f"use {listed} so the text follows the parameter"))
    return problems


def _value_patterns(family: list[RulePack]) -> dict[re.Pattern[str], list[str]]:
    patterns: dict[re.Pattern[str], list[str]] = {}
    for pack in family:
        for name, raw in pack.raw.get("parameters", {}).items():
            value, unit = raw.get("value"), raw.get("unit")
            if not unit or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            forms = sorted({str(value), f"{value:,}"} | ({f"{value:,g}"} if isinstance(value, float) else set()))
            numbers = "|".join(re.escape(f) for f in forms)
            pattern = re.compile(rf"(?<![\w.,])(?:{numbers})[\s\u00a0]+{re.escape(unit)}(?!\w)")
            names = patterns.setdefault(pattern, [])
            if name not in names:
                names.append(name)
    return patterns


def _missing_basis(pack: RulePack) -> list[Problem]:
    return [at(pack, ("parameters", name), f"parameter '{name}' has no basis: say where the limit comes "
               "from (instrument, article, url)")
            for name, raw in pack.raw.get("parameters", {}).items() if "basis" not in raw]


def _uncertain_without_note(pack: RulePack) -> list[Problem]:
    sources: list[tuple[PathKey, Any]] = [(("parameters", n, "basis"), r.get("basis"))
                                          for n, r in pack.raw.get("parameters", {}).items()]
    sources += [(("require", i, "basis", j), b) for kind, i, raw in _rules(pack) if kind == "require"
                for j, b in enumerate(raw.get("basis", []))]
    return [at(pack, path, f"basis with confidence '{b['confidence']}' needs a note saying what is uncertain")
            for path, b in sources
            if isinstance(b, dict) and b.get("confidence", "verified") != "verified" and not b.get("note")]


def _texts(pack: RulePack) -> list[Problem]:
    problems = []
    for kind, index, raw in _rules(pack):
        if kind != "require":
            continue
        for key in ("title", "message", "remediation"):
            if isinstance(raw.get(key), str) and not raw[key].strip():
                problems.append(at(pack, (kind, index, key), f"'{key}' is empty"))
        if raw.get("severity") == "minor" and "condition" not in raw:
            problems.append(at(pack, (kind, index), "a minor rule needs a 'condition': the condition "
                               "imposed at admission when it fails"))
    return problems


def _reused_ids(packs: list[RulePack]) -> list[Problem]:
    """The same rule id in two packs that never judge a proposal together (the loader sees the rest)."""
    places: dict[str, list[tuple[RulePack, str, int]]] = {}
    for pack in packs:
        for kind, index, raw in _rules(pack):
            if isinstance(raw.get("id"), str):
                places.setdefault(raw["id"], []).append((pack, kind, index))
    problems = []
    for rule_id, found in places.items():
        for (first, _, _), (pack, kind, index) in combinations(found, 2):
            if not _together(first, pack):
                line = first.document.source_map.locate(_first_path(first, rule_id))[1].line
                problems.append(at(pack, (kind, index, "id"), f"rule id '{rule_id}' is also used in pack "
                                   f"'{first.id}' ({display_path(first.path)}:{line}); ids must name one rule"))
    return problems


def _first_path(pack: RulePack, rule_id: str) -> PathKey:
    return next((kind, index, "id") for kind, index, raw in _rules(pack) if raw.get("id") == rule_id)


def _together(a: RulePack, b: RulePack) -> bool:
    """Whether two packs ever judge the same proposal."""
    if a.framework != b.framework:
        return False
    return a.domains is None or b.domains is None or bool(set(a.domains) & set(b.domains))


def _absence_fails(pack: RulePack) -> list[Problem]:
    """Checks that fail when a field is left out: incomplete must read as indeterminate."""
    return [at(pack, path, f"{raw['id']}: a missing {subject} would fail this rule; ask for it with "
               "'op: provided' (indeterminate when missing), or test a stated value")
            for index, raw in enumerate(pack.raw.get("require", [])) if isinstance(raw, dict)
            for path, subject in _absence_tests(raw.get("check"), ("require", index, "check"), True)]


def _absence_tests(node: Any, path: PathKey, positive: bool) -> Iterator[tuple[PathKey, str]]:
    """Tests under ``node`` that come out false on a missing value and so make it false
    (``present`` where the condition must hold, ``absent`` under an odd number of ``not``)."""
    if not isinstance(node, dict):
        return
    for key in ("all", "any"):
        for index, part in enumerate(node.get(key) or []):
            yield from _absence_tests(part, path + (key, index), positive)
    if "not" in node:
        yield from _absence_tests(node["not"], path + ("not",), not positive)
    if node.get("op") in ("every", "some", "none") and "where" in node:
        yield from _absence_tests(node["where"], path + ("where",), positive == (node["op"] != "none"))
    if node.get("op") == ("present" if positive else "absent"):
        subject = node.get("field") or node.get("fact") or "item field"
        yield path + ("op",), f"'{subject}'" if isinstance(subject, str) else "value"


def _unofficial_verified(pack: RulePack) -> list[Problem]:
    """``verified`` means read in an official text: the URL must be on an official host."""
    registry = registry_beside(Path(pack.path))
    if registry is None:
        return []
    problems = []
    for where, raw, basis in _bases(pack):
        entry = registry.cited(basis)
        url = basis.get("url") or (entry.url if entry else "")
        if basis.get("confidence", "verified") != "verified" or not url or registry.is_official(url):
            continue
        problems.append(at(pack, where + ("url" if "url" in basis else "source",),
                           f"{raw['id']}: 'verified' needs an official text, and {urlsplit(url).hostname} is not "
                           f"among the official hosts of {display_path(registry.path)}; cite the official text or "
                           "mark the basis 'partial' with a note"))
    return problems


def _uncited(pack: RulePack) -> list[Problem]:
    """Where a framework keeps a sources registry, every basis cites its instrument by id."""
    registry = registry_beside(Path(pack.path))
    if registry is None:
        return []
    return [at(pack, where, f"{raw['id']}: cite the instrument by its id in {display_path(registry.path)} "
               "('source: ID'), not by name alone")
            for where, raw, basis in _bases(pack) if "source" not in basis]


def _bases(pack: RulePack) -> Iterator[tuple[PathKey, dict[str, Any], dict[str, Any]]]:
    """Each basis of each rule: its path in the pack, its rule and itself."""
    for kind, index, raw in _rules(pack):
        for number, basis in enumerate(raw.get("basis") or []):
            if isinstance(basis, dict):
                yield (kind, index, "basis", number), raw, basis


def _unsupported_blockers(pack: RulePack) -> list[Problem]:
    """A blocker rejects a project: at least one of its sources must have been read."""
    return [at(pack, ("require", index, "severity"), f"{raw['id']}: a blocker rests only on unverified "
               "sources; read one of them (partial or verified) or make the rule major")
            for index, raw in enumerate(pack.raw.get("require", [])) if isinstance(raw, dict)
            and raw.get("severity") == "blocker" and raw.get("basis")
            and all(isinstance(b, dict) and b.get("confidence") == "unverified" for b in raw["basis"])]

"""Rule packs: load YAML rule files, check them thoroughly, and assemble a ``Rulebook``.

A broken rule file is reported with ``file:line`` (every problem at once) and never reaches
the engine: unknown operators and fields, values of the wrong type, unknown parameters or
facts, duplicate ids and cycles among derive rules are all refused here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import field, replace
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluator import conditions as c
from evaluator.errors import EvaluatorError, Problem, RuleFileError, display_path
from evaluator.loader import Document, PathKey, Position, SourceMap, dotted, load_file
from evaluator.packagedata import package_dir
from evaluator.records import record
from evaluator.regex import compile_pattern
from evaluator.sources import REGISTRY_NAME, Registry, registry_beside
from evaluator.validate import proposal_schema

if TYPE_CHECKING:
    import jsonschema

PILLARS = ("eligibility", "safety", "oversight", "freedom")
SEVERITIES = ("blocker", "major", "minor", "info")
COMPUTED_SCHEMA = {"term_months": {"type": "integer", "description": "Months from term start to end."}}
_FACT_TYPES = {"boolean": (bool,), "string": (str,), "integer": (int,), "number": (int, float)}


@record
class Basis:
    """Where a requirement comes from."""

    instrument: str
    article: str
    url: str
    confidence: str = "verified"
    note: str | None = None
    source: str | None = None  # the instrument's id in the sources registry


@record
class Deferral:
    """Evidence that may lawfully follow admission: what to deliver, and by when."""

    deliver: str
    before: str | None = None  # "operations" or "stage"
    stage: str | None = None
    within_days: int | None = None

    @property
    def due(self) -> str:
        """When the evidence is due, in words: "before operations start", "within 30 days"."""
        if self.before == "operations":
            return "before operations start"
        if self.before == "stage":
            return f"before the stage '{self.stage}' starts"
        return f"within {self.within_days} days of admission"

    def to_dict(self) -> dict[str, Any]:
        return {"deliver": self.deliver, "before": self.before, "stage": self.stage,
                "within_days": self.within_days, "due": self.due}


@record
class Parameter:
    name: str
    value: Any
    description: str
    pack: str
    unit: str | None = None

    def display(self) -> str:
        """The value as rule texts show it: ``36 months``, ``10,000,000 RUB``, ``a, b``."""
        text = _display_value(self.value)
        return f"{text} {self.unit}" if self.unit else text


def _display_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,g}"
    if isinstance(value, list):
        return ", ".join(_display_value(v) for v in value)
    return str(value)


PARAM_PLACEHOLDER = re.compile(r"\{param:([^{}]*)\}")


@record
class FactDef:
    """A fact that derive rules may set; ``default`` applies when none does."""

    name: str
    type: str
    default: Any
    description: str
    values: tuple[str, ...] | None
    pack: str


class _Reads:
    """What a rule's conditions read; ``conditions`` pairs each condition with its role."""

    @property
    def conditions(self) -> tuple[tuple[str, c.Condition], ...]:
        raise NotImplementedError

    def fields_read(self) -> list[tuple[str, ...]]:
        """Descriptor fields read by any of the rule's conditions, in order, without repeats."""
        return list(self._reads[0])

    def facts_read(self) -> list[str]:
        """Derived facts read by any of the rule's conditions, in order, without repeats."""
        return list(self._reads[1])

    @cached_property
    def _reads(self) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
        # Worked out once per rule: every report lists them for every finding.
        fields = dict.fromkeys(p for _, cond in self.conditions for p in c.fields_read(cond))
        facts = dict.fromkeys(f for _, cond in self.conditions for f in c.facts_read(cond))
        return tuple(fields), tuple(facts)


@record
class DeriveRule(_Reads):
    id: str
    title: str
    when: c.Condition
    sets: tuple[tuple[str, Any], ...]
    pack: str
    file: str
    line: int

    @property
    def conditions(self) -> tuple[tuple[str, c.Condition], ...]:
        return (("when", self.when),)


@record
class RequireRule(_Reads):
    id: str
    title: str
    pillar: str
    severity: str
    applies_when: c.Condition | None
    check: c.Condition
    basis: tuple[Basis, ...]
    message: str
    remediation: str
    condition: str | None
    pack: str
    file: str
    line: int
    defer: Deferral | None = None

    @property
    def conditions(self) -> tuple[tuple[str, c.Condition], ...]:
        """("applies", applies_when) when there is one, then ("check", check)."""
        check = (("check", self.check),)
        return check if self.applies_when is None else (("applies", self.applies_when), *check)

    @cached_property
    def shown(self) -> tuple[dict[str, Any], dict[str, Any], tuple[dict[str, Any], ...]]:
        """What a report shows of the rule itself, worked out once: the fields before a
        finding's outcome, those after it, and the legal basis (results.Finding.to_dict copies
        them, so no report shares a dict with another)."""
        head = {"rule_id": self.id, "pack": self.pack, "title": self.title, "pillar": self.pillar,
                "severity": self.severity}
        tail = {"message": self.message, "remediation": self.remediation, "condition": self.condition,
                "defer": self.defer.to_dict() if self.defer else None}
        basis = tuple({"instrument": b.instrument, "article": b.article, "url": b.url,
                       "confidence": b.confidence, "note": b.note} for b in self.basis)
        return head, tail, basis


@record
class RulePack:
    id: str
    title: str
    version: str
    framework: str
    domains: tuple[str, ...] | None
    effective: str
    path: str
    sha256: str
    raw: dict[str, Any]
    document: Document = field(repr=False)

    def applies_to(self, domain: str) -> bool:
        return self.domains is None or domain in self.domains


@record
class Rulebook:
    """The packs that judge one (framework, domain), checked and ready to compile."""

    framework: str
    domain: str
    packs: tuple[RulePack, ...]
    parameters: dict[str, Parameter]
    facts: dict[str, FactDef]
    derive: tuple[DeriveRule, ...]
    require: tuple[RequireRule, ...]
    levels: dict[str, int]

    @property
    def sha256(self) -> str:
        """Hash over the packs' hashes: identifies the exact rule text used."""
        joined = "\n".join(f"{p.id}:{p.sha256}" for p in self.packs)
        return hashlib.sha256(joined.encode()).hexdigest()

    @property
    def key(self) -> str:
        return f"{self.framework}/{self.domain}/{self.sha256}"


def default_rules_dir() -> Path:
    """The rule packs shipped inside the package."""
    return package_dir("evaluator.rules")


def discover(dirs: Iterable[Path]) -> list[Path]:
    """Every rule pack file (``*.yaml``) under the given directories or files, sorted."""
    found: list[Path] = []
    for base in dirs:
        if base.is_file():
            found.append(base)
        elif base.is_dir():
            found.extend(p for p in base.rglob("*.yaml") if _is_pack_file(p))
        else:
            raise RuleFileError(Problem(str(base), 0, 0, "rules directory or file does not exist"))
    return sorted(dict.fromkeys(found))


def _is_pack_file(path: Path) -> bool:
    return (not path.name.endswith(".tests.yaml") and path.parent.name != "policy"
            and path.name != REGISTRY_NAME)


def registry_files(packs: Iterable[Path]) -> list[Path]:
    """The sources registries beside the given pack files (they shape what packs say)."""
    return sorted({p.parent / REGISTRY_NAME for p in packs if (p.parent / REGISTRY_NAME).is_file()})


def load_packs(dirs: Iterable[Path]) -> list[RulePack]:
    """Read and structurally check every pack file; raises ``RuleFileError`` listing all problems."""
    packs, problems = read_packs(dirs)
    if problems:
        raise RuleFileError(problems)
    return packs


@cache
def bundled_validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for one of the JSON Schemas shipped in ``evaluator.schema``."""
    import jsonschema  # 85 ms: only when packs are read from source (cache.py)

    text = (package_dir("evaluator.schema") / name).read_text("utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def _read_pack(path: Path) -> RulePack:
    try:
        document = load_file(path)
    except EvaluatorError as exc:
        raise RuleFileError(exc.problems) from None
    problems = [
        located(document, tuple(err.absolute_path), _schema_message(err))
        for err in bundled_validator("rulepack-v1.schema.json").iter_errors(document.data)
    ]
    if problems:
        raise RuleFileError(sorted(set(problems), key=lambda p: (p.line, p.column, p.message)))
    _check_sources(document, path)
    meta = document.data["pack"]
    known = domains()
    for index, domain in enumerate(meta.get("domains", [])):
        if domain not in known:
            raise RuleFileError(located(document, ("pack", "domains", index),
                                    f"unknown domain '{domain}'{did_you_mean(domain, known)}; "
                                    f"domains: {', '.join(known)}"))
    return RulePack(
        id=meta["id"], title=meta["title"], version=meta["version"], framework=meta["framework"],
        domains=tuple(meta["domains"]) if "domains" in meta else None, effective=meta["effective"],
        path=str(path), sha256=document.sha256, raw=document.data, document=document,
    )


def _check_sources(document: Document, path: Path) -> None:
    """Every ``source`` a basis cites is in the registry beside the pack."""
    registry = registry_beside(path)
    problems = []
    for kind in ("derive", "require"):
        for index, rule in enumerate(document.data.get(kind) or []):
            for number, basis in enumerate(rule.get("basis") or []):
                source = basis.get("source")
                if source is None or (registry is not None and source in registry.instruments):
                    continue
                where = (kind, index, "basis", number, "source")
                known = list(registry.instruments) if registry else []
                problems.append(located(document, where, (
                    f"unknown source '{source}'{did_you_mean(source, known)} in {display_path(registry.path)}"
                    if registry else f"source '{source}' cited, but there is no {REGISTRY_NAME} beside the pack")))
    if problems:
        raise RuleFileError(problems)


def _schema_message(error: jsonschema.ValidationError) -> str:
    if (error.validator == "additionalProperties" and isinstance(error.instance, dict)
            and isinstance(error.schema, dict)):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        hints = [did_you_mean(k, allowed) for k in extra]
        return "; ".join(f"unknown key '{k}'{h}" for k, h in zip(extra, hints, strict=True))
    return error.message


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (did you mean 'X'?)" for the closest of ``choices``, or an empty string."""
    options = list(choices)
    hint = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not hint:  # "lte_than" -> "lte": a known word that the typo starts with
        hint = sorted((o for o in options if word.startswith(o)), key=len, reverse=True)[:1]
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def located(document: Document, path: PathKey, message: str) -> Problem:
    """A problem at the position of ``path`` in ``document``."""
    _, position = document.source_map.locate(path)
    return Problem(document.path, position.line, position.column, message, dotted(path))


def domains() -> list[str]:
    """The descriptor's domains (a pack's ``domains`` must name some of them)."""
    return list(proposal_schema()["properties"]["metadata"]["properties"]["domain"]["enum"])


def assemble_all(packs: list[RulePack]) -> dict[tuple[str, str], Rulebook]:
    """Check every framework x domain the packs cover, reporting all problems at once."""
    books: dict[tuple[str, str], Rulebook] = {}
    problems: list[Problem] = []
    for framework in sorted({p.framework for p in packs}):
        for domain in domains():
            if any(p.framework == framework and p.applies_to(domain) for p in packs):
                try:
                    books[(framework, domain)] = assemble(packs, framework, domain)
                except RuleFileError as exc:
                    problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        raise RuleFileError(problems)
    return books


def assemble(packs: list[RulePack], framework: str, domain: str) -> Rulebook:
    """Check the packs of ``framework`` that apply to ``domain`` together and build a Rulebook."""
    chosen = tuple(p for p in packs if p.framework == framework and p.applies_to(domain))
    if not chosen:
        known = sorted({p.framework for p in packs})
        raise RuleFileError(f"no rule packs for framework '{framework}' and domain '{domain}' "
                            f"(frameworks with packs: {', '.join(known) or 'none'})")
    family = [p for p in packs if p.framework == framework]
    return _Assembler(framework, domain, chosen, family).build()


class _Assembler:
    """Cross-pack checks and condition parsing; collects every problem before raising."""

    def __init__(self, framework: str, domain: str, chosen: tuple[RulePack, ...],
                 family: list[RulePack]) -> None:
        self.framework, self.domain, self.chosen = framework, domain, chosen
        self.problems: list[Problem] = []
        self.parameters = self._parameters(family)
        self.facts = self._facts(family)

    def build(self) -> Rulebook:
        derive: list[DeriveRule] = []
        require: list[RequireRule] = []
        ids: dict[str, str] = {}
        for pack in self.chosen:
            for index, raw in enumerate(pack.raw.get("derive", [])):
                self._unique(pack, ("derive", index), raw["id"], ids)
                derive.append(self._derive(pack, index, raw))
            for index, raw in enumerate(pack.raw.get("require", [])):
                self._unique(pack, ("require", index), raw["id"], ids)
                require.append(self._require(pack, index, raw))
        levels = self._levels(derive, require)
        if self.problems:
            raise RuleFileError(sorted(set(self.problems), key=lambda p: (p.file, p.line, p.message)))
        return Rulebook(self.framework, self.domain, self.chosen, self.parameters,
                        self._used_facts(derive, require), tuple(derive), tuple(require), levels)

    def _unique(self, pack: RulePack, path: PathKey, rule_id: str, ids: dict[str, str]) -> None:
        where = f"{pack.path}:{pack.document.source_map.locate(path + ('id',))[1].line}"
        if rule_id in ids:
            self.problems.append(located(pack.document, path + ("id",),
                                     f"duplicate rule id '{rule_id}' (first defined at {ids[rule_id]})"))
        else:
            ids[rule_id] = where

    def _parameters(self, family: list[RulePack]) -> dict[str, Parameter]:
        out: dict[str, Parameter] = {}
        for pack in family:
            for name, raw in pack.raw.get("parameters", {}).items():
                if name in out and out[name].value != raw["value"]:
                    self.problems.append(located(pack.document, ("parameters", name),
                                             f"parameter '{name}' is also defined with value "
                                             f"{out[name].value!r} in pack '{out[name].pack}'"))
                    continue
                out.setdefault(name, Parameter(name, raw["value"], raw["description"], pack.id,
                                               raw.get("unit")))
        return out

    def _facts(self, family: list[RulePack]) -> dict[str, FactDef]:
        out: dict[str, FactDef] = {}
        for pack in family:
            for name, raw in pack.raw.get("facts", {}).items():
                path = ("facts", name)
                if name in out:
                    self.problems.append(located(pack.document, path, f"fact '{name}' is already "
                                             f"declared in pack '{out[name].pack}'"))
                    continue
                values = tuple(raw["values"]) if "values" in raw else None
                fact = FactDef(name, raw["type"], raw["default"], raw["description"], values, pack.id)
                error = _fact_value_error(fact, raw["default"])
                if error:
                    self.problems.append(located(pack.document, path + ("default",), error))
                out[name] = fact
        return out

    def _derive(self, pack: RulePack, index: int, raw: dict[str, Any]) -> DeriveRule:
        base: PathKey = ("derive", index)
        parser = _ConditionParser(self, pack)
        when = parser.parse(raw["when"], base + ("when",))
        sets: list[tuple[str, Any]] = []
        for name, value in raw["set"].items():
            fact = self.facts.get(name)
            if fact is None:
                self.problems.append(located(pack.document, base + ("set", name), f"unknown fact '{name}'"
                                         f"{did_you_mean(name, self.facts)}; declare it under facts:"))
                continue
            error = _fact_value_error(fact, value)
            if error:
                self.problems.append(located(pack.document, base + ("set", name), error))
            sets.append((name, value))
        line = pack.document.source_map.locate(base)[1].line
        return DeriveRule(raw["id"], raw["title"], when, tuple(sets), pack.id, pack.path, line)

    def _require(self, pack: RulePack, index: int, raw: dict[str, Any]) -> RequireRule:
        base: PathKey = ("require", index)
        parser = _ConditionParser(self, pack)
        applies = parser.parse(raw["applies_when"], base + ("applies_when",)) if "applies_when" in raw else None
        check = parser.parse(raw["check"], base + ("check",))
        registry = registry_beside(Path(pack.path))
        basis = tuple(_basis(b, registry) for b in raw["basis"])
        line = pack.document.source_map.locate(base)[1].line
        texts = {key: self._fill(pack, base + (key,), raw[key].strip()) if key in raw else None
                 for key in ("title", "message", "remediation", "condition")}
        return RequireRule(raw["id"], texts["title"] or "", raw["pillar"], raw["severity"], applies, check,
                           basis, texts["message"] or "", texts["remediation"] or "",
                           texts["condition"] or None, pack.id, pack.path, line,
                           self._deferral(pack, base, raw.get("defer")))

    def _deferral(self, pack: RulePack, base: PathKey, raw: dict[str, Any] | None) -> Deferral | None:
        if raw is None:
            return None
        deliver = self._fill(pack, base + ("defer", "deliver"), raw["deliver"].strip())
        return Deferral(deliver, raw.get("before"), raw.get("stage"), raw.get("within_days"))

    def _fill(self, pack: RulePack, path: PathKey, text: str) -> str:
        """Replace ``{param:NAME}`` with the parameter's value and unit, so texts follow the packs."""

        def value_of(match: re.Match[str]) -> str:
            name = match.group(1)
            parameter = self.parameters.get(name)
            if parameter is None:
                self.problems.append(located(pack.document, path, f"unknown parameter '{name}' in "
                                         f"{{param:...}}{did_you_mean(name, self.parameters)}"))
                return match.group(0)
            return parameter.display()

        return PARAM_PLACEHOLDER.sub(value_of, text)

    def _used_facts(self, derive: list[DeriveRule], require: list[RequireRule]) -> dict[str, FactDef]:
        names = {name for rule in derive for name, _ in rule.sets}
        names |= {f for rule in [*derive, *require] for f in rule.facts_read()}
        return {name: fact for name, fact in self.facts.items() if name in names}

    def _levels(self, derive: list[DeriveRule], require: list[RequireRule]) -> dict[str, int]:
        """Stratify derive rules: a rule runs after every rule that sets a fact it reads."""
        setters: dict[str, list[DeriveRule]] = {}
        for derive_rule in derive:
            for name, _ in derive_rule.sets:
                setters.setdefault(name, []).append(derive_rule)
        rules: list[DeriveRule | RequireRule] = [*derive, *require]
        for rule in rules:
            for name in rule.facts_read():
                if name not in setters and name in self.facts:
                    self._problem_for(rule, f"fact '{name}' is read but no derive rule in the "
                                      f"packs for {self.framework}/{self.domain} sets it")
        levels: dict[str, int] = {}
        for derive_rule in derive:
            self._level(derive_rule, setters, levels, [])
        return levels

    def _level(self, rule: DeriveRule, setters: dict[str, list[DeriveRule]], levels: dict[str, int],
               stack: list[str]) -> int:
        if rule.id in levels:
            return levels[rule.id]
        if rule.id in stack:
            cycle = " -> ".join([*stack[stack.index(rule.id):], rule.id])
            self._problem_for(rule, f"derive rules form a cycle: {cycle}")
            return 0
        stack.append(rule.id)
        level = 0
        for name in rule.facts_read():
            for setter in setters.get(name, []):
                level = max(level, self._level(setter, setters, levels, stack) + 1)
        stack.pop()
        levels[rule.id] = level
        return level

    def _problem_for(self, rule: DeriveRule | RequireRule, message: str) -> None:
        self.problems.append(Problem(rule.file, rule.line, 1, f"{rule.id}: {message}"))


def _basis(raw: dict[str, Any], registry: Registry | None) -> Basis:
    """A basis as written, its title and URL filled from the registry when it cites a ``source``
    (``_read_pack`` has checked that the id exists)."""
    entry = registry.cited(raw) if registry is not None else None
    instrument = raw.get("instrument") or (entry.title_en or entry.title if entry else "")
    url = raw.get("url") or (entry.url if entry else "")
    return Basis(instrument, raw["article"], url, raw.get("confidence", "verified"), raw.get("note"),
                 raw.get("source"))


def _fact_value_error(fact: FactDef, value: Any) -> str | None:
    if isinstance(value, bool) != (fact.type == "boolean") or not isinstance(value, _FACT_TYPES[fact.type]):
        return f"fact '{fact.name}' is of type {fact.type}; {value!r} does not fit"
    if fact.values is not None and value not in fact.values:
        return f"fact '{fact.name}' takes one of {', '.join(fact.values)}; {value!r} is not one"
    return None


class _ConditionParser:
    """Parses one rule's conditions, checking fields, operators and values against the schemas."""

    def __init__(self, owner: _Assembler, pack: RulePack) -> None:
        self.owner, self.pack = owner, pack

    def parse(self, raw: Any, path: PathKey, item: dict[str, Any] | None = None) -> c.Condition:
        try:
            return self._parse(raw, path, item)
        except _Refused as refused:
            self.owner.problems.append(located(self.pack.document, refused.path, refused.message))
            return c.AllOf(())

    def _parse(self, raw: Any, path: PathKey, item: dict[str, Any] | None) -> c.Condition:
        if not isinstance(raw, dict) or not raw:
            raise _Refused(path, "a condition must be a mapping with all, any, not, or field/fact and op")
        for key in ("all", "any"):
            if key in raw:
                self._only(raw, path, {key})
                parts = raw[key]
                if not isinstance(parts, list) or not parts:
                    raise _Refused(path + (key,), f"'{key}' takes a non-empty list of conditions")
                parsed = tuple(self._parse(p, path + (key, i), item) for i, p in enumerate(parts))
                return c.AllOf(parsed) if key == "all" else c.AnyOf(parsed)
        if "not" in raw:
            self._only(raw, path, {"not"})
            return c.Not(self._parse(raw["not"], path + ("not",), item))
        return self._leaf(raw, path, item)

    def _only(self, raw: dict[str, Any], path: PathKey, keys: set[str]) -> None:
        extra = sorted(set(raw) - keys)
        if extra:
            raise _Refused(path + (extra[0],), f"unexpected key '{extra[0]}' beside "
                           f"'{next(iter(keys))}'; combine conditions with all/any")

    def _leaf(self, raw: dict[str, Any], path: PathKey, item: dict[str, Any] | None) -> c.Condition:
        allowed = {"field", "fact", "op", "value", "where"}
        for key in raw:
            if key not in allowed:
                raise _Refused(path + (key,), f"unknown key '{key}' in a condition"
                               f"{did_you_mean(key, [*allowed, 'all', 'any', 'not'])}")
        op = raw.get("op")
        if not isinstance(op, str):
            raise _Refused(path, "a condition needs 'op' (or all/any/not)")
        if op not in c.OPERATORS:
            raise _Refused(path + ("op",), f"unknown operator '{op}'{did_you_mean(op, c.OPERATORS)}")
        position = self.pack.document.source_map.locate(path)[1]
        line = position.line
        subject, schema = self._subject(raw, path, item)
        if op in c.QUANTIFIERS:
            return self._quantified(raw, path, subject, schema, op, position, item)
        if "where" in raw:
            raise _Refused(path + ("where",), f"'where' goes with every/some/none, not with '{op}'")
        return self._typed_leaf(raw, path, subject, schema, op, line, item)

    def _subject(self, raw: dict[str, Any], path: PathKey,
                 item: dict[str, Any] | None) -> tuple[c.Subject, dict[str, Any]]:
        if "fact" in raw:
            if "field" in raw or item is not None:
                where = "inside 'where'" if item is not None else "together with 'field'"
                raise _Refused(path + ("fact",), f"'fact' cannot be used {where}")
            name = raw["fact"]
            fact = self.owner.facts.get(name) if isinstance(name, str) else None
            if fact is None:
                raise _Refused(path + ("fact",), f"unknown fact '{name}'{did_you_mean(str(name), self.owner.facts)}")
            schema: dict[str, Any] = {"type": fact.type}
            if fact.values:
                schema["enum"] = list(fact.values)
            return c.Subject("fact", (name,)), schema
        if item is not None:
            name = raw.get("field")
            if name is None:
                return c.Subject("item", ()), item
            return c.Subject("item", tuple(str(name).split("."))), self._field_schema(
                str(name), path + ("field",), item, "the list item")
        if "field" not in raw:
            raise _Refused(path, "a condition needs 'field' or 'fact'")
        name = str(raw["field"])
        return c.Subject("field", tuple(name.split("."))), self._field_schema(name, path + ("field",), None, "")

    def _field_schema(self, name: str, path: PathKey, root: dict[str, Any] | None, what: str) -> dict[str, Any]:
        parts = name.split(".")
        node: dict[str, Any] = root if root is not None else _root_schema()
        walked: list[str] = []
        for part in parts:
            if node.get("type") == "array":
                raise _Refused(path, f"'{'.'.join(walked)}' is a list: use every/some/none to look inside it")
            props = node.get("properties", {})
            if part not in props:
                scope = what or ("the descriptor" if not walked else f"'{'.'.join(walked)}'")
                raise _Refused(path, f"unknown field '{name}': {scope} has no '{part}'"
                               f"{did_you_mean(part, props)}")
            node = props[part]
            walked.append(part)
        return node

    def _quantified(self, raw: dict[str, Any], path: PathKey, subject: c.Subject, schema: dict[str, Any],
                    op: str, position: Position, item: dict[str, Any] | None) -> c.Condition:
        if item is not None:
            raise _Refused(path + ("op",), "quantifiers cannot be nested inside 'where' in rule language v1")
        if subject.kind != "field" or schema.get("type") != "array":
            raise _Refused(path + ("op",), f"'{op}' needs a list field; {subject} is not a list")
        if "where" not in raw or "value" in raw:
            raise _Refused(path, f"'{op}' takes 'where: <condition on each item>' and no 'value'")
        where = self._parse(raw["where"], path + ("where",), schema.get("items", {}))
        return c.Quantified(subject.path, op, where, position.line, position.column)

    def _typed_leaf(self, raw: dict[str, Any], path: PathKey, subject: c.Subject, schema: dict[str, Any],
                    op: str, line: int, item: dict[str, Any] | None) -> c.Leaf:
        kind = schema.get("type")
        if op in c.VALUELESS:
            if "value" in raw:
                raise _Refused(path + ("value",), f"'{op}' takes no value")
            if subject.kind == "item" and not subject.path:
                raise _Refused(path, f"'{op}' needs a field of the item")
            return c.Leaf(subject, op, line=line, container=kind in ("array", "object"))
        if "value" not in raw:
            raise _Refused(path, f"'{op}' needs a value")
        value, other, param = self._value(raw["value"], path + ("value",), item)
        vpath = path + ("value",)
        if op == "matches":
            return self._matches(subject, schema, value, vpath, op, line, item, param)
        if op in c.LENGTH:
            if kind != "array":
                raise _Refused(path + ("op",), f"'{op}' needs a list field; {subject} is {_kind_name(schema)}")
            if other is not None or not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                raise _Refused(vpath, f"'{op}' compares the list length with a whole number >= 0")
            return c.Leaf(subject, op, value, param=param, line=line)
        if op == "contains":
            if kind != "array" or other is not None or item is not None:
                raise _Refused(path + ("op",), "'contains' needs a list field (outside 'where') and a literal value")
            self._check_type(value, schema.get("items", {}), vpath, op)
            return c.Leaf(subject, op, value, param=param, line=line)
        if kind in ("array", "object"):
            raise _Refused(path + ("op",), f"'{op}' cannot compare {_kind_name(schema)}; "
                           "use present/absent, min_items/max_items or every/some/none")
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise _Refused(vpath, f"'{op}' takes a non-empty list of values")
            for index, entry in enumerate(value):
                self._check_type(entry, schema, vpath + (index,), op)
            return c.Leaf(subject, op, tuple(value), param=param, line=line)
        if other is not None:
            other_schema = self._field_schema(".".join(other), vpath + ("field",), None, "")
            if _kind_name(other_schema).split()[-1] != _kind_name(schema).split()[-1]:
                raise _Refused(vpath, f"cannot compare {subject} ({_kind_name(schema)}) with "
                               f"{'.'.join(other)} ({_kind_name(other_schema)})")
            self._check_orderable(schema, op, path)
            return c.Leaf(subject, op, None, other=other, line=line)
        self._check_type(value, schema, vpath, op)
        self._check_orderable(schema, op, path)
        return c.Leaf(subject, op, value, param=param, line=line)

    def _matches(self, subject: c.Subject, schema: dict[str, Any], value: Any, vpath: PathKey, op: str,
                 line: int, item: dict[str, Any] | None, param: str | None) -> c.Leaf:
        if item is not None or subject.kind == "fact":
            raise _Refused(vpath, "'matches' is only supported on descriptor fields outside 'where'")
        if schema.get("type") != "string" or "enum" in schema or not isinstance(value, str):
            raise _Refused(vpath, "'matches' needs a free-text field and a pattern")
        try:
            compile_pattern(value)
        except ValueError as exc:
            raise _Refused(vpath, f"pattern {value!r}: {exc}") from None
        return c.Leaf(subject, op, value, param=param, line=line)

    def _value(self, raw: Any, path: PathKey, item: dict[str, Any] | None) -> tuple[Any, tuple[str, ...] | None, str | None]:
        if isinstance(raw, dict):
            if set(raw) == {"param"}:
                name = raw["param"]
                parameter = self.owner.parameters.get(name) if isinstance(name, str) else None
                if parameter is None:
                    raise _Refused(path + ("param",), f"unknown parameter '{name}'"
                                   f"{did_you_mean(str(name), self.owner.parameters)}")
                return parameter.value, None, name
            if set(raw) == {"field"}:
                if item is not None:
                    raise _Refused(path, "comparing with another field is not supported inside 'where'")
                return None, tuple(str(raw["field"]).split(".")), None
            raise _Refused(path, "a value is a literal, a list of literals, {param: NAME} or {field: PATH}")
        if isinstance(raw, list) and any(isinstance(v, (dict, list)) for v in raw):
            raise _Refused(path, "a list of values may hold only literals")
        return raw, None, None

    def _check_type(self, value: Any, schema: dict[str, Any], path: PathKey, op: str) -> None:
        kind = schema.get("type")
        ok = {
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        }.get(str(kind), False)
        if not ok:
            raise _Refused(path, f"{value!r} does not fit a field of type {_kind_name(schema)}")
        if isinstance(value, float) and math.isnan(value):
            raise _Refused(path, "NaN is not a value")
        if "enum" in schema and value not in schema["enum"]:
            raise _Refused(path, f"{value!r} is not one of the field's values: "
                           f"{', '.join(map(str, schema['enum']))}{did_you_mean(str(value), map(str, schema['enum']))}")
        if schema.get("format") == "date":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise _Refused(path, f"{value!r} is not a date in the form YYYY-MM-DD") from None

    def _check_orderable(self, schema: dict[str, Any], op: str, path: PathKey) -> None:
        if op in ("lt", "lte", "gt", "gte"):
            orderable = schema.get("type") in ("integer", "number") or schema.get("format") == "date"
            if not orderable:
                raise _Refused(path + ("op",), f"'{op}' needs a number or date field, not {_kind_name(schema)}")


class _Refused(Exception):
    def __init__(self, path: PathKey, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


@cache
def _root_schema() -> dict[str, Any]:
    """The proposal schema plus the computed fields (read-only; shared)."""
    schema = dict(proposal_schema())
    schema["properties"] = {**schema["properties"],
                            "computed": {"type": "object", "properties": COMPUTED_SCHEMA}}
    return schema


def _kind_name(schema: dict[str, Any]) -> str:
    if schema.get("format") == "date":
        return "date"
    if "enum" in schema:
        return "enum"
    return {"string": "text", "integer": "whole number", "number": "number", "boolean": "boolean",
            "array": "a list", "object": "a section"}.get(str(schema.get("type")), "unknown")


def for_evaluation(book: Rulebook) -> Rulebook:
    """``book`` without its packs' source text and positions, which only assembling and the
    rule tooling read: what a cached rulebook keeps (two thirds smaller, cache.py)."""
    packs = tuple(replace(p, raw={}, document=Document(p.document.path, {}, SourceMap(), p.document.sha256))
                  for p in book.packs)
    return replace(book, packs=packs)


def iter_rules(rulebook: Rulebook) -> Iterator[DeriveRule | RequireRule]:
    yield from rulebook.derive
    yield from rulebook.require


# Helpers for `sandbox rules lint`: keep going where loading and assembling stop.


def read_packs(dirs: Iterable[Path]) -> tuple[list[RulePack], list[Problem]]:
    """Like ``load_packs``, but return the packs that read cleanly together with every problem.

    A pack whose id repeats an earlier pack's is reported and left out.
    """
    packs: dict[str, RulePack] = {}
    problems: list[Problem] = []
    for path in discover(dirs):
        try:
            pack = _read_pack(path)
        except EvaluatorError as exc:
            problems.extend(exc.problems)
            continue
        if pack.id in packs:
            problems.append(located(pack.document, ("pack", "id"),
                                f"duplicate pack id '{pack.id}' (also in {packs[pack.id].path})"))
        else:
            packs[pack.id] = pack
    return list(packs.values()), problems


def condition_problems(packs: list[RulePack], framework: str, domain: str) -> list[Problem]:
    """Problems in every test of every condition, each test parsed on its own.

    ``assemble`` reports the first problem inside a condition; this also finds the ones after
    it (a quantifier's ``where`` is still checked as a whole).
    """
    chosen = tuple(p for p in packs if p.framework == framework and p.applies_to(domain))
    owner = _Assembler(framework, domain, chosen, [p for p in packs if p.framework == framework])
    for pack in chosen:
        parser = _ConditionParser(owner, pack)
        for kind, roles in (("derive", ("when",)), ("require", ("applies_when", "check"))):
            for index, raw in enumerate(pack.raw.get(kind, [])):
                for role in roles:
                    for path, leaf in _tests_in(raw.get(role), (kind, index, role)):
                        parser.parse(leaf, path)
    return owner.problems


def _tests_in(raw: Any, path: PathKey) -> Iterator[tuple[PathKey, Any]]:
    """The leaf tests (and quantifiers) of a raw condition, skipping malformed all/any/not."""
    if not isinstance(raw, dict) or not raw:
        return
    for key in ("all", "any"):
        if key in raw:
            if isinstance(raw[key], list):
                for index, part in enumerate(raw[key]):
                    yield from _tests_in(part, path + (key, index))
            return
    if "not" in raw:
        yield from _tests_in(raw["not"], path + ("not",))
        return
    yield path, raw

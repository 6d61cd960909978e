"""Seeded generators for the benchmark and the scale tests (the same seed gives the same output).

* ``proposal(seed)``: a schema-valid proposal. Most start from one of the shipped examples
  (good and flawed ones, every domain) and get a few random, schema-valid mutations (a field
  dropped, a value changed, a list item added or removed); the rest are drawn from the schema
  alone. Framework and domain cover every pair the schema allows (the shipped packs cover all);
  all four decisions come out, about half of them ``reject``.
* ``proposal_with_fields(n)``: a proposal with exactly ``n`` leaf values (scalars, list items
  of text included). The schema is closed, so beyond the ~140 scalar fields open to one domain
  the values go into lists: items of ``applicant.partners``, ``safety.hazards``, ``oversight.kpis`` and the
  other lists of objects, then lists of text (``scope.territory.zones``, ...).
* ``rule_pack(directory, n)``: ``n`` rules (derive and require) over real descriptor fields,
  in one or more pack files of framework ``ru-elr`` that apply to every domain. They use every
  operator, ``applies_when``, parameters, field-to-field comparisons, quantifiers with
  composite ``where``, and facts derived in up to four strata (several setters per fact).
  The packs load and pass ``sandbox rules lint``.

Everything here reads only the proposal schema and the shipped examples; nothing depends on
how the rules are compiled.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from evaluator.loader import load_file
from evaluator.validate import proposal_schema

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

NUMBERS = [0, 1, 2, 3, 4, 5, 6, 12, 24, 29, 30, 31, 35, 36, 37, 48, 59, 60, 61, 100, 1000,
           9_999_999, 10_000_000, 10_000_001, 0.5, 0.85, 0.9, 0.95, 1e-05]
TEXTS = ["yes", "Moscow", "Tatarstan", "remote operator", "a@b.ru", "x", "Иннополис", "<b>x</b>",
         "Republic of Tatarstan", "Speed cap near crossings", "ISO 26262"]
DATES = ["2025-12-31", "2026-01-01", "2026-06-01", "2027-05-31", "2028-02-29", "2029-05-31",
         "2031-12-31"]
IDS = ["H1", "B1", "D-2", "x.1", "B-PDD", "H-PED"]
#: ``matches`` patterns in the rule language's subset (docs/rule-format.md, Regular expressions).
PATTERNS = [r"[A-Z]{2}", r".*[Mm]oscow.*", r"[A-Za-z0-9 ]+", r"(yes|no)", r".*\d.*", r"[^0-9]+",
            r".+@.+\.ru", r"TL-\d{4}-\d+", r".*aba.*", r"[A-Z]{3}", r".+\s.+", r"H[0-9]?"]
TECHNOLOGY_BLOCK = {"autonomous_vehicles": "autonomous_vehicle", "medical_ai": "medical_ai",
                    "unmanned_aircraft": "unmanned_aircraft", "telemedicine": "telemedicine",
                    "financial_services": "financial_service"}
FRAMEWORK = "ru-elr"  # of generated rule packs


def frameworks() -> list[str]:
    return list(_meta_schema()["framework"]["enum"])


def domains() -> list[str]:
    return list(_meta_schema()["domain"]["enum"])


def _meta_schema() -> dict[str, Any]:
    meta: dict[str, Any] = proposal_schema()["properties"]["metadata"]["properties"]
    return meta


# --------------------------------------------------------------------------------------------
# Values drawn from the schema
# --------------------------------------------------------------------------------------------


def random_value(rng: random.Random, schema: dict[str, Any], fill: float = 0.75) -> Any:
    """A random value valid for ``schema``; optional keys of objects are kept with ``fill``."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", []))
        return {name: random_value(rng, sub, fill) for name, sub in schema.get("properties", {}).items()
                if name in required or rng.random() < fill}
    if kind == "array":
        items = [random_value(rng, schema.get("items", {}), fill) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
        return _unique(items) if schema.get("uniqueItems") else items
    if kind == "boolean":
        return rng.random() < 0.6
    if kind == "integer":
        low, high = schema.get("minimum", 0), schema.get("maximum", 10**8)
        return rng.choice([n for n in NUMBERS if isinstance(n, int) and low <= n <= high])
    if kind == "number":
        low = schema.get("minimum", float("-inf"))
        return rng.choice([n for n in NUMBERS if n >= low])
    if kind == "string":
        return _text(rng, schema)
    raise AssertionError(f"unexpected schema {schema}")


def _text(rng: random.Random, schema: dict[str, Any]) -> str:
    if schema.get("format") == "date":
        return rng.choice(DATES)
    pattern = schema.get("pattern", "")
    if pattern == r"^[A-Z]{2}$":
        return rng.choice(["RU", "DE"])
    if pattern == r"^[A-Z]{3}$":
        return rng.choice(["RUB", "EUR"])
    if "@" in pattern:
        return rng.choice(["a@b.ru", "team@example.com"])
    if pattern:
        return rng.choice(IDS)
    return rng.choice(TEXTS)


def _unique(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def leaf_count(data: Any) -> int:
    """Leaf values in ``data``: every scalar, including each item of a list of scalars."""
    if isinstance(data, dict):
        return sum(leaf_count(v) for v in data.values())
    if isinstance(data, list):
        return sum(leaf_count(v) for v in data)
    return 1


# --------------------------------------------------------------------------------------------
# Proposals
# --------------------------------------------------------------------------------------------


@cache
def _examples() -> tuple[tuple[str, dict[str, Any]], ...]:
    """The shipped examples as the product reads them (dates stay text), sorted by name."""
    return tuple((p.name, load_file(p).data) for p in sorted(EXAMPLES.glob("*.yaml")))


def proposal(seed: int, framework: str | None = None, domain: str | None = None) -> dict[str, Any]:
    """A schema-valid proposal; about 3 in 4 are mutated examples (mostly judged under the example's
    own framework), the rest drawn from the schema."""
    rng = random.Random(seed)
    domain = domain or rng.choice(domains())
    examples = [data for _, data in _examples() if data["metadata"]["domain"] == domain]
    data: dict[str, Any]
    if examples and rng.random() < 0.75:
        example = rng.choice(examples)
        data = _copy(example)
        for _ in range(rng.choice([0, 0, 1, 2, 3, 5, 8])):
            _mutate(rng, data)
        if framework is None:  # mostly the example's own framework, sometimes the other one
            framework = example["metadata"]["framework"] if rng.random() < 0.7 else rng.choice(frameworks())
        if framework == "eu-ai-act" and "ai_act" not in data:
            data["ai_act"] = random_value(rng, proposal_schema()["properties"]["ai_act"])
    else:
        framework = framework or rng.choice(frameworks())
        data = _drawn(rng, domain)
    data["descriptor_version"] = 1
    data["metadata"] = {"id": f"gen-{seed:06d}", "title": f"Generated proposal {seed}", "version": "1",
                        "framework": framework, "domain": domain}
    data.setdefault("applicant", {})["name"] = f"Generated applicant {seed % 97}"
    return data


def proposals(count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """``count`` proposals with seeds ``seed``, ``seed + 1``, ..."""
    for index in range(count):
        yield proposal(seed + index)


def _drawn(rng: random.Random, domain: str) -> dict[str, Any]:
    schema = proposal_schema()
    technology = schema["properties"]["technology"]["properties"]
    data: dict[str, Any] = random_value(rng, schema)
    tech = {k: v for k, v in data.get("technology", {}).items() if k not in TECHNOLOGY_BLOCK.values()}
    if domain in TECHNOLOGY_BLOCK:  # the generic domain has no technology block of its own
        tech[TECHNOLOGY_BLOCK[domain]] = random_value(rng, technology[TECHNOLOGY_BLOCK[domain]], fill=0.85)
    data["technology"] = tech
    return data


Node = tuple[tuple[str | int, ...], Any, dict[str, Any]]


def _nodes(data: Any, schema: dict[str, Any], path: tuple[str | int, ...] = (),
           out: list[Node] | None = None) -> list[Node]:
    """Every value below the top level with its path and schema (metadata excluded), pre-order."""
    out = [] if out is None else out
    if isinstance(data, dict):
        props = schema.get("properties", {})
        for key, value in data.items():
            if not path and key in ("metadata", "descriptor_version"):
                continue
            out.append(((*path, key), value, props[key]))
            _nodes(value, props[key], (*path, key), out)
    elif isinstance(data, list):
        items = schema.get("items", {})
        for index, value in enumerate(data):
            out.append(((*path, index), value, items))
            _nodes(value, items, (*path, index), out)
    return out


def _copy(data: Any) -> Any:
    """A deep copy of plain data (dicts, lists, scalars), faster than ``copy.deepcopy``."""
    if isinstance(data, dict):
        return {key: _copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_copy(value) for value in data]
    return data


def _parent_schema(path: tuple[str | int, ...]) -> dict[str, Any]:
    node: dict[str, Any] = proposal_schema()
    for part in path:
        node = node["items"] if isinstance(part, int) else node["properties"][part]
    return node


def _mutate(rng: random.Random, data: dict[str, Any]) -> None:
    """One schema-valid change: drop an optional value, replace a value, add or drop an item."""
    nodes = _nodes(data, proposal_schema())
    path, value, schema = rng.choice(nodes)
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    parent_schema = _parent_schema(path[:-1])
    action = rng.random()
    if isinstance(value, list) and action < 0.5:
        if value and rng.random() < 0.5:
            value.pop(rng.randrange(len(value)))
        else:
            value.append(random_value(rng, schema.get("items", {})))
            if schema.get("uniqueItems"):
                value[:] = _unique(value)
    elif action < 0.35 and isinstance(key, str) and key not in parent_schema.get("required", []):
        del parent[key]
    elif isinstance(key, int) and parent_schema.get("uniqueItems"):
        parent[key] = random_value(rng, schema)
        parent[:] = _unique(parent)
    else:
        parent[key] = random_value(rng, schema)


def proposal_with_fields(n: int, seed: int = 0, framework: str = "ru-elr",
                         domain: str = "autonomous_vehicles") -> dict[str, Any]:
    """A schema-valid proposal with exactly ``n`` leaf values (``n`` >= 7, the required ones)."""
    rng = random.Random(seed)
    data: dict[str, Any] = {"descriptor_version": 1,
                            "metadata": {"id": f"fields-{n}", "title": f"{n} fields", "version": "1",
                                         "framework": framework, "domain": domain},
                            "applicant": {"name": "Generated applicant"}}
    if n < leaf_count(data):
        raise ValueError(f"a proposal has at least {leaf_count(data)} fields")
    remaining = n - leaf_count(data)
    # 1. Scalar fields, section by section (the domain's own technology block only).
    for path, schema in _scalar_fields(domain):
        if remaining == 0:
            return data
        _put(data, path, random_value(rng, schema))
        remaining -= 1
    # 2. Items of lists of objects, while they fit; 3. items of lists of text, one leaf each.
    object_lists = [(p, s) for p, s in _list_fields(domain) if s["items"].get("type") == "object"]
    text_lists = [(p, s) for p, s in _list_fields(domain)
                  if s["items"].get("type") == "string" and "enum" not in s["items"] and not s.get("uniqueItems")]
    turn = 0
    while remaining > 0:
        path, schema = object_lists[turn % len(object_lists)]
        item = random_value(rng, schema["items"], fill=0.9)
        size = leaf_count(item)
        if 0 < size <= remaining:
            _append(data, path, item)
            remaining -= size
        else:
            text_path, _ = text_lists[turn % len(text_lists)]
            _append(data, text_path, f"Item {turn} of {n}")
            remaining -= 1
        turn += 1
    return data


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _append(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node.setdefault(path[-1], []).append(value)


def _scalar_fields(domain: str) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    return [(f.path, f.schema) for f in catalog() if f.kind not in ("list", "section")
            and f.path[0] not in ("metadata", "descriptor_version", "computed")
            and f.path != ("applicant", "name") and _in_domain(f.path, domain)]


def _list_fields(domain: str) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    return [(f.path, f.schema) for f in catalog() if f.kind == "list" and _in_domain(f.path, domain)]


def _in_domain(path: tuple[str, ...], domain: str) -> bool:
    return not (path[0] == "technology" and len(path) > 1 and path[1] in TECHNOLOGY_BLOCK.values()
                and path[1] != TECHNOLOGY_BLOCK.get(domain))


def write_proposals(directory: Path, count: int, seed: int = 0) -> list[Path]:
    """Write ``count`` generated proposals as ``gen-NNNNNN.yaml`` files; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = directory / f"gen-{seed + index:06d}.yaml"
        path.write_text(to_yaml(proposal(seed + index)), encoding="utf-8")
        paths.append(path)
    return paths


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Never writes anchors and aliases (the loader allows only 1,000 alias expansions)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(data: Any) -> str:
    """YAML text that the product's loader reads back as ``data`` (dates and numbers included)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=200)


# --------------------------------------------------------------------------------------------
# The descriptor's fields, as rules see them
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A descriptor field a rule may name: kind is boolean, integer, number, date, enum, text,
    list or section; ``schema`` is its JSON Schema."""

    path: tuple[str, ...]
    kind: str
    schema: dict[str, Any]

    @property
    def name(self) -> str:
        return ".".join(self.path)


def kind_of(schema: dict[str, Any]) -> str:
    if schema.get("format") == "date":
        return "date"
    if "enum" in schema:
        return "enum"
    return {"string": "text", "array": "list", "object": "section"}.get(str(schema.get("type")),
                                                                      str(schema.get("type")))


@cache
def catalog() -> tuple[Field, ...]:
    """Every field outside lists (sections and lists included), plus ``computed.term_months``."""
    out: list[Field] = []

    def walk(schema: dict[str, Any], path: tuple[str, ...]) -> None:
        for name, sub in schema.get("properties", {}).items():
            out.append(Field((*path, name), kind_of(sub), sub))
            if sub.get("type") == "object":
                walk(sub, (*path, name))

    walk(proposal_schema(), ())
    out.append(Field(("computed", "term_months"), "integer", {"type": "integer"}))
    return tuple(out)


def item_fields(schema: dict[str, Any]) -> list[Field]:
    """Fields of a list item (relative paths), for ``where`` conditions."""
    out: list[Field] = []

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        for name, sub in node.get("properties", {}).items():
            out.append(Field((*path, name), kind_of(sub), sub))
            if sub.get("type") == "object":
                walk(sub, (*path, name))

    walk(schema, ())
    return out


# --------------------------------------------------------------------------------------------
# Rule packs
# --------------------------------------------------------------------------------------------

BASIS = [{"instrument": "Generated benchmark pack", "article": "n/a", "url": "https://example.org/bench"}]
PILLARS = ["eligibility", "safety", "oversight", "freedom"]
SEVERITIES = ["blocker", "major", "minor", "info"]
MAX_STRATUM = 3


@dataclass
class _Fact:
    name: str
    type: str
    parent: int | None
    level: int
    file: int

    def declaration(self) -> dict[str, Any]:
        if self.type == "boolean":
            return {"type": "boolean", "default": False, "description": f"Generated flag {self.name}."}
        if self.type == "string":
            return {"type": "string", "values": ["low", "medium", "high"], "default": "low",
                    "description": f"Generated tier {self.name}."}
        return {"type": "integer", "default": 0, "description": f"Generated score {self.name}."}

    def setter_value(self, index: int, count: int, interleaved: bool) -> Any:
        """The value the ``index``-th of ``count`` setters sets: in blocks (A, A, B, B), or
        alternating (A, B, A, B) when ``interleaved``."""
        if self.type == "boolean":
            return True
        values: list[Any] = ["high", "medium"] if self.type == "string" else [1, 2, 3]
        return values[index % len(values) if interleaved else index * len(values) // count]


class _RuleWriter:
    """Draws conditions over real fields; collects the parameters the rules use."""

    def __init__(self, rng: random.Random, facts: list[_Fact]) -> None:
        self.rng, self.facts = rng, facts
        fields = [f for f in catalog() if f.path[0] not in ("metadata", "descriptor_version")]
        self.scalars = [f for f in fields if f.kind not in ("list", "section")]
        self.lists = [f for f in fields if f.kind == "list"]
        self.sections = [f for f in fields if f.kind == "section"]
        self.numbers = [f for f in self.scalars if f.kind in ("integer", "number")]
        self.dates = [f for f in self.scalars if f.kind == "date"]
        self.params: dict[str, int] = {}

    # -- conditions ------------------------------------------------------------------------

    def condition(self, facts: list[_Fact] | None = None) -> dict[str, Any]:
        """A leaf, a quantifier, or all/any/not over two or three of them (few branches)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.55:
            return self.leaf(facts)
        if roll < 0.65:
            return {"not": self.leaf(facts)}
        parts = [self.leaf(facts, small=True) for _ in range(rng.choice([2, 2, 3]))]
        return {rng.choice(["all", "any"]): parts}

    def leaf(self, facts: list[_Fact] | None = None, small: bool = False) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if facts and roll < 0.15:
            return self.fact_test(rng.choice(facts))
        if roll < 0.27:
            return self.list_test(small)
        if roll < 0.31:
            return {"field": rng.choice(self.sections).name, "op": rng.choice(["present", "absent"])}
        if roll < 0.36:
            return self.field_comparison()
        return self.scalar_test(rng.choice(self.scalars), small)

    def fact_test(self, fact: _Fact) -> dict[str, Any]:
        rng = self.rng
        if fact.type == "boolean":
            return {"fact": fact.name, "op": rng.choice(["eq", "ne"]), "value": rng.random() < 0.7}
        if fact.type == "string":
            op = rng.choice(["eq", "ne", "in", "not_in", "present"])
            if op == "present":
                return {"fact": fact.name, "op": op}
            values = rng.sample(["low", "medium", "high"], 2)
            return {"fact": fact.name, "op": op, "value": values if op.endswith("in") else values[0]}
        return {"fact": fact.name, "op": rng.choice(["gte", "lt", "eq"]), "value": rng.choice([1, 2, 3])}

    def scalar_test(self, field: Field, small: bool) -> dict[str, Any]:
        rng, name, schema = self.rng, field.name, field.schema
        if rng.random() < 0.08:
            return {"field": name, "op": rng.choice(["present", "absent"])}
        if field.kind == "boolean":
            return {"field": name, "op": rng.choice(["eq", "eq", "ne"]), "value": rng.random() < 0.7}
        if field.kind == "enum":
            op = rng.choice(["eq", "ne", "in", "not_in"])
            values = rng.sample(schema["enum"], min(len(schema["enum"]), 1 if small else rng.choice([2, 3])))
            return {"field": name, "op": op, "value": values if op.endswith("in") else values[0]}
        if field.kind in ("integer", "number"):
            op = rng.choice(["lt", "lte", "gt", "gte", "eq", "ne"])
            if rng.random() < 0.3:
                return {"field": name, "op": op, "value": {"param": self.parameter()}}
            pool = [n for n in NUMBERS if field.kind == "number" or isinstance(n, int)]
            return {"field": name, "op": op, "value": rng.choice(pool)}
        if field.kind == "date":
            return {"field": name, "op": rng.choice(["lt", "lte", "gt", "gte", "eq"]), "value": rng.choice(DATES)}
        op = rng.choice(["matches", "matches", "eq", "ne"])
        return {"field": name, "op": op, "value": rng.choice(PATTERNS) if op == "matches" else _text(rng, schema)}

    def field_comparison(self) -> dict[str, Any]:
        rng = self.rng
        pool = self.dates if rng.random() < 0.4 else self.numbers
        left, right = rng.sample(pool, 2)
        return {"field": left.name, "op": rng.choice(["lt", "lte", "gt", "gte", "eq", "ne"]),
                "value": {"field": right.name}}

    def parameter(self) -> str:
        name = f"gen_limit_{self.rng.randrange(8)}"
        self.params.setdefault(name, self.rng.choice([1, 3, 12, 36, 100, 10_000_000]))
        return name

    def list_test(self, small: bool) -> dict[str, Any]:
        rng = self.rng
        field = rng.choice(self.lists)
        items = field.schema["items"]
        roll = rng.random()
        if roll < 0.3:
            return {"field": field.name, "op": rng.choice(["min_items", "max_items"]), "value": rng.choice([0, 1, 2, 3])}
        if roll < 0.45 and items.get("type") == "string":
            value = rng.choice(items["enum"]) if "enum" in items else _text(rng, items)
            return {"field": field.name, "op": "contains", "value": value}
        return {"field": field.name, "op": rng.choice(["every", "some", "none"]), "where": self.where(items, small)}

    def where(self, items: dict[str, Any], small: bool) -> dict[str, Any]:
        rng = self.rng
        if items.get("type") == "string":  # the item itself
            if "enum" in items:
                op = rng.choice(["eq", "ne", "in", "not_in"])
                values = rng.sample(items["enum"], min(2, len(items["enum"])))
                return {"op": op, "value": values if op.endswith("in") else values[0]}
            return {"op": rng.choice(["eq", "ne"]), "value": _text(rng, items)}
        fields = [f for f in item_fields(items) if f.kind != "section"]
        tests = [self.item_test(rng.choice(fields)) for _ in range(1 if small else rng.choice([1, 1, 2]))]
        if len(tests) == 1:
            return {"not": tests[0]} if rng.random() < 0.15 else tests[0]
        return {rng.choice(["all", "any"]): tests}

    def item_test(self, field: Field) -> dict[str, Any]:
        rng, name, schema = self.rng, field.name, field.schema
        if field.kind == "list":
            return {"field": name, "op": rng.choice(["min_items", "max_items"]), "value": rng.choice([0, 1, 2])}
        if rng.random() < 0.1:
            return {"field": name, "op": rng.choice(["present", "absent"])}
        if field.kind == "boolean":
            return {"field": name, "op": rng.choice(["eq", "ne"]), "value": rng.random() < 0.7}
        if field.kind == "enum":
            op = rng.choice(["eq", "ne", "in"])
            values = rng.sample(schema["enum"], min(2, len(schema["enum"])))
            return {"field": name, "op": op, "value": values if op == "in" else values[0]}
        if field.kind in ("integer", "number"):
            pool = [n for n in NUMBERS if field.kind == "number" or isinstance(n, int)]
            return {"field": name, "op": rng.choice(["lt", "gte", "eq"]), "value": rng.choice(pool)}
        if field.kind == "date":
            return {"field": name, "op": rng.choice(["lt", "gte"]), "value": rng.choice(DATES)}
        return {"field": name, "op": rng.choice(["eq", "ne"]), "value": _text(rng, schema)}

    # -- rules -----------------------------------------------------------------------------

    def derive(self, index: int, fact: _Fact, value: Any) -> dict[str, Any]:
        when = self.condition()
        if fact.parent is not None:
            when = {"all": [self.fact_test(self.facts[fact.parent]), when]}
        return {"id": f"GEN-DRV-{index:05d}", "title": f"Generated derivation {index} of {fact.name}",
                "when": when, "set": {fact.name: value}}

    def require(self, index: int) -> dict[str, Any]:
        rng = self.rng
        rule: dict[str, Any] = {"id": f"GEN-REQ-{index:05d}", "title": f"Generated requirement {index}",
                                "pillar": rng.choice(PILLARS), "severity": rng.choice(SEVERITIES)}
        if rng.random() < 0.3:
            rule["applies_when"] = self.leaf(self.facts) if rng.random() < 0.6 else self.fact_test(
                rng.choice(self.facts))
        rule["check"] = asking_for_evidence(self.condition(self.facts))
        rule["basis"] = BASIS
        rule["message"] = f"Generated requirement {index} is not met."
        rule["remediation"] = f"Change the proposal so that requirement {index} holds."
        if rule["severity"] == "minor":
            rule["condition"] = f"Meet generated requirement {index} during the test."
        return rule


def asking_for_evidence(condition: Any, positive: bool = True) -> Any:
    """``condition`` with each test that a missing value would make fail turned into ``provided``
    (a check asks for evidence; ``sandbox rules lint`` refuses the other form)."""
    if not isinstance(condition, dict):
        return condition
    if "not" in condition:
        return {"not": asking_for_evidence(condition["not"], not positive)}
    if "all" in condition or "any" in condition:
        key = "all" if "all" in condition else "any"
        return {key: [asking_for_evidence(part, positive) for part in condition[key]]}
    if "where" in condition:
        where = asking_for_evidence(condition["where"], positive == (condition["op"] != "none"))
        return {**condition, "where": where}
    if condition.get("op") == ("present" if positive else "absent"):
        provided = {**condition, "op": "provided"}
        return provided if positive else {"not": provided}  # absent, negated: "not provided"
    return condition


def rule_pack(directory: Path, rules: int, seed: int = 0, per_file: int = 1000,
              interleaved: bool = False) -> list[Path]:
    """Write a generated rulebook of exactly ``rules`` rules into ``directory`` (``gen-NN.yaml``
    files of at most ``per_file`` rules each, framework ``ru-elr``, every domain).

    Each fact has several derive rules (all in one file and one stratum, as the lint asks).
    Those of a string or integer fact set different values, in blocks (A, A, B, B) unless
    ``interleaved`` (A, B, A, B): then an unknown A, a true B and a true A can follow each
    other, and the fact must stay unknown (docs/rule-format.md, "Which rule sets a fact").
    """
    if rules < 2:
        raise ValueError("a generated rulebook has at least one derive and one require rule")
    rng = random.Random(seed)
    files = max(1, -(-rules // per_file))
    facts: list[_Fact] = []
    for index in range(max(1, rules // 40)):
        candidates = [i for i, f in enumerate(facts) if f.level < MAX_STRATUM]
        parent = rng.choice(candidates) if candidates and rng.random() < 0.5 else None
        level = 0 if parent is None else facts[parent].level + 1
        facts.append(_Fact(f"gen_fact_{index}", ["boolean", "string", "integer"][index % 3], parent, level,
                           index % files))
    writer = _RuleWriter(rng, facts)
    derive_count = max(len(facts), rules // 8)
    derive: list[list[dict[str, Any]]] = [[] for _ in range(files)]
    for index in range(derive_count):
        fact = facts[index % len(facts)]
        setters = len(range(index % len(facts), derive_count, len(facts)))
        value = fact.setter_value(index // len(facts), setters, interleaved)
        derive[fact.file].append(writer.derive(index, fact, value))
    require: list[list[dict[str, Any]]] = [[] for _ in range(files)]
    for index in range(rules - derive_count):
        require[index * files // (rules - derive_count)].append(writer.require(index))
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(files):
        pack: dict[str, Any] = {"pack": {"id": f"gen-{number:02d}", "title": f"Generated pack {number}",
                                         "version": "1.0.0", "framework": FRAMEWORK, "effective": "2026-01-01"}}
        if number == 0:
            if writer.params:
                pack["parameters"] = {name: {"value": value, "description": f"Generated limit {name}.",
                                             "basis": BASIS[0]} for name, value in sorted(writer.params.items())}
            pack["facts"] = {f.name: f.declaration() for f in facts}
        if derive[number]:
            pack["derive"] = derive[number]
        if require[number]:
            pack["require"] = require[number]
        path = directory / f"gen-{number:02d}.yaml"
        path.write_text(to_yaml(pack), encoding="utf-8")
        paths.append(path)
    return paths

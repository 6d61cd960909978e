"""Seeded generator of schema-valid proposals, for oracle and isolation tests."""

from __future__ import annotations

import random
from typing import Any

from evaluator.validate import proposal_schema

NUMBERS = [0, 1, 2, 3, 4, 5, 6, 12, 24, 29, 30, 31, 35, 36, 37, 48, 59, 60, 61, 100, 1000,
           9_999_999, 10_000_000, 10_000_001, 0.5, 0.85, 0.9, 0.95, 1e-05]
TEXTS = ["yes", "Moscow", "Tatarstan", "remote operator", "a@b.ru", "x", "Иннополис", "<b>x</b>"]
DATES = ["2026-01-01", "2026-06-01", "2027-05-31", "2029-05-31", "2031-12-31", "2025-12-31"]


def proposal(seed: int, framework: str = "ru-elr", domain: str | None = None) -> dict[str, Any]:
    """A random but schema-valid proposal; the same seed gives the same proposal."""
    rng = random.Random(seed)
    data: dict[str, Any] = _value(rng, proposal_schema(), depth=0)
    domain = domain or rng.choice(proposal_schema()["properties"]["metadata"]["properties"]["domain"]["enum"])
    data["descriptor_version"] = 1
    data["metadata"] = {"id": f"gen-{seed}", "title": f"Generated {seed}", "version": "1",
                        "framework": framework, "domain": domain}
    data.setdefault("applicant", {})["name"] = "Generated applicant"
    return data


def _value(rng: random.Random, schema: dict[str, Any], depth: int) -> Any:
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        out = {}
        required = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            if name in required or rng.random() < 0.75:
                out[name] = _value(rng, sub, depth + 1)
        return out
    if kind == "array":
        count = rng.choice([0, 1, 1, 2, 3])
        items = [_value(rng, schema.get("items", {}), depth + 1) for _ in range(count)]
        if schema.get("uniqueItems"):
            unique = []
            for item in items:
                if item not in unique:
                    unique.append(item)
            items = unique
        return items
    if kind == "boolean":
        return rng.random() < 0.6
    if kind == "integer":
        low = schema.get("minimum", 0)
        high = schema.get("maximum", 10**8)
        pool = [n for n in NUMBERS if isinstance(n, int) and low <= n <= high]
        return rng.choice(pool)
    if kind == "number":
        low = schema.get("minimum", float("-inf"))
        return rng.choice([n for n in NUMBERS if n >= low])
    if kind == "string":
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
            return rng.choice(["H1", "B1", "D-2", "x.1"])
        return rng.choice(TEXTS)
    raise AssertionError(schema)

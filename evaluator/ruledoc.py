"""``sandbox rules doc``: the rulebook reference (Markdown), generated from the packs.

The text comes from ``templates/rulebook.md.j2``; this module gathers what it shows. Output is
deterministic: packs in file order, rules in pack order, no dates or absolute paths.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from evaluator.catalog import Catalog, Entry, load_catalog, pillar_counts
from evaluator.condtext import condition_lines, literal
from evaluator.rulebook import (
    PILLARS,
    DeriveRule,
    Parameter,
    RequireRule,
    RulePack,
    default_rules_dir,
)

TEMPLATE = "rulebook.md.j2"


def rulebook_markdown(rule_dirs: tuple[Path, ...] = ()) -> str:
    """The reference for the packs under ``rule_dirs`` (default: the shipped packs)."""
    from evaluator.render import render_template

    dirs = rule_dirs or (default_rules_dir(),)
    catalog = load_catalog(dirs)
    frameworks = [_framework(catalog, name, dirs) for name in catalog.frameworks()]
    return render_template(TEMPLATE, frameworks=frameworks, pillars=PILLARS)


def _framework(catalog: Catalog, name: str, dirs: tuple[Path, ...]) -> dict[str, Any]:
    entries = [e for e in catalog.entries if e.framework == name]
    packs = [p for p in catalog.packs if p.framework == name]
    parameters = catalog.parameters(name)
    return {
        "name": name,
        "counts": pillar_counts(entries).get(name, dict.fromkeys(PILLARS, 0)),
        "derive_count": sum(1 for e in entries if e.kind == "derive"),
        "packs": [_pack(pack, [e for e in entries if e.pack is pack], parameters, dirs) for pack in packs],
        "facts": [{"name": u.fact.name, "set_by": [f"{i} ({literal(v)})" for i, v in u.set_by],
                   "gates": list(u.gates), "also": list(dict.fromkeys((*u.checks, *u.derives)))}
                  for u in catalog.fact_uses(name)],
    }


def _pack(pack: RulePack, entries: list[Entry], parameters: dict[str, Parameter],
          dirs: tuple[Path, ...]) -> dict[str, Any]:
    require = [e.rule for e in entries if isinstance(e.rule, RequireRule)]
    return {
        "id": pack.id, "title": pack.title, "version": pack.version, "effective": pack.effective,
        "description": pack.raw["pack"].get("description", ""), "file": shown_path(pack.path, dirs),
        "domains": list(pack.domains) if pack.domains else None,
        "parameters": [_parameter(parameters[name], raw) for name, raw in pack.raw.get("parameters", {}).items()
                       if name in parameters],
        "facts": [{"name": name, "type": raw["type"], "default": literal(raw["default"]),
                   "allowed": literal(raw.get("values", [])), "description": raw["description"]}
                  for name, raw in pack.raw.get("facts", {}).items()],
        "derive": [_derive(e.rule, pack, parameters) for e in entries if isinstance(e.rule, DeriveRule)],
        "pillars": [{"name": pillar, "rules": [_require(r, parameters) for r in require if r.pillar == pillar]}
                    for pillar in PILLARS if any(r.pillar == pillar for r in require)],
    }


def _parameter(parameter: Parameter, raw: dict[str, Any]) -> dict[str, Any]:
    basis = raw.get("basis")
    return {"name": parameter.name, "value": dataclasses.replace(parameter, unit=None).display(),
            "unit": parameter.unit or "", "description": parameter.description,
            "basis": _basis(basis) if basis else None}


def _basis(raw: dict[str, Any]) -> dict[str, Any]:
    return {"label": f"{raw['instrument']}, {raw['article']}", "url": link_target(raw["url"]),
            "confidence": raw.get("confidence", "verified"), "note": raw.get("note", "")}


def _derive(rule: DeriveRule, pack: RulePack, parameters: dict[str, Parameter]) -> dict[str, Any]:
    raw = next(r for r in pack.raw.get("derive", []) if r["id"] == rule.id)
    return {"id": rule.id, "title": rule.title, "description": raw.get("description", ""),
            "sets": ", ".join(f"{name} = {literal(value)}" for name, value in rule.sets),
            "when": condition_lines(rule.when, parameters)}


def _require(rule: RequireRule, parameters: dict[str, Parameter]) -> dict[str, Any]:
    lines = []
    if rule.applies_when is not None:
        lines += ["applies when:", *condition_lines(rule.applies_when, parameters, 1), "checks:"]
    lines += condition_lines(rule.check, parameters, 1 if rule.applies_when is not None else 0)
    basis = [{"label": f"{b.instrument}, {b.article}", "url": link_target(b.url), "confidence": b.confidence,
              "note": b.note or ""} for b in rule.basis]
    return {"id": rule.id, "title": rule.title, "severity": rule.severity, "conditions": lines,
            "message": rule.message, "remediation": rule.remediation, "condition": rule.condition or "",
            "basis": basis, "defer": f"{rule.defer.deliver} Due {rule.defer.due}." if rule.defer else ""}


def shown_path(path: str, dirs: tuple[Path, ...]) -> str:
    """``rules/ru-elr/core.yaml``: the path below the rules directory, prefixed with its name."""
    target = Path(path).resolve()
    for base in dirs:
        root = base.resolve()
        if root.is_dir() and target.is_relative_to(root):
            return (Path(root.name) / target.relative_to(root)).as_posix()
    return target.name


def link_target(url: str) -> str:
    """A URL safe inside Markdown ``(...)``: spaces and parentheses percent-encoded."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")

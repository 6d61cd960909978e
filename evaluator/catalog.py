"""Every rule of the loaded packs in one list: ``sandbox rules list``, and the index that
``sandbox explain`` and ``sandbox rules doc`` read.

The packs are loaded and checked exactly as ``sandbox check`` does, so a broken pack is an
error here too (``sandbox rules lint`` lists every problem).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evaluator.errors import EvaluatorError, display_path
from evaluator.records import record
from evaluator.rulebook import (
    PILLARS,
    DeriveRule,
    FactDef,
    Parameter,
    RequireRule,
    Rulebook,
    RulePack,
    assemble_all,
    default_rules_dir,
    did_you_mean,
    domains,
    load_packs,
)

Rule = DeriveRule | RequireRule


@record
class Entry:
    """One rule with the pack it comes from."""

    rule: Rule
    pack: RulePack

    @property
    def kind(self) -> str:
        return "derive" if isinstance(self.rule, DeriveRule) else "require"

    @property
    def framework(self) -> str:
        return self.pack.framework


@record
class FactUse:
    """Which rules set a fact, and which read it (``gates``: in ``applies_when``)."""

    fact: FactDef
    set_by: tuple[tuple[str, Any], ...]
    gates: tuple[str, ...]
    checks: tuple[str, ...]
    derives: tuple[str, ...]


@record
class Catalog:
    """The packs, their checked rulebooks, and every rule once (in pack file order)."""

    packs: tuple[RulePack, ...]
    books: dict[tuple[str, str], Rulebook]
    entries: tuple[Entry, ...]

    def frameworks(self) -> list[str]:
        return sorted({pack.framework for pack in self.packs})

    def find(self, rule_id: str) -> list[Entry]:
        """The rules with this id (case-insensitive); several only across frameworks."""
        wanted = rule_id.upper()
        return [entry for entry in self.entries if entry.rule.id == wanted]

    def parameters(self, framework: str) -> dict[str, Parameter]:
        """The parameters shared by the packs of ``framework``."""
        return next((b.parameters for (f, _), b in self.books.items() if f == framework), {})

    def facts(self, framework: str) -> dict[str, FactDef]:
        """Every fact declared by the packs of ``framework``, in declaration order."""
        out: dict[str, FactDef] = {}
        for pack in self.packs:
            if pack.framework == framework:
                for name, raw in pack.raw.get("facts", {}).items():
                    values = tuple(raw["values"]) if "values" in raw else None
                    out.setdefault(name, FactDef(name, raw["type"], raw["default"], raw["description"],
                                                 values, pack.id))
        return out

    def fact_uses(self, framework: str) -> list[FactUse]:
        """For each fact of ``framework``: the rules that set it and the rules it switches on."""
        rules = [e.rule for e in self.entries if e.framework == framework]
        uses = []
        for name, fact in self.facts(framework).items():
            set_by = tuple((r.id, v) for r in rules if isinstance(r, DeriveRule) for f, v in r.sets if f == name)
            gates = tuple(r.id for r in rules if isinstance(r, RequireRule) and r.applies_when is not None
                          and name in _facts_of(r, "applies"))
            checks = tuple(r.id for r in rules if isinstance(r, RequireRule) and name in _facts_of(r, "check"))
            derives = tuple(r.id for r in rules if isinstance(r, DeriveRule) and name in r.facts_read())
            uses.append(FactUse(fact, set_by, gates, checks, derives))
        return uses


def _facts_of(rule: RequireRule, role: str) -> list[str]:
    from evaluator import conditions

    return [f for r, cond in rule.conditions if r == role for f in conditions.facts_read(cond)]


def load_catalog(rule_dirs: tuple[Path, ...] = ()) -> Catalog:
    """Load and check the packs (default: the shipped ones) and index their rules."""
    packs = load_packs(rule_dirs or (default_rules_dir(),))
    books = assemble_all(packs)
    parsed: dict[tuple[str, str], Rule] = {}
    for book in books.values():
        rules: list[Rule] = [*book.derive, *book.require]
        for rule in rules:
            parsed.setdefault((rule.pack, rule.id), rule)
    entries = [Entry(rule, pack) for pack in packs for (pack_id, _), rule in parsed.items() if pack_id == pack.id]
    entries.sort(key=lambda e: (e.framework, packs.index(e.pack), e.rule.line))
    return Catalog(tuple(packs), books, tuple(entries))


def select(catalog: Catalog, framework: str | None = None, domain: str | None = None,
           pillar: str | None = None) -> list[Entry]:
    """The rules matching every filter given; a filter value that cannot match is an error.

    ``domain`` keeps the rules of packs that apply to it; ``pillar`` keeps require rules only.
    """
    _known("framework", framework, catalog.frameworks())
    _known("domain", domain, domains())
    _known("pillar", pillar, PILLARS)
    return [e for e in catalog.entries
            if (framework is None or e.framework == framework)
            and (domain is None or e.pack.applies_to(domain))
            and (pillar is None or (isinstance(e.rule, RequireRule) and e.rule.pillar == pillar))]


def _known(what: str, value: str | None, choices: Iterable[str]) -> None:
    options = list(choices)
    if value is not None and value not in options:
        raise EvaluatorError(f"unknown {what} '{value}'{did_you_mean(value, options)}; "
                             f"{what}s: {', '.join(options)}")


def pillar_counts(entries: Iterable[Entry]) -> dict[str, dict[str, int]]:
    """Require rules per framework and pillar (every pillar present, in the usual order)."""
    counts: dict[str, dict[str, int]] = {}
    for entry in entries:
        row = counts.setdefault(entry.framework, dict.fromkeys(PILLARS, 0))
        if isinstance(entry.rule, RequireRule):
            row[entry.rule.pillar] += 1
    return counts


def _row(entry: Entry) -> dict[str, Any]:
    rule = entry.rule
    return {"id": rule.id, "kind": entry.kind, "framework": entry.framework, "pack": entry.pack.id,
            "pillar": rule.pillar if isinstance(rule, RequireRule) else None,
            "severity": rule.severity if isinstance(rule, RequireRule) else None,
            "title": rule.title, "domains": list(entry.pack.domains) if entry.pack.domains else None,
            "file": display_path(rule.file), "line": rule.line}


def render_json(entries: list[Entry]) -> str:
    """``{"rules": [...], "counts": {framework: {pillar: n}}}`` as indented JSON."""
    payload = {"rules": [_row(e) for e in entries], "counts": pillar_counts(entries)}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def render_text(entries: list[Entry]) -> str:
    """One aligned row per rule, then require rules counted by framework and pillar."""
    header = ("ID", "KIND", "FRAMEWORK", "PACK", "PILLAR", "SEVERITY", "TITLE")
    rows = [(r["id"], r["kind"], r["framework"], r["pack"], r["pillar"] or "-", r["severity"] or "-", r["title"])
            for r in map(_row, entries)]
    lines = _table([header, *rows])
    counts = pillar_counts(entries)
    table = [("FRAMEWORK", *PILLARS, "TOTAL")] + [
        (fw, *map(str, row.values()), str(sum(row.values()))) for fw, row in sorted(counts.items())]
    derive = sum(1 for e in entries if e.kind == "derive")
    lines += ["", "Require rules by framework and pillar:", *_table(table, right=True), "",
              f"{len(entries)} rules: {len(entries) - derive} require, {derive} derive"]
    return "\n".join(lines) + "\n"


def _table(rows: list[tuple[str, ...]], right: bool = False) -> list[str]:
    """Columns padded to their widest cell; numbers right-aligned when ``right``; no trailing blanks."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [cell.rjust(w) if right and i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    return out

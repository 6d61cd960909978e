"""``sandbox init``: a commented skeleton descriptor for one domain and framework.

Every comment is a ``description`` from the descriptor schema, so the skeleton follows the
schema as it changes. Only the required fields are set (to placeholders); every other field is
written commented out, with what it is for and what it takes: removing the leading ``# `` of a
block turns it into YAML. The skeleton validates as it is and can be checked at once (most
rules are then indeterminate, and their findings say what to fill in).

Sections shown: the common ones, the domain's own ``technology`` section (``autonomous_vehicle``
for ``autonomous_vehicles``), and sections marked ``(framework NAME)`` in their description
only for that framework.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from evaluator.errors import EvaluatorError
from evaluator.rulebook import did_you_mean
from evaluator.validate import proposal_schema

WIDTH = 100
INDENT = "  "
_FRAMEWORK_MARK = re.compile(r"\(framework ([a-z0-9-]+)\)")


def schema_choices(field: str) -> list[str]:
    """The values of ``metadata.<field>`` (``domain`` or ``framework``) in the descriptor schema."""
    return list(proposal_schema()["properties"]["metadata"]["properties"][field]["enum"])


def skeleton(domain: str, framework: str | None = None) -> str:
    """The skeleton descriptor for ``domain`` under ``framework`` (default: the schema's first)."""
    _check_choice("domain", domain)
    framework = framework or schema_choices("framework")[0]
    _check_choice("framework", framework)
    schema = proposal_schema()
    writer = _Writer(domain, framework)
    lines = _header(schema, domain, framework)
    for name, node in schema["properties"].items():
        if writer.wanted((name,), node):
            lines += ["", *writer.field((name,), node, name in schema["required"], 0)]
    return "\n".join(lines) + "\n"


def _check_choice(field: str, value: str) -> None:
    choices = schema_choices(field)
    if value not in choices:
        raise EvaluatorError(f"unknown {field} '{value}'{did_you_mean(value, choices)}; "
                             f"{field}s: {', '.join(choices)}")


def _header(schema: dict[str, Any], domain: str, framework: str) -> list[str]:
    return [
        f"# Proposal descriptor skeleton: domain {domain}, framework {framework}.",
        *_comment(schema.get("description", ""), ""),
        "# Written by `sandbox init`; each comment comes from the descriptor schema (`sandbox schema`).",
        "# The required fields hold placeholders: replace them. Every other field is commented out:",
        "# remove the leading '# ' of a field (and of the sections above it) and give it a value.",
        "# Check the draft at any time with `sandbox check FILE`: findings say what is still missing.",
    ]


class _Writer:
    """Writes fields as YAML lines; fields not required (or under one) are commented out."""

    def __init__(self, domain: str, framework: str) -> None:
        self.domain, self.framework = domain, framework
        self.placeholders: dict[tuple[str, ...], Any] = {
            ("descriptor_version",): 1,
            ("metadata", "id"): f"my-{domain.replace('_', '-')}-proposal",
            ("metadata", "title"): "TODO: a short title",
            ("metadata", "version"): "0.1",
            ("metadata", "framework"): framework,
            ("metadata", "domain"): domain,
            ("applicant", "name"): "TODO: legal name of the applicant",
        }
        self.domains = schema_choices("domain")

    def wanted(self, path: tuple[str, ...], node: dict[str, Any]) -> bool:
        """Framework sections only for their framework; domain sections only for their domain."""
        marked = _FRAMEWORK_MARK.search(node.get("description", ""))
        if marked and marked.group(1) != self.framework:
            return False
        if len(path) == 2 and path[0] == "technology":
            owner = [d for d in self.domains if path[1] in (d, d.removesuffix("s"))]
            return not owner or self.domain in owner
        return True

    def field(self, path: tuple[str, ...], node: dict[str, Any], active: bool, depth: int,
              inside_off: bool = False) -> list[str]:
        """The lines of one field: its description, then the key and its value or children.

        A field that is not ``active`` is commented out, once, at the top of its block.
        """
        pad = INDENT * depth
        lines = [*_comment(_describe(node), pad), f"{pad}{path[-1]}:"]
        off = inside_off or not active
        if node.get("type") == "object":
            required = node.get("required", [])
            for name, child in node.get("properties", {}).items():
                if self.wanted((*path, name), child):
                    lines += self.field((*path, name), child, active and name in required, depth + 1, off)
        elif node.get("type") == "array" and node.get("items", {}).get("type") == "object":
            lines += self._item(path, node["items"], depth + 1)
        elif active:
            lines[-1] += " " + _scalar(self.placeholders.get(path, _fallback(node)))
        return lines if active or inside_off else ["# " + line for line in lines]

    def _item(self, path: tuple[str, ...], items: dict[str, Any], depth: int) -> list[str]:
        """One example item of a list of mappings (inside a commented-out block)."""
        lines: list[str] = []
        required = items.get("required", [])
        for index, (name, child) in enumerate(items.get("properties", {}).items()):
            node = {**child, "description": child.get("description", "") + (" Required in each item."
                                                                             if name in required else "")}
            field = self.field((*path, name), node, active=False, depth=depth + 1, inside_off=True)
            if index == 0:
                field[0] = INDENT * depth + "- " + field[0].lstrip()
            lines += field
        return lines


def _describe(node: dict[str, Any]) -> str:
    """The field's description and what it takes, e.g. ``Hours of operation. (text)``."""
    text = node.get("description", "").strip()
    hint = _hint(node)
    said = hint.lower() in text.lower() or (hint.startswith("date") and "YYYY-MM-DD" in text)
    return f"{text} ({hint})" if hint and not said else text


def _hint(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if "const" in node:
        return f"always {node['const']}"
    if "enum" in node:
        return "one of: " + ", ".join(map(str, node["enum"]))
    if kind == "array":
        items = node.get("items", {})
        return "a list; each item:" if items.get("type") == "object" else f"a list, each {_hint(items) or 'a value'}"
    if kind == "string":
        return "date YYYY-MM-DD" if node.get("format") == "date" else "text"
    if kind in ("integer", "number"):
        return _number_hint(node)
    return "true or false" if kind == "boolean" else ""


def _number_hint(node: dict[str, Any]) -> str:
    noun = "whole number" if node.get("type") == "integer" else "number"
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f"{noun} {low}-{high}"
    return f"{noun} >= {low}" if low is not None else noun


def _comment(text: str, pad: str) -> list[str]:
    if not text:
        return []
    return textwrap.wrap(text, WIDTH, initial_indent=pad + "# ", subsequent_indent=pad + "# ",
                         break_on_hyphens=False)


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else json.dumps(value)


def _fallback(node: dict[str, Any]) -> Any:
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    return {"integer": 0, "number": 0, "boolean": False}.get(str(node.get("type")), "TODO")


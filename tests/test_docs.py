"""The examples in the documentation stay true: proposals validate, packs and policies load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evaluator.errors import InputError
from evaluator.loader import load_bytes
from evaluator.policy import load_policy
from evaluator.rulebook import assemble_all, load_packs
from evaluator.validate import validate_proposal

from conftest import ROOT

BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)
SHOWN_ERRORS = re.compile(r"```yaml\n((?:(?!```).)*)```\n\ngives \(exit code 2\):\n\n```\n(.*?)```", re.DOTALL)


def yaml_blocks(name: str) -> list[str]:
    return BLOCK.findall((ROOT / "docs" / name).read_text(encoding="utf-8"))


def full_proposals() -> list[str]:
    broken = {text for text, _ in SHOWN_ERRORS.findall((ROOT / "docs" / "proposal-format.md").read_text("utf-8"))}
    return [b for name in ("proposal-format.md", "rule-format.md") for b in yaml_blocks(name)
            if re.search(r"^descriptor_version: 1$", b, re.MULTILINE) and b not in broken]


@pytest.mark.parametrize("text", full_proposals())
def test_documented_proposals_validate(text: str) -> None:
    validate_proposal(load_bytes(text.encode(), "doc.yaml"))


def test_documented_error_output_is_what_the_tool_prints() -> None:
    shown = SHOWN_ERRORS.findall((ROOT / "docs" / "proposal-format.md").read_text(encoding="utf-8"))
    assert shown
    for text, expected in shown:
        with pytest.raises(InputError) as caught:
            validate_proposal(load_bytes(text.encode(), "proposal.yaml"))
        assert [f"error: {p}" for p in caught.value.problems] == expected.splitlines()


def test_documented_rule_pack_loads(tmp_path: Path) -> None:
    packs = [b for b in yaml_blocks("rule-format.md") if b.startswith("pack:")]
    assert len(packs) == 1
    (tmp_path / "pack.yaml").write_text(packs[0], encoding="utf-8")
    assert assemble_all(load_packs([tmp_path]))


def test_documented_policy_loads(tmp_path: Path) -> None:
    (policy,) = yaml_blocks("decision-policy.md")
    (tmp_path / "strict.yaml").write_text(policy, encoding="utf-8")
    assert load_policy(tmp_path / "strict.yaml").id == "strict"


def test_documented_text_output_is_what_the_tool_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluator.pipeline import Session
    from evaluator.textout import render_text

    text = (ROOT / "docs" / "rule-format.md").read_text(encoding="utf-8")
    (pack,) = [b for b in yaml_blocks("rule-format.md") if b.startswith("pack:")]
    (proposal,) = [b for b in yaml_blocks("rule-format.md") if b.startswith("descriptor_version: 1")]
    expected = re.search(r"the text output is:\n\n```\n(.*?)```", text, re.DOTALL)
    assert expected
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "pack.yaml").write_text(pack, encoding="utf-8")
    (tmp_path / "weak-robotaxi.yaml").write_text(proposal, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    report = Session((Path("rules"),)).check("weak-robotaxi.yaml")
    assert render_text(report.to_dict(), color=False) == expected.group(1)


def test_documented_rule_tests_pass_with_the_documented_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from evaluator.cli import main

    text = (ROOT / "docs" / "rule-format.md").read_text(encoding="utf-8")
    (pack,) = [b for b in yaml_blocks("rule-format.md") if b.startswith("pack:")]
    (suite,) = [b for b in yaml_blocks("rule-format.md") if b.startswith("suite:")]
    shown = re.search(r"```\n\$ sandbox rules test (.*?)\n(.*?)```", text, re.DOTALL)
    assert shown
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "hav-example.yaml").write_text(pack, encoding="utf-8")
    (tmp_path / "rules" / "hav-example.tests.yaml").write_text(suite, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "test", *shown.group(1).split()]) == 0
    assert capsys.readouterr().out == shown.group(2)


def _schema_kind(node: dict) -> str:  # type: ignore[type-arg]
    """The Type column as docs/proposal-format.md writes it."""
    kind = node.get("type")
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if kind == "string":
        return "date `YYYY-MM-DD`" if node.get("format") == "date" else "text"
    if kind == "boolean":
        return "`true` / `false`"
    if kind in ("integer", "number"):
        word = "whole number" if kind == "integer" else "number"
        if "maximum" in node:
            return f"{word}, {node['minimum']}–{node['maximum']}"
        return f"{word}, ≥ {node['minimum']}" if "minimum" in node else word
    if kind == "array":
        items, unique = node["items"], "; no repeats" if node.get("uniqueItems") else ""
        if items.get("type") == "object":
            return "list of items (below)"
        if "enum" in items:
            return "list of values from " + ", ".join(f"`{v}`" for v in items["enum"]) + unique
        return "list of text" + unique
    return "section"


def _schema_rows(node: dict, prefix: str = "") -> dict[str, str]:  # type: ignore[type-arg]
    rows: dict[str, str] = {}
    for key, child in node.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        if child.get("type") == "object" and "properties" in child:
            rows |= _schema_rows(child, path)
            continue
        required = "**required**; " if key in node.get("required", []) else ""
        rows[path] = required + _schema_kind(child)
        if child.get("type") == "array" and child["items"].get("type") == "object":
            rows |= _schema_rows(child["items"], path + "[]")
    return rows


def test_field_reference_lists_every_schema_field_with_its_type() -> None:
    from evaluator.validate import proposal_schema

    text = (ROOT / "docs" / "proposal-format.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", text, re.MULTILINE))
    expected = _schema_rows(proposal_schema())
    del expected["descriptor_version"]  # described in prose above the tables
    assert {path: documented.get(path) for path in expected} == expected

"""The rule packs, policy, schema and templates are package data: found without the checkout."""

from __future__ import annotations

from importlib import resources

from evaluator.policy import default_policy_path
from evaluator.rulebook import default_rules_dir, discover


def test_package_data_is_reachable_through_importlib_resources() -> None:
    assert resources.files("evaluator.schema").joinpath("proposal-v1.schema.json").is_file()
    assert resources.files("evaluator.schema").joinpath("rulepack-v1.schema.json").is_file()
    for template in ("report.html.j2", "report.md.j2", "summary.html.j2", "summary.md.j2"):
        assert resources.files("evaluator.templates").joinpath(template).is_file(), template
    assert default_policy_path().is_file()
    packs = [p.name for p in discover([default_rules_dir()])]
    assert {"core.yaml", "autonomous-vehicles.yaml", "medical-ai.yaml"} <= set(packs)


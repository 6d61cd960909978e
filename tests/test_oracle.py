"""The adapter's outcomes against an independent reading of the rules (tests/oracle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.evaluate import Evaluator
from evaluator.model import Proposal
from evaluator.rulebook import assemble, default_rules_dir, load_packs
from evaluator.validate import proposal_schema

import generate
import oracle
from conftest import MINI, TESTS

OPS = TESTS / "fixtures" / "packs" / "ops"


def as_proposal(data: dict) -> Proposal:  # type: ignore[type-arg]
    from evaluator.loader import Document, SourceMap
    from evaluator.model import build_proposal

    return build_proposal(Document("generated.yaml", data, SourceMap(), "0" * 64))


def compare(evaluator: Evaluator, data: dict) -> None:  # type: ignore[type-arg]
    proposal = as_proposal(data)
    evaluation = evaluator.evaluate(proposal)
    facts, outcomes = oracle.run(evaluator.rulebook, proposal.data)
    assert {r.rule.id: r.outcome for r in evaluation.results} == outcomes, data["metadata"]["id"]
    assert {n: f.value for n, f in evaluation.facts.items()} == facts, data["metadata"]["id"]


@pytest.mark.parametrize("packs", [MINI, OPS], ids=["mini", "ops"])
@pytest.mark.parametrize("domain", ["autonomous_vehicles", "medical_ai"])
def test_generated_proposals_match_the_oracle(packs: Path, domain: str) -> None:
    evaluator = Evaluator(assemble(load_packs([packs]), "ru-elr", domain))
    for seed in range(250):
        compare(evaluator, generate.proposal(seed, domain=domain))


SCHEMA_METADATA = proposal_schema()["properties"]["metadata"]["properties"]
RULEBOOKS = [(f, d) for f in SCHEMA_METADATA["framework"]["enum"] for d in SCHEMA_METADATA["domain"]["enum"]]


@pytest.mark.parametrize(("framework", "domain"), RULEBOOKS, ids=[f"{f}-{d}" for f, d in RULEBOOKS])
def test_shipped_rules_match_the_oracle_on_generated_proposals(framework: str, domain: str) -> None:
    evaluator = Evaluator(assemble(load_packs([default_rules_dir()]), framework, domain))
    for seed in range(1000, 1150):
        compare(evaluator, generate.proposal(seed, framework, domain))


def test_the_ops_pack_sees_every_outcome() -> None:
    """The generated inputs really exercise each rule both ways (else the comparison is weak)."""
    evaluator = Evaluator(assemble(load_packs([OPS]), "ru-elr", "autonomous_vehicles"))
    seen: dict[str, set[str]] = {}
    for seed in range(250):
        for result in evaluator.evaluate(as_proposal(generate.proposal(seed, domain="autonomous_vehicles"))).results:
            seen.setdefault(result.rule.id, set()).add(result.outcome)
    lacking = {rule: sorted(outcomes) for rule, outcomes in seen.items() if not {"pass", "fail"} <= outcomes}
    assert lacking == {}

"""Regression guards at scale (no timing assertions; ``python -m bench`` measures speed).

Inputs come from the seeded generators in ``bench/generate.py``: a rulebook of 5,000 rules judged
against the oracle (``tests/oracle.py``), proposals of 1,000 fields, and 10,000 proposals through
one ``Session``. Only public APIs are used (``Session``, ``Evaluator``, the pack loader, and
``load``/``validate``/``build_proposal``): the compiler is not looked into.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench import generate
from evaluator.evaluate import Evaluator
from evaluator.lint import lint
from evaluator.loader import Document, SourceMap, load_bytes
from evaluator.model import Proposal, build_proposal
from evaluator.pipeline import Session
from evaluator.results import build_report
from evaluator.rulebook import assemble, load_packs
from evaluator.validate import validate_proposal

import oracle

BIG_RULEBOOK = 5_000
LIVE_SESSION_LIMIT = 1_024  # durable_rules: live sessions per ruleset (docs/engine.md)
RULEBOOKS = [(f, d) for f in generate.frameworks() for d in generate.domains()]


def from_yaml(data: dict[str, Any], name: str) -> Proposal:
    """``data`` written as YAML and read back the way ``sandbox check`` reads a file."""
    document = load_bytes(generate.to_yaml(data).encode(), name)
    validate_proposal(document)
    return build_proposal(document)


def from_data(data: dict[str, Any], name: str) -> Proposal:
    """``data`` as a validated proposal without the YAML round trip (for 10,000 of them)."""
    document = Document(name, data, SourceMap(), hashlib.sha256(name.encode()).hexdigest())
    validate_proposal(document)
    return build_proposal(document)


def assert_matches_oracle(evaluator: Evaluator, proposal: Proposal) -> Counter[str]:
    """The engine's outcomes and facts equal the oracle's; returns how often each outcome came."""
    evaluation = evaluator.evaluate(proposal)
    facts, outcomes = oracle.run(evaluator.rulebook, proposal.data)
    engine = {r.rule.id: r.outcome for r in evaluation.results}
    wrong = {rule: (engine.get(rule), outcomes.get(rule)) for rule in {*engine, *outcomes}
             if engine.get(rule) != outcomes.get(rule)}
    assert not wrong, (f"{proposal.id}: {len(wrong)} rules differ from the oracle (engine, oracle), e.g. "
                       f"{dict(sorted(wrong.items())[:5])}")
    derived = {name: fact.value for name, fact in evaluation.facts.items()}
    wrong_facts = {n: (derived.get(n), facts.get(n)) for n in {*derived, *facts} if derived.get(n) != facts.get(n)}
    assert not wrong_facts, f"{proposal.id}: facts differ from the oracle (engine, oracle): {wrong_facts}"
    return Counter(engine.values())


@pytest.fixture(scope="module")
def big_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("rules-5000")
    generate.rule_pack(directory, BIG_RULEBOOK, seed=7)
    return directory


@pytest.fixture(scope="module")
def big_evaluator(big_pack: Path) -> Evaluator:
    """The 5,000 rules loaded, checked and compiled. The packs apply to every domain, so one
    rulebook judges proposals of any domain."""
    return Evaluator(assemble(load_packs([big_pack]), "ru-elr", "autonomous_vehicles"))


def test_5000_generated_rules_match_the_oracle(big_evaluator: Evaluator) -> None:
    book = big_evaluator.rulebook
    assert len(book.derive) + len(book.require) == BIG_RULEBOOK
    assert max(book.levels.values()) >= 2  # derive rules in several strata
    seen: Counter[str] = Counter()
    for seed in range(20):
        domain = generate.domains()[seed % len(generate.domains())]
        proposal = from_yaml(generate.proposal(seed, "ru-elr", domain), f"gen-{seed}.yaml")
        seen += assert_matches_oracle(big_evaluator, proposal)
    # Every outcome occurs often, so the comparison is not trivially "all indeterminate".
    assert min(seen[o] for o in ("pass", "fail", "not_applicable", "indeterminate")) > 1_000, seen


@pytest.fixture(scope="module")
def shipped() -> Session:
    return Session()


@pytest.mark.parametrize(("framework", "domain"), RULEBOOKS, ids=[f"{f}-{d}" for f, d in RULEBOOKS])
def test_a_proposal_of_1000_fields_matches_the_oracle(shipped: Session, framework: str, domain: str) -> None:
    """Far more fields than the engine's 255 properties per fact: only what a ruleset reads is
    asserted, and each list item is its own fact, so the limit is not hit (evaluate would raise)."""
    data = generate.proposal_with_fields(1_000, seed=3, framework=framework, domain=domain)
    assert generate.leaf_count(data) == 1_000
    assert_matches_oracle(shipped.evaluator(framework, domain), from_yaml(data, "fields-1000.yaml"))


def test_a_proposal_of_1000_fields_against_5000_rules(big_evaluator: Evaluator) -> None:
    """The largest generated rulebook over the largest proposal: shards read many fields each."""
    for domain in ("autonomous_vehicles", "medical_ai"):
        data = generate.proposal_with_fields(1_000, seed=5, domain=domain)
        assert_matches_oracle(big_evaluator, from_yaml(data, "fields-1000.yaml"))


def test_10000_proposals_in_one_session_report_as_each_alone(tmp_path: Path) -> None:
    """One Session, 10,000 proposals: every 250th gives the same report as in a fresh Session.

    A small generated rulebook keeps this fast; its packs apply to every ru-elr domain, so each
    of the five compiled rulebooks judges about 2,000 proposals, more than durable_rules' 1,024
    live sessions per ruleset: a session left alive per proposal would fail here.
    """
    generate.rule_pack(tmp_path, 40, seed=11)
    session = Session(rule_dirs=(tmp_path,))
    expected: dict[int, dict[str, Any]] = {}
    per_rulebook: Counter[tuple[str, str]] = Counter()
    for seed in range(10_000):
        proposal = from_data(generate.proposal(seed, "ru-elr"), f"gen-{seed}.yaml")
        evaluation = session.evaluator(proposal.framework, proposal.domain).evaluate(proposal)
        per_rulebook[(proposal.framework, proposal.domain)] += 1
        if seed % 250 == 0:
            expected[seed] = build_report(evaluation, session.policy).to_dict()
    assert len(per_rulebook) == len(generate.domains())
    assert min(per_rulebook.values()) > LIVE_SESSION_LIMIT, per_rulebook
    decisions = Counter(report["decision"] for report in expected.values())
    assert len(decisions) >= 2, decisions  # not all alike
    for seed, report in expected.items():
        fresh = Session(rule_dirs=(tmp_path,))
        proposal = from_data(generate.proposal(seed, "ru-elr"), f"gen-{seed}.yaml")
        alone = build_report(fresh.evaluator(proposal.framework, proposal.domain).evaluate(proposal), fresh.policy)
        assert alone.to_dict() == report, seed


def test_generated_packs_pass_the_rule_lint(tmp_path: Path) -> None:
    """What `sandbox rules lint --rules DIR` says of a generated rulebook (two files)."""
    generate.rule_pack(tmp_path, 600, seed=13, per_file=400)
    result = lint((tmp_path,))
    assert result.ok, "\n".join(map(str, result.findings[:10]))


def test_generated_proposals_are_valid_and_read_back_unchanged() -> None:
    seen = set()
    for seed in range(300):
        data = generate.proposal(seed)
        proposal = from_yaml(data, f"gen-{seed}.yaml")  # raises on a schema error
        assert {k: v for k, v in proposal.data.items() if k != "computed"} == data
        seen.add((proposal.framework, proposal.domain))
    assert seen == set(RULEBOOKS)
    assert generate.proposal(42) == generate.proposal(42)


def test_derive_rules_whose_values_alternate_match_the_oracle(tmp_path: Path) -> None:
    """Setters of one fact with values A, B, A in one stratum and file (the lint allows it): with A
    unknown and B true the fact is unknown, whatever the later A says (this once gave A)."""
    generate.rule_pack(tmp_path, 400, seed=1, interleaved=True)
    evaluator = Evaluator(assemble(load_packs([tmp_path]), "ru-elr", "autonomous_vehicles"))
    for seed in range(100):
        assert_matches_oracle(evaluator, from_data(generate.proposal(seed, "ru-elr"), f"gen-{seed}.yaml"))

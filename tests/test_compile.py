"""The rule compiler's output as data: golden durable_rules JSON and structural limits."""

from __future__ import annotations

import json

import pytest

from evaluator import conditions as c
from evaluator.compile import (
    MAX_TERMS_PER_RULE,
    SHARD_BUDGET,
    CompileError,
    compile_rulebook,
    truth_terms,
)
from evaluator.rulebook import assemble, load_packs

from conftest import MINI
from golden_files import check_golden


def test_mini_pack_compiles_to_the_golden_rulesets(update_goldens: bool) -> None:
    book = assemble(load_packs([MINI]), "ru-elr", "autonomous_vehicles")
    compiled = compile_rulebook(book)
    golden = {"rulesets": compiled.definitions(), "fields": compiled.fields()}
    text = json.dumps(golden, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    check_golden("compiled-mini.json", text, update_goldens)


def test_strata_follow_the_derive_levels() -> None:
    compiled = compile_rulebook(assemble(load_packs([MINI]), "ru-elr", "autonomous_vehicles"))
    assert [(s.kind, s.rule_ids) for s in compiled.strata] == [
        ("derive", ["MINI-DRV-DRIVERLESS"]),
        ("derive", ["MINI-DRV-HIGH"]),
        ("require", ["MINI-TERM", "MINI-HAZARDS", "MINI-REMOTE", "MINI-HIGH-REPORT", "MINI-EMAIL",
                     "MINI-INSURED"]),
    ]
    assert list(compiled.quantifiers) == ["MINI-HAZARDS__41_11_safety_hazards_every"]


def leaf(path: str, op: str, value: object = None) -> c.Leaf:
    return c.Leaf(c.Subject("field", tuple(path.split("."))), op, value)


class _Rule:
    id, file, line = "R", "r.yaml", 1


def test_true_and_false_forms_are_disjunctive_normal_form() -> None:
    cond = c.AllOf((leaf("a", "eq", 1), c.AnyOf((leaf("b", "lt", 2), leaf("c", "in", ("x", "y"))))))
    rule = _Rule()
    true = [[json.loads(text) for _, text in term] for term in truth_terms(cond, True, rule)]  # type: ignore[arg-type]
    false = [[json.loads(text) for _, text in term] for term in truth_terms(cond, False, rule)]  # type: ignore[arg-type]
    assert true == [[{"a": 1}, {"$lt": {"b": 2}}], [{"a": 1}, {"c": "x"}], [{"a": 1}, {"c": "y"}]]
    assert false == [[{"$neq": {"a": 1}}], [{"$gte": {"b": 2}}, {"$neq": {"c": "x"}}, {"$neq": {"c": "y"}}]]


def test_a_condition_that_expands_too_far_is_refused() -> None:
    parts = tuple(c.AnyOf((leaf(f"a{i}", "eq", 1), leaf(f"b{i}", "eq", 2))) for i in range(7))
    with pytest.raises(CompileError, match=f"more than {MAX_TERMS_PER_RULE} alternatives"):
        truth_terms(c.AllOf(parts), True, _Rule())  # type: ignore[arg-type]


def test_shards_stay_within_the_budget() -> None:
    compiled = compile_rulebook(assemble(load_packs([MINI]), "ru-elr", "autonomous_vehicles"))
    for stratum in [compiled.items, *compiled.strata]:
        for shard in stratum.shards:
            assert shard.cost <= SHARD_BUDGET


def test_a_shard_whose_facts_would_be_too_large_gives_way_to_a_new_one() -> None:
    from evaluator.compile import FACT_OVERHEAD, MAX_PROPERTIES, Shard, Stratum, _shard_for

    stratum = Stratum(0, "require", shards=[Shard("full")])
    for index in range(MAX_PROPERTIES - FACT_OVERHEAD):
        stratum.shards[0].field_name(f"a.b{index}")
    assert _shard_for(stratum, [], [], frozenset({"a.b0", "a.b7"}), "sbx") == 0  # nothing new to carry
    assert _shard_for(stratum, [], [], frozenset({"a.b0", "a.new"}), "sbx") == 1
    assert [shard.name for shard in stratum.shards] == ["full", "sbx_require0_1"]


def test_every_shipped_shard_stays_under_the_engines_property_limit() -> None:
    from evaluator.compile import FACT_OVERHEAD, MAX_PROPERTIES, compile_rulebook
    from evaluator.rulebook import assemble_all, default_rules_dir, load_packs

    for book in assemble_all(load_packs([default_rules_dir()])).values():
        compiled = compile_rulebook(book)
        for stratum in compiled.strata:
            assert all(len(shard.fields) + FACT_OVERHEAD <= MAX_PROPERTIES for shard in stratum.shards)
        assert all(len(group.reads) + FACT_OVERHEAD <= MAX_PROPERTIES for group in compiled.items.groups)
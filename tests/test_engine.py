"""Regression tests for every durable_rules hazard the adapter must make impossible.

See ../shared/reference/durable-rules.md §3, §7 and §8 for the measurements behind each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from evaluator.compile import CATCH_ALL, MAX_PROPERTIES, SHARD_BUDGET, compile_rulebook
from evaluator.engine import DurableAdapter, Projection, list_at, normalise, project
from evaluator.errors import EngineError, InputError
from evaluator.evaluate import Evaluator
from evaluator.loader import load_bytes
from evaluator.model import build_proposal
from evaluator.pipeline import Session
from evaluator.rulebook import assemble, load_packs

from conftest import EXAMPLES, MINI, MINIMAL_PROPOSAL


def proposal_from(text: str, name: str = "p.yaml") -> Any:
    return build_proposal(load_bytes(text.encode(), name))


def one_rule_evaluator(tmp_path: Path, check: str) -> Evaluator:
    """An evaluator for a pack holding a single minor safety rule with ``check``."""
    directory = tmp_path / "one-rule"
    directory.mkdir(exist_ok=True)
    (directory / "pack.yaml").write_text(f"""\
pack: {{id: one, title: One rule, version: "1.0.0", framework: ru-elr, effective: "2026-01-01"}}
require:
  - id: ONE-RULE
    title: One rule
    pillar: safety
    severity: minor
    check: {check}
    basis: [{{instrument: I, article: A, url: "https://example.org"}}]
    message: M.
    remediation: R.
""", encoding="utf-8")
    return Evaluator(assemble(load_packs([directory]), "ru-elr", "autonomous_vehicles"))


@pytest.fixture(scope="module")
def mini_evaluator() -> Evaluator:
    return Evaluator(assemble(load_packs([MINI]), "ru-elr", "autonomous_vehicles"))


def walk_patterns(definitions: dict[str, dict[str, Any]]) -> list[tuple[str, str, Any]]:
    out = []
    for ruleset, rules in definitions.items():
        for name, rule in rules.items():
            for pattern in rule["all"]:
                for alias, body in pattern.items():
                    out.append((f"{ruleset}/{name}", alias, body))
    return out


def test_every_ruleset_has_the_catch_all_rule(mini_evaluator: Evaluator) -> None:
    definitions = mini_evaluator.compiled.definitions()
    assert definitions
    for name, rules in definitions.items():
        kind = "session" if name.startswith("sbx_items") else "proposal"
        assert rules[CATCH_ALL] == {"all": [{"m": {"kind": kind}}], "pri": 65535}


def test_every_pattern_starts_with_the_discriminator(mini_evaluator: Evaluator) -> None:
    group_of = {qid: group.gid for group in mini_evaluator.compiled.items.groups for qid in group.qids}
    kinds = [{"kind": kind} for kind in ("proposal", "item", "item_judge", "judge", "session")]
    for where, _alias, body in walk_patterns(mini_evaluator.compiled.definitions()):
        first = body["$and"][0] if "$and" in body else body
        assert first in kinds, where
        rule_id = where.split("/")[1].split("|")[0]
        if first in ({"kind": "item"}, {"kind": "item_judge"}) and "~" not in where:
            assert body["$and"][1] == {"g": group_of[rule_id]}, where
        if first == {"kind": "judge"}:  # a judge rule: an $or of terms, each led by its rule's id
            assert where.split("/")[1].startswith("~judge|") and len(body["$and"]) == 2, where
            rule_ids = [term["$and"][0]["j"] for term in body["$and"][1]["$or"]]
            known = {rule.id for rule in [*mini_evaluator.rulebook.derive, *mini_evaluator.rulebook.require]}
            assert rule_ids and set(rule_ids) <= known, where


def test_no_pattern_joins_on_id_and_only_negations_have_two_patterns(mini_evaluator: Evaluator) -> None:
    text = json.dumps(mini_evaluator.compiled.definitions())
    assert '"$m": "id"' not in text and '"id":' not in text
    assert "$mt" not in text  # regular expressions are decided in Python (regex.py)
    for rules in mini_evaluator.compiled.definitions().values():
        for rule in rules.values():
            assert len(rule["all"]) == 1 and "dist" not in rule


def test_a_session_in_which_only_the_catch_all_fires_does_not_crash() -> None:
    # §8.1: delete_state segfaults when no action ran; run it in a child so a crash is seen.
    # Proposal sessions meet their catch-all; item and judge sessions a marker fact (a list
    # item or a doubtful condition that matches nothing must not leave a session without one).
    script = f"""
import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import MINI
from evaluator.evaluate import Evaluator
from evaluator.loader import load_bytes
from evaluator.model import build_proposal
from evaluator.rulebook import assemble, load_packs
ev = Evaluator(assemble(load_packs([MINI]), "ru-elr", "autonomous_vehicles"))
empty = b"descriptor_version: 1\\nmetadata: {{id: e, title: t, version: '1', framework: ru-elr, domain: autonomous_vehicles}}\\napplicant: {{name: A}}\\n"
# hazards without mitigations: every item fact matches no item rule, only the session marker
unknown_items = empty + b"safety: {{hazards: [{{id: H1, description: d, severity: minor, likelihood: rare}}]}}\\n"
for _ in range(200):
    ev.evaluate(build_proposal(load_bytes(empty, "e.yaml")))
    ev.evaluate(build_proposal(load_bytes(unknown_items, "u.yaml")))
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_more_proposals_than_live_session_limit(mini_evaluator: Evaluator) -> None:
    # §5.2: 1,024 live sessions per ruleset; every session is deleted after its proposal.
    proposal = proposal_from(MINIMAL_PROPOSAL)
    outcomes = {tuple(r.outcome for r in mini_evaluator.evaluate(proposal).results) for _ in range(1100)}
    assert outcomes == {("pass", "fail", "pass", "fail", "pass", "indeterminate")}


def test_no_timer_threads_are_started() -> None:
    before = threading.active_count()
    Evaluator(assemble(load_packs([MINI]), "ru-elr", "autonomous_vehicles"))
    assert threading.active_count() == before


def test_many_simultaneously_true_rules_are_sharded(tmp_path: Path) -> None:
    # §7: more than 64 true conditions under one node is error 303; 512 distinct ones hang.
    rules = "\n".join(
        f"""  - id: BIG-R{i}
    title: R{i}
    pillar: safety
    severity: minor
    check: {{field: scope.term.duration_months, op: gte, value: {i % 30}}}
    basis: [{{instrument: I, article: A, url: "https://example.org"}}]
    message: M.
    remediation: R."""
        for i in range(600)
    )
    (tmp_path / "big.yaml").write_text(
        'pack: {id: big, title: B, version: "1.0.0", framework: ru-elr, effective: "2026-01-01"}\n'
        f"require:\n{rules}\n", encoding="utf-8")
    evaluator = Evaluator(assemble(load_packs([tmp_path]), "ru-elr", "medical_ai"))
    shards = [s for stratum in evaluator.compiled.strata for s in stratum.shards]
    assert len(shards) == 600 // SHARD_BUDGET
    for shard in shards:  # the proposal fact meets the screen rules; a judge fact only its own rule's terms
        firsts = [rule["all"][0]["m"].get("$and", [None])[0] for rule in shard.rules.values()]  # None: catch-all
        judged = [term["$and"][0]["j"] for rule in shard.rules.values() if rule["all"][0]["m"].get("$and", [None])[0]
                  == {"kind": "judge"} for term in rule["all"][0]["m"]["$and"][1]["$or"]]
        assert (firsts.count({"kind": "proposal"}), shard.cost) == (SHARD_BUDGET, SHARD_BUDGET)
        # 60 judge terms of two tests each ($and: 2 expressions), 12 to a rule (MAX_RULE_EXPRESSIONS)
        assert (firsts.count({"kind": "judge"}), len(judged), len(set(judged))) == (5, SHARD_BUDGET, SHARD_BUDGET)
    text = MINIMAL_PROPOSAL.replace("domain: autonomous_vehicles", "domain: medical_ai")
    results = evaluator.evaluate(proposal_from(text)).results
    assert [r.outcome for r in results] == ["pass"] * 600


def test_alternatives_that_are_all_true_are_counted_once(tmp_path: Path) -> None:
    # §3.5: an $or with k true branches fires k times; outcomes must still be single.
    evaluator = one_rule_evaluator(tmp_path, "{any: [{field: applicant.name, op: present}, "
                                   "{field: metadata.id, op: present}, {field: metadata.domain, op: in, "
                                   "value: [medical_ai, autonomous_vehicles]}]}")
    assert [r.outcome for r in evaluator.evaluate(proposal_from(MINIMAL_PROPOSAL)).results] == ["pass"]


def test_small_floats_are_not_sent_in_exponent_form(tmp_path: Path) -> None:
    # §7: the engine rejects 1e-05 (error 204); the adapter writes 1.0e-05.
    evaluator = one_rule_evaluator(tmp_path, "{field: insurance.sum_per_unit, op: gt, value: 0.000001}")
    text = MINIMAL_PROPOSAL + "insurance: {sum_per_unit: 0.00001}\n"
    assert [r.outcome for r in evaluator.evaluate(proposal_from(text)).results] == ["pass"]


@pytest.mark.parametrize(("value", "message"), [
    ("12345678901234567890", "p.yaml:19:27: [insurance.sum_per_unit] integer is too large (the limit is 2^63 - 1)"),
    (".nan", "p.yaml:19:27: [insurance.sum_per_unit] number must be finite (not .nan or .inf)"),
])
def test_values_the_engine_cannot_represent_are_input_errors(mini_evaluator: Evaluator, value: str,
                                                             message: str) -> None:
    text = MINIMAL_PROPOSAL + f"insurance: {{sum_per_unit: {value}}}\n"
    with pytest.raises(InputError) as caught:
        mini_evaluator.evaluate(proposal_from(text))
    assert str(caught.value) == message


def test_normalise_drops_nulls_and_adds_markers() -> None:
    assert normalise({"a": None, "b": [1, None, 2], "c": {"d": []}}) == {
        "b": [1, 2], "b__len": 3, "b__set": True,
        "c": {"d": [], "d__len": 0, "d__set": True}, "c__set": True,
    }


def test_projection_flattens_what_a_shard_tests_under_its_field_names() -> None:
    document = normalise({"x": {"y": 1, "z": 2, "s": {"deep": 1}, "t": "a long text"}, "l": [{"k": 1}], "q": 5})
    fields = {"x.y": "f0", "l": "f1", "l__len": "f2", "x.s__set": "f3", "x.s": "f4", "x.t": "f5", "missing.path": "f6"}
    # a section (x.s) is tested through its marker; a value only tested for presence (x.t) is sent as true
    assert project(document, fields, compared={"x.y", "l", "l__len", "x.s"}) == {
        "f0": 1, "f1": [{"k": 1}], "f2": 1, "f3": True, "f5": True}


def _twice(projection: Projection, document: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``projection`` takes from ``document`` walking its plan, then as compiled code."""
    walked = projection.take(document)
    for _ in range(Projection.COMPILE_AFTER):
        projection.take({})
    return walked, projection.take(document)


def test_a_compiled_projection_takes_what_the_walked_one_takes() -> None:
    session = Session()
    values = 0
    for path in sorted(EXAMPLES.glob("*.yaml")):
        proposal = build_proposal(load_bytes(path.read_bytes(), path.name))
        adapter = session.evaluator(proposal.framework, proposal.domain)._adapter
        compiled = adapter.compiled
        document = normalise(proposal.data)
        document["__q"] = dict.fromkeys(compiled.quantifiers, "T")
        for stratum in compiled.strata:
            for shard in stratum.shards:
                walked, generated = _twice(adapter._projection(object(), shard, shard.fields), document)
                assert walked == generated, (path.name, shard.name)
                values += len(walked)
            for rule_id, reads in stratum.reads.items():
                shard = stratum.shards[stratum.shard_of[rule_id]]
                assert _twice(adapter._projection(object(), shard, reads), document)[1] == \
                    Projection((shard.fields[p], tuple(p.split(".")), p not in shard.compared) for p in reads).take(document)
        for group in compiled.items.groups:
            shard = compiled.items.shards[group.shard]
            for item in [*(list_at(document, group.path) or []), "a text", None]:
                walked, generated = _twice(adapter._projection(object(), shard, group.reads, ("it",)), item)
                assert walked == generated, (path.name, group.qids)
    assert values > 1_000


def test_a_compiled_projection_keeps_any_field_name_a_string() -> None:
    name = "a'\"\\n); import os; ('"
    fields = [(name, (name, name), False), ("f1", (name, "t"), True)]
    walked, generated = _twice(Projection(fields), {name: {name: 1, "t": "long"}})
    assert walked == generated == {name: 1, "f1": True}
    walked, generated = _twice(Projection([("whole", (), False)]), "an item that is a text")
    assert walked == generated == {"whole": "an item that is a text"}


def test_every_fact_the_examples_assert_stays_within_the_property_limit(monkeypatch: Any) -> None:
    # §7: more than 255 properties in one fact is error 302, after which deleting the session can
    # crash. Facts are flat and the compiler bounds their fields (test_compile); this checks what
    # is asserted, judges included (exhaustive mode sends every judge fact).
    sizes: list[int] = []
    real = DurableAdapter._session

    def spy(self: Any, shard: Any, facts: Any, tolerant: bool = False) -> Any:
        assert all(not isinstance(value, dict) for fact in facts for value in fact.values())
        sizes.extend(len(fact) for fact in facts)
        return real(self, shard, facts, tolerant)

    monkeypatch.setattr(DurableAdapter, "_session", spy)
    session = Session()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        proposal = build_proposal(load_bytes(path.read_bytes(), path.name))
        fast = session.evaluator(proposal.framework, proposal.domain)
        Evaluator(fast.rulebook, fast.compiled, exhaustive=True).evaluate(proposal)
    assert sizes and max(sizes) + 1 <= MAX_PROPERTIES  # + 1: the engine counts "sid", added in _session


@pytest.mark.parametrize(("answer", "message"), [
    ((1, None), r"did not handle a fact in sbx_derive0_0 \(code 1\)"),
    ((2, None), r"did not handle a fact in sbx_derive0_0 \(code 2\)"),
    (Exception("error code: 303"), r"failed on ruleset sbx_derive0_0: error code: 303"),
])
def test_an_engine_refusal_is_an_engine_error(mini_evaluator: Evaluator, monkeypatch: Any, answer: Any,
                                              message: str) -> None:
    # §4/§7: an unhandled or already-observed fact fires nothing, and limits surface as bare
    # Exceptions with error codes; either must stop the evaluation, never read as "no rule fired".
    from evaluator.engine import durable_core

    real = durable_core.assert_facts

    def refuse(handle: int, facts: str) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer[0], real(handle, facts)[1]  # the engine's own session, with the code given

    monkeypatch.setattr("evaluator.engine.durable_core.assert_facts", refuse)
    with pytest.raises(EngineError, match=message):
        mini_evaluator._adapter.fire(mini_evaluator.compiled.strata[0], [], normalise({}))


def test_state_does_not_leak_between_proposals(mini_evaluator: Evaluator) -> None:
    first = proposal_from(MINIMAL_PROPOSAL)
    second = proposal_from(MINIMAL_PROPOSAL.replace("intervention: remote_operator",
                                                    "intervention: driver_in_seat")
                           .replace("duration_months: 36", "duration_months: 48"))
    a1 = mini_evaluator.evaluate(first)
    b = mini_evaluator.evaluate(second)
    a2 = mini_evaluator.evaluate(first)
    assert [r.outcome for r in a1.results] == [r.outcome for r in a2.results]
    assert a1.facts == a2.facts
    assert [r.outcome for r in b.results] == ["fail", "fail", "not_applicable", "not_applicable", "pass",
                                              "indeterminate"]
    assert b.facts["driverless"].origin == "default"


def test_compiled_rules_are_deterministic() -> None:
    book = assemble(load_packs([MINI]), "ru-elr", "autonomous_vehicles")
    assert compile_rulebook(book).definitions() == compile_rulebook(book).definitions()


def test_comparison_with_a_missing_right_hand_field_is_unknown(tmp_path: Path) -> None:
    # Measured here (contrary to the reference notes): with the right field missing, the engine
    # finds both $lt and $gte true. The compiler guards the other field with $ex.
    evaluator = one_rule_evaluator(tmp_path, "{field: scope.term.start, op: lt, value: {field: scope.term.end}}")
    outcomes = [evaluator.evaluate(proposal_from(MINIMAL_PROPOSAL.replace(old, new))).results[0].outcome
                for old, new in [("", ""), (", end: 2029-05-31", ""), ("start: 2026-06-01, ", ""),
                                 ("end: 2029-05-31", "end: 2025-01-01")]]
    assert outcomes == ["pass", "indeterminate", "indeterminate", "fail"]


def test_a_condition_with_many_alternatives_is_cut_into_rules_the_engine_accepts(tmp_path: Path) -> None:
    # The engine refuses a rule whose join node would list 32 expressions (error 113); every
    # alternative of several tests adds two. The true form here has 32 such alternatives.
    parts = ", ".join(f"{{any: [{{field: scope.term.duration_months, op: gte, value: {10 * i}}}, "
                      f"{{field: scope.scale.units, op: gte, value: {10 * i}}}]}}" for i in range(1, 6))
    evaluator = one_rule_evaluator(tmp_path, f"{{all: [{parts}]}}")
    shard = evaluator.compiled.strata[-1].shards[0]
    assert sorted(name for name in shard.rules if "|F|" in name) == ["ONE-RULE|check|F|0"]  # 1 term of 5 tests
    judges = {name: len(rule["all"][0]["m"]["$and"][1]["$or"]) for name, rule in shard.rules.items()
              if name.startswith("~judge")}  # the true form: 32 terms, 12 to a rule
    assert judges == {"~judge|check|0": 12, "~judge|check|1": 12, "~judge|check|2": 8}
    outcomes = [evaluator.evaluate(proposal_from(MINIMAL_PROPOSAL.replace("scope:\n", f"scope:\n  scale: {{units: {units}}}\n")))
                .results[0].outcome for units in (250, 20)]
    assert outcomes == ["pass", "fail"]  # 36 months and 20 units miss the fourth alternative (40)


def test_a_field_comparison_among_alternatives_is_decided_on_its_own(tmp_path: Path) -> None:
    # A comparison of two fields inside an $or also lists an expression at the join node, which
    # the engine evaluates against the whole $or; the comparison must still decide only its own
    # alternative. Exhaustive mode asks both forms, so a wrongly fired one raises.
    fast = one_rule_evaluator(tmp_path, "{any: [{field: scope.term.start, op: lt, value: {field: scope.term.end}}, "
                              "{field: scope.term.duration_months, op: eq, value: 12}]}")
    exhaustive = Evaluator(fast.rulebook, fast.compiled, exhaustive=True)
    late = MINIMAL_PROPOSAL.replace("end: 2029-05-31", "end: 2025-01-01")
    for text, outcome in [(MINIMAL_PROPOSAL, "pass"), (late, "fail"),
                          (late.replace("duration_months: 36", "duration_months: 12"), "pass")]:
        for evaluator in (fast, exhaustive):
            assert evaluator.evaluate(proposal_from(text)).results[0].outcome == outcome


def _walk_json(node: Any, parents: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(parents, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _walk_json(value, (*parents, key))
    elif isinstance(node, list):
        for value in node:
            out += _walk_json(value, parents)
    return out


@pytest.mark.parametrize("pack", ["mini", "ops"])
def test_compiled_rules_avoid_the_shapes_measured_to_misbehave(pack: str) -> None:
    # Measured here: $or inside $iany/$iall gives wrong answers; $not around $iany never blocks.
    from conftest import TESTS

    book = assemble(load_packs([TESTS / "fixtures" / "packs" / pack]), "ru-elr", "autonomous_vehicles")
    definitions = compile_rulebook(book).definitions()
    for rules in definitions.values():
        for name, rule in rules.items():  # an $or joins alternatives (terms), after the discriminator
            tests = rule["all"][0]["m"].get("$and", [])
            ors = [i for i, node in enumerate(tests) if "$or" in node]
            assert ors in ([], [len(tests) - 1]), name
    for parents, node in _walk_json(definitions):
        if isinstance(node, dict) and ("$iany" in node or "$iall" in node):
            inner = next(iter((node.get("$iany") or node.get("$iall")).values()))
            assert not ({"$and", "$or"} & set(inner)), parents
        if parents and parents[-1].endswith("$not"):
            assert node["$and"][0] == {"kind": "proposal"} and "$mt" in node["$and"][1], parents


REGEX_CASES = [
    ("[a-z]+@[a-z]+\\.ru", ["a@b.ru", "a@b.rux", "A@b.ru", "a@bru", "ab.ru"]),
    ("[^0-9]+", ["abc", "a1c", "", "---"]),
    ("(ab|cd)+x?", ["abcd", "abx", "abcdx", "ax", "cdcdcd"]),
    ("\\d{3}-\\d{2}", ["123-45", "12-345", "123-456", "abc-de"]),
    ("Mos.*", ["Moscow", "Mos", "moscow", "Moscow region"]),
    ("100%", ["100%", "100"]),
    # Overlapping literals after '.*': durable's own matcher gets these wrong (found by a rule author).
    (".*aba.*", ["abab", "aba", "xabax", "abba"]),
    (".*[Vv]igilance.*", ["vigilance v", "Vigilance", "no"]),
    (".*(vigilance|Vigilance|MDR|EUDAMED).*", ["EUDAMED E", "Vigilance device V", "MDR", "none"]),
]


@pytest.mark.parametrize(("pattern", "values"), REGEX_CASES)
def test_engine_regex_dialect_agrees_with_python_full_match(tmp_path: Path, pattern: str,
                                                            values: list[str]) -> None:
    import re

    evaluator = one_rule_evaluator(
        tmp_path, f"{{field: scope.territory.description, op: matches, value: {json.dumps(pattern)}}}")
    for value in values:
        text = MINIMAL_PROPOSAL.replace("scope:\n", f"scope:\n  territory: {{description: {json.dumps(value)}}}\n")
        outcome = evaluator.evaluate(proposal_from(text)).results[0].outcome
        expected = "pass" if re.fullmatch(pattern, value, flags=re.ASCII | re.DOTALL) else "fail"
        assert (value, outcome) == (value, expected)


def test_matching_stays_linear_on_long_hostile_text(tmp_path: Path) -> None:
    """Patterns that make a backtracking matcher explode are decided at once by RE2."""
    value = "a" * 90_000 + "c"  # under the loader's default string limit
    for pattern in ("(a+)+b", "(a|aa)*b", ".*a.*a.*a.*b"):
        evaluator = one_rule_evaluator(
            tmp_path, f"{{field: scope.territory.description, op: matches, value: {json.dumps(pattern)}}}")
        text = MINIMAL_PROPOSAL.replace("scope:\n", f"scope:\n  territory: {{description: {value}}}\n")
        assert evaluator.evaluate(proposal_from(text)).results[0].outcome == "fail"


def _pairs() -> list[tuple[str, str]]:
    from evaluator.rulebook import domains

    return [(framework, domain) for framework in ("ru-elr", "eu-ai-act") for domain in domains()]


@pytest.mark.parametrize(("framework", "domain"), _pairs())
def test_screened_verdicts_agree_with_both_polarities(framework: str, domain: str) -> None:
    # compile.Stratum: the screen holds one polarity per condition and "did not fire" is read as
    # the other one unless the condition reads a missing value. Exhaustive mode fires every
    # judge too and raises where the two disagree; the outcomes must not change.
    from evaluator.pipeline import Session
    from evaluator.validate import quickly_valid

    from generate import proposal

    fast = Session().evaluator(framework, domain)
    exhaustive = Evaluator(fast.rulebook, fast.compiled, exhaustive=True)
    documents = [proposal(seed, framework, domain) for seed in range(40)]
    checked = 0
    for data in documents:
        if not quickly_valid(data):
            continue
        subject = build_proposal(load_bytes(json.dumps(data).encode(), "generated.yaml"))
        one, other = fast.evaluate(subject), exhaustive.evaluate(subject)
        assert ([r.outcome for r in one.results], one.facts, one.trace) == (
            [r.outcome for r in other.results], other.facts, other.trace)
        checked += 1
    assert checked >= 30


def test_screened_verdicts_agree_with_both_polarities_on_the_examples() -> None:
    from evaluator.pipeline import Session

    from conftest import EXAMPLES

    session = Session()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        subject = build_proposal(load_bytes(path.read_bytes(), path.name))
        fast = session.evaluator(subject.framework, subject.domain)
        one = fast.evaluate(subject)
        other = Evaluator(fast.rulebook, fast.compiled, exhaustive=True).evaluate(subject)
        assert ([r.outcome for r in one.results], one.trace) == ([r.outcome for r in other.results], other.trace)


@pytest.mark.parametrize(("hazards", "truths", "outcome"), [
    ("[{id: H1, description: x, mitigations: [a]}, {id: H2, description: y, mitigations: [b, c]}]",
     [True, True], "pass"),
    ("[{id: H1, description: x, mitigations: [a]}, {id: H2, description: y, mitigations: []}]",
     [True, False], "fail"),
    ("[{id: H1, description: x, mitigations: [a]}, {id: H2, description: y}]", [True, None], "indeterminate"),
    ("[{id: H1, description: x}, {id: H2, description: y, mitigations: []}]", [None, False], "fail"),
])
def test_list_items_are_screened_and_only_doubtful_ones_judged(
        mini_evaluator: Evaluator, monkeypatch: Any, hazards: str, truths: list[bool | None], outcome: str) -> None:
    # compile.Quantifier.screened_truth: an `every` item's screen holds the false form of
    # `where`; an item that fires nothing is true unless a value `where` reads is missing, and
    # only then is it judged.
    text = MINIMAL_PROPOSAL.split("  hazards:")[0] + f"  hazards: {hazards}\noversight:\n  reporting: {{frequency_months: 6}}\n"
    subject = proposal_from(text)
    items = mini_evaluator.compiled.items
    kinds: list[str] = []
    real = type(mini_evaluator._adapter)._session

    def spy(self: Any, shard: Any, facts: Any, tolerant: bool = False) -> Any:
        kinds.extend(fact["kind"] for fact in facts)
        return real(self, shard, facts, tolerant)

    monkeypatch.setattr(type(mini_evaluator._adapter), "_session", spy)
    document = normalise(subject.data)
    judged = mini_evaluator._adapter.fire_items(items, document)
    assert list(judged.values()) == [truths]
    # a doubtful item is asserted again for the judges, right after its screen fact
    assert kinds == ["session", *(kind for truth in truths for kind in ["item", "item_judge"][:1 + (truth is None)])]
    exhaustive = Evaluator(mini_evaluator.rulebook, mini_evaluator.compiled, exhaustive=True)
    assert list(exhaustive._adapter.fire_items(items, document, True).values()) == [truths]
    result = {r.rule.id: r.outcome for r in mini_evaluator.evaluate(subject).results}
    assert result["MINI-HAZARDS"] == outcome


@pytest.mark.parametrize(("op", "fired", "outcome"), [
    # `every` meets the false form first, `some` and `none` the true one: only the item with
    # that form fires the screen (the doubtful third item meets the judges, and fires nothing)
    ("every", 1, "fail"),
    ("some", 0, "pass"),
    ("none", 0, "fail"),
])
def test_each_quantifier_screens_its_items_in_the_form_they_seldom_have(
        tmp_path: Path, monkeypatch: Any, op: str, fired: int, outcome: str) -> None:
    check = f"{{field: safety.hazards, op: {op}, where: {{field: mitigations, op: min_items, value: 1}}}}"
    evaluator = one_rule_evaluator(tmp_path, check)
    hazards = "[{id: H1, description: x, mitigations: [a]}, {id: H2, description: y, mitigations: []}, {id: H3, description: z}]"
    subject = proposal_from(MINIMAL_PROPOSAL.split("  hazards:")[0] + f"  hazards: {hazards}\n")
    [quantifier] = evaluator.compiled.quantifiers.values()
    assert quantifier.screened_truth is (op != "every")
    screen_hits: list[int] = []
    real = type(evaluator._adapter)._session

    def spy(self: Any, shard: Any, facts: Any, tolerant: bool = False) -> Any:
        found = real(self, shard, facts, tolerant)
        screen_hits.extend(index for name, index in found
                           if name in shard.targets and shard.targets[name].truth is quantifier.screened_truth)
        return found

    monkeypatch.setattr(type(evaluator._adapter), "_session", spy)
    judged = evaluator._adapter.fire_items(evaluator.compiled.items, normalise(subject.data))
    assert list(judged.values()) == [[True, False, None]]
    assert screen_hits == [fired]
    assert {r.rule.id: r.outcome for r in evaluator.evaluate(subject).results}["ONE-RULE"] == outcome

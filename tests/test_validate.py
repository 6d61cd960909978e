from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluator.errors import EvaluatorError, InputError
from evaluator.loader import load_bytes, load_file
from evaluator.validate import quickly_valid, schema_errors, schema_text, validate_proposal

from conftest import EXAMPLES

BROKEN = b"""\
descriptor_version: 1
metadata:
  id: bad id!
  title: T
  version: "1"
  framework: ru-elr
  domain: self_driving
applicant:
  name: ACME
  lgeal_form: legal_entity
scope:
  term: {start: 2026-13-01, duration_months: "36"}
insurance:
  present: yes please
"""


def problems(raw: bytes) -> list[str]:
    with pytest.raises(InputError) as caught:
        validate_proposal(load_bytes(raw, "p.yaml"))
    return [str(p) for p in caught.value.problems]


def test_every_schema_error_at_once_with_line_column_and_field() -> None:
    assert problems(BROKEN) == [
        "p.yaml:3:7: [metadata.id] must start with a letter or digit and hold at most 80 letters, digits, '.', '_' "
        "or '-'; found 'bad id!'",
        "p.yaml:7:11: [metadata.domain] 'self_driving' is not one of: autonomous_vehicles, medical_ai, "
        "unmanned_aircraft, telemedicine, financial_services, digital_innovation",
        "p.yaml:10:3: [applicant.lgeal_form] unknown key 'lgeal_form' (did you mean 'legal_form'?)",
        "p.yaml:12:17: [scope.term.start] '2026-13-01' is not a date in the form YYYY-MM-DD",
        "p.yaml:12:46: [scope.term.duration_months] expected a whole number, found '36'",
        "p.yaml:14:12: [insurance.present] expected true or false, found 'yes please'",
    ]


def test_missing_required_section_points_at_parent() -> None:
    assert problems(b"descriptor_version: 1\napplicant: {name: A}\n") == [
        "p.yaml:1:1: [(top level)] 'metadata' is required",
    ]


def test_unknown_key_without_close_match_lists_allowed_keys() -> None:
    found = problems(b"descriptor_version: 1\nmetadata: {id: a, title: t, version: '1', framework: ru-elr, "
                     b"domain: medical_ai}\napplicant: {name: A}\nzzz: 1\n")
    assert found == ["p.yaml:4:1: [zzz] unknown key 'zzz'; allowed keys: ai_act, applicant, descriptor_version, "
                     "exit_plan, fca, innovation, insurance, metadata, oversight, personal_data, safety, "
                     "scope, technology"]


def test_valid_minimal_proposal_passes() -> None:
    validate_proposal(load_bytes(b"descriptor_version: 1\nmetadata: {id: a, title: t, version: '1', "
                                 b"framework: ru-elr, domain: medical_ai}\napplicant: {name: A}\n", "p.yaml"))


def test_shipped_schema_is_valid_json_schema() -> None:
    import jsonschema

    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["descriptor_version"] == {"const": 1, "description": schema["properties"]
                                                           ["descriptor_version"]["description"]}


def proposal(**lines: str) -> bytes:
    """A valid proposal (line 4: title, 5: version, 6: submitted, 9: duration, 10: sum, 11: device class)."""
    fields = {"title": "t", "version": "'1'", "submitted": "2026-03-02", "duration_months": "36",
              "sum_per_unit": "1000000", "device_class": "2a"} | lines
    return ("descriptor_version: 1\nmetadata:\n  id: a\n  title: {title}\n  version: {version}\n"
            "  submitted: {submitted}\n  framework: ru-elr\n  domain: medical_ai\n"
            "scope: {{term: {{duration_months: {duration_months}}}}}\ninsurance: {{sum_per_unit: {sum_per_unit}}}\n"
            "technology: {{medical_ai: {{device_class: {device_class}}}}}\napplicant: {{name: A}}\n").format(
                **fields).encode()


def quote(raw: str, reading: str, fix: str = "") -> str:
    return f"the file says {raw} unquoted, which YAML reads as {reading}: " + (fix or f'write "{raw}" in quotes')


NOTHING = "null (nothing)"
OR_LEAVE_OUT = ", or leave the field out if it has no value"


@pytest.mark.parametrize(("line", "expected"), [
    ({"title": "yes"}, "p.yaml:4:10: [metadata.title] expected text, found true (a boolean); " + quote("yes", "a boolean")),
    ({"title": "NO"}, "p.yaml:4:10: [metadata.title] expected text, found false (a boolean); " + quote("NO", "a boolean")),
    ({"title": "off"}, "p.yaml:4:10: [metadata.title] expected text, found false (a boolean); " + quote("off", "a boolean")),
    ({"title": "True"}, "p.yaml:4:10: [metadata.title] expected text, found true (a boolean); " + quote("True", "a boolean")),
    ({"title": "~"}, "p.yaml:4:10: [metadata.title] expected text, found nothing (null); "
                     + quote("~", NOTHING, 'write "~" in quotes' + OR_LEAVE_OUT)),
    ({"title": "null"}, "p.yaml:4:10: [metadata.title] expected text, found nothing (null); "
                        + quote("null", NOTHING, 'write "null" in quotes' + OR_LEAVE_OUT)),
    ({"version": "012"}, "p.yaml:5:12: [metadata.version] expected text, found 10 (a number); " + quote("012", "octal 10")),
    ({"version": "0x1F"}, "p.yaml:5:12: [metadata.version] expected text, found 31 (a number); "
                          + quote("0x1F", "hexadecimal 31")),
    ({"version": "0b101"}, "p.yaml:5:12: [metadata.version] expected text, found 5 (a number); "
                           + quote("0b101", "binary 5")),
    ({"version": "1:30"}, "p.yaml:5:12: [metadata.version] expected text, found 90 (a number); "
                          + quote("1:30", "the sexagesimal (base 60) number 90")),
    ({"version": "1.2"}, "p.yaml:5:12: [metadata.version] expected text, found 1.2 (a number); " + quote("1.2", "a number")),
    ({"version": "1.20"}, "p.yaml:5:12: [metadata.version] expected text, found 1.2 (a number); "
                          + quote("1.20", "the number 1.2")),
    ({"version": "1_000"}, "p.yaml:5:12: [metadata.version] expected text, found 1000 (a number); "
                           + quote("1_000", "the number 1000")),
    ({"version": ".inf"}, "p.yaml:5:12: [metadata.version] expected text, found inf (a number); "
                          + quote(".inf", "the number inf")),
    ({"submitted": "20260302"}, "p.yaml:6:14: [metadata.submitted] expected text, found 20260302 (a number); "
                                + quote("20260302", "a number", "write the date as YYYY-MM-DD")),
    ({"submitted": "NULL"}, "p.yaml:6:14: [metadata.submitted] expected text, found nothing (null); "
                            + quote("NULL", NOTHING, "write the date as YYYY-MM-DD" + OR_LEAVE_OUT)),
    ({"duration_months": "3e1"}, "p.yaml:9:33: [scope.term.duration_months] expected a whole number, found '3e1'; "
                                 "YAML reads 3e1 as text, not a number (its exponents need a dot and a sign): write 30"),
    ({"sum_per_unit": "1e7"}, "p.yaml:10:27: [insurance.sum_per_unit] expected a number, found '1e7'; YAML reads 1e7 "
                              "as text, not a number (its exponents need a dot and a sign): write 10000000"),
    ({"sum_per_unit": "2.5E3"}, "p.yaml:10:27: [insurance.sum_per_unit] expected a number, found '2.5E3'; YAML reads "
                                "2.5E3 as text, not a number (its exponents need a dot and a sign): write 2500"),
    ({"sum_per_unit": "1e400"}, "p.yaml:10:27: [insurance.sum_per_unit] expected a number, found '1e400'"),
    ({"title": ""}, "p.yaml:4:9: [metadata.title] expected text, found nothing (null)"),
    ({"title": "'yes'", "version": "'012'", "sum_per_unit": "'lots'"},
     "p.yaml:10:27: [insurance.sum_per_unit] expected a number, found 'lots'"),
])
def test_yaml_1_1_readings_are_explained_with_what_the_file_says(line: dict[str, str], expected: str) -> None:
    assert problems(proposal(**line)) == [expected]


def test_an_unquoted_enum_value_read_as_a_number_gets_the_hint_on_both_errors() -> None:
    hint = quote("1", "a number")
    assert problems(proposal(device_class="1")) == [
        f"p.yaml:11:41: [technology.medical_ai.device_class] 1 (a number) is not one of: 1, 2a, 2b, 3; {hint}",
        f"p.yaml:11:41: [technology.medical_ai.device_class] expected text, found 1 (a number); {hint}",
    ]


@pytest.mark.parametrize("line", [{"title": "y"}, {"title": "n"}, {"title": "Y"}, {"title": "'yes'"}, {"title": '"on"'},
                                  {"title": "!!str no"}, {"title": "yes please"}, {"version": "'012'"},
                                  {"version": "07:00"}, {"sum_per_unit": "2.5E+3"}, {"sum_per_unit": "1.0e+7"}])
def test_what_yaml_1_1_reads_as_the_author_meant_is_valid(line: dict[str, str]) -> None:
    validate_proposal(load_bytes(proposal(**line), "p.yaml"))


def test_the_proposal_template_is_valid() -> None:
    validate_proposal(load_bytes(proposal(), "p.yaml"))


def test_bounds_emptiness_and_repeats_are_said_in_plain_words() -> None:
    raw = (b"descriptor_version: 1\nmetadata: {id: a, title: '', version: '1', framework: ru-elr, domain: medical_ai}\n"
           b"applicant: {name: n}\nscope: {term: {duration_months: 0}, territory: {regions: [A, A]}}\n"
           b"technology: {unmanned_aircraft: {risk_assessment: {sail: 9}}}\n")
    assert problems(raw) == [
        "p.yaml:2:26: [metadata.title] must not be empty",
        "p.yaml:4:33: [scope.term.duration_months] 0 (a number) is below the minimum of 1",
        "p.yaml:4:49: [scope.territory.regions] must not list the same value twice",
        "p.yaml:5:58: [technology.unmanned_aircraft.risk_assessment.sail] 9 (a number) is above the maximum of 6",
    ]


def _schema_patterns(node: object) -> set[str]:
    """Every ``pattern`` keyword's regex in a schema (a property named "pattern" is not one)."""
    if isinstance(node, list):
        return {p for v in node for p in _schema_patterns(v)}
    if not isinstance(node, dict):
        return set()
    own = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
    return own | {p for v in node.values() for p in _schema_patterns(v)}


def test_every_pattern_of_the_schema_is_said_in_words() -> None:
    """No message shows a raw regex: a pattern added to the schema needs its words in PATTERN_WORDS."""
    from evaluator.validate import PATTERN_WORDS, proposal_schema

    assert sorted(_schema_patterns(proposal_schema())) == sorted(PATTERN_WORDS)


def test_a_value_that_fails_a_pattern_is_told_what_the_pattern_asks_for() -> None:
    raw = (b"descriptor_version: 1\nmetadata: {id: ../../etc/passwd, title: t, version: '1', framework: ru-elr, "
           b"domain: medical_ai}\napplicant: {name: A, country: de, contact: {email: a@b}}\n"
           b"insurance: {currency: euro}\nsafety: {hazards: [{id: H 1, description: d, mitigations: []}]}\n")
    assert problems(raw) == [
        "p.yaml:2:16: [metadata.id] must start with a letter or digit and hold at most 80 letters, digits, '.', "
        "'_' or '-'; found '../../etc/passwd'",
        "p.yaml:3:31: [applicant.country] must be two capital letters, the ISO 3166-1 alpha-2 country code "
        "(e.g. 'DE'); found 'de'",
        "p.yaml:3:52: [applicant.contact.email] must be an e-mail address: a name, one '@' and a domain with a "
        "dot, without spaces (e.g. 'name@example.org'); found 'a@b'",
        "p.yaml:4:23: [insurance.currency] must be three capital letters, the ISO 4217 currency code (e.g. "
        "'EUR'); found 'euro'",
        "p.yaml:5:25: [safety.hazards[0].id] must hold only letters, digits, '.', '_' or '-'; found 'H 1'",
    ]


def _loadable(paths: list[Path]) -> list[tuple[str, Any]]:
    out = []
    for path in paths:
        try:
            out.append((path.name, load_file(path).data))
        except EvaluatorError:
            continue
    return out


def test_the_fast_gate_agrees_with_jsonschema_on_every_known_document() -> None:
    # validate.py: jsonschema_rs answers "valid?" and only a "no" runs jsonschema; where
    # jsonschema_rs said "valid" but jsonschema would not, an invalid proposal would pass.
    from generate import proposal

    tests = Path(__file__).parent
    files = [*EXAMPLES.glob("*.yaml"), *(tests / "hostile").glob("*.yaml"), *(tests / "fixtures").rglob("*.yaml")]
    documents = [*_loadable(sorted(files)), *((f"generated-{seed}", proposal(seed)) for seed in range(300))]
    disagree = [name for name, data in documents if quickly_valid(data) != (not schema_errors(data))]
    assert (len(documents) > 340, disagree) == (True, [])


@pytest.mark.parametrize(("section", "field", "value", "fast", "full"), [
    ("metadata", "submitted", "2026-03-02", True, True),
    ("metadata", "submitted", "2026-02-30", False, False),
    ("metadata", "submitted", "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661", False, False),  # Arabic digits
    ("metadata", "id", "robotaxi\n", False, True),  # Python's '$' matches before a final newline
    ("scope", "duration_months", 10**30, False, False),  # past 64 bits
    ("scope", "duration_months", 36.0, False, False),
])
def test_the_fast_gate_errs_only_towards_the_full_check(section: str, field: str, value: Any, fast: bool,
                                                        full: bool) -> None:
    data = load_file(EXAMPLES / "robotaxi-pilot.yaml").data
    data[section][field] = value
    assert (quickly_valid(data), not schema_errors(data)) == (fast, full)

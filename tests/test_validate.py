from __future__ import annotations

import json

import pytest

from evaluator.errors import InputError
from evaluator.loader import load_bytes
from evaluator.validate import schema_text, validate_proposal

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
        "p.yaml:3:7: [metadata.id] 'bad id!' does not match the required pattern ^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$",
        "p.yaml:7:11: [metadata.domain] 'self_driving' is not one of: autonomous_vehicles, medical_ai, "
        "unmanned_aircraft, telemedicine, financial_services",
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
                     "exit_plan, innovation, insurance, metadata, oversight, personal_data, safety, "
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

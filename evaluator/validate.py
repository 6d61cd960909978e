"""Stage 2: check a proposal against the descriptor JSON Schema, reporting every error at once."""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from evaluator.errors import InputError, Problem
from evaluator.loader import Document, PathKey, dotted

SCHEMA_RESOURCE = "proposal-v1.schema.json"


def schema_text() -> str:
    """The proposal JSON Schema as shipped (``sandbox schema`` prints it)."""
    return resources.files("evaluator.schema").joinpath(SCHEMA_RESOURCE).read_text("utf-8")


@cache
def proposal_schema() -> dict[str, Any]:
    """The parsed proposal JSON Schema."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        proposal_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def validate_proposal(document: Document) -> None:
    """Raise ``InputError`` listing every schema violation with file, line, column and field."""
    found = {p for error in _validator().iter_errors(document.data) for p in _problems(document, error)}
    if found:
        raise InputError(sorted(found, key=lambda p: (p.line, p.column, p.field, p.message)))


def _problems(document: Document, error: ValidationError) -> list[Problem]:
    path: PathKey = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and _unknown_keys(error):
        out = []
        for key in _unknown_keys(error):
            position = document.source_map.key_position(path + (key,))
            out.append(Problem(document.path, position.line, position.column,
                               _unknown_key_message(error, key), dotted(path + (key,))))
        return out
    position = document.source_map.locate(path)[1]
    return [Problem(document.path, position.line, position.column, _message(error),
                    dotted(path) or "(top level)")]


def _unknown_keys(error: ValidationError) -> list[str]:
    allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    instance = error.instance if isinstance(error.instance, dict) else {}
    return sorted(key for key in instance if key not in allowed)


def _unknown_key_message(error: ValidationError, key: str) -> str:
    allowed = sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
    hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    text = f"unknown key '{key}'"
    return text + (f" (did you mean '{hint[0]}'?)" if hint else f"; allowed keys: {', '.join(allowed)}")


def _message(error: ValidationError) -> str:
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    if validator == "required":
        return error.message.replace(" is a required property", " is required")
    if validator == "type":
        return f"expected {_type_name(schema.get('type'))}, found {_describe(value)}"
    if validator == "enum":
        return f"{_describe(value)} is not one of: {', '.join(map(str, schema['enum']))}"
    if validator in ("pattern", "format") and schema.get("format") == "date":
        return f"{_describe(value)} is not a date in the form YYYY-MM-DD"
    if validator == "pattern":
        return f"{_describe(value)} does not match the required pattern {schema['pattern']}"
    if validator == "const":
        return f"must be {schema['const']!r}, found {_describe(value)}"
    return error.message


def _type_name(kind: object) -> str:
    names = {"string": "text", "integer": "a whole number", "number": "a number",
             "boolean": "true or false", "array": "a list", "object": "a mapping"}
    if isinstance(kind, list):
        return " or ".join(names.get(str(k), str(k)) for k in kind)
    return names.get(str(kind), str(kind))


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    return f"{value!r} (a number)"

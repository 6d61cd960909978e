"""Stage 2: check a proposal against the descriptor JSON Schema, reporting every error at once.

Two libraries share the work. ``jsonschema_rs`` (Rust, about 10 µs a proposal) answers "is it
valid?"; only when it says no does ``jsonschema`` (pure Python, about 1.6 ms, 85 ms to import)
run to name every error with the words and positions users see. ``jsonschema`` has the last
word: where the two disagree (jsonschema_rs is stricter about a few corners, e.g. ``$`` before
a trailing newline), a proposal it finds no error in passes. tests/test_validate.py holds the
two to the same verdicts on the examples, the hostile corpus and generated proposals.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from evaluator.errors import InputError, Problem
from evaluator.loader import Document, PathKey, dotted
from evaluator.packagedata import package_dir

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

SCHEMA_RESOURCE = "proposal-v1.schema.json"


def schema_text() -> str:
    """The proposal JSON Schema as shipped (``sandbox schema`` prints it)."""
    return (package_dir("evaluator.schema") / SCHEMA_RESOURCE).read_text("utf-8")


@cache
def proposal_schema() -> dict[str, Any]:
    """The parsed proposal JSON Schema."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(
        proposal_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@cache
def _fast_validator() -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(proposal_schema(), validate_formats=True)


def quickly_valid(data: Any) -> bool:
    """jsonschema_rs's verdict; False also when it cannot take the value (e.g. a huge integer)."""
    try:
        return bool(_fast_validator().is_valid(data))
    except Exception:  # noqa: BLE001 -- any doubt goes to the full check
        return False


def schema_errors(data: Any) -> list[ValidationError]:
    """Every error ``jsonschema`` finds (the authoritative check)."""
    return list(_validator().iter_errors(data))


def validate_proposal(document: Document) -> None:
    """Raise ``InputError`` listing every schema violation with file, line, column and field."""
    if quickly_valid(document.data):
        return
    found = {p for error in schema_errors(document.data) for p in _problems(document, error)}
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
    message = _message(error) + _yaml_hint(error, document.source_map.raw.get(path))
    return [Problem(document.path, position.line, position.column, message, dotted(path) or "(top level)")]


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
        words = PATTERN_WORDS.get(schema["pattern"])
        if words:
            return f"{words}; found {_describe(value)}"
        return f"{_describe(value)} does not match the required pattern {schema['pattern']}"
    if validator == "const":
        return f"must be {schema['const']!r}, found {_describe(value)}"
    if validator == "minLength" and value == "":
        return "must not be empty"
    if validator in _BOUNDS:
        return f"{_describe(value)} is {_BOUNDS[validator]} {schema[validator]}"
    if validator == "uniqueItems":
        return "must not list the same value twice"
    return error.message


#: What each pattern of the proposal schema asks for, in words (a test holds every pattern of
#: the schema to having them; the regex itself is shown only for a pattern missing here).
PATTERN_WORDS = {
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$": "must start with a letter or digit and hold at most 80 letters, "
                                          "digits, '.', '_' or '-'",
    r"^[A-Za-z0-9._-]+$": "must hold only letters, digits, '.', '_' or '-'",
    r"^\d{4}-\d{2}-\d{2}$": "must be a date in the form YYYY-MM-DD",
    r"^[A-Z]{2}$": "must be two capital letters, the ISO 3166-1 alpha-2 country code (e.g. 'DE')",
    r"^[A-Z]{3}$": "must be three capital letters, the ISO 4217 currency code (e.g. 'EUR')",
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": "must be an e-mail address: a name, one '@' and a domain with a dot, "
                                    "without spaces (e.g. 'name@example.org')",
}

_BOUNDS = {"minimum": "below the minimum of", "maximum": "above the maximum of",
           "exclusiveMinimum": "not above", "exclusiveMaximum": "not below",
           "minItems": "shorter than the minimum length of", "maxItems": "longer than the maximum length of"}


# A YAML 1.1 float needs a dot and a signed exponent: 1e7 is text, 1.0e+7 a number.
_EXPONENT_TEXT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


def _yaml_hint(error: ValidationError, raw: str | None) -> str:
    """'; the file says ...' when YAML 1.1 read an unquoted value as something the author did not mean."""
    if raw and _wants_text(error, raw):
        return f"; the file says {raw} unquoted, which YAML reads as {_yaml_reading(raw, error.instance)}: " + (
            _yaml_fix(error, raw))
    if error.validator == "type" and {"number", "integer"} & _kinds(error) and isinstance(error.instance, str):
        return _exponent_hint(error.instance)
    return ""


def _kinds(error: ValidationError) -> set[str]:
    kind = error.schema.get("type") if isinstance(error.schema, dict) else None
    return set(kind) if isinstance(kind, list) else {str(kind)}


def _wants_text(error: ValidationError, raw: str) -> bool:
    """Whether writing ``raw`` in quotes would satisfy the failed ``type`` or ``enum`` check."""
    if error.validator == "type":
        return "string" in _kinds(error)
    return error.validator == "enum" and isinstance(error.schema, dict) and raw in error.schema["enum"]


def _yaml_fix(error: ValidationError, raw: str) -> str:
    """How to write what the author meant: a quoted text, a date, or nothing at all."""
    is_date = isinstance(error.schema, dict) and error.schema.get("format") == "date"
    fix = "write the date as YYYY-MM-DD" if is_date else f'write "{raw}" in quotes'
    return fix + ", or leave the field out if it has no value" if error.instance is None else fix


def _yaml_reading(raw: str, value: object) -> str:
    """What YAML 1.1 made of an unquoted scalar: 'a boolean', 'octal 10', ..."""
    if value is None:
        return "null (nothing)"
    if isinstance(value, bool):
        return "a boolean"
    digits = raw.lstrip("+-").replace("_", "").lower()
    if ":" in raw:
        return f"the sexagesimal (base 60) number {value}"
    if digits.startswith("0x"):
        return f"hexadecimal {value}"
    if digits.startswith("0b"):
        return f"binary {value}"
    if isinstance(value, int) and len(digits) > 1 and digits.startswith("0"):
        return f"octal {value}"
    return "a number" if str(value) == raw else f"the number {value}"


def _exponent_hint(text: str) -> str:
    if not _EXPONENT_TEXT.fullmatch(text):
        return ""
    number = float(text)
    plain = str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if "e" in plain or "inf" in plain:
        return ""
    return f"; YAML reads {text} as text, not a number (its exponents need a dot and a sign): write {plain}"


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

"""Translate the rule language's regular expressions into durable_rules' own dialect.

Rule authors write a small, portable subset of Python regular expressions (always matched
against the whole string). durable_rules uses ``%`` as its escape character and has no anchors,
so the subset is translated here and anything outside it is refused when the rule is loaded.
"""

from __future__ import annotations

import re

_CLASS_ESCAPES = {"d": "%d", "s": "%s"}
_FORBIDDEN = {"^": "anchors are implicit (the whole value must match); remove '^'",
              "$": "anchors are implicit (the whole value must match); remove '$'"}
MAX_PATTERN = 200


def to_engine_dialect(pattern: str) -> str:
    """Return ``pattern`` in durable_rules' dialect, or raise ``ValueError`` saying why not."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"pattern is longer than {MAX_PATTERN} characters")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    out: list[str] = []
    index = 0
    previous = ""
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if in_class and char == "]" and previous != "[" and previous != "^":
            in_class = False
        elif char == "[" and not in_class:
            in_class = True
        elif char == "^" and in_class and previous == "[":
            out.append(char)
            previous = char
            index += 1
            continue
        if char in _FORBIDDEN:
            raise ValueError(_FORBIDDEN[char])
        if char == "(" and pattern[index + 1 : index + 2] == "?":
            raise ValueError("group extensions '(?...)' are not supported")
        if char == "?" and previous in "*+?}" and previous:
            raise ValueError("lazy or possessive quantifiers are not supported")
        if char == "\\":
            out.append(_escape(pattern[index + 1 : index + 2]))
            index += 2
            previous = "x"
            continue
        out.append("%%" if char == "%" else char)
        previous = char
        index += 1
    return "".join(out)


def _escape(char: str) -> str:
    if char in _CLASS_ESCAPES:
        return _CLASS_ESCAPES[char]
    if char and not char.isalnum() and char != "\\":
        return "%" + char
    raise ValueError(f"escape '\\{char}' is not supported (use \\d, \\s or an escaped punctuation mark)")

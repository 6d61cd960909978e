"""The rule language's regular expressions: a small, portable subset of Python's, always matched
against the whole value, by RE2.

``matches`` is decided here, not by durable_rules: the engine's own matcher was measured to miss
matches when a literal overlaps itself after ``.*`` (``.*aba.*`` fails on "abab"). The adapter
stores each verdict as a boolean marker beside the field and the engine only compares that
marker. RE2 (google-re2) matches in time linear in the input, so no pattern and no proposal
text, however long, can make matching backtrack catastrophically. Patterns are checked against
the subset when a rule is loaded, with Python's parser for precise messages.
"""

from __future__ import annotations

import re
from typing import Any

import re2

_CLASS_ESCAPES = {"d", "s"}
_FORBIDDEN = {"^": "anchors are implicit (the whole value must match); remove '^'",
              "$": "anchors are implicit (the whole value must match); remove '$'"}
MAX_PATTERN = 200


def compile_pattern(pattern: str) -> Any:
    """Check ``pattern`` against the subset and compile it with RE2; raise ``ValueError`` saying why not."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"pattern is longer than {MAX_PATTERN} characters")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    _check_subset(pattern)
    options = re2.Options()
    options.dot_nl = True  # '.' matches a newline too, as in the rule format's documentation
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:  # pragma: no cover - the subset is a subset of RE2's syntax
        raise ValueError(f"invalid regular expression: {exc}") from None


def full_match(compiled: Any, value: str) -> bool:
    """Whether the whole of ``value`` matches (linear time in ``len(value)``)."""
    return compiled.fullmatch(value) is not None


def _check_subset(pattern: str) -> None:
    in_class = False
    previous = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            _check_escape(pattern[index + 1 : index + 2])
            index, previous = index + 2, "x"
            continue
        if in_class:
            in_class = not (char == "]" and previous not in ("[", "^"))
            previous = "x" if not in_class else char
            index += 1
            continue
        if char in _FORBIDDEN:
            raise ValueError(_FORBIDDEN[char])
        if char == "[":
            in_class = True
        elif char == "(" and pattern[index + 1 : index + 2] == "?":
            raise ValueError("group extensions '(?...)' are not supported")
        elif char == "?" and previous in ("*", "+", "?", "}"):
            raise ValueError("lazy or possessive quantifiers are not supported")
        previous = char
        index += 1


def _check_escape(char: str) -> None:
    if char in _CLASS_ESCAPES or (char and not char.isalnum() and char != "\\"):
        return
    raise ValueError(f"escape '\\{char}' is not supported (use \\d, \\s or an escaped punctuation mark)")

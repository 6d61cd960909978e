"""The rule language's regular expressions: a small, portable subset of Python's, always matched
against the whole value.

``matches`` is decided here, in Python, not by durable_rules: the engine's own matcher was
measured to miss matches when a literal overlaps itself after ``.*`` (``.*aba.*`` fails on
"abab"). The adapter stores each verdict as a boolean marker beside the field and the engine
only compares that marker. Patterns are checked when a rule is loaded; the subset keeps them
portable and refuses the shapes that make backtracking explode (a quantifier on a group that
already repeats).
"""

from __future__ import annotations

import re

_CLASS_ESCAPES = {"d", "s"}
_FORBIDDEN = {"^": "anchors are implicit (the whole value must match); remove '^'",
              "$": "anchors are implicit (the whole value must match); remove '$'"}
_QUANTIFIERS = "*+?{"
MAX_PATTERN = 200
FLAGS = re.ASCII | re.DOTALL


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Check ``pattern`` against the subset and compile it; raise ``ValueError`` saying why not."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"pattern is longer than {MAX_PATTERN} characters")
    try:
        compiled = re.compile(pattern, FLAGS)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    _check_subset(pattern)
    return compiled


def full_match(compiled: re.Pattern[str], value: str) -> bool:
    """Whether the whole of ``value`` matches."""
    return compiled.fullmatch(value) is not None


def _check_subset(pattern: str) -> None:
    in_class = False
    previous = ""
    groups: list[bool] = []  # per open group: does it contain a quantifier?
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
        elif char == "(":
            if pattern[index + 1 : index + 2] == "?":
                raise ValueError("group extensions '(?...)' are not supported")
            groups.append(False)
        elif char == ")":
            repeats_inside = groups.pop() if groups else False
            following = pattern[index + 1 : index + 2]
            if repeats_inside and following and following in _QUANTIFIERS:
                raise ValueError("a repeated group may not contain another quantifier "
                                 "(it can make matching take exponential time)")
            if groups and (repeats_inside or (following and following in _QUANTIFIERS)):
                groups[-1] = True
        elif char in _QUANTIFIERS:
            if char == "?" and previous in ("*", "+", "?", "}"):
                raise ValueError("lazy or possessive quantifiers are not supported")
            if groups:
                groups[-1] = True
        previous = char
        index += 1


def _check_escape(char: str) -> None:
    if char in _CLASS_ESCAPES or (char and not char.isalnum() and char != "\\"):
        return
    raise ValueError(f"escape '\\{char}' is not supported (use \\d, \\s or an escaped punctuation mark)")

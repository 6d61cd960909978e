"""Make untrusted text safe to print on a terminal: nothing it holds can act as a control code.

Proposal text reaches the terminal in findings and in error messages. Escape sequences could
rewrite the screen or hide a hyperlink, a newline could forge an ``error:`` line, and Unicode
bidirectional overrides could reorder what a reviewer reads. Each such character is shown as a
visible escape (``\\x1b``, ``\\n``, ``\\u202e``) instead.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab included: it cannot move the cursor much, but alignment lies too),
# DEL, and the bidirectional formatting characters (embeddings, overrides, isolates, marks).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# The same without newline and tab, for documents where they are layout.
_UNSAFE_IN_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# What the JSON encoder leaves raw: it escapes C0 controls itself, and a newline or tab between
# tokens is layout, not data.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str, keep_layout: bool = False) -> str:
    """``text`` with every control or bidi-formatting character replaced by a visible escape.

    With ``keep_layout``, newlines and tabs stay (for documents such as HTML and Markdown,
    where they are layout, not commands).
    """
    unsafe = _UNSAFE_IN_LAYOUT if keep_layout else _UNSAFE
    if unsafe.search(text) is None:  # the usual case
        return text
    return unsafe.sub(_escape, text)


#: The first character ``visible(text, keep_layout=True)`` would replace (None when there is none).
find_unsafe_in_layout = _UNSAFE_IN_LAYOUT.search


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_escape_unsafe(text: str) -> str:
    """JSON text with every unsafe character outside ASCII written as a ``\\uXXXX`` escape."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)

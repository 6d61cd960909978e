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
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    """``text`` with every control or bidi-formatting character replaced by a visible escape."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

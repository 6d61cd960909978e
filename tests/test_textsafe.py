"""Untrusted text printed on a terminal cannot act as control codes."""

from __future__ import annotations

import pytest

from evaluator.textsafe import visible


@pytest.mark.parametrize(("text", "shown"), [
    ("plain text, Иннополис", "plain text, Иннополис"),
    ("\x1b[2J", "\\x1b[2J"),
    ("\x1b]8;;http://evil.example\x1b\\click", "\\x1b]8;;http://evil.example\\x1b\\click"),
    ("a\nerror: forged.yaml:1:1: forged", "a\\nerror: forged.yaml:1:1: forged"),
    ("tab\there\r", "tab\\there\\r"),
    ("\x00\x7f\x9b", "\\x00\\x7f\\x9b"),
    ("abc\u202edcba", "abc\\u202edcba"),
    ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
])
def test_control_and_bidi_characters_become_visible_escapes(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_json_output_escapes_what_the_encoder_leaves_raw() -> None:
    import json

    from evaluator.render import to_json

    text = to_json([{"title": "a\x1b[2J\u202eb\x85c\x7f\nd Иннополис"}], single=True)
    assert text == '{\n  "title": "a\\u001b[2J\\u202eb\\u0085c\\u007f\\nd Иннополис"\n}\n'
    assert json.loads(text) == {"title": "a\x1b[2J\u202eb\x85c\x7f\nd Иннополис"}


def test_documents_keep_their_layout_but_not_control_codes() -> None:
    assert visible("line\n\tindented\x1b[2J\r", keep_layout=True) == "line\n\tindented\\x1b[2J\\r"

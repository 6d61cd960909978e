from __future__ import annotations

import pytest

from evaluator.errors import InputError
from evaluator.loader import Position, dotted, load_bytes


def problem(raw: bytes) -> str:
    with pytest.raises(InputError) as caught:
        load_bytes(raw, "p.yaml")
    assert len(caught.value.problems) == 1
    return str(caught.value.problems[0])


def test_positions_are_one_based_values_for_scalars_and_keys_for_sections() -> None:
    doc = load_bytes(b"a: 1\nb:\n  c: x\n  d: [1, 2]\nlst:\n  - k: 1\n", "p.yaml")
    positions = doc.source_map.positions
    assert positions[("a",)] == Position(1, 4)
    assert positions[("b",)] == Position(2, 1)
    assert positions[("b", "c")] == Position(3, 6)
    assert positions[("b", "d", 1)] == Position(4, 10)
    assert positions[("lst", 0, "k")] == Position(6, 8)


def test_missing_path_falls_back_to_nearest_parent() -> None:
    doc = load_bytes(b"a:\n  b: 1\n", "p.yaml")
    assert doc.source_map.locate(("a", "zz", "y")) == (("a",), Position(1, 1))


def test_dates_stay_text_and_keys_stay_as_written() -> None:
    doc = load_bytes(b"start: 2026-06-01\non: 1\n", "p.yaml")
    assert doc.data == {"start": "2026-06-01", "on": 1}


def test_sha256_is_of_the_raw_bytes() -> None:
    assert load_bytes(b"a: 1\n", "p.yaml").sha256 == "37b128c59f1f5097f73f82691cb519f1f568667faab5ced1b4ab979d36837eae"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a: 1\nb: 2\na: 3\n", "p.yaml:3:1: [a] duplicate key 'a' (first defined on line 1)"),
        (b"a: [1, 2\nb: 3\n", "p.yaml:2:2: YAML syntax error: while parsing a flow sequence did not find expected ',' or ']'"),
        (b"", "p.yaml: file is empty: expected a YAML mapping"),
        (b"  \n# only a comment\n", "p.yaml: file is empty: expected a YAML mapping"),
        (b"- a\n- b\n", "p.yaml:1:1: top level must be a mapping, found a list"),
        (b"just text\n", "p.yaml:1:1: top level must be a mapping, found a scalar ('just text')"),
        (b"a: 1\n---\nb: 2\n", "p.yaml:2:1: several YAML documents in one file; keep one"),
        (b"\xff\xfea\x00:\x00", "p.yaml:1:1: file is UTF-16; save it as UTF-8"),
        (b"a: \xc3\x28\n", "p.yaml:1:4: invalid UTF-8 byte; save the file as UTF-8"),
        (b"? [a, b]\n: 1\n", "p.yaml:1:3: mapping keys must be plain text"),
    ],
)
def test_broken_yaml_is_one_located_problem(raw: bytes, expected: str) -> None:
    assert problem(raw) == expected


def test_alias_expansion_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
              for i in range(1, 9)]
    message = problem("\n".join(lines).encode())
    assert "exceeds the limit of 200000 nodes" in message


def test_dotted_paths() -> None:
    assert dotted(("a", "b", 0, "c")) == "a.b[0].c"
    assert dotted(()) == ""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.errors import InputError
from evaluator.loader import (
    MAX_DEPTH,
    MAX_DEPTH_CEILING,
    Limits,
    Position,
    dotted,
    load_bytes,
    load_file,
)

NOT_PLAIN_DATA = "is not allowed: the file must hold plain data (remove the tag)"
ONLY_MARKER = "file holds no content, only the document marker '---': expected a YAML mapping"
DEFAULTS = Limits()


def problem(raw: bytes, limits: Limits = DEFAULTS) -> str:
    with pytest.raises(InputError) as caught:
        load_bytes(raw, "p.yaml", limits)
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
        (b"  \n\n", "p.yaml: file is empty: expected a YAML mapping"),
        (b"  \n# only a comment\n", "p.yaml: file holds only comments: expected a YAML mapping"),
        (b"- a\n- b\n", "p.yaml:1:1: top level must be a mapping, found a list"),
        (b"just text\n", "p.yaml:1:1: top level must be a mapping, found a scalar ('just text')"),
        (b"x" * 50, f"p.yaml:1:1: top level must be a mapping, found a scalar ('{'x' * 37}...')"),
        (b"a: 1\n---\nb: 2\n", "p.yaml:2:1: several YAML documents in one file; keep one"),
        (b"\xff\xfea\x00:\x00", "p.yaml:1:1: file is UTF-16; save it as UTF-8"),
        (b"a: \xc3\x28\n", "p.yaml:1:4: invalid UTF-8 byte; save the file as UTF-8"),
        (b"a: \xc3\xa9\xff\n", "p.yaml:1:5: invalid UTF-8 byte; save the file as UTF-8"),  # columns count characters
        (bytes(range(128, 256)), "p.yaml:1:1: invalid UTF-8 byte; save the file as UTF-8"),
        (b"? [a, b]\n: 1\n", "p.yaml:1:3: mapping keys must be plain text"),
        (b"---\n", "p.yaml: " + ONLY_MARKER),
        (b"--- # nothing\n...\n", "p.yaml: " + ONLY_MARKER),
        (b"# a comment\n---\n---\n", "p.yaml: " + ONLY_MARKER),
        (b"%YAML 1.1\n---\n", "p.yaml: " + ONLY_MARKER),
        (b"&a\n", "p.yaml:1:1: top level must be a mapping, found a scalar ('')"),
        (b"- 1\n---\n- 2\n", "p.yaml:1:1: top level must be a mapping, found a list"),
        (b"a: *nope\n", "p.yaml:1:4: alias '*nope' is not defined: its anchor '&nope' must come before it"),
        (b"a: &a [1, *a]\n", "p.yaml:1:11: alias '*a' is inside the value it refers to (a recursive alias)"),
        (b"a:\n  <<: 1\n", "p.yaml:2:7: [a] a merge key (<<) takes an alias of a mapping (<<: *name) or a list of them"),
        (b"a:\n  <<: {b: 1}\n", "p.yaml:2:7: [a] a merge key (<<) takes an alias of a mapping (<<: *name) or a list "
                                "of them"),
        (b"a: &x [1]\nb:\n  <<: [*x]\n", "p.yaml:3:8: [b] a merge key (<<) takes an alias of a mapping (<<: *name) or "
                                        "a list of them"),
        (b"a: " + b"1" * 5000 + b"\n", "p.yaml:1:4: [a] the number has 5000 digits, too many to read; write it in "
                                     "quotes if it is text"),
    ],
)
def test_broken_yaml_is_one_located_problem(raw: bytes, expected: str) -> None:
    assert problem(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "p.yaml:3:1: NUL byte: the file is binary, not YAML text"),
        (b"a: 1\x00\n", "p.yaml:1:5: NUL byte: the file is binary, not YAML text"),
        (b"a: \x07\n", "p.yaml:1:4: control character U+0007 is not allowed in YAML; remove it"),
        (b"a: x\x7f\n", "p.yaml:1:5: control character U+007F is not allowed in YAML; remove it"),
        (b"a: \xc2\x80\n", "p.yaml:1:4: control character U+0080 is not allowed in YAML; remove it"),
        ("a: 1\n".encode("utf-16-le"), "p.yaml:1:1: file is UTF-16; save it as UTF-8"),
        ("a: 1\n".encode("utf-16-be"), "p.yaml:1:1: file is UTF-16; save it as UTF-8"),
        (b"\xfe\xff" + "a: 1\n".encode("utf-16-be"), "p.yaml:1:1: file is UTF-16; save it as UTF-8"),
        ("a: 1\n".encode("utf-32-le"), "p.yaml:1:1: file is UTF-32; save it as UTF-8"),
        ("a: 1\n".encode("utf-32-be"), "p.yaml:1:1: file is UTF-32; save it as UTF-8"),
        (b"\xff\xfe\x00\x00" + "a: 1\n".encode("utf-32-le"), "p.yaml:1:1: file is UTF-32; save it as UTF-8"),
        (b"\x00\x00\xfe\xff" + "a: 1\n".encode("utf-32-be"), "p.yaml:1:1: file is UTF-32; save it as UTF-8"),
    ],
)
def test_binary_files_and_other_encodings_are_one_plain_line(raw: bytes, expected: str) -> None:
    assert problem(raw) == expected


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    assert load_bytes(b"\xef\xbb\xbfa: 1\n", "p.yaml").source_map.positions[("a",)] == Position(1, 4)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'metadata: !!python/object/apply:os.system ["echo hi"]\n',
         "p.yaml:1:11: [metadata] YAML tag '!!python/object/apply:os.system' " + NOT_PLAIN_DATA),
        (b"title: !custom x\n", "p.yaml:1:8: [title] YAML tag '!custom' " + NOT_PLAIN_DATA),
        (b"a: !!python/name:os.system\n", "p.yaml:1:4: [a] YAML tag '!!python/name:os.system' " + NOT_PLAIN_DATA),
        (b"a: !<tag:yaml.org,2002:python/none> x\n", "p.yaml:1:4: [a] YAML tag '!!python/none' " + NOT_PLAIN_DATA),
        (b"%TAG !e! tag:example.com,2000:\n---\na: !e!thing 1\n",
         "p.yaml:3:4: [a] YAML tag 'tag:example.com,2000:thing' " + NOT_PLAIN_DATA),
        (b"a: !!binary aGk=\n", "p.yaml:1:4: [a] YAML tag '!!binary' " + NOT_PLAIN_DATA),
        (b"a: !!set {x}\n", "p.yaml:1:4: [a] YAML tag '!!set' " + NOT_PLAIN_DATA),
        (b"a: !!omap [x: 1]\n", "p.yaml:1:4: [a] YAML tag '!!omap' " + NOT_PLAIN_DATA),
        (b"a: !!timestamp 2026-01-01\n", "p.yaml:1:4: [a] YAML tag '!!timestamp' " + NOT_PLAIN_DATA),
        (b"a: !!merge <<\n", "p.yaml:1:4: [a] YAML tag '!!merge' " + NOT_PLAIN_DATA),
        (b"!!python/str k: 1\n", "p.yaml:1:1: YAML tag '!!python/str' " + NOT_PLAIN_DATA),
        (b"!!python/object:x {a: 1}\n", "p.yaml:1:1: YAML tag '!!python/object:x' " + NOT_PLAIN_DATA),
        (b"a:\n  - !!python/tuple [1]\n", "p.yaml:2:5: [a[0]] YAML tag '!!python/tuple' " + NOT_PLAIN_DATA),
        # on a top level that is not a mapping, and anywhere in it: the tag is named, not only the list
        (b'- !!python/object/apply:os.system ["echo hi"]\n',
         "p.yaml:1:3: YAML tag '!!python/object/apply:os.system' " + NOT_PLAIN_DATA),
        (b"- a\n- [b, {c: !!python/name:os.system d}]\n", "p.yaml:2:11: YAML tag '!!python/name:os.system' "
                                                           + NOT_PLAIN_DATA),
        (b"!!python/object/apply:os.system\n- echo hi\n",
         "p.yaml:1:1: YAML tag '!!python/object/apply:os.system' " + NOT_PLAIN_DATA),
        (b'!!python/object/apply:os.system ["echo hi"]\n',
         "p.yaml:1:1: YAML tag '!!python/object/apply:os.system' " + NOT_PLAIN_DATA),
        (b"--- !!python/name:os.system\n", "p.yaml:1:5: YAML tag '!!python/name:os.system' " + NOT_PLAIN_DATA),
        (b"!!python/none\n", "p.yaml:1:1: YAML tag '!!python/none' " + NOT_PLAIN_DATA),
        # on a key that is not text, and on what a merge key is given
        (b"? !!python/tuple [a, b]\n: 1\n", "p.yaml:1:3: YAML tag '!!python/tuple' " + NOT_PLAIN_DATA),
        (b"a:\n  <<: !!python/object:x {b: 1}\n", "p.yaml:2:7: [a] YAML tag '!!python/object:x' " + NOT_PLAIN_DATA),
        (b"a:\n  <<: [!!python/object:x {b: 1}]\n", "p.yaml:2:8: [a] YAML tag '!!python/object:x' "
                                                    + NOT_PLAIN_DATA),
        (b"a: !!int abc\n", "p.yaml:1:4: [a] YAML tag '!!int' does not fit the value 'abc' (remove the tag)"),
        (b"a: !!bool maybe\n", "p.yaml:1:4: [a] YAML tag '!!bool' does not fit the value 'maybe' (remove the tag)"),
        (b"a: !!null x\n", "p.yaml:1:4: [a] YAML tag '!!null' does not fit the value 'x' (remove the tag)"),
        (b"a: !!str {b: 1}\n", "p.yaml:1:4: [a] YAML tag '!!str' does not fit a mapping (remove the tag)"),
        (b"a: !!seq {b: 1}\n", "p.yaml:1:4: [a] YAML tag '!!seq' does not fit a mapping (remove the tag)"),
        (b"a: !!map [1]\n", "p.yaml:1:4: [a] YAML tag '!!map' does not fit a list (remove the tag)"),
    ],
)
def test_tags_other_than_the_core_ones_are_refused(raw: bytes, expected: str) -> None:
    assert problem(raw) == expected


def test_core_tags_and_the_non_specific_tag_are_plain_data() -> None:
    raw = (b"a: !!str yes\nb: !!int '12'\nc: !!float 1\nd: !!bool on\ne: !!null ''\nf: !!map {x: 1}\n"
           b"g: !!seq [1]\nh: ! 12\ni: !<tag:yaml.org,2002:str> 5\n")
    assert load_bytes(raw, "p.yaml").data == {"a": "yes", "b": 12, "c": 1.0, "d": True, "e": None, "f": {"x": 1},
                                              "g": [1], "h": "12", "i": "5"}


LIMIT = "(sandbox check --max-{} raises it)"


@pytest.mark.parametrize(
    ("raw", "limits", "expected"),
    [
        (b"a: 1\n", Limits(max_bytes=4),
         "p.yaml: file is 5 bytes, over the limit of 4 " + LIMIT.format("file-size")),
        (b"a: {b: {c: 1}}\n", Limits(max_depth=2),
         "p.yaml:1:12: nesting reaches 3 levels here, over the limit of 2 " + LIMIT.format("depth")),
        (b"a: &x {b: {c: 1}}\nd: {e: *x}\n", Limits(max_depth=3),
         "p.yaml:2:8: nesting reaches 4 levels through alias '*x', over the limit of 3 " + LIMIT.format("depth")),
        (b"a: [1, 2, 3]\n", Limits(max_nodes=3),
         "p.yaml:1:8: [a[1]] the document grows to 4 values here (aliases count each time they are used), over "
         "the limit of 3 " + LIMIT.format("nodes")),
        (b"a: &x [1, 2]\nb: *x\n", Limits(max_nodes=5),
         "p.yaml:2:4: [b] the document grows to 7 values here (aliases count each time they are used), over "
         "the limit of 5 " + LIMIT.format("nodes")),
        (b"a: abcdef\n", Limits(max_string=5),
         "p.yaml:1:4: [a] text is 6 characters long, over the limit of 5 " + LIMIT.format("string-length")),
        (b"a:\n  abcdef: 1\n", Limits(max_string=5),
         "p.yaml:2:3: [a] key is 6 characters long, over the limit of 5 " + LIMIT.format("string-length")),
        (b"a: &x 1\nb: [*x, *x, *x]\n", Limits(max_aliases=2),
         "p.yaml:2:13: [b[2]] alias '*x' brings the alias expansions to 3 (aliases inside it count again), over "
         "the limit of 2; write the values out instead"),
        (b"a: &x [1]\nb: &y [*x, *x]\nc: [*y]\n", Limits(max_aliases=3),
         "p.yaml:3:5: [c[0]] alias '*y' brings the alias expansions to 5 (aliases inside it count again), over "
         "the limit of 3; write the values out instead"),
    ],
)
def test_each_limit_names_itself_the_value_found_and_the_option(raw: bytes, limits: Limits, expected: str) -> None:
    assert problem(raw, limits) == expected


@pytest.mark.parametrize(
    ("raw", "limits"),
    [
        (b"a: 1\n", Limits(max_bytes=5)),
        (b"a: {b: {c: 1}}\n", Limits(max_depth=3)),
        (b"a: &x {b: {c: 1}}\nd: {e: *x}\n", Limits(max_depth=4)),
        (b"a: [1, 2, 3]\n", Limits(max_nodes=5)),
        (b"a: &x [1, 2]\nb: *x\n", Limits(max_nodes=7)),
        (b"abcde: abcde\n", Limits(max_string=5)),
        (b"a: &x [1]\nb: &y [*x, *x]\nc: [*y]\n", Limits(max_aliases=5)),
    ],
)
def test_a_file_exactly_at_a_limit_loads(raw: bytes, limits: Limits) -> None:
    assert load_bytes(raw, "p.yaml", limits).data


def nested(form: str, depth: int) -> bytes:
    """A mapping whose deepest value is ``depth`` levels down, written in flow or in block style."""
    if form == "flow":  # a: [[...]]: the innermost list is at ``depth``
        return b"a: " + b"[" * depth + b"]" * depth + b"\n"
    return "".join(" " * i + "k:\n" for i in range(depth - 1)).encode() + b" " * (depth - 1) + b"k: 1\n"


def depth_of(value: object) -> int:
    """Levels below ``value`` (without recursing, as deep values are the point)."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, level = todo.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else []
        todo += [(child, level + 1) for child in children]
    return deepest


PAST_THE_CEILING = f"sandbox reads at most {MAX_DEPTH_CEILING} levels, whatever --max-depth says"


@pytest.mark.parametrize("form", ["flow", "block"])
@pytest.mark.parametrize("max_depth", [MAX_DEPTH_CEILING, 10**6])
def test_nesting_up_to_the_ceiling_loads_without_recursion(form: str, max_depth: int) -> None:
    """The builder keeps open collections on a list, so 900 levels (once a RecursionError at ~330) load."""
    assert depth_of(load_bytes(nested(form, MAX_DEPTH_CEILING), "p.yaml", Limits(max_depth=max_depth)).data) == (
        MAX_DEPTH_CEILING)


@pytest.mark.parametrize(("form", "where"), [("flow", "1:904"), ("block", "901:904")])
@pytest.mark.parametrize("max_depth", [MAX_DEPTH_CEILING + 1, 10**6])
def test_past_the_ceiling_a_higher_max_depth_counts_as_the_ceiling(form: str, where: str, max_depth: int) -> None:
    assert problem(nested(form, MAX_DEPTH_CEILING + 1), Limits(max_depth=max_depth)) == (
        f"p.yaml:{where}: nesting reaches 901 levels here; " + PAST_THE_CEILING)


@pytest.mark.parametrize(("raw", "where"), [
    (nested("flow", 2000), "1:1003"),  # libyaml looks ahead: it stops before the builder sees level 65
    (b"[" * 1500 + b"]" * 1500, "1:1001"),
])
@pytest.mark.parametrize("max_depth", [MAX_DEPTH, MAX_DEPTH_CEILING])
def test_where_libyaml_stops_at_its_own_depth_limit_the_message_is_the_loaders(raw: bytes, where: str,
                                                                            max_depth: int) -> None:
    assert problem(raw, Limits(max_depth=max_depth)) == (
        f"p.yaml:{where}: nesting reaches more than 900 levels here; " + PAST_THE_CEILING)


def billion_laughs(levels: int = 9) -> bytes:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines).encode()


def test_an_alias_bomb_is_refused_at_the_alias_limit() -> None:
    assert problem(billion_laughs()) == (
        "p.yaml:4:45: [a3[7]] alias '*a2' brings the alias expansions to 1008 (aliases inside it count again), over "
        "the limit of 1000; write the values out instead")


def test_an_alias_bomb_is_refused_before_expanding_when_aliases_are_unlimited() -> None:
    assert problem(billion_laughs(), Limits(max_aliases=10**9)) == (
        "p.yaml:6:10: [a5[0]] the document grows to 234568 values here (aliases count each time they are used), "
        "over the limit of 200000 (sandbox check --max-nodes raises it)")


def test_load_file_reads_no_more_than_the_limit_and_reports_the_size(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * 97 + b"\n")
    with pytest.raises(InputError) as caught:
        load_file(path, Limits(max_bytes=10))
    assert str(caught.value) == f"{path}: file is 101 bytes, over the limit of 10 (sandbox check --max-file-size raises it)"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_read_only_up_to_the_limit() -> None:
    with pytest.raises(InputError) as caught:
        load_file("/dev/zero", Limits(max_bytes=10))
    assert str(caught.value) == "/dev/zero: file is over the limit of 10 bytes (sandbox check --max-file-size raises it)"


def test_aliases_share_positions_of_their_anchor_and_are_located_where_used() -> None:
    doc = load_bytes(b"a: &x [1, {k: v}]\nb: *x\nc:\n  - *x\n", "p.yaml")
    positions = doc.source_map.positions
    assert doc.data["b"] == doc.data["c"][0] == [1, {"k": "v"}]
    assert (positions[("b",)], positions[("c", 0)]) == (Position(2, 4), Position(4, 5))
    assert positions[("b", 1, "k")] == positions[("c", 0, 1, "k")] == positions[("a", 1, "k")] == Position(1, 15)


def test_merge_keys_bring_in_mappings_and_own_keys_win() -> None:
    doc = load_bytes(b"a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  x: 0\n  <<: [*a, *b]\n  z: 5\n", "p.yaml")
    assert doc.data["c"] == {"x": 0, "y": 2, "z": 5}
    positions = doc.source_map.positions
    assert [positions[("c", k)] for k in "xyz"] == [Position(4, 6), Position(1, 17), Position(6, 6)]


def test_an_alias_can_be_a_key_and_equals_and_merge_signs_are_text() -> None:
    assert load_bytes(b"a: &k name\n*k : 1\nb: =\nc: <<\n", "p.yaml").data == {"a": "name", "name": 1, "b": "=",
                                                                               "c": "<<"}


def test_raw_text_is_kept_for_unquoted_scalars_that_are_not_text() -> None:
    doc = load_bytes(b"a: yes\nb: 'yes'\nc: 012\nd: text\ne: ~\nf: !!str on\ng: &g [on, 1:30]\nh: *g\ni:\n", "p.yaml")
    assert doc.source_map.raw == {("a",): "yes", ("c",): "012", ("e",): "~", ("g", 0): "on", ("g", 1): "1:30",
                                  ("h", 0): "on", ("h", 1): "1:30", ("i",): ""}
    assert doc.data["g"] == [True, 90]


def test_dotted_paths() -> None:
    assert dotted(("a", "b", 0, "c")) == "a.b[0].c"
    assert dotted(()) == ""

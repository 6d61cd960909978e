"""Stage 1: read a YAML file into plain data plus the source position of every value.

One pass over PyYAML's node graph builds both the data and a ``SourceMap`` from field paths
to 1-based (line, column). Dates stay strings (the schema checks their format), keys are always
the text the author wrote, and duplicate keys are an error naming both lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evaluator.errors import InputError, Problem

PathKey = tuple[str | int, ...]

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader that leaves timestamps as strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a source file."""

    line: int
    column: int


@dataclass
class SourceMap:
    """Field path -> position of its value (scalars) or of its key (collections)."""

    positions: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def locate(self, path: PathKey) -> tuple[PathKey, Position]:
        """Position of ``path``, or of its nearest existing parent when it is missing."""
        probe = tuple(path)
        while probe not in self.positions and probe:
            probe = probe[:-1]
        return probe, self.positions.get(probe, Position(1, 1))

    def key_position(self, path: PathKey) -> Position:
        """Position of the key that introduces ``path`` (falls back to ``locate``)."""
        return self.keys.get(path) or self.locate(path)[1]

    def __contains__(self, path: object) -> bool:
        return path in self.positions


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: its data, where each value came from, and its hash."""

    path: str
    data: Any
    source_map: SourceMap
    sha256: str


def dotted(path: PathKey) -> str:
    """Render a path as ``a.b[0].c``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_file(path: str | Path) -> Document:
    """Read and parse ``path``; raises ``InputError`` with file and line on any problem."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(Problem(name, 0, 0, f"cannot read file: {exc.strerror or exc}")) from None
    return load_bytes(raw, name)


def load_bytes(raw: bytes, name: str) -> Document:
    """Parse YAML bytes that came from ``name``."""
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(Problem(name, 0, 0, f"file is larger than {MAX_FILE_BYTES} bytes"))
    text = _decode(raw, name)
    node = _compose(text, name) if text.strip() else None
    if node is None:
        raise InputError(Problem(name, 0, 0, "file is empty: expected a YAML mapping"))
    if not isinstance(node, yaml.MappingNode):
        kind = _kind(node)
        raise InputError(Problem(name, *_mark(node), f"top level must be a mapping, found {kind}"))
    builder = _Builder(name)
    data = builder.build(node, ())
    return Document(name, data, builder.source_map, hashlib.sha256(raw).hexdigest())


def _decode(raw: bytes, name: str) -> str:
    for bom, encoding in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                          (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if raw.startswith(bom):
            raise InputError(Problem(name, 1, 1, f"file is {encoding}; save it as UTF-8"))
    if b"\x00" in raw[:4096]:
        raise InputError(Problem(name, 1, 1, "file is binary or UTF-16/32; save it as UTF-8"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(Problem(name, line, column, "invalid UTF-8 byte; save the file as UTF-8")) from None


def _compose(text: str, name: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            line, col = _mark_of(exc.problem_mark)
            raise InputError(Problem(name, line, col, "several YAML documents in one file; keep one")) from None
        raise _syntax_error(exc, name) from None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, name) from None
    except yaml.YAMLError as exc:
        raise InputError(Problem(name, 0, 0, f"YAML error: {exc}")) from None
    finally:
        loader.dispose()
    return node


def _syntax_error(exc: yaml.MarkedYAMLError, name: str) -> InputError:
    line, col = _mark_of(exc.problem_mark or exc.context_mark)
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    return InputError(Problem(name, line, col, f"YAML syntax error: {what}"))


def _mark_of(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return _mark_of(node.start_mark)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"a scalar ({node.value!r:.40})"


class _Builder:
    """Builds plain data from nodes while recording positions."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.source_map = SourceMap()
        self.nodes = 0
        self._constructor = _Loader("")

    def build(self, node: yaml.Node, path: PathKey, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            limit = "nodes (aliases expand)" if self.nodes > MAX_NODES else "levels of nesting"
            raise InputError(Problem(self.name, *_mark(node), f"document exceeds the limit of "
                                     f"{MAX_NODES if self.nodes > MAX_NODES else MAX_DEPTH} {limit}"))
        if isinstance(node, yaml.MappingNode):
            return dict(self._mapping(node, path, depth))
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, child in enumerate(node.value):
                self._record(path + (index,), child)
                items.append(self.build(child, path + (index,), depth + 1))
            return items
        return self._constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: PathKey, depth: int) -> Iterator[tuple[str, Any]]:
        self._constructor.flatten_mapping(node)
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError(Problem(self.name, *_mark(key_node), "mapping keys must be plain text",
                                         dotted(path)))
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise InputError(Problem(self.name, line, key_node.start_mark.column + 1,
                                         f"duplicate key '{key}' (first defined on line {seen[key]})",
                                         dotted(path + (key,))))
            seen[key] = line
            child = path + (key,)
            anchor = value_node if isinstance(value_node, yaml.ScalarNode) else key_node
            self._record(child, anchor)
            self.source_map.keys.setdefault(child, Position(*_mark(key_node)))
            yield key, self.build(value_node, child, depth + 1)

    def _record(self, path: PathKey, node: yaml.Node) -> None:
        self.source_map.positions.setdefault(path, Position(*_mark(node)))

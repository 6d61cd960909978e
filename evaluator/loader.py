"""Stage 1: read a YAML file into plain data plus the source position of every value.

One pass over PyYAML's event stream builds both the data and a ``SourceMap`` from field paths
to 1-based (line, column). Dates stay strings (the schema checks their format), keys are always
the text the author wrote, and duplicate keys are an error naming both lines.

The file is untrusted: explicit tags other than the harmless core ones are refused, and
``Limits`` bounds its size, nesting, expanded size (aliases count every time they are used),
the length of any one text and the number of alias expansions, so an alias bomb or a huge
file is refused early with bounded time and memory. The builder keeps the collections it is
inside on a list, not on Python's call stack, so no depth up to ``MAX_DEPTH_CEILING`` (the
most ``max_depth`` can be) comes near the interpreter's recursion limit; libyaml refuses
nesting of about 1000 levels, past the ceiling, and that is reported as a depth error too.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evaluator.errors import InputError, Problem
from evaluator.records import record

PathKey = tuple[str | int, ...]

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_DEPTH_CEILING = 900  # a higher max_depth counts as this; libyaml stops at about 1000 levels
MAX_NODES = 200_000
MAX_STRING = 100_000
MAX_ALIASES = 1_000

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + name for name in ("str", "int", "float", "bool", "null"))
_SCALAR_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL}
_COLLECTION_TAGS = {_CORE + "map": "a mapping", _CORE + "seq": "a list"}
_NESTING_PROBLEM = "exceeded maximum nesting depth"  # libyaml's words when it stops at its own depth limit
# A byte-order mark, or zero bytes around a first ASCII character (YAML 1.2, section 5.2).
_ENCODINGS = (
    (re.compile(rb"\xff\xfe\x00\x00|\x00\x00\xfe\xff|\x00\x00\x00[\x01-\x7f]|[\x01-\x7f]\x00\x00\x00"), "UTF-32"),
    (re.compile(rb"\xff\xfe|\xfe\xff|\x00[\x01-\x7f]|[\x01-\x7f]\x00"), "UTF-16"),
)
# Characters YAML forbids in a stream (libyaml's reader refuses them with a multi-line dump).
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Parser and resolver: a safe loader whose implicit types leave timestamps, ``=`` and ``<<`` as
    text (the builder recognises merge keys itself)."""


_DROPPED = {_CORE + "timestamp", _CORE + "value", _CORE + "merge"}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@record
class Limits:
    """Bounds on what one YAML file may make the loader do; the defaults suit any real file."""

    max_bytes: int = MAX_FILE_BYTES
    max_depth: int = MAX_DEPTH  # counts as MAX_DEPTH_CEILING when higher
    max_nodes: int = MAX_NODES  # values after expanding aliases
    max_string: int = MAX_STRING  # characters in one scalar (keys included)
    max_aliases: int = MAX_ALIASES  # alias expansions; aliases inside an aliased value count again


@record
class Position:
    """A 1-based line and column in a source file."""

    line: int
    column: int


_FILE_START = Position(1, 1)


@dataclass
class SourceMap:
    """Field path -> position of its value (scalars) or of its key (collections).

    ``raw`` keeps the source text of unquoted scalars that YAML read as something other than
    text (``yes`` -> true, ``012`` -> 10), so error messages can show what the file says.
    """

    positions: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)
    raw: dict[PathKey, str] = field(default_factory=dict)

    def locate(self, path: PathKey) -> tuple[PathKey, Position]:
        """Position of ``path``, or of its nearest existing parent when it is missing."""
        probe = tuple(path)
        while probe not in self.positions and probe:
            probe = probe[:-1]
        return probe, self.positions.get(probe) or _FILE_START

    def key_position(self, path: PathKey) -> Position:
        """Position of the key that introduces ``path`` (falls back to ``locate``)."""
        return self.keys.get(path) or self.locate(path)[1]

    def __contains__(self, path: object) -> bool:
        return path in self.positions


@record
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


def load_file(path: str | Path, limits: Limits = Limits()) -> Document:
    """Read and parse ``path``; raises ``InputError`` with file and line on any problem."""
    name = str(path)
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(limits.max_bytes + 1)  # never more: the file may be endless
            size = os.fstat(stream.fileno()).st_size
    except OSError as exc:
        raise InputError(Problem(name, 0, 0, f"cannot read file: {exc.strerror or exc}")) from None
    if len(raw) > limits.max_bytes:
        raise _too_big(name, size if size > limits.max_bytes else None, limits)
    return load_bytes(raw, name, limits)


def load_bytes(raw: bytes, name: str, limits: Limits = Limits()) -> Document:
    """Parse YAML bytes that came from ``name``."""
    if len(raw) > limits.max_bytes:
        raise _too_big(name, len(raw), limits)
    text = _decode(raw, name)
    data, source_map = _Builder(text, name, limits).document()
    return Document(name, data, source_map, hashlib.sha256(raw).hexdigest())


def _too_big(name: str, size: int | None, limits: Limits) -> InputError:
    """``size`` is None when unknown (a device or pipe): only that it is over the limit."""
    found = f"file is {size} bytes, over the limit of {limits.max_bytes}" if size is not None else (
        f"file is over the limit of {limits.max_bytes} bytes")
    return InputError(Problem(name, 0, 0, f"{found} (sandbox check --max-file-size raises it)"))


# -- bytes to text ---------------------------------------------------------------------------

def _decode(raw: bytes, name: str) -> str:
    """UTF-8 text, or a one-line problem for other encodings, binary files and control characters."""
    encoding = _other_encoding(raw)
    if encoding:
        raise InputError(Problem(name, 1, 1, f"file is {encoding}; save it as UTF-8"))
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise InputError(Problem(name, *_byte_position(raw, nul), "NUL byte: the file is binary, not YAML text"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(Problem(name, *_byte_position(raw, exc.start),
                                 "invalid UTF-8 byte; save the file as UTF-8")) from None
    bad = _NOT_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - text.rfind("\n", 0, bad.start())
        raise InputError(Problem(name, line, column, f"control character U+{ord(bad.group()):04X} is not "
                                                     "allowed in YAML; remove it"))
    return text


def _other_encoding(raw: bytes) -> str:
    """'UTF-16' or 'UTF-32' when the first bytes say so; else ''."""
    for pattern, encoding in _ENCODINGS:
        if pattern.match(raw):
            return encoding
    return ""


def _byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, len(raw[start:offset].decode("utf-8", "replace")) + 1


# -- events to data --------------------------------------------------------------------------

@dataclass
class _Anchor:
    """What an ``&anchor`` stands for, so each ``*alias`` of it can be counted and located."""

    path: PathKey
    first: int  # the anchored value's entries in the builder's log are [first, last)
    last: int = -1  # -1 while the anchored value is being built
    nodes: int = 1  # values, counting the aliases inside it expanded
    aliases: int = 0  # alias expansions inside it
    height: int = 0  # levels of nesting below it
    value: Any = None
    text: str | None = None  # a scalar's source text (for an alias used as a key)


# What reading a collection yields (a collection inside it: its first event, path and depth), is sent
# (that collection's value) and returns (its own value).
_Reading = Generator[tuple[yaml.CollectionStartEvent, PathKey, int], Any, Any]
_Anchored = tuple[_Anchor, tuple[int, int, int]]  # an anchor and the builder's nodes, aliases, deepest before it


class _Builder:
    """Builds plain data from parser events while recording positions and enforcing ``Limits``."""

    def __init__(self, text: str, name: str, limits: Limits) -> None:
        self.events = _Loader(text)
        self.text = text
        self.name = name
        self.limits = limits
        self.max_depth = min(limits.max_depth, MAX_DEPTH_CEILING)
        self.source_map = SourceMap()
        self.log: list[tuple[dict[PathKey, Any], PathKey, Any]] = []
        self.anchors: dict[str, _Anchor] = {}
        self.nodes = self.aliases = self.deepest = 0

    def document(self) -> tuple[dict[str, Any], SourceMap]:
        """The single top-level mapping of the file."""
        try:
            return self._document(), self.source_map
        except yaml.MarkedYAMLError as exc:
            if exc.problem == _NESTING_PROBLEM:
                line, column = _mark_of(exc.problem_mark or exc.context_mark)
                raise InputError(Problem(self.name, line, column, self._too_deep(None, " here"))) from None
            raise _syntax_error(exc, self.name) from None
        except yaml.YAMLError as exc:
            raise InputError(Problem(self.name, 0, 0, "YAML error: " + " ".join(str(exc).split()))) from None
        finally:
            self.events.dispose()

    def _document(self) -> dict[str, Any]:
        self._expect(yaml.StreamStartEvent)
        if self.events.check_event(yaml.StreamEndEvent):
            raise self._fail(None, self._nothing())
        start = self.events.get_event()
        assert isinstance(start, yaml.DocumentStartEvent), start  # the parser guarantees the stream's structure
        root = self.events.get_event()
        self._top_level(root, bool(start.explicit))
        data: dict[str, Any] = self._node(root, (), 0)
        self._expect(yaml.DocumentEndEvent)
        if not self.events.check_event(yaml.StreamEndEvent):
            raise self._fail(self.events.peek_event(), "several YAML documents in one file; keep one")
        return data

    def _expect(self, kind: type[yaml.Event]) -> None:
        event = self.events.get_event()
        assert isinstance(event, kind), event  # the parser guarantees the stream's structure

    def _nothing(self, marker: bool = False) -> str:
        """What a file without any value holds: nothing, comments, or only a '---' marker."""
        if marker:
            return "file holds no content, only the document marker '---': expected a YAML mapping"
        if "#" in self.text:  # with no value in the file, a '#' can only start a comment
            return "file holds only comments: expected a YAML mapping"
        return "file is empty: expected a YAML mapping"

    def _top_level(self, event: yaml.Event, explicit: bool) -> None:
        """Refuse a top level that is not a mapping, naming a tag the file must not use first."""
        if isinstance(event, yaml.CollectionStartEvent):
            self._collection_tag(event, ())
        elif isinstance(event, yaml.ScalarEvent) and _foreign(event.tag):
            raise self._bad_tag(event, str(event.tag), ())
        if isinstance(event, yaml.SequenceStartEvent):
            tagged = self._foreign_inside()
            if tagged is not None:
                raise self._bad_tag(tagged, str(getattr(tagged, "tag", "")), ())
            raise self._fail(event, "top level must be a mapping, found a list")
        if isinstance(event, yaml.ScalarEvent):
            if event.value == "" and not event.style and event.tag is None and event.anchor is None:
                raise self._fail(None, self._nothing(explicit))
            text = event.value if len(event.value) <= 40 else event.value[:37] + "..."
            raise self._fail(event, f"top level must be a mapping, found a scalar ({text!r})")

    def _foreign_inside(self) -> yaml.Event | None:
        """Read the rest of a collection (just opened) for the first value tagged as no plain data is."""
        level = 1
        while level:
            event: yaml.Event = self.events.get_event()
            if _foreign(getattr(event, "tag", None)):
                return event
            level += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        return None

    # nodes

    def _node(self, event: yaml.Event, path: PathKey, depth: int) -> Any:
        """The value that starts with ``event``, read without recursion: each collection being read is a
        suspended generator on a list (not a frame on the call stack) that yields the start of each
        collection inside it and is sent its value, so any depth the limits allow is read."""
        if not isinstance(event, yaml.CollectionStartEvent):
            return self._leaf(event, path, depth)
        reading = self._collection(event, path, depth)
        stack = [reading]
        value: Any = None
        while True:
            try:
                event, path, depth = reading.send(value)
            except StopIteration as done:
                stack.pop()
                if not stack:
                    return done.value
                reading, value = stack[-1], done.value
            else:
                reading, value = self._collection(event, path, depth), None
                stack.append(reading)

    def _leaf(self, event: yaml.Event, path: PathKey, depth: int) -> Any:
        """A scalar's or an alias's value."""
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, path, depth)
        assert isinstance(event, yaml.ScalarEvent), event  # the parser guarantees a scalar here
        self._enter(event, path, depth)
        if event.anchor is None:
            return self._scalar(event, path)
        anchored = self._open_anchor(event, path, depth)
        return self._seal(anchored, depth, self._scalar(event, path), event.value)

    def _collection(self, event: yaml.CollectionStartEvent, path: PathKey, depth: int) -> _Reading:
        """Read a list or a mapping (``_node`` drives it); its value is the generator's return value."""
        self._enter(event, path, depth)
        self._collection_tag(event, path)
        anchored = self._open_anchor(event, path, depth) if event.anchor is not None else None
        if isinstance(event, yaml.MappingStartEvent):
            return self._mapping(path, depth, anchored)
        return self._sequence(path, depth, anchored)

    def _open_anchor(self, event: yaml.NodeEvent, path: PathKey, depth: int) -> _Anchored:
        """Note an anchored value's start, so that what it holds can be counted for each alias of it."""
        anchor = self.anchors[str(event.anchor)] = _Anchor(path, len(self.log))
        before = (self.nodes, self.aliases, self.deepest)
        self.deepest = depth
        return anchor, before

    def _seal(self, anchored: _Anchored | None, depth: int, value: Any, text: str | None = None) -> Any:
        """``value``, the anchored value's end noted: what it holds, counted for each alias that repeats it."""
        if anchored is None:
            return value
        anchor, (nodes, aliases, outer) = anchored
        anchor.last, anchor.height = len(self.log), self.deepest - depth
        anchor.nodes, anchor.aliases = self.nodes - nodes + 1, self.aliases - aliases
        anchor.value, anchor.text = value, text
        self.deepest = max(outer, self.deepest)
        return value

    def _sequence(self, path: PathKey, depth: int, anchored: _Anchored | None) -> _Reading:
        items: list[Any] = []
        while not isinstance(event := self.events.get_event(), yaml.SequenceEndEvent):
            child = path + (len(items),)
            self._put(self.source_map.positions, child, _position(event))
            if isinstance(event, yaml.CollectionStartEvent):
                items.append((yield event, child, depth + 1))
            else:
                items.append(self._leaf(event, child, depth + 1))
        return self._seal(anchored, depth, items)

    def _mapping(self, path: PathKey, depth: int, anchored: _Anchored | None) -> _Reading:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        lines: dict[str, int] = {}
        while not isinstance(key_event := self.events.get_event(), yaml.MappingEndEvent):
            key = self._key(key_event, path)
            value_event = self.events.get_event()
            if key is None:
                for name, value in self._merge(value_event, path, depth).items():
                    merged.setdefault(name, value)
                continue
            child = path + (key,)
            if key in lines:
                raise self._fail(key_event, f"duplicate key '{key}' (first defined on line {lines[key]})", child)
            key_position = _position(key_event)
            lines[key] = key_position.line
            scalar = not isinstance(value_event, yaml.CollectionStartEvent)
            self._put(self.source_map.positions, child, _position(value_event) if scalar else key_position, True)
            self._put(self.source_map.keys, child, key_position, True)
            out[key] = self._leaf(value_event, child, depth + 1) if scalar else (yield value_event, child, depth + 1)
        return self._seal(anchored, depth, {**merged, **out} if merged else out)

    def _enter(self, event: yaml.Event, path: PathKey, depth: int) -> None:
        self.nodes += 1
        self.deepest = max(self.deepest, depth)
        if depth > self.max_depth:
            raise self._fail(event, self._too_deep(depth, " here"))
        if self.nodes > self.limits.max_nodes:
            raise self._too_many_nodes(event, path)

    def _too_deep(self, reached: int | None, where: str) -> str:
        """The depth error; ``reached`` is None where libyaml stopped at its own limit, past the ceiling."""
        if reached is not None and self.max_depth < MAX_DEPTH_CEILING:
            return (f"nesting reaches {reached} levels{where}, over the limit of {self.max_depth} "
                    "(sandbox check --max-depth raises it)")
        levels = f"more than {MAX_DEPTH_CEILING}" if reached is None else str(reached)
        return (f"nesting reaches {levels} levels{where}; sandbox reads at most {MAX_DEPTH_CEILING} levels, "
                "whatever --max-depth says")

    def _too_many_nodes(self, event: yaml.Event, path: PathKey) -> InputError:
        return self._fail(event, f"the document grows to {self.nodes} values here (aliases count each "
                                 f"time they are used), over the limit of {self.limits.max_nodes} "
                                 "(sandbox check --max-nodes raises it)", path)

    def _key(self, event: yaml.Event, path: PathKey) -> str | None:
        """The key's text; ``None`` for a merge key (``<<``)."""
        if isinstance(event, yaml.AliasEvent):
            anchor = self._anchor(event)
            if anchor.text is None:
                raise self._fail(event, "mapping keys must be plain text", path)
            return anchor.text
        if not isinstance(event, yaml.ScalarEvent):
            if _foreign(tag := getattr(event, "tag", None)):
                raise self._bad_tag(event, str(tag), path)
            raise self._fail(event, "mapping keys must be plain text", path)
        self._check_length(event, path, "key")
        if event.tag not in (None, "!"):
            self._scalar_tag(event, path)
        if event.value == "<<" and not event.style and event.tag is None:
            return None
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchor(path, len(self.log), len(self.log), value=event.value,
                                                 text=event.value)
        return str(event.value)

    def _merge(self, event: yaml.Event, path: PathKey, depth: int) -> dict[str, Any]:
        """The mappings a merge key (``<<: *base`` or ``<<: [*a, *b]``) brings in; earlier ones win."""
        if not (isinstance(event, yaml.SequenceStartEvent) and event.tag is None and event.anchor is None):
            return self._merge_source(event, path, depth)
        merged: dict[str, Any] = {}
        while not isinstance(item := self.events.get_event(), yaml.SequenceEndEvent):
            for name, value in self._merge_source(item, path, depth).items():
                merged.setdefault(name, value)
        return merged

    def _merge_source(self, event: yaml.Event, path: PathKey, depth: int) -> dict[str, Any]:
        value = self._alias(event, path, depth) if isinstance(event, yaml.AliasEvent) else None
        if not isinstance(value, dict):
            if _foreign(tag := getattr(event, "tag", None)):
                raise self._bad_tag(event, str(tag), path)
            raise self._fail(event, "a merge key (<<) takes an alias of a mapping (<<: *name) or a list "
                                    "of them", path)
        return value

    # scalars

    def _scalar(self, event: yaml.ScalarEvent, path: PathKey) -> Any:
        self._check_length(event, path)
        tag = self._scalar_tag(event, path)
        if event.tag is None and tag != _STR:
            self._put(self.source_map.raw, path, event.value)
        try:
            return _CONSTRUCT[tag](self.events, event.value)
        except ValueError:  # only a decimal integer longer than Python reads (4300 digits)
            raise self._fail(event, f"the number has {len(event.value)} digits, too many to read; "
                                    "write it in quotes if it is text", path) from None

    def _check_length(self, event: yaml.ScalarEvent, path: PathKey, what: str = "text") -> None:
        if len(event.value) > self.limits.max_string:
            raise self._fail(event, f"{what} is {len(event.value)} characters long, over the limit of "
                                    f"{self.limits.max_string} (sandbox check --max-string-length raises it)",
                             path)

    def _scalar_tag(self, event: yaml.ScalarEvent, path: PathKey) -> str:
        """The tag a scalar resolves to; refuses explicit tags other than the core scalar ones."""
        if event.tag is None:
            return str(self.events.resolve(yaml.ScalarNode, event.value, event.implicit))
        if event.tag == "!":  # the non-specific tag: plain text
            return _STR
        if event.tag not in _SCALAR_TAGS:
            raise self._bad_tag(event, event.tag, path)
        implicit = self.events.resolve(yaml.ScalarNode, event.value, (True, False))
        if event.tag not in (_STR, implicit) and (event.tag, implicit) != (_FLOAT, _INT):
            raise self._fail(event, f"YAML tag '{_short(event.tag)}' does not fit the value "
                                    f"{event.value!r:.40} (remove the tag)", path)
        return str(event.tag)

    def _collection_tag(self, event: yaml.CollectionStartEvent, path: PathKey) -> None:
        tag: str | None = event.tag
        kind = "a mapping" if isinstance(event, yaml.MappingStartEvent) else "a list"
        if tag is None or tag == "!" or _COLLECTION_TAGS.get(tag) == kind:
            return
        if tag in _COLLECTION_TAGS or tag in _SCALAR_TAGS:
            raise self._fail(event, f"YAML tag '{_short(tag)}' does not fit {kind} (remove the tag)", path)
        raise self._bad_tag(event, tag, path)

    def _bad_tag(self, event: yaml.Event, tag: str, path: PathKey) -> InputError:
        return self._fail(event, f"YAML tag '{_short(tag)}' is not allowed: the file must hold "
                                 "plain data (remove the tag)", path)

    # aliases

    def _anchor(self, event: yaml.AliasEvent) -> _Anchor:
        anchor = self.anchors.get(str(event.anchor))
        if anchor is None:
            raise self._fail(event, f"alias '*{event.anchor}' is not defined: its anchor "
                                    f"'&{event.anchor}' must come before it")
        if anchor.last < 0:
            raise self._fail(event, f"alias '*{event.anchor}' is inside the value it refers to "
                                    "(a recursive alias)")
        return anchor

    def _alias(self, event: yaml.AliasEvent, path: PathKey, depth: int) -> Any:
        """The anchored value again, counted against the limits, with its positions copied to ``path``."""
        anchor = self._anchor(event)
        self.aliases += 1 + anchor.aliases
        if self.aliases > self.limits.max_aliases:
            raise self._fail(event, f"alias '*{event.anchor}' brings the alias expansions to {self.aliases} "
                                    f"(aliases inside it count again), over the limit of "
                                    f"{self.limits.max_aliases}; write the values out instead", path)
        self.nodes += anchor.nodes
        if self.nodes > self.limits.max_nodes:
            raise self._too_many_nodes(event, path)
        self._enter_alias(event, depth, anchor)
        cut = len(anchor.path)
        for table, old, value in self.log[anchor.first:anchor.last]:
            self._put(table, path + old[cut:], value)
        return anchor.value

    def _enter_alias(self, event: yaml.AliasEvent, depth: int, anchor: _Anchor) -> None:
        self.deepest = max(self.deepest, depth + anchor.height)
        if depth + anchor.height > self.max_depth:
            raise self._fail(event, self._too_deep(depth + anchor.height, f" through alias '*{event.anchor}'"))

    # bookkeeping

    def _put(self, table: dict[PathKey, Any], path: PathKey, value: Any, replace: bool = False) -> None:
        """Record ``value`` for ``path`` (kept by an earlier entry unless ``replace``) and log it."""
        if replace or path not in table:
            table[path] = value
            self.log.append((table, path, value))

    def _fail(self, event: yaml.Event | None, message: str, path: PathKey = ()) -> InputError:
        line, column = _mark_of(event.start_mark) if event is not None else (0, 0)
        return InputError(Problem(self.name, line, column, message, dotted(path)))


def _construct_int(loader: Any, value: str) -> Any:
    return loader.construct_yaml_int(yaml.ScalarNode(_INT, value))


def _construct_float(loader: Any, value: str) -> Any:
    return loader.construct_yaml_float(yaml.ScalarNode(_FLOAT, value))


def _construct_bool(loader: Any, value: str) -> Any:
    return loader.construct_yaml_bool(yaml.ScalarNode(_BOOL, value))


_CONSTRUCT: dict[str, Callable[[Any, str], Any]] = {
    _STR: lambda loader, value: value,
    _NULL: lambda loader, value: None,
    _INT: _construct_int,
    _FLOAT: _construct_float,
    _BOOL: _construct_bool,
}


def _foreign(tag: str | None) -> bool:
    """Whether ``tag`` is one no plain data carries: neither absent, nor ``!``, nor a core tag."""
    return tag is not None and tag != "!" and tag not in _SCALAR_TAGS and tag not in _COLLECTION_TAGS


def _short(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


def _position(event: yaml.Event) -> Position:
    mark = event.start_mark
    return Position(mark.line + 1, mark.column + 1) if mark is not None else Position(0, 0)


def _syntax_error(exc: yaml.MarkedYAMLError, name: str) -> InputError:
    line, col = _mark_of(exc.problem_mark or exc.context_mark)
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    return InputError(Problem(name, line, col, f"YAML syntax error: {what}"))


def _mark_of(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)

"""The durable_rules adapter: the only module that imports ``durable``.

durable-rules 2.0.28 is unmaintained C code with crashes we cannot catch, so every known
trigger is made impossible by construction here (see docs/engine.md and
../shared/reference/durable-rules.md):

* the engine's C core is driven directly (``durable_rules_engine``): no ``Host``, so no timer
  threads and no races, and none of the per-action Python machinery (closures, state
  round-trips through JSON) that cost 20-40 µs per fired rule;
* a catch-all rule in every ruleset (a session in which no action ran segfaults on delete);
* the ``kind: proposal`` discriminator on every pattern (compile.py) against endless re-firing;
* one session per proposal and shard, deleted in ``finally`` (at most 1,024 live sessions;
  measured faster than keeping one session and retracting the facts, docs/engine.md);
* facts normalised before asserting: nulls dropped, NaN/infinite floats and integers outside
  int64 refused, floats never written in exponent form; flat, so the compiler bounds their
  properties (``compile.MAX_PROPERTIES``);
* no joins on ``id`` (the only multi-pattern rules are negations over the same fact).
"""

from __future__ import annotations

import importlib
import itertools
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any, cast

from evaluator.compile import (
    ITEM_ROOT,
    LENGTH_SUFFIX,
    SESSION_MARKER,
    SET_SUFFIX,
    CompiledRulebook,
    ItemGroup,
    Shard,
    Stratum,
    Target,
    engine_json,
)
from evaluator.errors import EngineError

ENGINE_MODULE = "durable_rules_engine"
#: The symbol a plain build of durable-rules 2.0.28 on Python 3.13 leaves undefined: a macro up
#: to 3.12, gone in 3.13. Only the C callbacks of durable's ``Host`` call it.
MISSING_SYMBOL = "PyEval_CallObject"


def load_engine() -> ModuleType:
    """Import the engine's C core, or raise ``EngineError`` with the command that repairs it.

    On Python 3.13 a plain ``pip install`` builds durable-rules without the define that maps
    ``PyEval_CallObject`` to ``PyObject_CallObject``; importing that build fails on the undefined
    symbol. It is called only by the callbacks that ``set_*_callback`` installs, and this adapter
    installs none, so such a build is loaded again with lazy binding (the symbol is looked up
    only when called, which is then never) and the callback setters are removed from the
    module, so that nothing can reach it. Where lazy binding is refused (``LD_BIND_NOW``, a
    library linked with ``-z now``), the error names the command that rebuilds the engine.
    """
    try:
        return importlib.import_module(ENGINE_MODULE)
    except ImportError as exc:
        failure = exc
    if MISSING_SYMBOL in str(failure) and sys.platform != "win32":
        try:
            return _load_lazily()
        except ImportError:
            pass
    raise engine_unavailable(failure)


def _load_lazily() -> ModuleType:
    flags = sys.getdlopenflags()
    sys.setdlopenflags((flags & ~os.RTLD_NOW) | os.RTLD_LAZY)
    try:
        module = importlib.import_module(ENGINE_MODULE)
    finally:
        sys.setdlopenflags(flags)
    for name in [name for name in vars(module) if name.startswith("set_") and name.endswith("_callback")]:
        delattr(module, name)
    return module


def engine_unavailable(failure: ImportError) -> EngineError:
    """The error for an engine that cannot be imported: why, and the one command that fixes it."""
    import shlex  # only here: not on every start

    fix = (f"CPPFLAGS=-D{MISSING_SYMBOL}=PyObject_CallObject {shlex.quote(sys.executable)} -m pip install "
           "--force-reinstall --no-binary durable-rules --no-cache-dir durable-rules==2.0.28")
    if MISSING_SYMBOL in str(failure):
        why = f"the durable-rules engine was built without the Python 3.13 fix (undefined symbol {MISSING_SYMBOL})"
    else:
        why = f"the durable-rules engine cannot be loaded ({failure})"
    return EngineError(f"{why}; reinstall it with: {fix}")


durable_core = load_engine()

#: How the engine answers an assert: 0 handled, 1 no rule matched, 2 an identical fact is already
#: in the session (then nothing fires).
_HANDLED, _UNMATCHED = 0, 1

INT64 = 2**63


class UnsafeValue(ValueError):
    """A proposal value the engine cannot represent faithfully."""

    def __init__(self, path: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.path, self.reason = path, reason


def normalise(data: Any, exponents: list[float] | None = None) -> Any:
    """Copy ``data`` for the engine: drop nulls, refuse unrepresentable numbers, add markers.

    Every list ``k`` gets ``k__len`` (its length) and every section or list gets ``k__set``,
    so the engine can test list length and the presence of a section. Floats that print with an
    exponent are appended to ``exponents`` when it is given (see ``compile.engine_json``). Raises
    ``UnsafeValue`` with the path of the first value the engine cannot hold.
    """
    try:
        return _normalised(data, exponents)
    except UnsafeValue:
        # The fast walk keeps no path (a tuple per value costs a fifth of it); find it now.
        _check_values(data, ())
        raise


def _normalised(data: Any, exponents: list[float] | None) -> Any:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            kind = type(value)
            if kind is str or kind is bool:  # most values: no call
                out[key] = value
            elif kind is dict:
                out[key] = _normalised(value, exponents)
                out[key + SET_SUFFIX] = True
            elif kind is list:
                out[key] = _normalised(value, exponents)
                out[key + LENGTH_SUFFIX] = len(value)
                out[key + SET_SUFFIX] = True
            elif value is not None:
                out[key] = _normalised(value, exponents)
        return out
    if isinstance(data, list):
        return [_normalised(item, exponents) for item in data if item is not None]
    if isinstance(data, (bool, str)):
        return data
    if isinstance(data, int):
        if not -INT64 <= data < INT64:
            raise UnsafeValue((), _TOO_LARGE)
    elif isinstance(data, float):
        if not math.isfinite(data):
            raise UnsafeValue((), _NOT_FINITE)
        if exponents is not None and "e" in repr(data):
            exponents.append(data)
    return data


def _check_values(data: Any, path: tuple[str | int, ...]) -> None:
    """Raise ``UnsafeValue`` at the path of the first value the engine cannot hold."""
    if isinstance(data, dict):
        for key, value in data.items():
            _check_values(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            _check_values(item, (*path, index))
    elif isinstance(data, int) and not isinstance(data, bool) and not -INT64 <= data < INT64:
        raise UnsafeValue(path, _TOO_LARGE)
    elif isinstance(data, float) and not math.isfinite(data):
        raise UnsafeValue(path, _NOT_FINITE)


_TOO_LARGE = "integer is too large (the limit is 2^63 - 1)"
_NOT_FINITE = "number must be finite (not .nan or .inf)"


class Projection:
    """The values a shard's rules test, copied out of a normalised document into a flat fact.

    ``fields`` maps a field's name in the fact to its path in the document, and says whether
    rules only test its presence (then the fact holds ``true``). A value that is missing or a
    section is left out: rules test sections through their ``__set`` marker. Planned once, as a
    tree of the paths, so a section shared by several paths is looked up once.

    A projection used ``COMPILE_AFTER`` times becomes straight-line Python, which takes less
    than half the time of walking the plan (0.28 against 0.71 µs, the median over the 809
    projections that 1,000 generated proposals use) but costs about 0.15 ms to generate. It
    pays for itself after about 350 uses (quartiles 290 and 430), so a projection is compiled
    at its 256th use: compiling at the 16th cost 144 ms per 1,000 proposals and saved 19 ms.
    """

    COMPILE_AFTER = 256

    def __init__(self, fields: Iterable[tuple[str, tuple[str, ...], bool]]) -> None:
        #: key -> (the field name when the key's value is tested, else None; presence only; the plan below it)
        self.plan: dict[str, tuple[str | None, bool, dict[str, Any]]] = {}
        #: the field name of the whole document, when a rule tests it (a list item that is a text)
        self.whole: str | None = None
        for name, path, presence in sorted(fields, key=lambda entry: entry[1]):
            if not path:
                self.whole = name
                continue
            level = self.plan
            for depth, part in enumerate(path):
                tested, only_presence, below = level.get(part, (None, False, {}))
                if depth == len(path) - 1:
                    tested, only_presence = name, presence
                level[part] = (tested, only_presence, below)
                level = below
        self._uses = 0
        self._compiled: Callable[[Any], dict[str, Any]] | None = None

    def take(self, document: Any) -> dict[str, Any]:
        """The flat fact of ``document`` (a normalised document, section or list item)."""
        if self._compiled is not None:
            return self._compiled(document)
        self._uses += 1
        if self._uses >= self.COMPILE_AFTER:
            self._compiled = _compiled_take(self.plan, self.whole)
        fact: dict[str, Any] = {}
        if type(document) is dict:
            _take(document, self.plan, fact)
        elif self.whole is not None and document is not None:
            fact[self.whole] = document
        return fact


def _take(source: dict[str, Any], plan: dict[str, tuple[str | None, bool, dict[str, Any]]],
          fact: dict[str, Any]) -> None:
    for key, (name, presence, below) in plan.items():
        value = source.get(key)
        if value is None:
            continue
        if type(value) is dict:
            if below:
                _take(value, below, fact)
        elif name is not None:
            fact[name] = True if presence else value


def _compiled_take(plan: dict[str, tuple[str | None, bool, dict[str, Any]]],
                   whole: str | None) -> Callable[[Any], dict[str, Any]]:
    """``Projection.take`` for one plan as generated code. Keys and field names enter the
    source only through ``repr``, so whatever text a rule pack uses stays a string literal."""
    lines = ["def take(s0):", "    f = {}", "    if type(s0) is dict:"]
    _take_lines(plan, 0, " " * 8, lines, itertools.count(1))
    lines.append("        pass")
    if whole is not None:
        lines += ["    elif s0 is not None:", f"        f[{whole!r}] = s0"]
    lines.append("    return f")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<projection>", "exec"), namespace)  # noqa: S102 -- see docstring
    take: Callable[[Any], dict[str, Any]] = namespace["take"]
    return take


def _take_lines(plan: dict[str, tuple[str | None, bool, dict[str, Any]]], level: int, pad: str,
                lines: list[str], numbers: Iterator[int]) -> None:
    """Code for ``_take`` of ``plan`` on the section held in variable ``s<level>``."""
    for key, (name, presence, below) in plan.items():
        value = f"v{next(numbers)}"
        copy = f"f[{name!r}] = {'True' if presence else value}"
        lines.append(f"{pad}{value} = s{level}.get({key!r})")
        if below:
            inner = next(numbers)
            lines += [f"{pad}if type({value}) is dict:", f"{pad}    s{inner} = {value}"]
            _take_lines(below, inner, pad + "    ", lines, numbers)
            if name is not None:
                lines += [f"{pad}elif {value} is not None:", f"{pad}    {copy}"]
        elif name is not None:
            lines += [f"{pad}if {value} is not None and type({value}) is not dict:", f"{pad}    {copy}"]


def project(document: dict[str, Any], fields: dict[str, str], compared: Iterable[str] = ()) -> dict[str, Any]:
    """The flat fact of ``document`` for ``fields`` (dotted path -> field name), where only the
    paths in ``compared`` keep their value (see ``Projection``)."""
    kept = set(compared)
    return Projection((name, tuple(path.split(".")), path not in kept) for path, name in fields.items()).take(document)


def node_at(document: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in a (normalised) document or fact, or None when there is none."""
    node: Any = document
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def list_at(document: dict[str, Any], path: tuple[str, ...]) -> list[Any] | None:
    """The list at ``path`` in a (normalised) document, or None when there is none."""
    node = node_at(document, path)
    return node if isinstance(node, list) else None


class DurableAdapter:
    """Registers a compiled rulebook once and fires it on facts, one fresh session at a time."""

    _sessions = itertools.count(1)

    def __init__(self, compiled: CompiledRulebook) -> None:
        self.compiled = compiled
        self._handles: dict[str, int] = {}
        self._projections: dict[Any, Projection] = {}  # by shard, judged rule or item group
        #: whether the facts of the proposal being evaluated hold a float printed with an exponent
        self.exponents = True
        for stratum in [compiled.items, *compiled.strata]:
            for shard in stratum.shards:
                self._register(shard)

    def _register(self, shard: Shard) -> int:
        if shard.name not in self._handles:
            self._handles[shard.name] = self._create(shard)
        return self._handles[shard.name]

    def _projection(self, key: Any, shard: Shard, paths: Iterable[str], root: tuple[str, ...] = ()) -> Projection:
        """The projection of ``paths`` (dotted, under ``root``) named as in ``shard``, planned on first use."""
        if key not in self._projections:
            fields = [(shard.fields[path], tuple(path.split(".")), path not in shard.compared) for path in paths]
            self._projections[key] = Projection((name, path[len(root):], presence) for name, path, presence in fields
                                                if path[:len(root)] == root)
        return self._projections[key]

    @staticmethod
    def _create(shard: Shard) -> int:
        names = [*shard.rules, *(target.rule_id for target in shard.targets.values())]
        unsafe = [name for name in names if '"' in name or "\\" in name]
        if unsafe:  # fired rule names and judge facts' rule ids are read straight out of the engine's JSON
            raise EngineError(f"rule name {unsafe[0]!r} in {shard.name} holds a quote or backslash")
        try:
            handle: int = durable_core.create_ruleset(shard.name, shard.definition or engine_json(shard.rules))
        except Exception as exc:  # noqa: BLE001 -- the engine raises bare Exceptions with error codes
            raise EngineError(f"the rule engine refused the compiled rules of {shard.name}: {exc}") from None
        return handle

    def close(self) -> None:
        """Free the engine's rulesets (no session outlives a call, so none leaks)."""
        for handle in self._handles.values():
            durable_core.delete_ruleset(handle)
        self._handles.clear()

    def fire(self, stratum: Stratum, judged: Iterable[str], document: dict[str, Any]) -> set[Target]:
        """Screen ``document`` with each shard of ``stratum``; return the targets of every rule that fired.

        Each rule in ``judged`` also meets its judge (its other polarity) as one small fact of
        its own, in the same session as the proposal fact of the shard that holds it.
        """
        judges: dict[int, list[dict[str, Any]]] = {}
        for rule_id in judged:
            index = stratum.shard_of[rule_id]
            projection = self._projection((stratum.level, rule_id), stratum.shards[index], stratum.reads[rule_id])
            # "j" first: a judge rule's message echoes the fact, and "j" names the condition's rule
            judges.setdefault(index, []).append({"j": rule_id, "kind": "judge", **projection.take(document)})
        hits: set[Target] = set()
        judge_truth = not stratum.screened_truth
        for index, shard in enumerate(stratum.shards):
            fact = self._projection(shard.name, shard, shard.fields).take(document)
            fact["kind"] = "proposal"
            targets, roles = shard.targets, shard.judges
            mine = judges.get(index)
            # A judge fact may match nothing (its condition is unknown); the proposal fact always
            # meets the catch-all, so an action still runs.
            for name, key in self._session(shard, [fact, *mine] if mine else [fact], tolerant=bool(mine)):
                if name in targets:
                    hits.add(targets[name])
                elif name in roles:
                    hits.add(Target(cast(str, key), roles[name], judge_truth))  # the judged rule's id
        return hits

    def _item_fact(self, shard: Shard, group: ItemGroup, index: int, item: Any) -> dict[str, Any]:
        """An item's fact: the values of it that the group's ``where`` tests test."""
        projection = self._projection(("group", group.gid), shard, group.reads, (ITEM_ROOT,))
        # "i" first: the engine echoes each fact as sent, so the index is read without parsing it
        return {"i": index, "kind": "item", "g": group.gid, **projection.take(item)}

    def fire_items(self, stratum: Stratum, document: dict[str, Any],
                   exhaustive: bool = False) -> dict[str, list[bool | None]]:
        """Every item of every quantified list, judged true, false or unknown (None), by quantifier.

        Each item is one fact for its whole group (``compile.ItemGroup``). The screen holds one
        form of each ``where`` (``Quantifier.screened_truth``): an item that fires nothing has
        the other, unless a value its ``where`` reads is missing; only such a doubtful item is
        asserted a second time, for the judges (the other form), in the same session.
        ``exhaustive`` judges every item and checks that screen and judge agree (see ``Evaluator``).
        """
        quantifiers = self.compiled.quantifiers
        lists: dict[int, list[Any]] = {}
        by_shard: dict[int, list[dict[str, Any]]] = {}
        doubtful: set[tuple[str, int]] = set()
        judged: set[tuple[int, int]] = set()
        for group in stratum.groups:
            items = list_at(document, group.path)
            if items is None:
                continue
            lists[group.gid] = items
            shard = stratum.shards[group.shard]
            facts = by_shard.setdefault(group.shard, [])
            for index, item in enumerate(items):
                fact = self._item_fact(shard, group, index, item)
                facts.append(fact)
                doubts = [(qid, index) for qid in group.qids if _doubtful(item, stratum.uncertain[(qid, "item")])]
                if doubts or exhaustive:
                    facts.append({**fact, "kind": "item_judge"})  # same order: "i" stays first
                    judged.add((group.gid, index))
                    doubtful.update(doubts)
        on_screen: set[tuple[str, int]] = set()
        on_judge: set[tuple[str, int]] = set()
        for number, facts in sorted(by_shard.items()):
            shard = stratum.shards[number]
            for name, key in self._session(shard, [dict(SESSION_MARKER), *facts], tolerant=True):
                if name in shard.targets:  # an item rule: the key is the item's index
                    target = shard.targets[name]
                    screened = target.truth == quantifiers[target.rule_id].screened_truth
                    (on_screen if screened else on_judge).add((target.rule_id, cast(int, key)))
        return {qid: [_item_truth(qid, index, (qid, index) in on_screen, (qid, index) in on_judge,
                                  (qid, index) in doubtful, (group.gid, index) in judged,
                                  quantifiers[qid].screened_truth)
                      for index in range(len(lists[group.gid]))]
                for group in stratum.groups if group.gid in lists for qid in group.qids}

    def _session(self, shard: Shard, facts: list[dict[str, Any]], tolerant: bool = False) -> list[tuple[str, int | str]]:
        """Assert ``facts`` in one fresh session of ``shard``, delete it, return what fired.

        ``tolerant``: facts that match no rule are expected (an item or a condition still
        unknown); the first fact must then meet the shard's catch-all (the proposal fact, or
        the session marker, compile.SESSION_MARKER, that item sessions start with).
        """
        if not facts:
            return []
        handle = self._register(shard)
        sid = str(next(self._sessions))
        for fact in facts:
            fact["sid"] = sid
        try:
            code, state = durable_core.assert_facts(handle, engine_json(facts, self.exponents))
        except Exception as exc:  # noqa: BLE001 -- the engine raises bare Exceptions with error codes
            raise EngineError(f"the rule engine failed on ruleset {shard.name}: {exc}") from None
        try:
            fired = _drain(handle, state)
        finally:
            # The catch-all guarantees an action ran: deleting a session in which none ran
            # crashes the engine (SIGSEGV).
            durable_core.delete_state(handle, sid)
        if code != _HANDLED and not (tolerant and code == _UNMATCHED):
            raise EngineError(f"the rule engine did not handle a fact in {shard.name} (code {code})")
        return fired


def _doubtful(item: Any, uncertain: tuple[tuple[str, ...], ...]) -> bool:
    """Whether a value that can leave the item's ``where`` unknown is missing from the item."""
    return any(path[0] != ITEM_ROOT or node_at(item, path[1:]) is None for path in uncertain)


def _item_truth(qid: str, index: int, on_screen: bool, on_judge: bool, doubtful: bool, judged: bool,
                screened: bool) -> bool | None:
    """One item's verdict from what its screen and its judge fired (None: unknown)."""
    if on_screen and on_judge:
        raise EngineError(f"item {index} of {qid} came out both true and false")
    if judged and not doubtful and on_screen == on_judge:
        raise EngineError(f"item {index} of {qid} holds every value its condition reads, but the engine "
                          "found it neither true nor false")
    if on_screen:
        return screened
    return None if doubtful and not on_judge else not screened


def _drain(handle: int, state: int) -> list[tuple[str, int | str]]:
    """Every action the engine queued for a session: (rule name, the item index or judged rule
    id that its fact carries, else -1; see ``_key``)."""
    fired: list[tuple[str, int | str]] = []
    started = durable_core.start_action_for_state(handle, state)
    message: str | None = started[1] if started else None
    while message:
        # A message is {"<rule name>":{"m":<the fact as asserted>}}; names hold no quotes.
        end = message.index('"', 2)
        fired.append((message[2:end], _key(message, end)))
        message = durable_core.complete_and_start_action(handle, state)
    return fired


_ITEM_MESSAGE = '":{"m":{"i":'  # how a fired item rule's message goes on after its name
_JUDGE_MESSAGE = '":{"m":{"j":"'  # and a fired judge rule's


def _key(message: str, name_end: int) -> int | str:
    """The ``i`` of an item fact or the ``j`` of a judge fact (each asserted first), else -1."""
    if message.startswith(_ITEM_MESSAGE, name_end):
        start = name_end + len(_ITEM_MESSAGE)
        return int(message[start:message.index(",", start)])
    if message.startswith(_JUDGE_MESSAGE, name_end):
        start = name_end + len(_JUDGE_MESSAGE)
        return message[start:message.index('"', start)]
    return -1

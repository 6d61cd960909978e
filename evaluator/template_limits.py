"""Bounds on what a user's template (``check --template FILE``) may build, print and spend.

Jinja's sandbox keeps a template away from Python internals, but not from the machine:
``{{ "x" * 10**9 }}`` ran 26 s and took 4.8 GiB (issue 17). ``LimitedEnvironment`` is a
``SandboxedEnvironment`` whose own hooks refuse, before it is built, any string longer than
``max_string`` characters, list or range longer than ``max_items`` items and number longer than
``max_digits`` digits (``call_binop`` for ``+ * % **``, ``call`` for methods such as
``str.center`` or ``str.format``, every filter, the ``range`` and ``lipsum`` globals, the
buffers of ``{% set %}`` blocks and macros, and ``~``); ``render_bounded`` renders through
``generate()`` and counts the output against ``max_output``; every hook, every loop step and
every piece of output checks a deadline of ``max_seconds`` (no threads, no signals). A
violation raises ``TemplateLimitError`` with the template file and line.

``evaluator.render.render_custom`` calls ``render_limited`` and turns ``TemplateLimitError`` into
the CLI's ``file:line`` error (exit code 2).

``render_limited`` sets the options ``render_custom`` passes today (autoescape by the name's
``.html``/``.html.j2``, ``StrictUndefined``, ``keep_trailing_newline``) and the loader of the
template's directory, so every other error keeps its message and line; each report is
rendered within the limits (its own output limit and deadline).
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import time
from collections.abc import (
    Callable,
    Generator,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from pathlib import Path
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace

MAX_STRING = 1_000_000
MAX_ITEMS = 100_000  # Jinja's own bound on ``range`` (jinja2.sandbox.MAX_RANGE)
MAX_DIGITS = 4_300  # Python's bound on printing an int (sys.get_int_max_str_digits())
MAX_OUTPUT = 50_000_000
MAX_SECONDS = 10.0
MAX_DEPTH = 100  # nesting of a value printed, joined or dumped (Python's repr recurses)
_LIMIT = "(the limit for a template)"
_SPEC = re.compile(r"[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)
_DIGITS = re.compile(r"\d+")
_BITS_TO_DIGITS = 0.30103  # log10(2)
_SMALL = 64  # a format field this short is formatted for real when a format string is sized


class TemplateLimitError(Exception):
    """A user template went past one of its limits; ``file`` and ``line`` (0: unknown) say where."""

    def __init__(self, message: str, file: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}" if where else self.message


def render_limited(template: Path | str, context: Mapping[str, Any] | Iterable[Mapping[str, Any]],
                   *, filters: Mapping[str, Callable[..., Any]] | None = None,
                   max_string: int = MAX_STRING, max_items: int = MAX_ITEMS,
                   max_digits: int = MAX_DIGITS, max_output: int = MAX_OUTPUT,
                   max_seconds: float = MAX_SECONDS, **options: Any) -> str:
    """Render a template file (a ``Path``) or source (a ``str``) within the limits.

    ``context`` is one mapping of template variables, or several: the template is then rendered
    once for each and the outputs are concatenated, each rendering within the limits.
    ``options`` go to ``LimitedEnvironment`` (by default those of ``render_custom``). Raises
    ``TemplateLimitError`` (file and line set) on a limit; every other error is Jinja's own.
    """
    options.setdefault("autoescape", jinja2.select_autoescape(["html", "html.j2"]))
    options.setdefault("undefined", jinja2.StrictUndefined)
    options.setdefault("keep_trailing_newline", True)
    if isinstance(template, Path):
        options.setdefault("loader", jinja2.FileSystemLoader(str(template.parent)))
    env = LimitedEnvironment(max_string=max_string, max_items=max_items, max_digits=max_digits,
                             max_output=max_output, max_seconds=max_seconds, **options)
    env.filters.update(filters or {})
    contexts = [context] if isinstance(context, Mapping) else context
    if isinstance(template, Path):
        loaded = env.get_template(template.name)
        return env.render_bounded(loaded, contexts, name=str(template))
    return env.render_bounded(env.from_string(template), contexts)


class LimitedEnvironment(SandboxedEnvironment):
    """A sandbox that bounds the strings, lists and numbers a template builds, its output and time.

    Limits are keyword arguments (defaults: strings of 1,000,000 characters, lists and ranges of
    100,000 items, numbers of 4,300 digits, 50,000,000 characters of output, 10 seconds); every
    other argument is ``jinja2.Environment``'s, except ``finalize`` and ``bytecode_cache`` (code
    compiled by another environment would skip the limits). Filters added to ``filters`` later
    are bounded too. The deadline runs only inside ``render_bounded``.
    """

    intercepted_binops = frozenset({"+", "*", "%", "**"})

    def __init__(self, *, max_string: int = MAX_STRING, max_items: int = MAX_ITEMS,
                 max_digits: int = MAX_DIGITS, max_output: int = MAX_OUTPUT,
                 max_seconds: float = MAX_SECONDS, **options: Any) -> None:
        for refused in ("finalize", "bytecode_cache"):
            if options.pop(refused, None) is not None:
                raise ValueError(f"LimitedEnvironment does not take {refused}")
        self.max_string, self.max_items, self.max_digits = max_string, max_items, max_digits
        self.max_output, self.max_seconds = max_output, max_seconds
        self._deadline: float | None = None
        self._output = 0
        super().__init__(finalize=self._finalize, **options)
        self.code_generator_class = _LimitedCodeGenerator
        self.filters = _GuardedFilters(self, self.filters)
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._guard_lipsum(cast(Callable[..., str], self.globals["lipsum"]))

    # -- rendering ---------------------------------------------------------------------------

    def render_bounded(self, template: jinja2.Template, contexts: Iterable[Mapping[str, Any]],
                       name: str = "") -> str:
        """Render ``template`` once per context, concatenated; raise a located ``TemplateLimitError``.

        Each rendering has its own deadline and output limit (a batch of 2,000 reports is not a
        runaway template). ``name`` is how a message names ``template`` (default: its file name
        as Jinja has it).
        """
        chunks: list[str] = []
        try:
            for context in contexts:
                self._render_one(template, context, chunks)
        except TemplateLimitError as exc:
            raise _located(exc, template.filename or "<template>", name) from None
        except RecursionError as exc:  # a macro that calls itself without end, say
            deep = TemplateLimitError(f"calls nested deeper than Python allows {_LIMIT}")
            deep.__traceback__ = exc.__traceback__
            raise _located(deep, template.filename or "<template>", name) from None
        finally:
            self._deadline = None
        return "".join(chunks)

    def _render_one(self, template: jinja2.Template, context: Mapping[str, Any],
                    chunks: list[str]) -> None:
        """Append the output of one rendering to ``chunks``, joined by the few thousand pieces."""
        self._deadline = time.monotonic() + self.max_seconds
        self._output = 0
        pieces = cast(Generator[str, None, None], template.generate(context))
        recent: list[str] = []
        try:
            for piece in pieces:
                self._output += len(piece)
                problem = self._output_problem()
                if problem:  # raised where the template is, so that Jinja gives its line
                    pieces.throw(TemplateLimitError(problem))
                    raise TemplateLimitError(problem)
                recent.append(piece)
                if len(recent) >= 4096:
                    chunks.append("".join(recent))
                    recent.clear()
        finally:
            pieces.close()
        chunks.append("".join(recent))

    def _output_problem(self) -> str:
        if self._output > self.max_output:
            return f"an output of more than {self.max_output:,} characters {_LIMIT}"
        return self._late()

    # -- the checks every hook makes ---------------------------------------------------------

    def _late(self) -> str:
        if self._deadline is not None and time.monotonic() > self._deadline:
            return f"rendering took more than {self.max_seconds:g} seconds {_LIMIT}"
        return ""

    def check_time(self) -> None:
        """Raise ``TemplateLimitError`` once the deadline of the rendering has passed."""
        late = self._late()
        if late:
            raise TemplateLimitError(late)

    def check_string(self, size: int) -> None:
        """Refuse a string of ``size`` characters if that is over the limit (and check the time)."""
        self.check_time()
        if size > self.max_string:
            raise TemplateLimitError(f"a string of more than {self.max_string:,} characters {_LIMIT}")

    def check_items(self, count: int, what: str = "list") -> None:
        """Refuse a list (or range) of ``count`` items if that is over the limit."""
        self.check_time()
        if count > self.max_items:
            raise TemplateLimitError(f"a {what} of more than {self.max_items:,} items {_LIMIT}")

    def check_bits(self, bits: int) -> None:
        """Refuse a number of ``bits`` bits if its decimal digits would be over the limit."""
        if bits * _BITS_TO_DIGITS > self.max_digits:
            raise TemplateLimitError(f"a number of more than {self.max_digits:,} digits {_LIMIT}")

    def checked(self, value: Any) -> Any:
        """``value``, after checking its size (a string, list, dict, set or number)."""
        if isinstance(value, str | bytes | bytearray):
            self.check_string(len(value))
        elif isinstance(value, list | tuple | dict | set | frozenset):
            self.check_items(len(value))
        elif isinstance(value, int):
            self.check_bits(value.bit_length())
        else:
            self.check_time()
        return value

    def text_size(self, value: Any) -> int:
        """About (at least) the length of ``str(value)``, counted no further than past the limit."""
        if isinstance(value, str):
            return len(value)
        return _measure(value, self.max_string + 1)[0]

    # -- Jinja's sandbox hooks ---------------------------------------------------------------

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """``+``, ``*``, ``%`` and ``**``: refuse a result over a limit before computing it."""
        self.check_time()
        if operator == "*":
            self._check_product(left, right)
        elif operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            self._check_sum(left, right)
        elif operator == "%" and isinstance(left, str):
            self.check_string(self.printf_size(left, right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            self._check_power(left, right)
        return self.checked(super().call_binop(context, operator, left, right))

    def _check_product(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and not isinstance(right, int):
            left, right = right, left
        if not isinstance(right, int):
            return
        if isinstance(left, str | bytes):
            self.check_string(len(left) * right)
        elif isinstance(left, list | tuple):
            self.check_items(len(left) * right)
        elif isinstance(left, int):
            self.check_bits(left.bit_length() + right.bit_length())

    def _check_power(self, base: int, exponent: int) -> None:
        if abs(base) > 1:
            self.check_bits(int(math.log2(abs(base)) * min(exponent, 1 << 62)))

    def _check_sum(self, left: str | list[Any] | tuple[Any, ...], right: Any) -> None:
        if isinstance(left, str):
            self.check_string(len(left) + len(right))
        else:
            self.check_items(len(left) + len(right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Every call a template makes: refuse what would build too much, check what it built."""
        self.check_time()
        args = self._check_call(obj, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, list | dict | set | bytearray):  # list.append, dict.update, ...
            self.checked(owner)
        return self.checked(result)

    def _check_call(self, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if isinstance(owner, str | bytes):
            return _check_str_method(self, owner, name, args, kwargs)
        fmt = getattr(getattr(obj, "__wrapped__", None), "__self__", None)  # str.format, sandboxed
        if isinstance(fmt, str) and name in ("format", "format_map"):
            mapped = name == "format_map" and len(args) == 1 and not kwargs
            self.check_string(self.format_size(fmt, () if mapped else args, args[0] if mapped else kwargs))
        elif isinstance(owner, list) and name == "extend" and args and hasattr(args[0], "__len__"):
            self.check_items(len(owner) + len(args[0]))
        return args

    def _finalize(self, value: Any) -> Any:
        """Each ``{{ value }}``: refuse it before ``str()`` when it would print too much."""
        self.check_string(self.text_size(value))
        return value

    def _range(self, *args: int) -> range:
        """The ``range`` global: at most ``max_items`` numbers (the sandbox's own allows 100,000)."""
        numbers = range(*args)
        try:
            count = len(numbers)
        except OverflowError:  # more than sys.maxsize numbers
            count = self.max_items + 1
        self.check_items(count, "range")
        return numbers

    def _guard_lipsum(self, lipsum: Callable[..., str]) -> Callable[..., str]:
        @functools.wraps(lipsum)
        def bounded(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
            self.check_string(_int(n) * _int(max) * 3)  # a word and its space: 3 characters at least
            return str(self.checked(lipsum(n, html, min, max)))

        return bounded

    # -- what the generated code calls (see _LimitedCodeGenerator) ---------------------------

    def concat(self, pieces: Iterable[str]) -> str:
        """Join the output of a block, macro or template, counting it against ``max_string``."""
        if isinstance(pieces, _Buffer):
            return "".join(pieces)
        collected, size = [], 0
        for piece in pieces:
            size += len(piece)
            self.check_string(size)
            collected.append(piece)
        return "".join(collected)

    def new_buffer(self) -> list[str]:
        """The buffer of a ``{% set %}`` block, macro, ``{% filter %}`` or ``{% call %}``."""
        return _Buffer(self)

    def join_checked(self, join: Callable[[Iterable[Any]], str], parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ ...``: refuse it before joining when the result would be too long."""
        size = 0
        for part in parts:
            size += self.text_size(part)
            self.check_string(size)
        return join(parts)

    def timed(self, items: Any) -> _TimedItems:
        """The items of a ``{% for %}``, checking the deadline at every step."""
        return _TimedItems(items, self.check_time)

    # -- sizes of formatting ------------------------------------------------------------------

    def printf_size(self, fmt: str, values: Any) -> int:
        """About (at least) the length of ``fmt % values``: widths, precisions and values."""
        mapping = values if isinstance(values, Mapping) else None
        positional = iter(values if isinstance(values, tuple) else (values,))
        size = len(fmt)
        for key, width, precision, conversion in _printf_fields(fmt):
            size += sum(_star(positional) if part == "*" else _number(part) for part in (width, precision))
            if conversion == "%" or not conversion:
                continue
            value = mapping.get(key) if key is not None and mapping is not None else next(positional, None)
            size += _measure(value, self.max_string + 1)[0] if conversion in ("r", "a") else self.text_size(value)
            if size > self.max_string:
                break
        return size

    def format_size(self, fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
        """About (at least) the length of ``fmt.format(*args, **kwargs)``, by a dry run."""
        sizing = _SizingFormatter(self)
        return len(sizing.vformat(fmt, args, kwargs)) + sizing.hidden


class _GuardedFilters(dict[str, Callable[..., Any]]):
    """The environment's filters, each handed out wrapped in the limits (also when added later)."""

    def __init__(self, env: LimitedEnvironment, filters: Mapping[str, Callable[..., Any]]) -> None:
        super().__init__(filters)
        self._env = env
        self._wrapped: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {}

    def __getitem__(self, name: str) -> Callable[..., Any]:
        func = super().__getitem__(name)
        known = self._wrapped.get(name)
        if known is None or known[0] is not func:
            known = (func, _guard_filter(self._env, name, func))
            self._wrapped[name] = known
        return known[1]

    def get(self, name: str, default: Any = None, /) -> Any:
        try:
            return self[name]
        except KeyError:
            return default


def _guard_filter(env: LimitedEnvironment, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` checking the time, its arguments (for the filters that can grow) and its result."""
    check = _FILTER_CHECKS.get(name) if func is FILTERS.get(name) else None
    try:
        signature = inspect.signature(func) if check or name in _STRINGIFYING else None
    except (TypeError, ValueError):
        signature = None
    # Jinja's async-ready filters (``slice``, ``list``, ...) are given an eval context first
    # that the signature they show (the plain function's) does not have.
    skip = int(_passes(func) and not _passes(inspect.unwrap(func)))

    @functools.wraps(func)  # keeps Jinja's pass_context / pass_environment marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        env.check_time()
        if signature is not None:
            checked, kwargs = _check_arguments(env, name, signature, check, args[skip:], kwargs)
            args = args[:skip] + checked
        return env.checked(func(*args, **kwargs))

    return guarded


def _passes(func: Callable[..., Any]) -> bool:
    return getattr(func, "jinja_pass_arg", None) is not None


def _check_arguments(env: LimitedEnvironment, name: str, signature: inspect.Signature,
                     check: Callable[[LimitedEnvironment, dict[str, Any]], None] | None,
                     args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return args, kwargs  # Jinja's own error follows
    bound.apply_defaults()
    arguments = bound.arguments
    if name in _STRINGIFYING:
        env.check_string(env.text_size(arguments.get("value", arguments.get("s"))))
    if check is not None:
        check(env, arguments)  # may replace an iterable argument by the list it was read into
    return bound.args, bound.kwargs


# -- the filters that can build more than they are given -------------------------------------

def _center(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    env.check_string(max(env.text_size(a["value"]), _int(a["width"])))


def _indent(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    text, width = a["s"], a["width"]
    unit = len(width) if isinstance(width, str) else _int(width)
    lines = text.count("\n") + 1 if isinstance(text, str) else 1
    env.check_string(env.text_size(text) + lines * unit)


def _format(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    if isinstance(a["value"], str):
        env.check_string(env.printf_size(a["value"], a["kwargs"] or a["args"]))


def _join(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    value, glue = a["value"], str(a["d"])
    if isinstance(value, str):
        env.check_string(len(value) + max(len(value) - 1, 0) * len(glue))
        return
    if a["attribute"] is not None:
        value, a["attribute"] = map(make_attrgetter(env, a["attribute"]), value), None
    a["value"] = _read_joined(env, value, len(glue))


def _replace(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    text, old, new, count = a["s"], a["old"], a["new"], a["count"]
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        env.check_string(_replace_size(text, old, new, -1 if count is None else _int(count)))


def _wordwrap(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    text, wrap = a["s"], a["wrapstring"]
    if isinstance(text, str) and isinstance(wrap, str):
        lines = len(text) // max(_int(a["width"]), 1) + _spaces(text) + 1
        env.check_string(len(text) + lines * len(wrap))


def _urlize(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    text = a["value"]
    if isinstance(text, str):
        extra = sum(len(a[key]) for key in ("target", "rel") if isinstance(a[key], str))
        env.check_string(len(text) + (_spaces(text) + 1) * extra)


def _batch(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    if a["fill_with"] is not None:
        env.check_items(_int(a["linecount"]))


def _slice(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    env.check_items(_int(a["slices"]))


def _sum(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    start = a["start"]
    if not isinstance(start, list | tuple):
        return
    getter = make_attrgetter(env, a["attribute"]) if a["attribute"] is not None else None
    items, count = [], len(start)
    for item in a["iterable"]:  # read one at a time: a ``map`` builds each as it is read
        part = getter(item) if getter else item
        count += len(part) if isinstance(part, list | tuple) else 0
        env.check_items(count)
        items.append(item)
    a["iterable"] = items


def _pprint(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    size, depths = _measure(a["value"], env.max_string + 1)
    env.check_string(size + depths)


def _tojson(env: LimitedEnvironment, a: dict[str, Any]) -> None:
    indent = a["indent"]
    unit = len(indent) if isinstance(indent, str) else _int(indent)
    size, depths = _measure(a["value"], env.max_string + 1)
    env.check_string(size + depths * unit)


_FILTER_CHECKS: dict[str, Callable[[LimitedEnvironment, dict[str, Any]], None]] = {
    "center": _center, "indent": _indent, "format": _format, "join": _join, "replace": _replace,
    "wordwrap": _wordwrap, "urlize": _urlize, "batch": _batch, "slice": _slice, "sum": _sum,
    "pprint": _pprint, "tojson": _tojson,
}
# Filters that turn their value into a string first: ``str([s] * 100000)`` is refused before.
_STRINGIFYING = frozenset({
    "capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower", "replace",
    "safe", "string", "striptags", "title", "trim", "truncate", "upper", "urlencode", "urlize",
    "wordcount", "wordwrap",
})


def _check_str_method(env: LimitedEnvironment, text: str | bytes, name: str,
                      args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse ``text.center(10**9)`` and the like before the call; read ``join``'s items once."""
    first = args[0] if args else None
    if name in ("center", "ljust", "rjust", "zfill"):
        env.check_string(max(len(text), _int(first)))
    elif name == "expandtabs":
        tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
        env.check_string(len(text) + tabs * _int(kwargs.get("tabsize", 8 if first is None else first)))
    elif name == "replace" and len(args) >= 2 and type(args[0]) is type(args[1]) is type(text):
        env.check_string(_replace_size(text, args[0], args[1], _int(args[2]) if len(args) > 2 else -1))
    elif name == "translate" and isinstance(first, Mapping):
        longest = max((len(v) for v in first.values() if isinstance(v, str)), default=1)
        env.check_string(len(text) * longest)
    elif name == "join" and args:
        return (_read_joined(env, args[0], len(text)), *args[1:])
    return args


def _replace_size(text: Any, old: Any, new: Any, count: int) -> int:
    found = len(text) + 1 if not old else text.count(old)
    if count >= 0:
        found = min(found, count)
    return int(len(text) + found * max(len(new) - len(old), 0))


def _read_joined(env: LimitedEnvironment, items: Iterable[Any], glue: int) -> list[Any]:
    """The items to join, read one at a time (a ``map`` builds each as it is read) until their
    text and the glue between them would be over the limit."""
    read: list[Any] = []
    size = -glue
    for item in items:
        size += env.text_size(item) + glue
        env.check_string(size)
        read.append(item)
    return read


def _spaces(text: str) -> int:
    return sum(map(text.count, " \t\n\r\x0b\x0c"))


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _number(digits: str) -> int:
    if not digits:
        return 0
    return int(digits) if len(digits) <= 18 else 10**18


def _star(values: Iterator[Any]) -> int:
    value = next(values, 0)
    return abs(value) if isinstance(value, int) else 0


def _printf_fields(fmt: str) -> Iterator[tuple[str | None, str, str, str]]:
    """(mapping key, width, precision, conversion) of each ``%`` field, read as Python does."""
    start = fmt.find("%")
    while start >= 0:
        at, key = start + 1, None
        if fmt.startswith("(", at):
            depth, end = 1, at + 1
            while end < len(fmt) and depth:
                depth += {"(": 1, ")": -1}.get(fmt[end], 0)
                end += 1
            key, at = fmt[at + 1:end - 1], end
        spec = _SPEC.match(fmt, at)
        assert spec is not None  # every part of it is optional
        yield key, spec[1] or "", spec[2] or "", spec[3]
        start = fmt.find("%", spec.end())


class _Measured:
    """A field's converted value (``!r``, ``!s``, ``!a``) in a dry run: only its size."""

    def __init__(self, size: int) -> None:
        self.size = size


class _SizingFormatter(SandboxedFormatter):
    """A dry run of ``str.format``, through the sandbox's attribute rules, that formats only the
    short fields (nested ones, such as widths, among them) and counts the rest in ``hidden``."""

    def __init__(self, env: LimitedEnvironment) -> None:
        super().__init__(env)
        self._limited = env
        self.hidden = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is None:
            return value
        return _Measured(_measure(value, self._limited.max_string + 1)[0] if conversion != "s"
                         else self._limited.text_size(value))

    def format_field(self, value: Any, format_spec: str) -> Any:
        measured = isinstance(value, _Measured)
        size = (value.size if measured else self._limited.text_size(value)) + sum(
            _number(digits) for digits in _DIGITS.findall(format_spec))
        if size <= _SMALL and not measured:
            return super().format_field(value, format_spec)
        self.hidden += size
        self._limited.check_string(self.hidden)
        return ""


def _measure(value: Any, budget: int) -> tuple[int, int]:
    """About (at least) the length of ``str(value)`` and the sum of the depths of its parts (the
    indentation a pretty printer adds), counted until past ``budget``. A value that contains
    itself counts as Python prints it (``[...]``); one nested deeper than MAX_DEPTH is refused.
    """
    size = depths = 0
    inside: set[int] = set()
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and size <= budget:
        item, depth = stack.pop()
        if isinstance(item, _Leave):
            inside.discard(item.ident)
            continue
        children = _children(item)
        if children is None:
            size += _leaf_size(item) if depth or not isinstance(item, str) else len(item)
            continue
        if id(item) in inside:
            size += 5
            continue
        if depth >= MAX_DEPTH:
            raise TemplateLimitError(f"a value nested more than {MAX_DEPTH} levels deep {_LIMIT}")
        size += 2 + 2 * len(children)
        depths += (depth + 1) * len(children)
        if size > budget:
            break
        inside.add(id(item))
        stack.append((_Leave(id(item)), depth))
        stack.extend((child, depth + 1) for child in children)
    return size, depths


class _Leave:
    __slots__ = ("ident",)

    def __init__(self, ident: int) -> None:
        self.ident = ident


def _children(value: Any) -> list[Any] | None:
    if isinstance(value, str | bytes | bytearray):
        return None
    if isinstance(value, Mapping | ItemsView):
        pairs = value.items() if isinstance(value, Mapping) else value
        return [part for pair in pairs for part in pair]
    if isinstance(value, list | tuple | set | frozenset | KeysView | ValuesView):
        return list(value)
    if isinstance(value, Namespace):  # prints as <Namespace {...}> with all its attributes
        try:
            attributes = object.__getattribute__(value, "_Namespace__attrs")
        except AttributeError:
            return None
        return _children(attributes)
    return None


def _leaf_size(value: Any) -> int:
    if isinstance(value, str | bytes | bytearray):
        return len(value) + 2
    if isinstance(value, bool) or value is None:
        return 4
    if isinstance(value, int):
        return int(value.bit_length() * _BITS_TO_DIGITS) + 1
    if isinstance(value, float):
        return len(repr(value))
    return 1  # anything else prints as its own short text (Jinja's objects, Undefined, ...)


class _Buffer(list[str]):
    """The output of a block or macro as it is built, counted against ``max_string``."""

    def __init__(self, env: LimitedEnvironment) -> None:
        super().__init__()
        self._env = env
        self._size = 0

    def append(self, piece: str, /) -> None:
        self._size += len(piece) if isinstance(piece, str) else 0
        self._env.check_string(self._size)
        super().append(piece)

    def extend(self, pieces: Iterable[str], /) -> None:
        pieces = tuple(pieces)
        self._size += sum(len(piece) for piece in pieces if isinstance(piece, str))
        self._env.check_string(self._size)
        super().extend(pieces)


class _TimedItems:
    """The items of a loop, checking the deadline at each; its length is theirs (``loop.length``)."""

    def __init__(self, items: Any, check: Callable[[], None]) -> None:
        self._items, self._check = items, check

    def __iter__(self) -> Iterator[Any]:
        check = self._check
        for item in self._items:
            check()
            yield item

    def __len__(self) -> int:
        return len(self._items)  # a TypeError for an iterator tells LoopContext to count


class _LimitedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with block buffers, ``~`` and loops routed through the limits."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_buffer()")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:  # as CodeGenerator.visit_Concat chooses
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"environment.join_checked({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        original = node.iter  # compiled as environment.call(context, environment.timed, ...)
        timed = nodes.EnvironmentAttribute("timed", lineno=original.lineno)
        node.iter = nodes.Call(timed, [original], [], None, None, lineno=original.lineno)
        try:
            super().visit_For(node, frame)
        finally:
            node.iter = original


def _located(exc: TemplateLimitError, filename: str, name: str) -> TemplateLimitError:
    """``exc`` with the template file and line of the innermost template frame of its traceback.

    Jinja rewrites a traceback so that the frames of template code carry the template's file
    name and line (its fake frames hold the exception in ``__jinja_exception__``).
    """
    file, line = filename, 0
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            file, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    if name and file == filename:
        file = name
    return TemplateLimitError(exc.message, file, line)

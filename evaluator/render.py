"""Stage 6: turn reports into text, JSON, Markdown and HTML (strings and files; never printing).

HTML and Markdown come from Jinja templates shipped in ``templates/``. Proposal text is data:
HTML is autoescaped and Markdown goes through the ``md`` filter, so nothing an applicant
writes becomes live markup. Output is byte-identical for the same inputs (no clock time).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple, overload

from evaluator.packagedata import package_dir
from evaluator.textsafe import find_unsafe_in_layout, json_escape_unsafe, visible

FORMATS = ("text", "json", "markdown", "html")
REPORT_TEMPLATES = {"markdown": ("report.md.j2", ".md"), "html": ("report.html.j2", ".html")}
SUMMARY_TEMPLATES = {"markdown": ("summary.md.j2", "summary.md"), "html": ("summary.html.j2", "index.html")}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~])")
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(www)(\.)|@")
_MD_LINE_START = re.compile(r"^(\s*)(?:([-+](?=\s|$)|=)|(\d+)\.(?=\s|$))")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def to_json(report_dicts: Sequence[dict[str, Any]], single: bool) -> str:
    """One object for a single proposal, else a list; stable key order, UTF-8.

    Characters that could act on a terminal (C1 controls, bidi overrides; C0 controls are
    always escaped by the encoder) are written as ``\\uXXXX`` escapes: the same JSON value.
    """
    payload: Any = report_dicts[0] if single else list(report_dicts)
    return json_escape_unsafe(json.dumps(payload, indent=2, ensure_ascii=False)) + "\n"


#: How ``to_json`` of several reports frames its items: before the first, between two, after the last.
JSON_LIST_FRAMING = ("[\n", ",\n", "\n]\n")


def json_list_item(report: dict[str, Any]) -> str:
    """One report as an item of ``to_json``'s list, so that a list can be printed item by item.

    ``JSON_LIST_FRAMING[0] + ",\\n".join(items) + JSON_LIST_FRAMING[2]`` is exactly ``to_json``
    of the same reports: the encoder indents a list item by one more level, and no JSON text
    holds a raw newline inside a string.
    """
    text = json_escape_unsafe(json.dumps(report, indent=2, ensure_ascii=False))
    return "  " + text.replace("\n", "\n  ")


def md_escape(value: Any) -> str:
    """Escape untrusted text for Markdown: no live links, images, emphasis or raw HTML."""
    kind = type(value)
    if kind is int:  # line numbers and counts: digits, and a leading minus, need no escape
        return str(value)
    return _md_escaped(value if isinstance(value, str) else tojson_compact(value))


@lru_cache(maxsize=16384)  # rule texts repeat in every report of a batch; the bound keeps memory flat
def _md_escaped(value: str) -> str:
    text = visible(" ".join(value.split()))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)
    return _MD_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker, number = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\."


def _visible_value(value: Any) -> Any:
    """Every plain string a template prints: control and bidi characters shown as escapes.

    Markup (already-safe HTML from the templates themselves) and ``reportview.Shown`` (a fragment
    printed once already) pass unchanged: only the exact type ``str`` is looked at.
    """
    return visible(value, keep_layout=True) if type(value) is str and find_unsafe_in_layout(value) else value


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))  # json.dumps builds one per call


def tojson_compact(value: Any) -> str:
    """``value`` as one line of JSON, for reading in a report."""
    return _COMPACT.encode(value)


@cache
def _environment() -> Any:
    import jinja2

    from evaluator.cache import private_dir
    from evaluator.reportview import TEMPLATE_GLOBALS, ReportEnvironment

    # Compiling the report templates costs ~200 ms per process; Jinja's own bytecode cache
    # keeps the result per template source (its key) in the user's private cache directory.
    directory = private_dir("templates")
    env = ReportEnvironment(
        bytecode_cache=jinja2.FileSystemBytecodeCache(str(directory)) if directory else None,
        loader=jinja2.FileSystemLoader(str(package_dir("evaluator.templates"))),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_visible_value,
    )
    env.filters.update(md=md_escape, tojson_compact=tojson_compact, pct=lambda v: f"{int(v)}")
    env.globals.update(TEMPLATE_GLOBALS)
    return env


def render_template(name: str, **context: Any) -> str:
    """Render a shipped template with ``context``."""
    return str(_environment().get_template(name).render(**context))


def compile_templates(formats: Iterable[str]) -> None:
    """Compile the report templates of ``formats`` now (a process about to fork does it once)."""
    for fmt in formats:
        _environment().get_template(REPORT_TEMPLATES[fmt][0])


def render_report(report: dict[str, Any], fmt: str) -> str:
    """A single report as Markdown or HTML."""
    return render_template(REPORT_TEMPLATES[fmt][0], report=report)


def render_summary(reports: Sequence[dict[str, Any]], fmt: str) -> str:
    """An intake summary across many reports (each dict carries ``files``)."""
    return render_template(SUMMARY_TEMPLATES[fmt][0], **_summary_context(reports))


def _summary_context(reports: Sequence[Any]) -> dict[str, Any]:
    totals = Counter(r["decision"] for r in reports)
    ordered = {d: totals.get(d, 0) for d in ("admit", "admit_with_conditions", "revise", "reject")}
    return {"reports": reports, "totals": ordered}


class SummaryRow(NamedTuple):
    """What the intake summary shows of one report: small enough to keep for 10,000 proposals."""

    id: str
    title: str
    domain: str
    framework: str
    decision: str
    scores: tuple[tuple[str, Any], ...]  # (pillar, score) in the report's order
    failed: int
    indeterminate: int
    tool_version: str

    def shared(self) -> SummaryRow:
        """The same row, sharing the texts and scores that repeat across rows (domain, decision,
        pillar scores...) with the rows kept before it: a row received from a worker is a copy."""
        def one(value: Any) -> Any:
            return _SHARED.setdefault(value, value)

        return self._replace(domain=one(self.domain), framework=one(self.framework), decision=one(self.decision),
                             tool_version=one(self.tool_version),
                             scores=tuple(one((one(name), score)) for name, score in self.scores))


_SHARED: dict[Any, Any] = {}  # few values: frameworks, domains, decisions, versions, (pillar, score) pairs


def summary_row(report: dict[str, Any]) -> SummaryRow:
    """The summary's row for one report (``stream_rows_summary`` renders them)."""
    proposal, outcomes = report["proposal"], Counter(f["outcome"] for f in report["findings"])
    return SummaryRow(proposal["id"], proposal["title"], proposal["domain"], proposal["framework"],
                      report["decision"], tuple((name, p["score"]) for name, p in report["pillars"].items()),
                      outcomes["fail"], outcomes["indeterminate"], report["tool_version"])


_FAIL, _UNDECIDED = {"outcome": "fail"}, {"outcome": "indeterminate"}


class _RowReport:
    """A summary row read as the report dict the summary templates expect: attribute or item
    access, each value built when read, so a list of thousands of them stays small."""

    __slots__ = ("_row", "_stem")

    def __init__(self, row: SummaryRow, stem: str) -> None:
        self._row, self._stem = row, stem

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    @property
    def proposal(self) -> SummaryRow:  # .id .title .domain .framework
        return self._row

    @property
    def decision(self) -> str:
        return self._row.decision

    @property
    def tool_version(self) -> str:
        return self._row.tool_version

    @property
    def pillars(self) -> dict[str, dict[str, Any]]:
        return {name: {"score": score} for name, score in self._row.scores}

    @property
    def findings(self) -> list[dict[str, str]]:  # only the outcomes the summary counts
        return [_FAIL] * self._row.failed + [_UNDECIDED] * self._row.indeterminate

    @property
    def files(self) -> dict[str, str]:
        stem = self._stem
        return {"html": stem and stem + ".html", "md": stem and stem + ".md"}


class _RowReports(Sequence[Any]):
    """Summary rows seen as the list of reports the summary templates read."""

    def __init__(self, rows: Sequence[SummaryRow], stems: Sequence[str] | None) -> None:
        self._rows, self._stems = rows, stems

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> _RowReport: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[_RowReport]: ...

    def __getitem__(self, index: int | slice) -> _RowReport | Sequence[_RowReport]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return _RowReport(self._rows[index], self._stems[index] if self._stems is not None else "")


def stream_rows_summary(rows: Sequence[SummaryRow], stems: Sequence[str] | None, fmt: str) -> Iterator[str]:
    """``render_summary`` from summary rows, in pieces of about 64 KiB; ``stems`` names each row's
    report files (None: not linked). The same text as ``render_summary`` of the full reports,
    without holding them, nor the whole text, in memory."""
    template = _environment().get_template(SUMMARY_TEMPLATES[fmt][0])
    piece: list[str] = []
    size = 0
    for fragment in template.generate(**_summary_context(_RowReports(rows, stems))):
        piece.append(fragment)
        size += len(fragment)
        if size >= 65536:
            yield "".join(piece)
            piece, size = [], 0
    yield "".join(piece)


def render_custom(template: Path, reports: Sequence[dict[str, Any]]) -> str:
    """Render each report with a user's template, in Jinja's sandbox; raise ``EvaluatorError``.

    The sandbox (``evaluator.template_limits``) bounds what a template may build, write and
    take in time, and keeps a template from reaching Python internals (attributes such as
    ``__class__``, or calling methods that change data). The template sees ``report`` (one
    report dict, as in the JSON output) and the filters ``md``, ``tojson_compact`` and ``pct``;
    it is autoescaped when its name ends in ``.html`` or ``.html.j2``.
    """
    import jinja2

    from evaluator.template_limits import TemplateLimitError, render_limited

    filters = {"md": md_escape, "tojson_compact": tojson_compact, "pct": lambda v: f"{int(v)}"}
    try:
        return render_limited(template, [{"report": report} for report in reports], filters=filters)
    except TemplateLimitError as exc:
        raise _template_error(Path(exc.file), exc.line, exc.message) from None
    except jinja2.TemplateSyntaxError as exc:
        raise _template_error(template, exc.lineno, exc.message or str(exc)) from None
    except jinja2.TemplateNotFound as exc:
        raise _template_error(template, 0, f"template not found: {exc.name}") from None
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise _template_error(template, _template_line(template, exc), f"{type(exc).__name__}: {exc}") from None


def _template_line(template: Path, exc: BaseException) -> int:
    """The template line being rendered when ``exc`` happened (Jinja maps its frames to it)."""
    import traceback

    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if frame.filename == str(template) and frame.lineno]
    return lines[-1] if lines else 0


def _template_error(template: Path, line: int, message: str) -> Exception:
    from evaluator.errors import EvaluatorError, Problem

    return EvaluatorError(Problem(str(template), line, 1 if line else 0, f"template error: {message}"))


def safe_file_stem(proposal_id: str, taken: set[str]) -> str:
    """A file name stem from a proposal id that cannot leave the report directory."""
    stem = _SAFE_NAME.sub("_", proposal_id).strip("._") or "proposal"
    stem = stem[:80]
    if stem.lower().split(".")[0] in _RESERVED:
        stem = f"_{stem}"
    candidate, counter = stem, 2
    while candidate.lower() in taken:
        candidate = f"{stem}-{counter}"
        counter += 1
    taken.add(candidate.lower())
    return candidate


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename: never a half-written file."""
    write_all_atomic([(path, text)])


def _stage(path: Path, text: str | Iterable[str]) -> Path:
    """``text`` (or its pieces) in a temporary file next to ``path`` (same directory, so the
    rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.writelines([text] if isinstance(text, str) else text)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Path(temp)


def write_reports(reports: Sequence[dict[str, Any]], directory: Path) -> list[Path]:
    """Render every report (HTML and Markdown) and, for several, a summary; all-or-nothing per file."""
    rendered: list[tuple[Path, str]] = []
    taken: set[str] = {"index", "summary"}
    with_files = []
    for report in reports:
        stem = safe_file_stem(report["proposal"]["id"], taken)
        files = {fmt: stem + ext for fmt, (_, ext) in REPORT_TEMPLATES.items()}
        for fmt, name in files.items():
            rendered.append((directory / name, render_report(report, fmt)))
        with_files.append({**report, "files": {"html": files["html"], "md": files["markdown"]}})
    if len(reports) > 1:
        for fmt, (_, name) in SUMMARY_TEMPLATES.items():
            rendered.append((directory / name, render_summary(with_files, fmt)))
    write_all_atomic(rendered)
    return [path for path, _ in rendered]


def stage_report(pages: dict[str, str], staging: Path, key: str) -> dict[str, str]:
    """Write one report's rendered pages (``markdown`` and ``html``) into ``staging``.

    Returns each format's staged file name; ``StagedReports`` moves them into place later.
    ``staging`` belongs to one run and ``key`` is unique in it, so each file is created under
    its final staged name (refusing one that exists) rather than through ``tempfile``.
    """
    if staging not in _STAGING_MADE:
        staging.parent.mkdir(parents=True, exist_ok=True)  # the report directory (a file there: "File exists")
        staging.mkdir(exist_ok=True)
        _STAGING_MADE.add(staging)
    names = {fmt: f"{key}{ext}" for fmt, (_, ext) in REPORT_TEMPLATES.items()}
    for fmt, name in names.items():
        _write_new(staging / name, pages[fmt])
    return names


_STAGING_MADE: set[Path] = set()  # staging directories this process has made (one per run)


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` (it must not exist) holding ``text``; nothing is left behind on failure."""
    stream = path.open("xb")  # raises before creating anything when the file exists
    try:
        with stream:
            stream.write(text.encode("utf-8"))
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class StagedReports:
    """One run's report files: staged in a hidden directory inside the report directory, moved
    into place together by ``commit`` (issue 4: a run never leaves new and old reports mixed).

    Workers write the staged files (``stage_report``); this object, in the parent, names them in
    input order (``safe_file_stem`` deduplicates in that order) and keeps only the names.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.staging = directory / f".sandbox-staging-{os.getpid()}-{secrets.token_hex(4)}"
        self.stems: list[str] = []
        self._taken = {"index", "summary"}
        self._staged: list[tuple[str, dict[str, str]]] = []

    def add(self, proposal_id: str, staged: dict[str, str] | None) -> None:
        """Name the next report's files (``staged``: its staged files, None if staging failed)."""
        stem = safe_file_stem(proposal_id, self._taken)
        self.stems.append(stem)
        if staged is not None:
            self._staged.append((stem, staged))

    def commit(self, rows: Sequence[SummaryRow] | None) -> int:
        """Stage the summary (``rows``: one per report, or None for no summary), then move every
        staged file into place; returns the number of files. Raises ``OSError``."""
        summary = [] if rows is None else [
            (_stage(self.staging / name, stream_rows_summary(rows, self.stems, fmt)), self.directory / name)
            for fmt, (_, name) in SUMMARY_TEMPLATES.items()]
        count = 0
        for temp, path in itertools.chain(self._report_moves(), summary):
            temp.replace(path)
            count += 1
        return count

    def _report_moves(self) -> Iterator[tuple[Path, Path]]:
        """(staged file, its place) for every report file, one at a time."""
        for stem, staged in self._staged:
            for fmt, (_, ext) in REPORT_TEMPLATES.items():
                yield self.staging / staged[fmt], self.directory / (stem + ext)

    def discard(self) -> None:
        """Remove the staging directory and whatever is left in it (always call this at the end)."""
        shutil.rmtree(self.staging, ignore_errors=True)


def write_all_atomic(files: Sequence[tuple[Path, str]]) -> None:
    """Write every file to a temporary sibling first, then rename them all into place.

    If any write fails (disk full, a directory in the way, Ctrl-C), the temporary files are
    removed and no target is touched, so a run never leaves new and old reports mixed.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files:
            staged.append((_stage(path, text), path))
        for temp, path in staged:
            temp.replace(path)
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise

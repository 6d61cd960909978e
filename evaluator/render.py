"""Stage 6: turn reports into text, JSON, Markdown and HTML (strings and files; never printing).

HTML and Markdown come from Jinja templates shipped in ``templates/``. Proposal text is data:
HTML is autoescaped and Markdown goes through the ``md`` filter, so nothing an applicant
writes becomes live markup. Output is byte-identical for the same inputs (no clock time).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import stat
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
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
    """``text`` (or its pieces) in a new temporary file next to ``path`` (same directory, so the
    rename is atomic), created with the mode the user's umask gives any new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = _new_file(path.parent, f".{path.name}.", ".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.writelines([text] if isinstance(text, str) else text)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _new_file(directory: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new file with a random name in ``directory``, open for writing. Unlike ``tempfile``'s
    (mode 0600), its mode is 0666 less the umask: what ``open(..., "w")`` gives, and what the
    file keeps once renamed into place."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temp = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue


def write_reports(reports: Sequence[dict[str, Any]], directory: Path) -> list[Path]:
    """Render every report (HTML and Markdown) and, for several, a summary, and commit them to
    ``directory`` as a ``sandbox check --report-dir`` run does: all or nothing, the same bytes."""
    stage = StagedReports(directory)
    try:
        for index, report in enumerate(reports):
            pages = {fmt: render_report(report, fmt) for fmt in REPORT_TEMPLATES}
            stage.add(report["proposal"]["id"], stage_report(pages, stage.staging, str(index)),
                      report_identity(report))
        stage.commit([summary_row(report) for report in reports] if len(reports) > 1 else None)
    finally:
        stage.discard()
    return [directory / name for name in stage.written]


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


# ----- the run id: which run wrote a report file -----

#: The last line of every report file a run writes (HTML, Markdown, ``index.html``, ``summary.md``).
RUN_LINE = "<!-- sandbox run: {} -->\n"
_RUN_TAIL = re.compile(rb"<!-- sandbox run: ([0-9a-f]{16}) -->\n\Z")


def report_identity(report: dict[str, Any]) -> str:
    """A digest of everything a report's files are made from: the proposal (path and bytes), the
    rulebook and policy (their SHA-256) and the tool version."""
    proposal, rulebook = report["proposal"], report["rulebook"]
    parts = (report["tool_version"], proposal["path"], proposal["sha256"], rulebook["framework"],
             rulebook["domain"], rulebook["sha256"], rulebook["policy"]["sha256"])
    return hashlib.sha256("\0".join(map(str, parts)).encode("utf-8", "surrogateescape")).hexdigest()


def run_id(reports: Iterable[tuple[str, str]]) -> str:
    """The id of a run that writes these reports, each as (file stem, ``report_identity``), in
    order: the same inputs give the same id (and the same bytes); 16 hex digits."""
    digest = hashlib.sha256(b"sandbox run\0")
    for stem, identity in reports:
        digest.update(f"{stem}\0{identity}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def _run_line(run: str, name: str) -> str:
    """What ends the file ``name`` of run ``run``: an HTML comment, after a blank line in
    Markdown (so that no renderer shows it)."""
    return ("\n" if name.endswith(".md") else "") + RUN_LINE.format(run)


def run_of(path: Path) -> str | None:
    """The id of the run that wrote the report file ``path`` (its last line), or None."""
    try:
        with path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(max(0, size - 64))
            tail = stream.read()
    except OSError:
        return None
    match = _RUN_TAIL.search(tail)
    return match.group(1).decode() if match else None


# ----- a run's report files, committed all or nothing -----

JOURNAL = ".sandbox-commit.json"  # in the report directory while a commit is under way
_STAGING = re.compile(r"\.sandbox-staging-[0-9]+-[0-9a-f]+")
_BACKUPS = "replaced"  # in the staging directory: the files a commit replaced or removed


class StagedReports:
    """One run's report files: staged in a hidden directory inside the report directory, then
    committed together by ``commit`` (issue 17: all of them or none, whatever interrupts it).

    Workers write the staged files (``stage_report``); this object, in the parent, names them in
    input order (``safe_file_stem`` deduplicates in that order) and keeps only the names. Made
    before anything else of a run: it first puts back what an interrupted commit left
    (``recover``) and removes the staging directories of runs that are gone.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.staging = directory / f".sandbox-staging-{os.getpid()}-{secrets.token_hex(4)}"
        self.stems: list[str] = []
        self.run = ""  # the run id, once committed
        self.written: list[str] = []  # the files ``commit`` put in place
        self.removed: list[str] = []  # and the earlier runs' reports it removed
        self._taken = {"index", "summary"}
        self._staged: list[tuple[str, dict[str, str]]] = []
        self._identities: list[tuple[str, str]] = []
        self._made = _missing_directories(directory)
        self._hold: int | None = None
        with suppress(OSError):  # a worker meets the same problem, and reports it
            self._hold = _prepare(directory, self.staging)

    def add(self, proposal_id: str, staged: dict[str, str] | None, identity: str = "") -> None:
        """Name the next report's files (``staged``: its staged files, None if staging failed;
        ``identity``: its ``report_identity``)."""
        stem = safe_file_stem(proposal_id, self._taken)
        self.stems.append(stem)
        self._identities.append((stem, identity))
        if staged is not None:
            self._staged.append((stem, staged))

    def commit(self, rows: Sequence[SummaryRow] | None) -> int:
        """End every staged report with the run id, stage the summary (``rows``: one per report,
        or None for no summary), then put every file in place and remove the reports of earlier
        runs, all or nothing; returns the number of files. Raises ``OSError`` (naming the file)
        with nothing replaced. SIGINT, SIGTERM and SIGHUP wait until the commit is done."""
        self.run = run_id(self._identities)
        moves = [*self._finish_reports(), *self._stage_summary(rows)]
        with _locked(self.directory), _signals_deferred():
            _recover(self.directory)
            self.removed = _earlier_reports(self.directory, {name for _, name in moves})
            _apply(self.directory, self.staging, moves, self.removed, self.run)
        self.written = [name for _, name in moves]
        return len(moves)

    def _finish_reports(self) -> list[tuple[str, str]]:
        """Append the run line to every staged report; (staged name, file name) for each."""
        moves = []
        for stem, staged in self._staged:
            for fmt, (_, ext) in REPORT_TEMPLATES.items():
                with (self.staging / staged[fmt]).open("ab") as stream:
                    stream.write(_run_line(self.run, ext).encode())
                moves.append((staged[fmt], stem + ext))
        return moves

    def _stage_summary(self, rows: Sequence[SummaryRow] | None) -> list[tuple[str, str]]:
        if rows is None:
            return []
        return [(_stage(self.staging / name, itertools.chain(stream_rows_summary(rows, self.stems, fmt),
                                                             [_run_line(self.run, name)])).name, name)
                for fmt, (_, name) in SUMMARY_TEMPLATES.items()]

    def discard(self) -> None:
        """Remove the staging directory and whatever is left in it, and the report directory if
        this run made it and left it empty (always call this at the end)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        _STAGING_MADE.discard(self.staging)
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None
        for made in self._made:  # the deepest first
            try:
                made.rmdir()
            except OSError:
                break


def _missing_directories(directory: Path) -> list[Path]:
    """``directory`` and those of its parents that do not exist yet, the deepest first."""
    missing = []
    while not os.path.lexists(directory) and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    return missing


def _prepare(directory: Path, staging: Path) -> int | None:
    """At the start of a run: recover an interrupted commit, remove abandoned staging
    directories, and make ``staging``, held (see ``_hold``) for as long as the run lasts."""
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        try:
            _recover(directory)
        except OSError:
            pass  # reported by the commit; until then, keep every staging directory
        else:
            _sweep(directory)
        staging.mkdir()
        _STAGING_MADE.add(staging)
        return _hold(staging)


def recover(directory: Path) -> bool:
    """Put back the files that an interrupted commit into ``directory`` replaced or removed (a
    process killed outright, or a machine that stopped, leaves its journal); True if there was
    one. Raises ``OSError`` for a journal it cannot read or act on."""
    if not directory.is_dir():
        return False
    with _locked(directory):
        return _recover(directory)


def _recover(directory: Path) -> bool:
    path = directory / JOURNAL
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return False
    journal = _read_journal(path, raw)
    staging = directory / journal["staging"]
    if not staging.is_dir():
        raise OSError(errno.ENOENT, f"{path}: the files it lists were kept in {staging}, which is gone, so the "
                      "reports an interrupted run replaced cannot be put back; delete the journal to go on")
    _roll_back(directory, journal)
    path.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    return True


def _read_journal(path: Path, raw: bytes) -> dict[str, Any]:
    """The journal, checked: every name is a plain file name, so it can act only on files of
    the report directory and of the staging directory it names."""
    try:
        journal = json.loads(raw)
        valid = (journal.get("sandbox_commit") == 1 and _STAGING.fullmatch(journal["staging"]) is not None
                 and all(_plain(source) and _plain(name) for source, name in journal["moves"])
                 and all(_plain(name) for name in journal["removed"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        valid = False
    if not valid:
        raise OSError(errno.EINVAL, f"{path}: not a commit journal this sandbox can read; if no sandbox run "
                      "is writing to this directory, delete it")
    return dict(journal)


def _plain(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and os.sep not in name \
        and "\0" not in name


def _apply(directory: Path, staging: Path, moves: list[tuple[str, str]], removed: list[str], run: str) -> None:
    """Move every staged file to its place (keeping what it replaces) and the ``removed`` files
    out of the way, under a journal; undone on any error."""
    _check_targets(directory, staging, moves)
    backups = staging / _BACKUPS
    backups.mkdir(exist_ok=True)
    journal = {"sandbox_commit": 1, "staging": staging.name, "run": run, "moves": moves, "removed": removed}
    _write_journal(directory, staging, journal)
    name = JOURNAL
    try:
        for source, name in moves:
            _replace(staging / source, directory / name, backups / name)
        for name in removed:
            (directory / name).replace(backups / name)
        name = JOURNAL
        (directory / JOURNAL).unlink()  # the commit is done
    except BaseException as exc:
        _undo(directory, journal, directory / name, exc)
        raise


def _check_targets(directory: Path, staging: Path, moves: list[tuple[str, str]]) -> None:
    """Before anything moves: every target can be replaced, every staged file is there."""
    for source, name in moves:
        target = directory / name
        with suppress(FileNotFoundError):
            if stat.S_ISDIR(target.lstat().st_mode):
                raise OSError(errno.EISDIR, f"{target} is a directory in the way; no report was replaced")
        if not os.path.lexists(staging / source):
            raise OSError(errno.ENOENT, f"{staging / source}: staged report missing; no report was replaced")


def _write_journal(directory: Path, staging: Path, journal: dict[str, Any]) -> None:
    """The journal, in place at once (written in the staging directory, then renamed)."""
    handle, temp = _new_file(staging, ".journal.", ".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(journal, stream, separators=(",", ":"))
    temp.replace(directory / JOURNAL)


def _replace(source: Path, target: Path, backup: Path) -> None:
    """``source`` becomes ``target``; the file it replaces is kept as ``backup`` (a hard link,
    so that ``target`` never goes missing, or else moved)."""
    if os.path.lexists(target):
        try:
            os.link(target, backup, follow_symlinks=False)
        except (OSError, NotImplementedError):
            target.replace(backup)
    source.replace(target)


def _undo(directory: Path, journal: dict[str, Any], at: Path, exc: BaseException) -> None:
    """After ``exc`` at ``at``: put every file back and drop the journal, then raise the error
    naming that file (any other exception is left to propagate)."""
    try:
        _roll_back(directory, journal)
        (directory / JOURNAL).unlink()
    except OSError as failed:
        raise OSError(errno.EIO, f"{at}: {_reason(exc)}; putting the previous reports back failed too "
                      f"({_reason(failed)}): the next run into {directory} puts them back") from exc
    if isinstance(exc, OSError):
        raise OSError(exc.errno, f"{at}: {_reason(exc)}; no report was replaced") from exc


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__


def _roll_back(directory: Path, journal: dict[str, Any]) -> None:
    """Undo a journal's moves, whichever of them were done (each step is a rename, so each file
    is in exactly one place): the files it replaced or removed go back, the new ones leave."""
    staging = directory / journal["staging"]
    backups = staging / _BACKUPS
    for name in reversed(journal["removed"]):
        if os.path.lexists(backups / name):
            (backups / name).replace(directory / name)
    for source, name in reversed(journal["moves"]):
        target, backup = directory / name, backups / name
        if os.path.lexists(backup):
            backup.replace(target)  # (a no-op when it is still a link to the target)
        elif not os.path.lexists(staging / source) and os.path.lexists(target):
            target.replace(staging / source)  # a new file, where there was none


def _earlier_reports(directory: Path, names: set[str]) -> list[str]:
    """The report files of earlier runs (they end with a run line) that this run does not
    replace: the directory then holds one run's reports. Nothing else is touched."""
    ours = {name.lower() for name in names}  # (a case-insensitive file system)
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if (entry.name.endswith((".html", ".md")) and not entry.name.startswith(".")
                    and entry.name.lower() not in ours and entry.is_file(follow_symlinks=False)
                    and run_of(Path(entry.path)) is not None):
                found.append(entry.name)
    return sorted(found)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold the report directory's lock (``flock`` on the directory itself, released by the
    system however the process ends): one commit or recovery at a time. Where the system has
    no such lock (or refuses it), commits into one directory must not overlap."""
    handle = _locked_handle(directory, shared=False, wait=True)
    try:
        yield
    finally:
        if handle is not None:
            os.close(handle)


def _locked_handle(directory: Path, shared: bool, wait: bool) -> int | None:
    """An open descriptor of ``directory`` holding its ``flock``; None when not available, or
    (``wait=False``) when another process holds it."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        handle = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
    except BaseException as exc:  # held elsewhere (with LOCK_NB), no locks on this file system, or a signal
        os.close(handle)
        if isinstance(exc, OSError):
            return None
        raise
    return handle


def _hold(staging: Path) -> int | None:
    """A shared lock on a run's staging directory, held by its open descriptor (and by the
    worker processes that inherit it): while it is held, ``_sweep`` leaves the directory alone."""
    return _locked_handle(staging, shared=True, wait=True)


def _sweep(directory: Path) -> None:
    """Remove the staging directories that no running sandbox holds (left by a killed run)."""
    with os.scandir(directory) as entries:
        found = [Path(e.path) for e in entries if _STAGING.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    for staging in found:
        handle = _locked_handle(staging, shared=False, wait=False)
        if handle is not None:  # nobody holds it
            shutil.rmtree(staging, ignore_errors=True)
            os.close(handle)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP arriving inside are recorded, and the first is raised again
    once the block is done, for the handler it would have met (only in the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            number = getattr(signal, name)
            previous[number] = signal.signal(number, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


def write_all_atomic(files: Sequence[tuple[Path, str]]) -> None:
    """Write every file to a temporary sibling first, then rename them all into place.

    If any write fails (disk full, a directory in the way, Ctrl-C), the temporary files are
    removed and no target is touched. The renames themselves are one by one: several files
    that must change together go through ``StagedReports`` instead.
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

"""Stage 6: turn reports into text, JSON, Markdown and HTML (strings and files; never printing).

HTML and Markdown come from Jinja templates shipped in ``templates/``. Proposal text is data:
HTML is autoescaped and Markdown goes through the ``md`` filter, so nothing an applicant
writes becomes live markup. Output is byte-identical for the same inputs (no clock time).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from evaluator.textsafe import json_escape_unsafe, visible

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


def md_escape(value: Any) -> str:
    """Escape untrusted text for Markdown: no live links, images, emphasis or raw HTML."""
    text = " ".join((value if isinstance(value, str) else tojson_compact(value)).split())
    text = visible(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)
    return _MD_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker, number = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\."


def _visible_value(value: Any) -> Any:
    """Every plain string a template prints: control and bidi characters shown as escapes.

    Markup (already-safe HTML from the templates themselves) passes unchanged.
    """
    return visible(value, keep_layout=True) if type(value) is str else value


def tojson_compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("evaluator.templates"))),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_visible_value,
    )
    env.filters.update(md=md_escape, tojson_compact=tojson_compact, pct=lambda v: f"{int(v)}")
    return env


def render_template(name: str, **context: Any) -> str:
    """Render a shipped template with ``context``."""
    return str(_environment().get_template(name).render(**context))


def render_report(report: dict[str, Any], fmt: str) -> str:
    """A single report as Markdown or HTML."""
    return render_template(REPORT_TEMPLATES[fmt][0], report=report)


def render_summary(reports: Sequence[dict[str, Any]], fmt: str) -> str:
    """An intake summary across many reports (each dict carries ``files``)."""
    totals = Counter(r["decision"] for r in reports)
    ordered = {d: totals.get(d, 0) for d in ("admit", "admit_with_conditions", "revise", "reject")}
    return render_template(SUMMARY_TEMPLATES[fmt][0], reports=list(reports), totals=ordered)


def render_custom(template: Path, reports: Sequence[dict[str, Any]]) -> str:
    """Render each report with a user's template, in Jinja's sandbox; raise ``EvaluatorError``.

    The sandbox keeps a template from reaching Python internals (attributes such as
    ``__class__``, or calling methods that change data). The template sees ``report`` (one
    report dict, as in the JSON output) and the filters ``md``, ``tojson_compact`` and ``pct``;
    it is autoescaped when its name ends in ``.html`` or ``.html.j2``.
    """
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md_escape, tojson_compact=tojson_compact, pct=lambda v: f"{int(v)}")
    try:
        compiled = env.get_template(template.name)
        return "".join(compiled.render(report=report) for report in reports)
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


def _stage(path: Path, text: str) -> Path:
    """``text`` in a temporary file next to ``path`` (same directory, so the rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
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

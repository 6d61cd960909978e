from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.render import md_escape, safe_file_stem, write_atomic


@pytest.mark.parametrize(("text", "expected"), [
    ("<b>bold</b>", "&lt;b&gt;bold&lt;/b&gt;"),
    ("[link](http://x)", "\\[link\\]\\(http\\://x\\)"),
    ("![img](x.png)", "\\!\\[img\\]\\(x.png\\)"),
    ("*a* _b_ `c` | d", "\\*a\\* \\_b\\_ \\`c\\` \\| d"),
    ("- item\n# heading", "\\- item \\# heading"),
    ("1. first", "1\\. first"),
    ("www.example.com a@b.ru", "www\\.example.com a\\@b.ru"),
    ("{{ 7*7 }}", "\\{\\{ 7\\*7 \\}\\}"),
    (36, "36"),
    (["a", 1], '\\["a", 1\\]'),
])
def test_markdown_escaping(text: object, expected: str) -> None:
    assert md_escape(text) == expected


@pytest.mark.parametrize(("proposal_id", "expected"), [
    ("robotaxi-2026", "robotaxi-2026"),
    ("../../etc/passwd", "etc_passwd"),
    ("/abs/path", "abs_path"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("...", "proposal"),
    ("x" * 300, "x" * 80),
])
def test_report_file_names_stay_in_the_directory(proposal_id: str, expected: str) -> None:
    assert safe_file_stem(proposal_id, set()) == expected


def test_clashing_names_get_a_counter() -> None:
    taken: set[str] = set()
    assert [safe_file_stem(i, taken) for i in ("a/b", "a_b", "A_B")] == ["a_b", "a_b-2", "A_B-3"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "r.md"
    target.write_text("old report", encoding="utf-8")

    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]
    write_atomic(target, "new report")
    assert target.read_text(encoding="utf-8") == "new report"


HOSTILE = '<script>alert(1)</script> [x](javascript:alert(1)) {{ 7*7 }} **bold** | cell'


def hostile_report() -> dict:  # type: ignore[type-arg]
    from evaluator.pipeline import Session

    from conftest import EXAMPLES

    report = Session().check(EXAMPLES / "weak-medical-ai.yaml").to_dict()
    report["proposal"]["title"] = HOSTILE
    report["proposal"]["applicant"] = HOSTILE
    report["findings"][0]["evidence"][0]["value"] = HOSTILE
    report["reasons"].append(HOSTILE)
    return report


def test_proposal_text_stays_data_in_html_and_markdown() -> None:
    from evaluator.render import render_report, render_summary

    report = hostile_report()
    html = render_report(report, "html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html  # never rendered as a template
    markdown = render_report(report, "markdown")
    assert "<script>" not in markdown and "](javascript" not in markdown
    assert "\\{\\{ 7\\*7 \\}\\}" in markdown
    files = {"html": "weak.html", "md": "weak.md"}
    summary_html = render_summary([{**report, "files": files}], "html")
    summary_md = render_summary([{**report, "files": files}], "markdown")
    assert "<script>" not in summary_html and "<script>" not in summary_md
    assert "](javascript" not in summary_md


def test_a_staged_report_is_created_under_its_own_name_and_never_overwrites(tmp_path: Path) -> None:
    from evaluator.render import stage_report

    staging = tmp_path / "reports" / ".sandbox-staging-test"
    assert stage_report({"html": "<p>é</p>", "markdown": "# é\n"}, staging, "7") == {"html": "7.html", "markdown": "7.md"}
    with pytest.raises(FileExistsError):
        stage_report({"html": "other", "markdown": "other"}, staging, "7")
    assert (staging / "7.html").read_bytes() == "<p>é</p>".encode() and (staging / "7.md").read_bytes() == "# é\n".encode()

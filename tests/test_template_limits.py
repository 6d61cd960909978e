"""A user's template cannot exhaust the machine (issue 17): evaluator/template_limits.py.

Every hostile template here is refused before it builds what it asks for, so each test takes
milliseconds and a few megabytes; the deadline tests run only as long as their own deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from evaluator.template_limits import LimitedEnvironment, TemplateLimitError, render_limited

LIMIT = "(the limit for a template)"
STRING = f"a string of more than 1,000,000 characters {LIMIT}"
LIST = f"a list of more than 100,000 items {LIMIT}"
S = '{% set s = "x" * 1000000 %}'  # the longest string a template may build


def refusal(template: Path, context: dict[str, Any] | None = None, **limits: Any) -> TemplateLimitError:
    with pytest.raises(TemplateLimitError) as caught:
        render_limited(template, context or {}, **limits)
    return caught.value


@pytest.mark.parametrize(("text", "line", "message"), [
    ('{{ "x" * 10**9 }}', 1, STRING),
    ('one\ntwo\n{{ "x" * 1000 * 1000 * 1000 }}\n', 3, STRING),  # 1,000,000 passes, then x1000
    ("{% for i in range(10**9) %}x{% endfor %}", 1, f"a range of more than 100,000 items {LIMIT}"),
    ('{{ "x"|center(10**9) }}', 1, STRING),
    ('{{ ("a" ~ "b") * 10**8 }}', 1, STRING),
    # doubling a step at a time: with ~, with list.extend, with numbers
    ('{% set ns = namespace(s="x") %}{% for i in range(40) %}\n{% set ns.s = ns.s ~ ns.s %}'
     "{% endfor %}", 2, STRING),
    ('{% set l = ["x"] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}', 1, LIST),
    ("{% set ns = namespace(n=10) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
     "{% endfor %}", 1, f"a number of more than 4,300 digits {LIMIT}"),
    ("{{ 10 ** 5000 }}", 1, f"a number of more than 4,300 digits {LIMIT}"),
    # widths and fills: filters, str methods, printf and str.format
    ('{{ "a\nb"|indent(10**9) }}', 2, STRING),
    ('{{ "%1000000000d"|format(1) }}', 1, STRING),
    ('{{ "%*d" % (10**9, 1) }}', 1, STRING),
    ('{{ "%(a)s%(b).1000000000f" % {"a": 1, "b": 2.0} }}', 1, STRING),
    ('{{ "{:{w}}".format(1, w=10**9) }}', 1, STRING),
    ('{{ "x".ljust(10**9) }}', 1, STRING),
    ('{{ ("\t" * 1000).expandtabs(10**6) }}', 1, STRING),
    (S + '{{ "ab".replace("", s) }}', 1, STRING),
    (S + '{{ "ab"|replace("", s) }}', 1, STRING),
    (S + "{{ s|wordwrap(1, wrapstring=s) }}", 1, STRING),
    # one string referenced 100,000 times: joined, printed, dumped, formatted
    (S + "{{ ([s] * 100000)|join }}", 1, STRING),
    (S + '{{ ([s] * 100000)|map("upper")|join }}', 1, STRING),
    (S + "{{ s.join([s, s]) }}", 1, STRING),
    (S + "{{ [s] * 100000 }}", 1, STRING),
    (S + "{{ ([s] * 100000)|tojson }}", 1, STRING),
    (S + "{{ ([s] * 100000)|pprint }}", 1, STRING),
    (S + '{{ "%s" % ([s] * 100000,) }}', 1, STRING),
    (S + '{{ "{!r}".format([s] * 100000) }}', 1, STRING),
    (S + "{{ ([s] * 100000)|upper }}", 1, STRING),
    (S + "{{ s ~ s }}", 1, STRING),
    (S + "{{ s + s }}", 1, STRING),
    # what blocks, macros and loops build before they print
    (S + "\n{% set b %}{% for i in range(2) %}{{ s }}{% endfor %}{% endset %}", 2, STRING),
    (S + "{% macro m() %}{{ s }}{{ s }}{% endmacro %}{{ m() }}", 1, STRING),
    (S + "{% block b %}{{ s }}{{ s }}{% endblock %}", 1, f"an output of more than 1,000,000 characters {LIMIT}"),
    ("{{ [1]|batch(10**9, 0)|list }}", 1, LIST),
    ("{{ [1]|slice(10**9)|list }}", 1, LIST),
    ("{{ lipsum(10**9) }}", 1, STRING),
    ("{% set ns = namespace(l=[]) %}{% for i in range(200) %}{% set ns.l = [ns.l] %}{% endfor %}"
     "{{ ns.l }}", 1, f"a value nested more than 100 levels deep {LIMIT}"),
])
def test_a_template_cannot_build_more_than_its_limits(write: Callable[[str, str], Path], text: str,
                                                      line: int, message: str) -> None:
    template = write("template.j2", text)
    limits = {"max_output": 1_000_000} if "block b" in text else {}
    error = refusal(template, **limits)
    assert (error.file, error.line, error.message) == (str(template), line, message)
    assert str(error) == f"{template}:{line}: {message}"


def test_the_output_is_bounded_and_named_at_the_line_that_crossed(write: Callable[[str, str], Path]) -> None:
    # each step prints 1 + 100 characters: the 100th step's second line crosses 10,000
    template = write("out.j2", '{% for i in range(10**5) %}\n{{ "y" * 100 }}{% endfor %}')
    error = refusal(template, max_output=10_000)
    assert (error.line, error.message) == (2, f"an output of more than 10,000 characters {LIMIT}")


@pytest.mark.parametrize("text", [
    "{% for i in range(10**5) %}{% for j in range(10**5) %}x{% endfor %}{% endfor %}",
    # no call and no output inside: only the loop steps check the deadline
    "{% set l = range(10**5)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
])
def test_a_template_that_runs_on_stops_at_the_deadline(write: Callable[[str, str], Path], text: str) -> None:
    template = write("slow.j2", text)
    error = refusal(template, max_seconds=0.05, max_output=10**12)
    assert (error.file, error.line) == (str(template), 1)
    assert error.message == f"rendering took more than 0.05 seconds {LIMIT}"


def test_the_limits_are_parameters(write: Callable[[str, str], Path]) -> None:
    template = write("small.j2", '{{ "ab" * 5 }}\n{{ "ab" * 6 }}')
    error = refusal(template, max_string=10)
    assert (error.line, error.message) == (2, f"a string of more than 10 characters {LIMIT}")
    assert refusal(write("items.j2", "{{ range(11) }}"), max_items=10).message == (
        f"a range of more than 10 items {LIMIT}")


def test_a_string_at_the_limit_is_allowed() -> None:
    assert render_limited('{{ ("x" * 1000000)|length }}', {}) == "1000000"
    assert len(render_limited('{{ "x" * 1000000 }}', {})) == 1_000_000
    with pytest.raises(TemplateLimitError, match=r"^<template>:1: a string of more than 1,000,000 "):
        render_limited('{{ "x" * 1000001 }}', {})


NORMAL = """\
{% from "macros.html.j2" import badge %}
<h1>{{ report.title }}</h1> {{ badge(report.decision) }}
{% for finding in report.findings if finding.outcome != "pass" %}
<li>{{ loop.index }}/{{ loop.length }} {{ finding.id|lower }}: {{ "%-6s|%3d"|format(finding.outcome, loop.index) }}
  {{- " " ~ finding.note|default("-")|truncate(12) }} {{ "{:>4}".format(finding.score) }}</li>
{% else %}<li>none</li>
{% endfor %}
{% set counts %}{% for k, v in report.counts|dictsort %}{{ k }}={{ v }}{{ ", " if not loop.last }}{% endfor %}{% endset %}
{{ counts|center(30) }} {{ report.counts|tojson }} {{ report.findings|map(attribute="id")|join("+") }}
{{ report.title|md }} {{ range(3)|list }} {{ (report.findings|length) ** 2 }} {{ "ab" * 2 }}
"""
MACROS = '{% macro badge(d) %}<b class="{{ d }}">{{ d|upper }}</b>{% endmacro %}'
REPORT = {
    "title": "A <b>bold</b> [plan]", "decision": "revise", "counts": {"pass": 3, "fail": 2},
    "findings": [{"id": "AV-01", "outcome": "fail", "note": "a long note to cut short", "score": 7},
                 {"id": "AV-02", "outcome": "pass", "score": 1},
                 {"id": "AV-03", "outcome": "warn", "note": "<script>", "score": 12}],
}


def test_a_normal_template_renders_as_in_the_plain_sandbox(write: Callable[[str, str], Path]) -> None:
    from evaluator.render import md_escape

    template = write("mine.html.j2", NORMAL)
    write("macros.html.j2", MACROS)
    plain = SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(template.parent)),
                                 autoescape=jinja2.select_autoescape(["html", "html.j2"]),
                                 undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    plain.filters["md"] = md_escape
    expected = plain.get_template("mine.html.j2").render(report=REPORT)
    got = render_limited(template, [{"report": REPORT}, {"report": REPORT}], filters={"md": md_escape})
    assert got == expected * 2
    assert '<b class="revise">REVISE</b>' in got and "&lt;script&gt;" in got  # autoescaped by name
    assert "<li>1/2 av-01: fail  |  1 a long...    7</li>" in got and "fail=2, pass=3" in got


def test_a_limit_in_an_included_template_names_that_file(write: Callable[[str, str], Path]) -> None:
    template = write("main.j2", 'first\n{% include "part.j2" %}\n')
    part = write("part.j2", 'one\ntwo\n{{ "x" * 10**9 }}')
    error = refusal(template)
    assert (error.file, error.line) == (str(part), 3)


def test_every_other_error_stays_jinjas_own(write: Callable[[str, str], Path]) -> None:
    with pytest.raises(jinja2.UndefinedError, match="'dict object' has no attribute 'nope'"):
        render_limited(write("u.j2", "{{ report.nope }}"), {"report": {}})
    with pytest.raises(SecurityError):
        render_limited(write("s.j2", "{{ report.__class__.__mro__ }}"), {"report": {}})
    with pytest.raises(jinja2.TemplateSyntaxError):
        render_limited(write("x.j2", "{{ x }"), {})


def test_filters_of_the_caller_are_bounded_too(write: Callable[[str, str], Path]) -> None:
    template = write("f.j2", "ok\n{{ 3|big }}")
    error = refusal(template, filters={"big": lambda n: "x" * (n * 1_000_000)})
    assert (error.line, error.message) == (2, STRING)


@pytest.mark.parametrize("option", ["finalize", "bytecode_cache"])
def test_the_environment_keeps_its_own_finalize_and_code(option: str) -> None:
    with pytest.raises(ValueError, match=f"^LimitedEnvironment does not take {option}$"):
        LimitedEnvironment(**{option: object()})


def test_a_macro_that_calls_itself_without_end_is_named(write: Callable[[str, str], Path]) -> None:
    template = write("deep.j2", "{% macro f() %}{{ f() }}{% endmacro %}\n\n{{ f() }}")
    error = refusal(template)
    assert (error.file, error.line) == (str(template), 1)
    assert error.message == f"calls nested deeper than Python allows {LIMIT}"


def test_check_with_a_runaway_template_exits_2_naming_its_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from evaluator.cli import main

    template = tmp_path / "mine.j2"
    template.write_text('{{ report.decision }}\n{{ "x" * 10**9 }}\n', encoding="utf-8")
    code = main(["check", str(Path(__file__).parents[1] / "examples" / "robotaxi-pilot.yaml"),
                 "--template", str(template)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (f"error: {template}:2:1: template error: a string of more than 1,000,000 characters "
                   "(the limit for a template)\n")

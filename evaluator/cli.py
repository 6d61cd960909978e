"""The command line: the only module that prints or exits.

Exit codes: 0 the decision passes ``--fail-on``; 1 it does not; 2 usage, input or rule-file
errors (and internal errors); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evaluator import __version__
from evaluator.errors import EvaluatorError

if TYPE_CHECKING:
    from evaluator.loader import Limits

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
PROPOSAL_SUFFIXES = (".yaml", ".yml")

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Evaluate regulatory-sandbox proposals against YAML rule packs.")


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


class FailOn(StrEnum):
    admit_with_conditions = "admit_with_conditions"
    revise = "revise"
    reject = "reject"
    none = "none"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sandbox {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Evaluate regulatory-sandbox proposals against YAML rule packs."""


@app.command()
def check(
    proposals: Annotated[list[Path], typer.Argument(help="Proposal files or directories of them.", metavar="PROPOSAL...",
                                                    show_default=False)],
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Rule pack directory or file "
                     "(repeatable); default: the shipped packs.")] = None,
    framework: Annotated[str | None, typer.Option(help="Judge under this framework instead of "
                                                  "the proposal's metadata.framework.")] = None,
    policy: Annotated[Path | None, typer.Option(help="Decision policy YAML; default: shipped.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="What to print.")] = OutputFormat.text,
    report_dir: Annotated[Path | None, typer.Option(help="Write <id>.html and <id>.md per proposal "
                                                    "(and a summary for several) here.")] = None,
    fail_on: Annotated[FailOn, typer.Option(help="Exit 1 when the decision is this or worse.")] = FailOn.revise,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list passed and "
                                          "not-applicable rules (text).")] = False,
    max_file_size: Annotated[int | None, typer.Option(min=1, metavar="BYTES", help="Refuse larger proposal "
                             "files (default: 5242880, 5 MiB).", show_default=False)] = None,
    max_depth: Annotated[int | None, typer.Option(min=1, metavar="N", help="Refuse proposals nested deeper "
                         "(default: 64).", show_default=False)] = None,
    max_nodes: Annotated[int | None, typer.Option(min=1, metavar="N", help="Refuse proposals with more "
                         "values, counting aliases each time used (default: 200000).", show_default=False)] = None,
    max_string_length: Annotated[int | None, typer.Option(min=1, metavar="N", help="Refuse proposals with a "
                                 "longer text (default: 100000 characters).", show_default=False)] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks of internal errors.")] = False,
    template: Annotated[Path | None, typer.Option(help="Print each report rendered with this Jinja "
                                                  "template (run in Jinja's sandbox) instead of --format.")] = None,
) -> None:
    """Check proposals and print the decision with every finding."""
    from evaluator.pipeline import Session

    try:
        session = Session(tuple(rules or ()), framework, policy, _limits(
            max_bytes=max_file_size, max_depth=max_depth, max_nodes=max_nodes, max_string=max_string_length))
        paths = _expand(proposals)
    except EvaluatorError as exc:
        _fail(exc)
    reports: list[dict[str, Any]] = []
    passed, errors = True, False
    for path in paths:
        try:
            report = session.check(path)
        except EvaluatorError as exc:
            _print_problems(exc)
            errors = True
            continue
        except Exception as exc:  # noqa: BLE001 -- one proposal's bug must not stop the batch
            _print_internal(path, exc, debug)
            errors = True
            continue
        reports.append(report.to_dict())
        passed = passed and report.passes(fail_on.value)
    if reports:
        _emit_custom(reports, template) if template is not None else _emit(reports, fmt, len(paths) == 1, verbose)
        if report_dir is not None:
            _write(reports, report_dir)
    raise typer.Exit(EXIT_ERROR if errors else EXIT_OK if passed else EXIT_FAILED)


@app.command()
def schema() -> None:
    """Print the proposal descriptor JSON Schema (for editors and validators)."""
    from evaluator.validate import schema_text

    typer.echo(schema_text(), nl=False)


rules_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="Work with rule packs: test, lint, list and document them.")
app.add_typer(rules_app, name="rules")


@rules_app.command("test")
def rules_test(
    packs: Annotated[list[str] | None, typer.Argument(help="Pack ids or pack files to test; default: all.",
                                                      metavar="[PACK]...", show_default=False)] = None,
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Rule pack directory or file "
                     "(repeatable); default: the shipped packs.")] = None,
) -> None:
    """Run the rule tests kept next to the packs (*.tests.yaml) and report coverage."""
    from evaluator.ruletests import run_rule_tests
    from evaluator.ruletests_text import render_test_run

    try:
        run = run_rule_tests(tuple(rules or ()), tuple(packs or ()))
    except EvaluatorError as exc:
        _fail(exc)
    typer.echo(render_test_run(run), nl=False)
    raise typer.Exit(EXIT_OK if run.ok else EXIT_FAILED)


RulesOption = Annotated[list[Path] | None, typer.Option("--rules", help="Rule pack directory or file "
                        "(repeatable); default: the shipped packs.")]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file "
                         "(atomically) instead of printing.")]


class ListFormat(StrEnum):
    text = "text"
    json = "json"


@rules_app.command("lint")
def rules_lint(rules: RulesOption = None) -> None:
    """Report every problem in every rule pack, with file:line (exit 1 on any)."""
    from evaluator.lint import lint, render_lint

    try:
        result = lint(tuple(rules or ()))
    except EvaluatorError as exc:
        _fail(exc)
    typer.echo(render_lint(result), nl=False)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


@rules_app.command("list")
def rules_list(
    pillar: Annotated[str | None, typer.Option(help="Only require rules of this pillar.")] = None,
    domain: Annotated[str | None, typer.Option(help="Only rules of packs that apply to this domain.")] = None,
    framework: Annotated[str | None, typer.Option(help="Only rules of this framework.")] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="What to print.")] = ListFormat.text,
    rules: RulesOption = None,
) -> None:
    """List the rules, one row each, and count require rules by framework and pillar."""
    from evaluator.catalog import load_catalog, render_json, render_text, select

    try:
        entries = select(load_catalog(tuple(rules or ())), framework, domain, pillar)
    except EvaluatorError as exc:
        _fail(exc)
    typer.echo(render_json(entries) if fmt is ListFormat.json else render_text(entries), nl=False)


@rules_app.command("doc")
def rules_doc(output: OutputOption = None, rules: RulesOption = None) -> None:
    """Generate the rulebook reference (Markdown) from the packs."""
    from evaluator.ruledoc import rulebook_markdown

    try:
        text = rulebook_markdown(tuple(rules or ()))
        _deliver(text, output, overwrite=True)
    except EvaluatorError as exc:
        _fail(exc)


@app.command()
def explain(
    rule_id: Annotated[str, typer.Argument(metavar="RULE-ID", help="A rule id, e.g. ELR-CORE-TERM-MAX.",
                                           show_default=False)],
    rules: RulesOption = None,
) -> None:
    """Explain a rule: what it checks, why, its basis, how to satisfy it, a passing example."""
    from evaluator.explain import explain as explain_rule

    try:
        text = explain_rule(rule_id, tuple(rules or ()))
    except EvaluatorError as exc:
        _fail(exc)
    typer.echo(text, nl=False)


@app.command()
def init(
    domain: Annotated[str, typer.Option(help="The proposal's domain, e.g. medical_ai.", show_default=False)],
    framework: Annotated[str | None, typer.Option(help="Its framework; default: ru-elr.")] = None,
    output: OutputOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
) -> None:
    """Write a commented skeleton proposal for a domain that validates as it is."""
    from evaluator.skeleton import skeleton

    try:
        _deliver(skeleton(domain, framework), output, overwrite=force)
    except EvaluatorError as exc:
        _fail(exc)


def _deliver(text: str, output: Path | None, overwrite: bool) -> None:
    """Print ``text``, or write it to ``output`` and say so on stderr."""
    if output is None:
        typer.echo(text, nl=False)
        return
    from evaluator.output import write_output

    write_output(output, text, overwrite)
    typer.echo(f"wrote {output}", err=True)


def _limits(**given: int | None) -> Limits:
    """The loader limits for proposals: the defaults, except where an option was given."""
    from evaluator.loader import Limits

    return Limits(**{name: value for name, value in given.items() if value is not None})


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in PROPOSAL_SUFFIXES and p.is_file())
            if not found:
                raise EvaluatorError(f"{path}: no proposal files (*.yaml, *.yml) in this directory")
            out.extend(found)
        else:
            out.append(path)
    return out


def _emit(reports: list[dict[str, Any]], fmt: OutputFormat, single: bool, verbose: bool) -> None:
    from evaluator import render

    if fmt is OutputFormat.json:
        typer.echo(render.to_json(reports, single), nl=False)
    elif fmt is OutputFormat.text:
        from evaluator.textout import render_text

        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        typer.echo("\n".join(render_text(r, color, verbose) for r in reports), nl=False, color=color)
    elif single or fmt is OutputFormat.markdown:
        typer.echo("\n---\n\n".join(render.render_report(r, fmt.value) for r in reports), nl=False)
    else:
        files = [{**r, "files": {"html": "", "md": ""}} for r in reports]
        typer.echo(render.render_summary(files, fmt.value), nl=False)


def _emit_custom(reports: list[dict[str, Any]], template: Path) -> None:
    from evaluator.render import render_custom

    try:
        typer.echo(render_custom(template, reports), nl=False)
    except EvaluatorError as exc:
        _fail(exc)


def _print_internal(path: Path, exc: Exception, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    from evaluator.textsafe import visible

    typer.echo(f"error: {path}: internal error while checking this proposal ({type(exc).__name__}: "
               f"{visible(str(exc))}). "
               "This is a bug in sandbox; the other proposals were still checked. Please report it with "
               "this file (run with --debug for the traceback).", err=True)


def _write(reports: list[dict[str, Any]], directory: Path) -> None:
    from evaluator.render import write_reports

    try:
        written = write_reports(reports, directory)
    except OSError as exc:
        _fail(EvaluatorError(f"{directory}: cannot write reports: {exc.strerror or exc}"))
    typer.echo(f"wrote {len(written)} report files to {directory}", err=True)


def _print_problems(exc: EvaluatorError) -> None:
    from evaluator.textsafe import visible

    for problem in exc.problems:
        typer.echo(f"error: {visible(str(problem))}", err=True)


def _fail(exc: EvaluatorError) -> None:
    _print_problems(exc)
    raise typer.Exit(EXIT_ERROR)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Without standalone mode, an Exit raised by a command comes back as the return value.
        result = app(args=argv, prog_name="sandbox", standalone_mode=False)
    except typer.Exit as done:
        return int(done.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except typer.TyperException as usage:
        show = getattr(usage, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"error: {usage.format_message()}\n")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 -- never a bare traceback: one paragraph (--debug shows it)
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: internal error ({type(exc).__name__}: {exc}). This is a bug in "
                         "sandbox; please report it with the input that caused it (run with --debug "
                         "for the traceback).\n")
        return EXIT_ERROR
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def console_main() -> None:
    """The ``sandbox`` console script."""
    sys.exit(main())

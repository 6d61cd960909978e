"""The command line: the only module that prints or exits.

Exit codes: 0 the decision passes ``--fail-on``; 1 it does not; 2 usage, input or rule-file
errors (and internal errors); 130 interrupted; 128 + the signal's number when stopped by
SIGTERM or SIGHUP (143, 129).
"""

# No ``from __future__ import annotations`` in this module: typer turns every string annotation
# of every command back into an object twice (``inspect.signature`` and ``get_type_hints``) at
# each start: building the commands took 11 ms of a cold ``sandbox check`` that way, 3 ms
# without. Names imported only for the type checker are quoted instead.

import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Self

import typer

from evaluator import __version__
from evaluator.errors import EvaluatorError, Problem

if TYPE_CHECKING:
    from rich.progress import ProgressColumn

    from evaluator import batch
    from evaluator.loader import Limits
    from evaluator.render import StagedReports

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
PROPOSAL_SUFFIXES = (".yaml", ".yml")  # compared case-insensitively: .YAML and .Yml count too

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
    report_dir: Annotated[str | None, typer.Option(help="Write <id>.html and <id>.md per proposal "
                                                   "(and a summary for several) here.", metavar="DIR")] = None,
    fail_on: Annotated[FailOn, typer.Option(help="Exit 1 when the decision is this or worse.")] = FailOn.revise,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list passed and "
                                          "not-applicable rules (text).")] = False,
    max_file_size: Annotated[int | None, typer.Option(min=1, metavar="BYTES", help="Refuse larger proposal "
                             "files (default: 5242880, 5 MiB).", show_default=False)] = None,
    max_depth: Annotated[int | None, typer.Option(min=1, max=900, metavar="N", help="Refuse proposals nested "
                         "deeper (default: 64, at most 900).", show_default=False)] = None,
    max_nodes: Annotated[int | None, typer.Option(min=1, metavar="N", help="Refuse proposals with more "
                         "values, counting aliases each time used (default: 200000).", show_default=False)] = None,
    max_string_length: Annotated[int | None, typer.Option(min=1, metavar="N", help="Refuse proposals with a "
                                 "longer text (default: 100000 characters).", show_default=False)] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks of internal errors.")] = False,
    template: Annotated[Path | None, typer.Option(help="Print each report rendered with this Jinja "
                                                  "template (run in Jinja's sandbox) instead of --format; "
                                                  "holds every report in memory until the end.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, metavar="N", show_default=False,
                                             help="Check several proposals in N worker processes (default: "
                                             "all cores, os.cpu_count()); 1 checks them in this process. "
                                             "The output is the same for any N.")] = None,
) -> None:
    """Check proposals and print the decision with every finding."""
    from dataclasses import replace

    from evaluator.batch import Options

    base = Options(tuple(rules or ()), framework, policy, fail_on=fail_on.value, limits=_limits(
        max_bytes=max_file_size, max_depth=max_depth, max_nodes=max_nodes, max_string=max_string_length))
    directory = _report_directory(report_dir)
    paths = _proposal_paths(proposals, base)
    several = len(paths) > 1
    stage = _staged_reports(directory)
    summary_on_stdout = several and fmt is OutputFormat.html and template is None  # printed at the end
    options = replace(base, output="" if template is not None or summary_on_stdout else fmt.value,
                      single=not several, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ,
                      verbose=verbose, keep_report=template is not None, debug=debug,
                      summary=summary_on_stdout or (several and report_dir is not None),
                      staging=stage.staging if stage is not None else None)
    try:
        tally = _run(paths, options, jobs or os.cpu_count() or 1, stage)
        _conclude(tally, fmt, template, stage, several)
    finally:
        if stage is not None:
            stage.discard()
    raise typer.Exit(EXIT_ERROR if tally.errors else EXIT_OK if tally.passed else EXIT_FAILED)


@app.command(short_help="Print the proposal descriptor JSON Schema.")
def schema() -> None:
    """Print the proposal descriptor JSON Schema (for editors and validators)."""
    from evaluator.validate import schema_text

    typer.echo(schema_text(), nl=False)


rules_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="Work with rule packs: test, lint, list and document them.")
app.add_typer(rules_app, name="rules")


@rules_app.command("test", short_help="Run the packs' rule tests and report coverage.")
def rules_test(
    packs: Annotated[list[str] | None, typer.Argument(help="Pack ids or pack files to test; default: all.",
                                                      metavar="[PACK]...", show_default=False)] = None,
    rules: Annotated[list[Path] | None, typer.Option("--rules", help="Rule pack directory or file "
                     "(repeatable); default: the shipped packs.")] = None,
) -> None:
    """Run the rule tests kept next to the packs (*.tests.yaml) and report coverage."""
    try:
        from evaluator.ruletests import run_rule_tests  # imports the engine, which may not load
        from evaluator.ruletests_text import render_test_run

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


@rules_app.command("lint", short_help="Report every problem in every rule pack.")
def rules_lint(rules: RulesOption = None) -> None:
    """Report every problem in every rule pack, with file:line (exit 1 on any)."""
    from evaluator.lint import lint, render_lint

    try:
        result = lint(tuple(rules or ()))
    except EvaluatorError as exc:
        _fail(exc)
    typer.echo(render_lint(result), nl=False)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


@rules_app.command("list", short_help="List the rules and count them by pillar.")
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


ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")]


@rules_app.command("doc", short_help="Generate the rulebook reference (Markdown).")
def rules_doc(output: OutputOption = None, rules: RulesOption = None, force: ForceOption = False) -> None:
    """Generate the rulebook reference (Markdown) from the packs."""
    from evaluator.ruledoc import rulebook_markdown

    try:
        text = rulebook_markdown(tuple(rules or ()))
        _deliver(text, output, overwrite=force)
    except EvaluatorError as exc:
        _fail(exc)


@app.command(short_help="Explain a rule: what, why, its basis, how to pass.")
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


@app.command(short_help="Write a commented skeleton proposal.")
def init(
    domain: Annotated[str, typer.Option(help="The proposal's domain, e.g. medical_ai.", show_default=False)],
    framework: Annotated[str | None, typer.Option(help="Its framework; default: ru-elr.")] = None,
    output: OutputOption = None,
    force: ForceOption = False,
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


def _limits(**given: int | None) -> "Limits":
    """The loader limits for proposals: the defaults, except where an option was given."""
    from evaluator.loader import Limits

    return Limits(**{name: value for name, value in given.items() if value is not None})


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if _is_proposal_file(p))
            if not found:
                raise EvaluatorError(f"{path}: no proposal files (*.yaml, *.yml) in this directory")
            out.extend(found)
        else:
            out.append(path)
    return out


def _is_proposal_file(path: Path) -> bool:
    """A YAML file of a directory batch: a regular file, or a link that does not lead to a directory
    (a broken or looping link is kept, so that reading it reports the problem with its name)."""
    if path.suffix.lower() not in PROPOSAL_SUFFIXES:
        return False
    if path.is_symlink():
        return not path.is_dir()
    return path.is_file()


def _proposal_paths(proposals: list[Path], options: "batch.Options") -> list[Path]:
    """The proposal files to check; a broken rule pack or policy is reported first, as ever."""
    from evaluator.batch import new_session

    try:
        try:
            return _expand(proposals)
        except EvaluatorError:
            new_session(options)
            raise
    except EvaluatorError as exc:
        _fail(exc)


def _report_directory(given: str | None) -> Path | None:
    """``--report-dir`` as a path, refused before any proposal is read when it cannot be one."""
    if given is None:
        return None
    if not given.strip():
        _fail(EvaluatorError("--report-dir: the path is empty; name a directory (use '.' for this one)"))
    path = Path(given)
    if path.exists() and not path.is_dir():
        _fail(EvaluatorError(f"--report-dir {given}: exists and is not a directory"))
    parent = next((p for p in (path, *path.parents) if p.exists()), Path())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        _fail(EvaluatorError(f"--report-dir {given}: cannot write in {parent}"))
    return path


def _staged_reports(report_dir: Path | None) -> "StagedReports | None":
    if report_dir is None:
        return None
    from evaluator.render import StagedReports

    return StagedReports(report_dir)


def _run(paths: list[Path], options: "batch.Options", jobs: int, stage: "StagedReports | None") -> "batch.Tally":
    """Check every proposal (``jobs`` processes), printing each one's output and errors in order."""
    from evaluator import batch

    tally = batch.Tally(stage)
    printer = _Printer(batch.framing(options.output, options.single),
                       options.color if options.output == "text" else None)
    with _progress(len(paths)) as bar, closing(batch.outcomes(paths, options, jobs)) as results:
        try:
            for outcome in results:
                with bar.hidden(bool(outcome.problems or outcome.internal), outcome.output is not None):
                    _show(outcome, printer)
                tally.add(outcome)
                bar.advance()
        except EvaluatorError as exc:  # the rule packs or policy are broken
            _fail(exc)
    printer.close()
    return tally


def _show(outcome: "batch.Outcome", printer: "_Printer") -> None:
    """One proposal's errors (stderr) and output (stdout)."""
    _print_problem_list(outcome.problems)
    if outcome.internal:
        sys.stderr.write(outcome.trace)
        typer.echo(outcome.internal, err=True)
    if outcome.output is not None:
        printer.item(outcome.output)


class _Printer:
    """Prints the proposals' outputs one by one, framed as if printed all at once."""

    def __init__(self, framing: tuple[str, str, str], color: bool | None) -> None:
        self._first, self._between, self._last = framing
        self._color = color
        self._started = False

    def item(self, text: str) -> None:
        typer.echo((self._between if self._started else self._first) + text, nl=False, color=self._color)
        self._started = True

    def close(self) -> None:
        if self._started and self._last:
            typer.echo(self._last, nl=False)


def _conclude(tally: "batch.Tally", fmt: OutputFormat, template: Path | None, stage: "StagedReports | None",
              several: bool) -> None:
    """After the last proposal: a custom template's or the HTML summary's output, then the reports."""
    if not tally.checked:
        return
    if template is not None:
        _emit_custom(tally.reports, template)
    elif fmt is OutputFormat.html and several:
        from evaluator.render import stream_rows_summary

        for piece in stream_rows_summary(tally.rows, None, "html"):
            typer.echo(piece, nl=False)
    if stage is not None:
        _commit(tally, stage)


def _emit_custom(reports: list[dict[str, Any]], template: Path) -> None:
    from evaluator.render import render_custom

    try:
        typer.echo(render_custom(template, reports), nl=False)
    except EvaluatorError as exc:
        _fail(exc)


def _commit(tally: "batch.Tally", stage: "StagedReports") -> None:
    """Move the staged reports (and a summary for several) into place, all or nothing."""
    failure, written = tally.write_error, 0
    if not failure:
        try:
            written = stage.commit(tally.rows if tally.checked > 1 else None)
        except OSError as exc:
            failure = exc.strerror or str(exc)
    if failure:
        _fail(EvaluatorError(f"{stage.directory}: cannot write reports: {failure}"))
    typer.echo(f"wrote {written} report files to {stage.directory}", err=True)


class _NoBar:
    """No progress bar (not a terminal, or a single proposal)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @contextmanager
    def hidden(self, err: bool, out: bool) -> Iterator[None]:
        yield

    def advance(self) -> None:
        return None


class _Bar(_NoBar):
    """A transient progress bar on stderr: proposals done of all, rate and time left."""

    def __init__(self, total: int) -> None:
        from rich import progress as bar
        from rich.console import Console

        self._progress = bar.Progress(bar.TextColumn("checking"), bar.BarColumn(), bar.MofNCompleteColumn(),
                                      _rate_column(), bar.TimeRemainingColumn(), console=Console(file=sys.stderr),
                                      transient=True, auto_refresh=False, redirect_stdout=False,
                                      redirect_stderr=False)
        self._task = self._progress.add_task("checking", total=total)
        self._stdout_is_terminal = sys.stdout.isatty()
        self._drawn = 0.0

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def hidden(self, err: bool, out: bool) -> Iterator[None]:
        """Take the bar off the terminal while printing there (``err``/``out``: what will print)."""
        if not (err or (out and self._stdout_is_terminal)):
            yield
            return
        self._progress.stop()
        try:
            yield
        finally:
            self._progress.start()

    def advance(self) -> None:
        import time

        self._progress.advance(self._task)
        if time.monotonic() - self._drawn >= 0.1 or self._progress.finished:
            self._progress.refresh()
            self._drawn = time.monotonic()


def _rate_column() -> "ProgressColumn":
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} proposals/s" if speed else "", style="progress.data.speed")

    return Rate()


def _progress(total: int) -> _NoBar:
    """A progress bar when there are several proposals and stderr is a terminal (never in CI)."""
    return _Bar(total) if total > 1 and sys.stderr.isatty() else _NoBar()


def _print_problems(exc: EvaluatorError) -> None:
    _print_problem_list(exc.problems)


def _print_problem_list(problems: Sequence[Problem]) -> None:
    if not problems:
        return
    from evaluator.textsafe import visible

    for problem in problems:
        typer.echo(f"error: {visible(str(problem))}", err=True)


def _fail(exc: EvaluatorError) -> NoReturn:
    _print_problems(exc)
    raise typer.Exit(EXIT_ERROR)


def _app_for(args: list[str]) -> typer.Typer:
    """``app``, or for a top-level command named first (``sandbox check ...``) a copy of ``app``
    holding only that command. Typer converts the signature of every command on each start
    (13 ms for all of them, 6 ms for ``check`` alone); parsing, help and errors of one command
    do not depend on the others."""
    import copy

    from typer.main import get_command_name

    chosen = [info for info in app.registered_commands
              if args and (info.name or get_command_name(info.callback.__name__ if info.callback else "")) == args[0]]
    if not chosen:
        return app
    narrowed = copy.copy(app)
    narrowed.registered_commands = chosen
    narrowed.registered_groups = []
    return narrowed


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the program is, so that it stops as after Ctrl-C: worker
    processes are stopped and staged reports removed (``finally`` blocks run), which the
    signals' default action, an immediate exit, skips. Not a ``KeyboardInterrupt``, which typer
    turns into exit code 130 without a word."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    try:
        previous = {stop: signal.signal(stop, _raise_terminated) for stop in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread (an embedding program): keep its handlers
        previous = {}
    try:
        return _main(argv)
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def _main(argv: list[str] | None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Without standalone mode, an Exit raised by a command comes back as the return value.
        result = _app_for(argv if argv is not None else sys.argv[1:])(args=argv, prog_name="sandbox",
                                                                       standalone_mode=False)
    except typer.Exit as done:
        return int(done.exit_code)
    except Terminated as stopped:
        sys.stderr.write(f"stopped by {signal.Signals(stopped.signum).name}\n")
        return 128 + stopped.signum
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("stopped by SIGINT\n")
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
    if result == EXIT_INTERRUPTED:  # Ctrl-C: typer turns it into this exit code without a word
        sys.stderr.write("stopped by SIGINT\n")
    return result if isinstance(result, int) else EXIT_OK


def console_main() -> None:
    """The ``sandbox`` console script (and ``python -m evaluator``)."""
    code = main()
    batch = sys.modules.get("evaluator.batch")
    if batch is not None and batch.pool_abandoned():  # see batch._Pool.stop: a normal exit would hang
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console_main()

"""Checking an intake: every proposal, in this process or in worker processes, in input order.

``outcomes`` yields one ``Outcome`` per proposal, in the order given, whatever order the
workers finish in, so the output is the same for any number of workers. A worker does the heavy
work for its proposals: it checks each one, renders what will be printed and, with a report
directory, renders and stages that proposal's HTML and Markdown reports; it hands back only
what the parent needs (an ``Outcome``: no report, except for ``--template``). The parent (the
CLI) prints, names the report files and commits them, all or nothing, at the end.

With one proposal, or one job, everything runs in this process: a single check never pays
for a pool. Otherwise the pool is a ``ProcessPoolExecutor`` (forked on Linux, before this
process builds any ``Session``; each worker builds its own once). A worker that dies (say, a
crash in the C rule engine) breaks the pool: the proposals it may have been checking are checked
again one at a time to find the one that kills a worker, which is reported as an error; the
rest of the intake goes on in a new pool.
"""

from __future__ import annotations

import sys
import traceback
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluator.errors import EvaluatorError, Problem
from evaluator.records import record

if TYPE_CHECKING:
    from concurrent.futures import Future

    from evaluator.loader import Limits
    from evaluator.pipeline import Session
    from evaluator.render import StagedReports, SummaryRow
    from evaluator.results import Report

Item = tuple[int, Path]  # a proposal's position in the intake, and its file
MAX_CHUNK = 8  # proposals per task at most: big enough to hide the hand-over, small enough to stream


@record
class Options:
    """How to check and what each proposal's ``Outcome`` carries; sent once to every worker."""

    rule_dirs: tuple[Path, ...]
    framework: str | None
    policy_path: Path | None
    limits: Limits
    fail_on: str
    output: str = "text"  # text, json, markdown, html; "" prints nothing per proposal
    single: bool = True  # one proposal: JSON is an object, not a list item
    color: bool = False
    verbose: bool = False
    keep_report: bool = False  # hand back the whole report (a custom template needs all of them)
    summary: bool = False  # hand back a summary row
    staging: Path | None = None  # render and stage each proposal's reports here
    debug: bool = False


@record
class Outcome:
    """One proposal's result as the parent needs it."""

    path: Path
    problems: tuple[Problem, ...] = ()  # why the proposal could not be checked (input errors)
    internal: str = ""  # or the message of an internal error (a bug), or of a worker that died
    trace: str = ""  # that error's traceback, with --debug
    passed: bool = True  # the decision passes --fail-on
    proposal_id: str = ""
    output: str | None = None  # what to print for this proposal
    report: dict[str, Any] | None = None  # the report itself, only with ``keep_report``
    row: SummaryRow | None = None
    staged: dict[str, str] | None = None  # staged report file per format (``render.stage_report``)
    identity: str = ""  # what its report files are made from (``render.report_identity``), when staged
    write_error: str = ""  # why staging the reports failed

    @property
    def checked(self) -> bool:
        """True when the proposal got a decision."""
        return not (self.problems or self.internal)


@dataclass
class Tally:
    """What the parent keeps across a run: counts and small rows, not the reports (except the
    ones ``keep_report`` asks for); it names the staged report files in input order."""

    stage: StagedReports | None = None
    checked: int = 0
    passed: bool = True
    errors: bool = False
    write_error: str = ""
    rows: list[SummaryRow] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        """Count one proposal's outcome (call in input order)."""
        if not outcome.checked:
            self.errors = True
            return
        self.checked += 1
        self.passed = self.passed and outcome.passed
        self.write_error = self.write_error or outcome.write_error
        if outcome.row is not None:
            self.rows.append(outcome.row.shared())
        if outcome.report is not None:
            self.reports.append(outcome.report)
        if self.stage is not None:
            self.stage.add(outcome.proposal_id, outcome.staged, outcome.identity)


class SetupFailed(Exception):
    """The rule packs or the policy are broken: raised in a worker, reported by the parent."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        super().__init__(problems)
        self.problems = problems


def outcomes(paths: Sequence[Path], options: Options, jobs: int) -> Generator[Outcome, None, None]:
    """Every proposal's ``Outcome``, in the order of ``paths``; raises ``EvaluatorError`` when the
    rule packs or policy are broken. Close the iterator when done (it stops the workers)."""
    items = list(enumerate(paths))
    if jobs <= 1 or len(items) <= 1:
        return _in_process(items, options)
    return _pooled(items, options, min(jobs, len(items)))


def new_session(options: Options) -> Session:
    """The ``Session`` for ``options`` (rule packs and policy loaded; raises ``EvaluatorError``)."""
    from evaluator.pipeline import Session

    return Session(options.rule_dirs, options.framework, options.policy_path, options.limits)


def check_one(session: Session, options: Options, item: Item) -> Outcome:
    """Check one proposal and do its share of the output; an error in it is its outcome."""
    index, path = item
    try:
        return _finish(session.check(path, _needs_all_evidence(options)), options, index, path)
    except EvaluatorError as exc:
        return Outcome(path, problems=tuple(exc.problems))
    except Exception as exc:  # noqa: BLE001 -- one proposal's bug must not stop the batch
        return Outcome(path, internal=internal_message(path, exc),
                       trace=traceback.format_exc() if options.debug else "")


def _needs_all_evidence(options: Options) -> bool:
    """Whether an output shows the evidence of passed and not-applicable findings too."""
    return options.output == "json" or options.verbose or options.keep_report


def internal_message(path: Path, exc: Exception) -> str:
    """The error line for an internal error while checking ``path``."""
    from evaluator.textsafe import visible

    return (f"error: {path}: internal error while checking this proposal ({type(exc).__name__}: "
            f"{visible(str(exc))}). This is a bug in sandbox; the other proposals were still checked. "
            "Please report it with this file (run with --debug for the traceback).")


def died_message(path: Path, exit_code: int | None) -> str:
    """The error line for a proposal whose worker process died while checking it."""
    import signal

    how = "stopped"
    if exit_code is not None and exit_code < 0:
        try:
            how = f"was killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            how = f"was killed by signal {-exit_code}"
    elif exit_code:
        how = f"exited with code {exit_code}"
    return (f"error: {path}: the worker process checking this proposal {how}; the proposal was not "
            "checked, the other proposals were. This is a bug in sandbox or its rule engine; please "
            "report it with this file.")


def _finish(report: Report, options: Options, index: int, path: Path) -> Outcome:
    """The outcome of a checked proposal: printable output, summary row, staged reports."""
    data = report.to_dict(trace=options.output == "json" or options.keep_report)
    pages = _pages(data, options)
    staged, write_error = _stage(pages, options.staging, index)
    return Outcome(path, passed=report.passes(options.fail_on), proposal_id=data["proposal"]["id"],
                   output=_printable(data, options, pages), report=data if options.keep_report else None,
                   row=_row(data) if options.summary else None, staged=staged,
                   identity=_identity(data) if options.staging is not None else "", write_error=write_error)


def _pages(data: dict[str, Any], options: Options) -> dict[str, str]:
    """The report rendered as Markdown and HTML where printing or staging needs it."""
    if options.staging is None and options.output not in ("markdown", "html"):
        return {}
    from evaluator.render import REPORT_TEMPLATES, render_report

    wanted = REPORT_TEMPLATES if options.staging is not None else {options.output: None}
    return {fmt: render_report(data, fmt) for fmt in wanted}


def _printable(data: dict[str, Any], options: Options, pages: dict[str, str]) -> str | None:
    """What to print for this proposal (None: nothing)."""
    if options.output == "text":
        from evaluator.textout import render_text

        return render_text(data, options.color, options.verbose)
    if options.output == "json":
        from evaluator.render import json_list_item, to_json

        return to_json([data], single=True) if options.single else json_list_item(data)
    return pages.get(options.output)


def _row(data: dict[str, Any]) -> SummaryRow:
    from evaluator.render import summary_row

    return summary_row(data)


def _identity(data: dict[str, Any]) -> str:
    from evaluator.render import report_identity

    return report_identity(data)


def _stage(pages: dict[str, str], staging: Path | None, index: int) -> tuple[dict[str, str] | None, str]:
    """Stage this proposal's reports; returns the staged names, or the reason it failed."""
    if staging is None:
        return None, ""
    from evaluator.render import stage_report

    try:
        return stage_report(pages, staging, str(index)), ""
    except OSError as exc:
        return None, exc.strerror or str(exc)


def framing(output: str, single: bool) -> tuple[str, str, str]:
    """How printed outputs are framed: before the first, between two, after the last.

    The same text as printing them all at once (``"\\n".join`` of text reports, ``to_json``...).
    """
    if output == "json" and not single:
        from evaluator.render import JSON_LIST_FRAMING

        return JSON_LIST_FRAMING
    return "", {"text": "\n", "markdown": "\n---\n\n"}.get(output, ""), ""


def _in_process(items: list[Item], options: Options) -> Generator[Outcome, None, None]:
    session = new_session(options)
    if len(items) > 1:
        tune_collector()
    for item in items:
        yield check_one(session, options, item)


# ----- the pool (parent side) -----

class _Broken(Exception):
    """A worker died: the pool is unusable; ``left`` are the tasks handed out and not yet read."""

    def __init__(self, left: list[tuple[list[Item], Future[list[Outcome]]]]) -> None:
        super().__init__("a worker process died")
        self.left = left


def _pooled(items: list[Item], options: Options, workers: int) -> Generator[Outcome, None, None]:
    """Outcomes from a pool of ``workers`` processes, in order; a new pool after a worker dies."""
    size = max(1, min(MAX_CHUNK, len(items) // (workers * 8)))
    chunks = deque(items[start:start + size] for start in range(0, len(items), size))
    while chunks:
        pool = _Pool(options, workers)
        try:
            yield from pool.ordered(chunks, window=2 * workers)
            return
        except _Broken as broken:
            left = broken.left
        finally:
            pool.stop()
        yield from _recover(left, options)


def _recover(left: list[tuple[list[Item], Future[list[Outcome]]]], options: Options) -> Iterator[Outcome]:
    """After a worker died: keep what finished; check the rest one at a time, alone in a pool,
    so that the proposal that kills a worker is found (it is reported, the others are checked)."""
    pool: _Pool | None = None
    try:
        for chunk, future in left:
            if future.done() and not future.cancelled() and future.exception() is None:
                yield from future.result()
                continue
            for item in chunk:
                pool = pool or _Pool(options, 1)
                outcome = pool.one(item)
                if outcome is None:  # it died again: this proposal kills its worker
                    outcome = Outcome(item[1], internal=died_message(item[1], pool.exit_code()))
                    pool.stop()
                    pool = None
                yield outcome
    finally:
        if pool is not None:
            pool.stop()


#: Seconds ``_Pool.stop`` waits for the workers to finish the tasks in hand.
STOP_WAIT = 5.0
_ABANDONED: list[Any] = []  # pools whose executor never finished shutting down


def pool_abandoned() -> bool:
    """Whether a pool had to be abandoned: its executor's thread never ends, and the interpreter
    waits for it at exit, so the process must end with ``os._exit`` (``cli.console_main``)."""
    return bool(_ABANDONED)


class _Pool:
    """A process pool whose workers each hold a ``Session``; stopped hard when abandoned."""

    def __init__(self, options: Options, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        for stream in (sys.stdout, sys.stderr):  # a forked child must not print our buffered output again
            stream.flush()
        context = None
        if sys.platform == "linux":
            context = multiprocessing.get_context("fork")
            _preload(options)
        self._executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                             initargs=(options,))
        self._processes: list[Any] = []

    def ordered(self, chunks: deque[list[Item]], window: int) -> Iterator[Outcome]:
        """The outcomes of ``chunks`` (taken from the left) in order, ``window`` chunks handed out."""
        pending: deque[tuple[list[Item], Future[list[Outcome]]]] = deque()
        self._hand_out(chunks, pending, window)
        while pending:
            outcomes = self._result(pending[0][1])
            if outcomes is None:
                raise _Broken(list(pending))
            pending.popleft()
            self._hand_out(chunks, pending, window)  # before the parent prints: workers stay busy
            yield from outcomes

    def _hand_out(self, chunks: deque[list[Item]], pending: deque[tuple[list[Item], Future[list[Outcome]]]],
                  window: int) -> None:
        while chunks and len(pending) < window:
            chunk = chunks.popleft()
            pending.append((chunk, self._submit(chunk)))

    def one(self, item: Item) -> Outcome | None:
        """Check one proposal and wait for it; None when the worker died."""
        outcomes = self._result(self._submit([item]))
        return None if outcomes is None else outcomes[0]

    def exit_code(self) -> int | None:
        """The exit code of the (first) worker that is gone, once the pool broke."""
        import time

        for process in self._processes:
            process.join(timeout=5)
            # The executor's own thread reaps dead workers too; when it wins that race our poll
            # sees no child and says "still running" once, so look again for a moment.
            for _ in range(50):
                if process.exitcode is not None:
                    return int(process.exitcode)
                time.sleep(0.02)
        return None

    def stop(self) -> None:
        """Shut the pool down: tasks not started are cancelled, the ones in hand are finished.

        Workers are not terminated: one killed while sending its result leaves half a message in
        the result pipe, and the executor then waits for the rest forever (seen once in ten
        Ctrl-C runs). A task is at most ``MAX_CHUNK`` proposals, so this takes well under a
        second; a second Ctrl-C (or SIGTERM, ``cli.Terminated``) kills the workers outright.
        Workers can also die mid-message by themselves (SIGTERM sent to the whole process
        group): after ``STOP_WAIT`` seconds the workers are killed and the pool is abandoned
        (``pool_abandoned``), since the executor would also hold up the interpreter's exit.
        """
        import threading

        stopper = threading.Thread(target=self._executor.shutdown, kwargs={"wait": True, "cancel_futures": True},
                                   name="sandbox-pool-stop", daemon=True)
        try:
            stopper.start()
            stopper.join(STOP_WAIT)
        except BaseException:  # a second Ctrl-C or SIGTERM: no more waiting
            self._abandon()
            raise
        if stopper.is_alive():
            self._abandon()

    def _abandon(self) -> None:
        for process in self._processes:
            process.kill()
        for process in self._processes:  # reaped here: the executor that would have is stuck
            process.join(1)
        _ABANDONED.append(self)

    def _submit(self, chunk: list[Item]) -> Future[list[Outcome]]:
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        try:
            future = self._executor.submit(_check_chunk, chunk)
        except BrokenProcessPool as exc:
            future = Future()
            future.set_exception(exc)
        if not self._processes:  # (forked at the first submit; kept to stop them and read exit codes)
            self._processes = list((getattr(self._executor, "_processes", None) or {}).values())
        return future

    @staticmethod
    def _result(future: Future[list[Outcome]]) -> list[Outcome] | None:
        """The chunk's outcomes; None when the pool broke; ``EvaluatorError`` for broken rules."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            return None
        except SetupFailed as failed:
            raise EvaluatorError(list(failed.problems)) from None


def _preload(options: Options) -> None:
    """Before forking: import the checking code and compile the report templates once, here,
    for every worker to inherit (no ``Session``: each worker builds its own)."""
    import importlib

    from evaluator.render import REPORT_TEMPLATES, compile_templates

    for module in ("evaluator.pipeline", "evaluator.textout" if options.output == "text" else "evaluator.render"):
        importlib.import_module(module)
    compile_templates(REPORT_TEMPLATES if options.staging is not None else {options.output} & REPORT_TEMPLATES.keys())


# ----- the workers -----

_WORKER: dict[str, Any] = {}


def _start_worker(options: Options) -> None:
    """Pool initializer: leave Ctrl-C to the parent (it stops the pool), let SIGTERM and SIGHUP
    end this worker at once, exit if the parent dies, and build this worker's ``Session`` once.

    SIGTERM must keep its default action: the executor terminates the other workers with it
    when one dies (ignoring it hung the pool's shutdown on Python 3.12), and the handler
    inherited from the parent (``cli.Terminated``) would raise inside a task instead.
    """
    import os
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_DFL)
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="sandbox-parent-watch", daemon=True).start()
    _WORKER["options"] = options
    try:
        _WORKER["session"] = new_session(options)
    except Exception as exc:  # noqa: BLE001 -- reported to the parent with the first task
        _WORKER["error"] = exc
    tune_collector()


EXIT_ORPHANED = 3  # a worker's exit code when it outlived the sandbox process


def _exit_with(parent: int) -> None:
    """Exit this worker once ``parent`` is gone (say, killed with SIGKILL). Nothing else would
    end it: its siblings hold the task pipe open, so it would wait for a task forever."""
    import os
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(EXIT_ORPHANED)


def tune_collector() -> None:
    """Before checking many proposals: the rulebooks, templates and code loaded so far live as
    long as the process, so the cyclic garbage collector stops re-scanning them (``gc.freeze``),
    and it runs less often, since checking allocates many short-lived objects that reference
    counting frees anyway (together about a fifth less time per proposal, measured with
    reports). A young generation of 100,000 objects saved 6 % more in one process but raised
    the peak memory of two workers by 50 MiB, and their scaling fell from 2.0x to 1.75x."""
    import gc

    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _check_chunk(items: list[Item]) -> list[Outcome]:
    """A worker's task: check a few proposals."""
    error = _WORKER.get("error")
    if isinstance(error, EvaluatorError):
        raise SetupFailed(tuple(error.problems))
    if error is not None:
        raise error
    return [check_one(_WORKER["session"], _WORKER["options"], item) for item in items]

"""``sandbox check --jobs N``: the same output for any N, in input order; errors stay per proposal;
reports all or nothing; a progress bar only on a terminal.

Workers are forked from the test process, so a monkeypatch made here reaches them too.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from evaluator.cli import main
from evaluator.pipeline import Session

from conftest import EXAMPLES, MINI, MINIMAL_PROPOSAL, ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked (and inherit patches) on Linux")

RULES = ["--rules", str(MINI)]
BAD = {"zz-syntax.yaml": "a: [1\n", "zz-schema.yaml": "descriptor_version: 1\nmetadat: {}\n"}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def bad_lines(directory: Path) -> list[str]:
    """What the two broken files print, in input order (after every example)."""
    return [f"error: {directory}/zz-schema.yaml:1:1: [(top level)] 'applicant' is required",
            f"error: {directory}/zz-schema.yaml:1:1: [(top level)] 'metadata' is required",
            f"error: {directory}/zz-schema.yaml:2:1: [metadat] unknown key 'metadat' (did you mean 'metadata'?)",
            f"error: {directory}/zz-syntax.yaml:2:1: YAML syntax error: while parsing a flow sequence did not "
            "find expected ',' or ']'"]


@pytest.fixture
def intake(tmp_path: Path) -> Path:
    """The shipped examples and two broken files."""
    directory = tmp_path / "intake"
    directory.mkdir()
    for example in EXAMPLES.glob("*.yaml"):
        (directory / example.name).write_bytes(example.read_bytes())
    for name, text in BAD.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def mini(tmp_path: Path) -> list[Path]:
    """Four small proposals for the mini pack: p1, p2, p3 and p1 again (report names p1, p1-2)."""
    directory = tmp_path / "mini"
    directory.mkdir()
    paths = []
    for name, proposal_id in (("a.yaml", "p1"), ("b.yaml", "p2"), ("c.yaml", "p3"), ("d.yaml", "p1")):
        path = directory / name
        path.write_text(MINIMAL_PROPOSAL.replace("id: p1", f"id: {proposal_id}"), encoding="utf-8")
        paths.append(path)
    return paths


def contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def direct_reports(paths: list[Path], rules: tuple[Path, ...] = ()) -> list[dict[str, Any]]:
    """The reports, checked in this process without the CLI."""
    session = Session(rules)
    return [session.check(path).to_dict() for path in paths]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_jobs_1_and_2_print_and_write_exactly_what_one_process_renders(
        capsys: pytest.CaptureFixture[str], intake: Path, tmp_path: Path, fmt: str) -> None:
    from evaluator.render import to_json, write_reports
    from evaluator.textout import render_text

    reports = direct_reports(sorted(p for p in intake.glob("*.yaml") if p.name not in BAD))
    expected_out = to_json(reports, single=False) if fmt == "json" else "\n".join(
        render_text(r, color=False) for r in reports)
    expected_files = tmp_path / "expected"
    write_reports(reports, expected_files)
    assert len(contents(expected_files)) == 36
    for jobs in ("1", "2"):
        out_dir = tmp_path / f"reports-{jobs}"
        code, out, err = run(capsys, "check", str(intake), "--format", fmt, "--report-dir", str(out_dir),
                             "--jobs", jobs)
        assert code == 2
        assert out == expected_out
        assert err.splitlines() == [*bad_lines(intake), f"wrote 36 report files to {out_dir}"]
        assert contents(out_dir) == contents(expected_files)


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_markdown_and_html_are_the_same_for_any_number_of_jobs(
        capsys: pytest.CaptureFixture[str], mini: list[Path], fmt: str) -> None:
    from evaluator.render import render_report, render_summary

    reports = direct_reports(mini, (MINI,))
    expected = ("\n---\n\n".join(render_report(r, fmt) for r in reports) if fmt == "markdown" else
                render_summary([{**r, "files": {"html": "", "md": ""}} for r in reports], fmt))
    for jobs in ("1", "2"):
        assert run(capsys, "check", *map(str, mini), *RULES, "--format", fmt, "--jobs", jobs) == (1, expected, "")


def test_a_custom_template_sees_every_report_for_any_number_of_jobs(
        capsys: pytest.CaptureFixture[str], mini: list[Path], tmp_path: Path) -> None:
    template = tmp_path / "ids.j2"
    template.write_text("{{ report.proposal.id }}={{ report.decision }};", encoding="utf-8")
    for jobs in ("1", "2"):
        assert run(capsys, "check", *map(str, mini), *RULES, "--template", str(template), "--jobs", jobs) == (
            1, "p1=revise;p2=revise;p3=revise;p1=revise;", "")


def test_output_keeps_the_input_order_whatever_finishes_first(
        capsys: pytest.CaptureFixture[str], mini: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    original = Session.check

    def first_is_slow(self: Session, path: Any, *args: Any) -> Any:
        if Path(path).name == "a.yaml":
            time.sleep(0.5)  # the other worker finishes b, c and d meanwhile
        return original(self, path, *args)

    monkeypatch.setattr(Session, "check", first_is_slow)
    code, out, err = run(capsys, "check", *map(str, mini), *RULES, "--format", "json", "--jobs", "2")
    assert (code, err) == (1, "")
    assert [(r["proposal"]["id"], Path(r["proposal"]["path"]).name) for r in json.loads(out)] == [
        ("p1", "a.yaml"), ("p2", "b.yaml"), ("p3", "c.yaml"), ("p1", "d.yaml")]


def test_an_internal_error_in_a_worker_does_not_stop_the_others(
        capsys: pytest.CaptureFixture[str], mini: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    original = Session.check

    def flaky(self: Session, path: Any, *args: Any) -> Any:
        if Path(path).name == "b.yaml":
            raise RuntimeError("boom")
        return original(self, path, *args)

    monkeypatch.setattr(Session, "check", flaky)
    out_dir = tmp_path / "reports"
    code, out, err = run(capsys, "check", *map(str, mini), *RULES, "--format", "json", "--jobs", "2",
                         "--report-dir", str(out_dir))
    assert code == 2
    assert [r["proposal"]["id"] for r in json.loads(out)] == ["p1", "p3", "p1"]
    assert err.splitlines() == [
        f"error: {mini[1]}: internal error while checking this proposal (RuntimeError: boom). This is a bug in "
        "sandbox; the other proposals were still checked. Please report it with this file (run with --debug for "
        "the traceback).",
        f"wrote 8 report files to {out_dir}"]
    assert sorted(contents(out_dir)) == ["index.html", "p1-2.html", "p1-2.md", "p1.html", "p1.md", "p3.html",
                                         "p3.md", "summary.md"]


def test_a_worker_that_dies_is_reported_and_the_others_are_checked(
        capsys: pytest.CaptureFixture[str], mini: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    original, parent = Session.check, os.getpid()

    def crashes_on_b(self: Session, path: Any, *args: Any) -> Any:
        if Path(path).name == "b.yaml" and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # as a segfault in the C engine would
        return original(self, path, *args)

    monkeypatch.setattr(Session, "check", crashes_on_b)
    code, out, err = run(capsys, "check", *map(str, mini), *RULES, "--format", "json", "--jobs", "2")
    assert code == 2
    assert [r["proposal"]["id"] for r in json.loads(out)] == ["p1", "p3", "p1"]
    assert err == (f"error: {mini[1]}: the worker process checking this proposal was killed by SIGKILL; the "
                   "proposal was not checked, the other proposals were. This is a bug in sandbox or its rule "
                   "engine; please report it with this file.\n")


def test_broken_rules_are_reported_once_whatever_the_jobs(capsys: pytest.CaptureFixture[str], mini: list[Path],
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "rules" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("pack: {id: x}\n", encoding="utf-8")
    expected = (2, "", "".join(f"error: {bad}:1:1: [pack] '{key}' is a required property\n"
                               for key in ("effective", "framework", "title", "version")))
    for jobs in ("1", "2"):
        assert run(capsys, "check", *map(str, mini), "--rules", str(bad.parent), "--jobs", jobs) == expected


def test_one_proposal_or_one_job_never_starts_a_pool(capsys: pytest.CaptureFixture[str], mini: list[Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: Any) -> None:
        raise AssertionError("a pool was started")

    monkeypatch.setattr("evaluator.batch._Pool", no_pool)
    assert run(capsys, "check", str(mini[0]), *RULES, "--jobs", "4")[0] == 1
    assert run(capsys, "check", *map(str, mini), *RULES, "--jobs", "1")[0] == 1


def test_jobs_must_be_positive(capsys: pytest.CaptureFixture[str], mini: list[Path]) -> None:
    code, out, err = run(capsys, "check", str(mini[0]), "--jobs", "0")
    assert (code, out, err.splitlines()[-1]) == (
        2, "", "Error: Invalid value for '--jobs' / '-j': 0 is not in the range x>=1.")


def test_no_progress_bar_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str], mini: list[Path]) -> None:
    code, out, err = run(capsys, "check", *map(str, mini), *RULES, "--jobs", "2")
    assert (code, err) == (1, "")
    assert out.count("Decision: REVISE") == 4 and "\x1b" not in out and "checking" not in out


def test_a_terminal_gets_a_transient_progress_bar_and_the_same_output(mini: list[Path], tmp_path: Path) -> None:
    command = [sys.executable, "-m", "evaluator", "check", *map(str, mini), *RULES, "--jobs", "2"]
    plain = subprocess.run(command, capture_output=True, check=False, cwd=ROOT)
    master, slave = pty.openpty()
    with (tmp_path / "out").open("wb") as stdout:
        done = subprocess.run(command, stdout=stdout, stderr=slave, check=False, cwd=ROOT)
    os.close(slave)
    terminal = b""
    while chunk := _read(master):
        terminal += chunk
    os.close(master)
    assert (done.returncode, (tmp_path / "out").read_bytes()) == (plain.returncode, plain.stdout)
    assert plain.stderr == b""
    shown = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", terminal).decode()
    assert "checking" in shown and "4/4" in shown  # done/total
    assert terminal.endswith(b"\x1b[1A\x1b[2K")  # cleared at the end: nothing left on screen


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the other side is closed
        return b""


def _running_json_check(intake: Path, *options: str) -> subprocess.Popen[bytes]:
    """``sandbox check INTAKE --format json OPTIONS`` in a session of its own, once its output
    has begun: the JSON (megabytes) fills the pipe, so the run is still going afterwards."""
    process = subprocess.Popen([sys.executable, "-m", "evaluator", "check", str(intake), "--format", "json", *options],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, cwd=ROOT)
    assert process.stdout is not None
    assert process.stdout.readline() == b"[\n"
    return process


def _report_dir_with_a_previous_report(tmp_path: Path) -> Path:
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    (out_dir / "robotaxi-innopolis-2026.html").write_text("previous", encoding="utf-8")
    return out_dir


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_leaves_the_report_directory_untouched(intake: Path, tmp_path: Path, jobs: str) -> None:
    out_dir = _report_dir_with_a_previous_report(tmp_path)
    process = _running_json_check(intake, "--report-dir", str(out_dir), "--jobs", jobs)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches every process of the terminal's group
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (130, b"stopped by SIGINT\n")
    assert contents(out_dir) == {"robotaxi-innopolis-2026.html": b"previous"}  # no staging directory either
    assert not _group_alive(process.pid)  # no worker left behind


@pytest.mark.parametrize(("jobs", "stop", "group"), [("1", signal.SIGTERM, False), ("2", signal.SIGTERM, False),
                                                     ("2", signal.SIGHUP, False), ("2", signal.SIGTERM, True)])
def test_sigterm_stops_a_run_like_ctrl_c(intake: Path, tmp_path: Path, jobs: str, stop: signal.Signals,
                                         group: bool) -> None:
    # `timeout` or `docker stop` signal the sandbox process alone; a service manager, every
    # process of the group (the workers then die at once, and the sandbox process still cleans up).
    out_dir = _report_dir_with_a_previous_report(tmp_path)
    process = _running_json_check(intake, "--report-dir", str(out_dir), "--jobs", jobs)
    if group:
        os.killpg(process.pid, stop)
    else:
        process.send_signal(stop)
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (128 + stop, f"stopped by {stop.name}\n".encode())
    assert contents(out_dir) == {"robotaxi-innopolis-2026.html": b"previous"}  # no staging directory either
    assert not _group_alive(process.pid)  # the workers were stopped, not orphaned


def test_workers_exit_when_the_sandbox_process_is_killed(intake: Path) -> None:
    # SIGKILL cannot be handled: the workers notice that their parent is gone and exit.
    process = _running_json_check(intake, "--jobs", "2")
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(process.pid)


def test_a_pool_that_does_not_shut_down_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker that died while handing back its result leaves the executor waiting for the rest
    # of the message forever; stopping the pool must not wait with it.
    import threading
    from types import SimpleNamespace

    from evaluator import batch

    never = threading.Event()
    ends: list[tuple[str, int]] = []
    pool = object.__new__(batch._Pool)
    pool._executor = SimpleNamespace(shutdown=lambda wait, cancel_futures: never.wait())  # type: ignore[assignment]
    pool._processes = [SimpleNamespace(kill=lambda n=n: ends.append(("kill", n)),
                                       join=lambda timeout, n=n: ends.append(("join", n))) for n in (1, 2)]
    monkeypatch.setattr(batch, "STOP_WAIT", 0.1)
    monkeypatch.setattr(batch, "_ABANDONED", [])
    assert not batch.pool_abandoned()
    pool.stop()
    # killed, then reaped, so that none lingers as a zombie in the process group
    assert (ends, batch.pool_abandoned()) == ([("kill", 1), ("kill", 2), ("join", 1), ("join", 2)], True)
    never.set()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("failing", ["2.html", "index.html"])  # staged by a worker, or by the parent at the end
def test_a_failed_write_leaves_the_report_directory_untouched(
        capsys: pytest.CaptureFixture[str], mini: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        failing: str) -> None:
    from evaluator import render

    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    (out_dir / "p1.md").write_text("previous", encoding="utf-8")
    def disk_full_at_one_file(real: Any) -> Any:
        def write(path: Path, text: Any) -> Any:
            if path.name == failing:
                raise OSError(28, "No space left on device")
            return real(path, text)
        return write

    monkeypatch.setattr("evaluator.render._stage", disk_full_at_one_file(render._stage))  # the parent's summary
    monkeypatch.setattr("evaluator.render._write_new", disk_full_at_one_file(render._write_new))  # a worker's report
    code, out, err = run(capsys, "check", *map(str, mini), *RULES, "--report-dir", str(out_dir), "--jobs", "2")
    assert (code, out.count("Decision: REVISE")) == (2, 4)
    assert err == f"error: {out_dir}: cannot write reports: No space left on device\n"
    assert contents(out_dir) == {"p1.md": b"previous"}


def test_report_names_are_deduplicated_in_input_order(capsys: pytest.CaptureFixture[str], mini: list[Path],
                                                      tmp_path: Path) -> None:
    from evaluator.render import write_reports

    expected = tmp_path / "expected"
    write_reports(direct_reports(mini, (MINI,)), expected)
    for jobs in ("1", "2"):
        out_dir = tmp_path / f"reports-{jobs}"
        assert run(capsys, "check", *map(str, mini), *RULES, "--report-dir", str(out_dir), "--jobs", jobs)[0] == 1
        assert contents(out_dir) == contents(expected)
    assert sorted(contents(expected)) == ["index.html", "p1-2.html", "p1-2.md", "p1.html", "p1.md", "p2.html",
                                          "p2.md", "p3.html", "p3.md", "summary.md"]

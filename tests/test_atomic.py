"""``--report-dir``: a run replaces all of its files or none (issue 17).

An earlier run's reports sit in the report directory, with two files of the user's. A second
run (other titles, one proposal fewer, two more) is stopped at chosen steps of its commit, by
SIGKILL, SIGINT, SIGTERM and SIGHUP, and after each (and the recovery that follows a SIGKILL)
every report file belongs to one run, by the run id on its last line, and ``index.html`` links
exactly the reports beside it. The run under test is a subprocess started as in
tests/test_batch.py; a small wrapper counts the renames, links and unlinks of the commit and
sends the signal to itself before a chosen one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluator.cli import main
from evaluator.render import JOURNAL, recover, run_of

from conftest import EXAMPLES, MINI, MINIMAL_PROPOSAL, ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals, flock and forked workers as on Linux")

RULES = ("--rules", str(MINI))
EARLIER = [f"a{i:02}" for i in range(1, 9)] + ["gone"]
LATER = [f"a{i:02}" for i in range(1, 9)] + ["new1", "new2"]
USER_FILES = {"notes.txt": b"my notes\n", "README.md": b"# What this directory is\n"}

# Run as `python -c WRAPPER AT SIGNAL DELAY check ...`: sandbox, with every os.replace, os.link
# and os.unlink of the commit counted; before step AT it sends itself SIGNAL (AT 0: never);
# each step sleeps DELAY seconds. Prints "commit" when the commit starts, "steps N" when it ends.
WRAPPER = r"""
import os, sys, time
from evaluator import render
at, signum, delay = int(sys.argv.pop(1)), int(sys.argv.pop(1)), float(sys.argv.pop(1))
steps = [0]
def counted(real):
    def step(*args, **kwargs):
        steps[0] += 1
        if steps[0] == at:
            os.kill(os.getpid(), signum)
        time.sleep(delay)
        return real(*args, **kwargs)
    return step
commit = render.StagedReports.commit
def armed(self, rows):
    os.replace, os.link, os.unlink = counted(os.replace), counted(os.link), counted(os.unlink)
    sys.stderr.write("commit\n")
    sys.stderr.flush()
    done = commit(self, rows)
    sys.stderr.write(f"steps {steps[0]}\n")
    return done
render.StagedReports.commit = armed
from evaluator.cli import console_main
sys.argv[0] = "sandbox"
console_main()
"""


def intake(directory: Path, ids: list[str], title: str) -> Path:
    directory.mkdir(parents=True)
    for number, proposal_id in enumerate(ids):
        text = MINIMAL_PROPOSAL.replace("id: p1", f"id: {proposal_id}").replace("Test proposal", title)
        (directory / f"{number:02}.yaml").write_text(text, encoding="utf-8")
    return directory


def contents(directory: Path) -> dict[str, bytes]:
    """Every entry of ``directory``: a file's bytes, or ``DIRECTORY``."""
    return {p.name: DIRECTORY if p.is_dir() else p.read_bytes() for p in sorted(directory.iterdir())}


DIRECTORY = b"(a directory)"


def one_run(directory: Path) -> str:
    """The id of the one run whose reports fill ``directory``; fails on a mixed directory."""
    reports = {p.name for p in directory.iterdir() if p.suffix in (".html", ".md") and p.name not in USER_FILES}
    runs = {run_of(directory / name) for name in reports}
    assert len(runs) == 1 and None not in runs, f"reports of several runs: {runs}"
    linked = set(re.findall(r'href="([^"]+)"', (directory / "index.html").read_text(encoding="utf-8")))
    assert linked == reports - {"index.html", "summary.md"}
    summary = (directory / "summary.md").read_text(encoding="utf-8")
    assert set(re.findall(r"\]\(<?([^)>]+\.md)>?\)", summary)) == {n for n in reports if n.endswith(".md")} - {
        "summary.md"}
    assert {name: (directory / name).read_bytes() for name in USER_FILES} == USER_FILES
    return str(runs.pop())


def sandbox_args(proposals: Path, reports: Path) -> list[str]:
    return ["check", str(proposals), *RULES, "--jobs", "1", "--report-dir", str(reports)]


def start(proposals: Path, reports: Path, at: int, stop: int, delay: float = 0.0) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRAPPER, str(at), str(stop), str(delay),
                             *sandbox_args(proposals, reports)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, cwd=ROOT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The earlier run's report directory, and what the later run writes into a fresh one."""
    base = tmp_path_factory.mktemp("atomic")
    earlier, later = intake(base / "earlier", EARLIER, "Run A"), intake(base / "later", LATER, "Run B")
    earlier_reports = base / "earlier-reports"
    assert main(sandbox_args(earlier, earlier_reports)) == 1
    for name, data in USER_FILES.items():
        (earlier_reports / name).write_bytes(data)
    assert main(sandbox_args(later, base / "later-reports")) == 1
    shutil.copytree(earlier_reports, base / "measured")
    process = start(later, base / "measured", 0, 0)
    _, err = process.communicate(timeout=60)
    steps = re.fullmatch(rb"commit\nsteps (\d+)\nwrote 22 report files to .*\n", err)
    assert process.returncode == 1 and steps, err
    return {"later": later, "earlier_reports": earlier_reports, "earlier": contents(earlier_reports),
            "later_alone": contents(base / "later-reports"), "steps": int(steps.group(1)),
            "a": one_run(earlier_reports), "b": one_run(base / "measured")}


@pytest.fixture
def reports(runs: dict[str, Any], tmp_path: Path) -> Path:
    """A report directory holding the earlier run's reports and the user's two files."""
    directory = tmp_path / "reports"
    shutil.copytree(runs["earlier_reports"], directory)
    return directory


def test_the_runs_differ_and_each_writes_one_run_id_into_every_file(runs: dict[str, Any]) -> None:
    assert runs["a"] != runs["b"]
    later = runs["later_alone"]
    assert len(later) == 22 and {run_of_bytes(data) for data in later.values()} == {runs["b"]}
    assert later["index.html"].endswith(f"</html>\n<!-- sandbox run: {runs['b']} -->\n".encode())
    assert later["a01.md"].endswith(f".*\n\n<!-- sandbox run: {runs['b']} -->\n".encode())
    # the commit replaces 18 files (linking each first), adds 4, removes 2, plus the journal's 2 steps
    assert runs["steps"] == 18 + 22 + 2 + 2


def run_of_bytes(data: bytes) -> str:
    match = re.search(rb"<!-- sandbox run: ([0-9a-f]{16}) -->\n\Z", data)
    assert match
    return match.group(1).decode()


def test_the_later_run_replaces_the_earlier_one_and_leaves_the_users_files(
        runs: dict[str, Any], reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(sandbox_args(runs["later"], reports)) == 1
    assert capsys.readouterr().err == f"wrote 22 report files to {reports}\n"
    assert one_run(reports) == runs["b"]
    assert contents(reports) == {**runs["later_alone"], **USER_FILES}  # gone.html and gone.md removed


def kill_points(steps: int) -> Iterator[tuple[int, signal.Signals]]:
    """Before the journal, before the first move, among the moves, before the journal is
    removed (step ``steps``) and after it, for SIGKILL; a few points for the others."""
    for at in (1, 2, 3, steps // 3, steps // 2, steps - 3, steps - 1, steps, steps + 1):
        yield at, signal.SIGKILL
    for at, stop in ((1, signal.SIGINT), (steps // 2, signal.SIGINT), (steps, signal.SIGTERM),
                     (steps // 3, signal.SIGHUP)):
        yield at, stop


def test_a_run_stopped_anywhere_in_its_commit_leaves_one_runs_reports(
        runs: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = runs["steps"]
    for at, stop in kill_points(steps):
        reports = tmp_path / f"reports-{at}-{stop.name}"
        shutil.copytree(runs["earlier_reports"], reports)
        process = start(runs["later"], reports, at, stop)
        _, err = process.communicate(timeout=60)
        where = f"{stop.name} before step {at} of {steps}"
        if stop is not signal.SIGKILL:  # waits for the commit to end, then stops the run as usual
            assert process.returncode == 128 + stop, where
            assert err == b"commit\n" + f"stopped by {stop.name}\n".encode()
            assert contents(reports) == {**runs["later_alone"], **USER_FILES}, where
            continue
        assert process.returncode == -signal.SIGKILL, where
        if at > steps:  # the commit was done
            assert one_run(reports) == runs["b"], where
        else:
            assert (reports / JOURNAL).exists() == (at > 1), where
            assert recover(reports) == (at > 1), where  # as the next run does first
            assert {n: d for n, d in contents(reports).items() if not n.startswith(".")} == runs["earlier"], where
            assert one_run(reports) == runs["a"], where
        assert main(sandbox_args(runs["later"], reports)) == 1, where  # the next run sweeps the staging left
        assert contents(reports) == {**runs["later_alone"], **USER_FILES}, where
    capsys.readouterr()


def test_a_signal_from_outside_at_a_random_moment_of_a_slow_commit(runs: dict[str, Any], tmp_path: Path) -> None:
    chance = random.Random(17)
    for attempt, stop in enumerate((signal.SIGKILL, signal.SIGKILL, signal.SIGTERM)):
        reports = tmp_path / f"reports-{attempt}"
        shutil.copytree(runs["earlier_reports"], reports)
        process = start(runs["later"], reports, 0, 0, delay=0.004)
        assert process.stderr is not None
        assert process.stderr.readline() == b"commit\n"
        time.sleep(chance.uniform(0, 0.004 * runs["steps"]))
        os.killpg(process.pid, stop)
        process.communicate(timeout=60)
        recover(reports)
        assert one_run(reports) in (runs["a"], runs["b"])
        if stop is signal.SIGTERM:
            assert (process.returncode, one_run(reports)) == (128 + stop, runs["b"])


def test_the_next_run_rolls_an_interrupted_commit_back_before_anything_else(
        runs: dict[str, Any], reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    process = start(runs["later"], reports, runs["steps"] // 2, signal.SIGKILL)
    process.communicate(timeout=60)
    assert (reports / JOURNAL).exists()
    (reports / "new2.md").mkdir()  # so that this next run fails at its commit, after its recovery
    assert main(sandbox_args(runs["later"], reports)) == 2
    assert capsys.readouterr().err == (f"error: {reports}: cannot write reports: {reports}/new2.md is a directory "
                                       "in the way; no report was replaced\n")
    (reports / "new2.md").rmdir()
    assert contents(reports) == {**runs["earlier"]}  # the killed run's journal and staging are gone too


def test_a_blocked_target_is_named_and_nothing_is_replaced(
        runs: dict[str, Any], reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (reports / "new1.html").mkdir()
    (reports / "new1.html" / "inside").write_text("mine", encoding="utf-8")
    assert main(sandbox_args(runs["later"], reports)) == 2
    assert capsys.readouterr().err == (f"error: {reports}: cannot write reports: {reports}/new1.html is a "
                                       "directory in the way; no report was replaced\n")
    shutil.rmtree(reports / "new1.html")
    assert contents(reports) == runs["earlier"]


def test_a_failure_among_the_moves_puts_every_file_back(
        runs: dict[str, Any], reports: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluator import render

    real, moved = render._replace, []

    def fifth_is_refused(source: Path, target: Path, backup: Path) -> None:
        moved.append(target.name)
        if len(moved) == 5:
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        real(source, target, backup)

    monkeypatch.setattr(render, "_replace", fifth_is_refused)
    assert main(sandbox_args(runs["later"], reports)) == 2
    assert moved == ["a01.md", "a01.html", "a02.md", "a02.html", "a03.md"]
    assert capsys.readouterr().err == (f"error: {reports}: cannot write reports: {reports}/a03.md: Permission "
                                       "denied; no report was replaced\n")
    assert contents(reports) == runs["earlier"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_every_file_written_gets_the_mode_of_the_umask(runs: dict[str, Any], tmp_path: Path, umask: int,
                                                       mode: int, capsys: pytest.CaptureFixture[str]) -> None:
    previous = os.umask(umask)
    try:
        assert main(["check", str(runs["later"]), *RULES, "--jobs", "2", "--report-dir", str(tmp_path / "r")]) == 1
        assert main(["init", "--domain", "autonomous_vehicles", "-o", str(tmp_path / "skeleton.yaml")]) == 0
        assert main(["rules", "doc", *RULES, "-o", str(tmp_path / "rulebook.md")]) == 0
    finally:
        os.umask(previous)
    capsys.readouterr()
    written = [*(tmp_path / "r").iterdir(), tmp_path / "skeleton.yaml", tmp_path / "rulebook.md"]
    assert len(written) == 24
    assert {p.name: p.stat().st_mode & 0o777 for p in written} == {p.name: mode for p in written}


def test_a_report_directory_the_run_made_and_left_empty_is_removed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1\n", encoding="utf-8")
    made = tmp_path / "new" / "reports"
    assert main(["check", str(broken), "--report-dir", str(made)]) == 2
    assert "YAML syntax error" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [broken]


def test_ctrl_c_removes_the_report_directory_it_made(tmp_path: Path) -> None:
    made = tmp_path / "new" / "reports"
    process = subprocess.Popen([sys.executable, "-m", "evaluator", "check", str(EXAMPLES), "--format", "json",
                                "--jobs", "2", "--report-dir", str(made)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, cwd=ROOT)
    assert process.stdout is not None
    assert process.stdout.readline() == b"[\n"  # the run is under way (the JSON fills the pipe)
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 130
    assert list(tmp_path.iterdir()) == []


def test_staging_left_by_a_killed_run_is_swept_and_a_live_runs_is_kept(
        runs: dict[str, Any], reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead, live = reports / ".sandbox-staging-999999-dead", reports / ".sandbox-staging-999998-beef"
    for staging in (dead, live):
        staging.mkdir()
        (staging / "0.html").write_text("staged", encoding="utf-8")
    held = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_SH)  # as a running sandbox holds its own
        assert main(sandbox_args(runs["later"], reports)) == 1
        assert sorted(p.name for p in reports.iterdir() if p.name.startswith(".")) == [live.name]
    finally:
        os.close(held)
    capsys.readouterr()


def test_a_journal_that_names_other_paths_is_refused(runs: dict[str, Any], reports: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    outside = reports.parent / "outside.txt"
    outside.write_text("keep me", encoding="utf-8")
    (reports / ".sandbox-staging-1-ab").mkdir()
    journal = ('{"sandbox_commit": 1, "staging": ".sandbox-staging-1-ab", "moves": [["../outside.txt", '
               '"a01.md"]], "removed": []}')
    (reports / JOURNAL).write_text(journal, encoding="utf-8")
    assert main(sandbox_args(runs["later"], reports)) == 2
    assert capsys.readouterr().err == (f"error: {reports}: cannot write reports: {reports / JOURNAL}: not a commit "
                                       "journal this sandbox can read; if no sandbox run is writing to this "
                                       "directory, delete it\n")
    assert outside.read_text(encoding="utf-8") == "keep me"
    assert {n: d for n, d in contents(reports).items() if not n.startswith(".")} == runs["earlier"]

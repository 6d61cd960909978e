"""Measuring helpers: wall time of commands, process-tree RSS, Markdown tables."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


def sandbox_command() -> list[str]:
    """The installed ``sandbox`` console script next to this interpreter, else ``python -m evaluator``."""
    script = Path(sys.executable).parent / "sandbox"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "evaluator"]


@dataclass(frozen=True)
class Run:
    """One finished command: wall time, exit code, peak RSS of its process tree (0 if not polled)."""

    seconds: float
    returncode: int
    peak_rss: int
    stderr: str


def run(command: Sequence[str], *, poll_rss: bool = False, env: Mapping[str, str] | None = None) -> Run:
    """Run ``command`` (stdout discarded); optionally poll its process tree's RSS every 50 ms."""
    start = time.perf_counter()
    with subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=None if env is None else dict(env)) as process:
        sampler = TreeRss(process.pid) if poll_rss else None
        if sampler is not None:
            sampler.start()
        _, err = process.communicate()
        seconds = time.perf_counter() - start
        if sampler is not None:
            sampler.stop()
    return Run(seconds, process.returncode, sampler.peak if sampler else 0,
               err.decode("utf-8", "replace"))


def rss(pid: int) -> int:
    """Resident set size of one process in bytes (VmRSS), 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _children(pid: int) -> list[int]:
    """Direct children, from /proc/PID/task/*/children (or a scan of /proc when that is missing)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text(encoding="ascii").split())
        except FileNotFoundError:
            if not task.exists():
                continue  # the thread ended
            return _children_by_scan(pid)
        except (OSError, ValueError):
            continue
    return found


def _children_by_scan(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def tree_rss(pid: int) -> int:
    """Sum of VmRSS over ``pid`` and all its descendants."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += rss(current)
        todo.extend(_children(current))
    return total


class TreeRss:
    """Polls a process tree's total RSS in a thread; ``peak`` is the largest sum seen."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval)


def timed(function: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A Markdown table; columns whose index is in ``right`` are right-aligned."""
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join("---:" if i in right else "---" for i in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def us(seconds: float) -> str:
    value = seconds * 1e6
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def secs(seconds: float) -> str:
    return f"{seconds:,.1f}" if seconds >= 10 else f"{seconds:,.2f}"


def mib(size: int) -> str:
    return f"{size / MIB:,.0f}"


def last_line(text: str) -> str:
    """The last non-blank line of ``text`` (an error's message), shortened for a table cell."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return (line[:117] + "...") if len(line) > 120 else line

"""``python -m bench``: run the benchmark sections and print Markdown."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("cold", "throughput", "batch", "scaling")


@dataclass(frozen=True)
class Config:
    """What one run measures. ``quick`` shrinks every size so the whole run takes under a minute."""

    quick: bool
    runs: int
    seed: int = 20260

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return (100,) if self.quick else (1_000, 10_000)

    @property
    def memory_run(self) -> int:
        return 500 if self.quick else 10_000

    @property
    def rule_counts(self) -> tuple[int, ...]:
        return (10, 100, 1_000) if self.quick else (10, 100, 1_000, 5_000)

    @property
    def field_counts(self) -> tuple[int, ...]:
        return (10, 100, 1_000)

    @property
    def eval_budget(self) -> float:
        """Seconds spent evaluating proposals per scaling row (after a warm-up)."""
        return 0.5 if self.quick else 2.0


class Failures:
    """Measurements that could not be made; they are printed where they belong and counted."""

    def __init__(self) -> None:
        self.count = 0

    def note(self, exc: BaseException) -> str:
        self.count += 1
        text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        return "failed: " + (text[:197] + "..." if len(text) > 200 else text)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Measure sandbox and print Markdown "
                                     "tables (see bench/README.md).")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (smaller sizes, 3 runs)")
    parser.add_argument("--runs", type=int, metavar="N", help="repetitions for medians (default 11; 3 with --quick)")
    parser.add_argument("--only", action="append", metavar="SECTION",
                        help=f"run only these sections (repeatable or comma-separated): {', '.join(SECTIONS)}")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one section, for _run
    args = parser.parse_args(argv)
    chosen = [s.strip() for item in args.only or [] for s in item.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    args.sections = [s for s in SECTIONS if s in chosen] if chosen else list(SECTIONS)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    config = Config(quick=args.quick, runs=args.runs or (3 if args.quick else 11))
    # The rule-pack cache (evaluator/cache.py) lives in a temporary directory for this run, for
    # this process and every `sandbox` it starts: nothing is left in ~/.cache.
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-cache-") as cache:
        os.environ["SANDBOX_CACHE_DIR"] = cache
        try:
            if args.child:
                return min(_section(config, args.sections[0], Failures()), 100)
            return _run(config, args.sections)
        except BrokenPipeError:  # `python -m bench | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1


def _run(config: Config, sections: list[str]) -> int:
    """The header, each section, the footer. With several sections, each runs in a process of its
    own: a section that measures in process must not inherit the heap of the ones before it (the
    5,000-rule row came out a half dearer after the 10,000-proposal memory run than alone)."""
    failures = Failures()
    started = time.perf_counter()
    print("# sandbox benchmark" + (" (quick)" if config.quick else ""))
    print()
    print(_environment(config))
    for name in sections:
        print()
        sys.stdout.flush()
        if len(sections) == 1:
            _section(config, name, failures)
            continue
        command = [sys.executable, "-m", "bench", "--child", "--only", name, "--runs", str(config.runs)]
        failures.count += subprocess.run([*command, *(["--quick"] if config.quick else [])], cwd=ROOT,
                                         check=False).returncode
    print()
    print(f"Finished in {time.perf_counter() - started:,.0f} s"
          + (f"; {failures.count} measurement(s) failed." if failures.count else "."))
    return 1 if failures.count else 0


def _section(config: Config, name: str, failures: Failures) -> int:
    """Run one section here; returns the number of measurements that failed."""
    from bench import batch, cold, scaling, throughput

    runners: dict[str, Callable[[Config, Failures], None]] = {
        "cold": cold.section, "throughput": throughput.section, "batch": batch.section,
        "scaling": scaling.section,
    }
    try:
        runners[name](config, failures)
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 -- one broken section must not hide the others
        print(f"Section {name} {failures.note(exc)}")
        traceback.print_exc(file=sys.stderr)
    sys.stdout.flush()
    return failures.count


def _environment(config: Config) -> str:
    from evaluator import __version__

    revision = ""
    try:
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=False, timeout=10).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=False, timeout=10).stdout.strip()
        revision = f" at {head}{' with local changes' if dirty else ''}" if head else ""
    except (OSError, subprocess.SubprocessError):
        pass
    return (f"sandbox {__version__}{revision}; "
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} CPUs; medians of {config.runs} runs; "
            f"{time.strftime('%Y-%m-%d %H:%M')}.")

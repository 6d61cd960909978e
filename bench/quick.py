"""Quick performance snapshot: cold start and in-process throughput on the shipped examples.

Run from the repository root: ``.venv/bin/python bench/quick.py``. Prints a Markdown table.
The full benchmark (batch runs, scaling curves, memory) is tracked separately.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "robotaxi-pilot.yaml"
SANDBOX = [sys.executable, "-m", "evaluator"]


def wall_ms(command: list[str], runs: int = 11) -> float:
    """Median whole-process wall time of ``command`` in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def in_process(count: int = 400) -> float:
    """Proposals per second through load, validate, evaluate and results (examples in turn)."""
    from evaluator.pipeline import Session

    session = Session()
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    for path in examples:
        session.check(path)
    start = time.perf_counter()
    for index in range(count):
        session.check(examples[index % len(examples)])
    return count / (time.perf_counter() - start)


def alias_bomb_ms() -> float:
    """Milliseconds to refuse a "billion laughs" file (nine levels of ten aliases)."""
    from evaluator.errors import InputError
    from evaluator.loader import load_bytes

    lines = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    start = time.perf_counter()
    try:
        load_bytes("\n".join(lines).encode(), "bomb.yaml")
    except InputError:
        return (time.perf_counter() - start) * 1000
    raise AssertionError("the alias bomb was not refused")


def main() -> None:
    floor = wall_ms([sys.executable, "-c", "import yaml, jinja2, typer, durable.lang"])
    rows = [
        ("`python -c pass`", wall_ms([sys.executable, "-c", "pass"])),
        ("import floor (`yaml, jinja2, typer, durable.lang`)", floor),
        ("`sandbox check` robotaxi example, text", wall_ms([*SANDBOX, "check", str(EXAMPLE)])),
    ]
    with tempfile.TemporaryDirectory() as reports:
        rows.append(("`sandbox check` with HTML + Markdown reports",
                     wall_ms([*SANDBOX, "check", str(EXAMPLE), "--report-dir", reports])))
    print("| what | median wall time (ms) | x import floor |")
    print("| --- | ---: | ---: |")
    for label, ms in rows:
        print(f"| {label} | {ms:.0f} | {ms / floor:.2f} |")
    rate = in_process()
    print(f"\nIn-process evaluation of the shipped examples: {rate:.0f} proposals/s "
          f"({1000 / rate:.1f} ms each, parsing and validation included).")
    print(f"Refusing a billion-laughs alias bomb: {alias_bomb_ms():.1f} ms.")


if __name__ == "__main__":
    main()

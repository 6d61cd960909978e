"""Cold start: whole-process wall time of ``sandbox check`` next to the interpreter's own floor."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from bench.measure import last_line, mark, median, ms, run, sandbox_command, table
from bench.run import ROOT, Config, Failures

EXAMPLE = ROOT / "examples" / "robotaxi-pilot.yaml"
FLOOR = "import yaml, jinja2, typer, durable.lang"
TEXT_TARGET = 1.5  # x import floor
REPORTS_TARGET = 2.0


def compile_bytecode() -> None:
    """Write the evaluator's bytecode, as ``pip install`` does for an installed package.

    An editable checkout gets it on first import, unless ``PYTHONDONTWRITEBYTECODE`` is set (it
    is on the CI machine); then every start would recompile ~40 modules, and the benchmark
    would measure the compiler rather than ``sandbox``.
    """
    import compileall

    import evaluator

    compileall.compile_dir(str(Path(evaluator.__file__).parent), quiet=1)


def section(config: Config, failures: Failures) -> None:
    compile_bytecode()
    sandbox = sandbox_command()
    shown = "sandbox" if len(sandbox) == 1 else "python -m evaluator"
    print(f"## Cold start: `{shown} check examples/{EXAMPLE.name}`")
    print()
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        commands = {
            "pass": [sys.executable, "-c", "pass"],
            "floor": [sys.executable, "-c", FLOOR],
            "text": [*sandbox, "check", str(EXAMPLE)],
            "reports": [*sandbox, "check", str(EXAMPLE), "--report-dir", str(Path(tmp) / "reports")],
        }
        errors: dict[str, str] = {}
        times: dict[str, list[float]] = {key: [] for key in [*commands, "empty"]}
        for command in commands.values():  # warm-up: page cache and the rule-pack cache
            run(command)
        os.sync()  # the warm-up wrote the rule-pack cache: its write-back does not land in a row
        keys = list(commands)
        for index in range(config.runs):  # interleaved, so drift affects every row alike
            # ...and rotated, so that no row always follows the same one: in one test a start took
            # 14-17 % longer right after a heavy start than right after `python -c pass`
            for key in keys[index % len(keys):] + keys[:index % len(keys)]:
                command = commands[key]
                result = run(command)
                times[key].append(result.seconds)
                if result.returncode not in (0, 1) or (key in ("pass", "floor") and result.returncode):
                    errors[key] = f"exit {result.returncode}: {last_line(result.stderr)}"
        # After the rows with targets, not among them: each of these starts compiles every pack
        # and writes a 2 MB cache entry, and a start measured right after one took up to three
        # times as long (10 tries: median 159 ms, slowest 445 ms; after `python -c pass` 154, 161).
        for index in range(config.runs):
            env = dict(os.environ, SANDBOX_CACHE_DIR=str(Path(tmp) / f"empty-cache-{index}"))
            times["empty"].append(run(commands["text"], env=env).seconds)
    floor = median(times["floor"])
    rows = []
    labels = {
        "pass": ("`python -c pass`", None),
        "floor": (f"import floor (`python -c \"{FLOOR}\"`)", None),
        "text": ("`sandbox check`, text output", TEXT_TARGET),
        "reports": ("`sandbox check --report-dir` (HTML + Markdown reports)", REPORTS_TARGET),
        "empty": ("`sandbox check`, text, empty rule-pack cache (first start after an install or pack edit)", None),
    }
    for key, (label, target) in labels.items():
        value = median(times[key])
        ratio = value / floor
        if key in errors:
            failures.count += 1
            verdict = f"failed: {errors[key]}"
        else:
            verdict = mark(ratio <= target) if target is not None else ""
        rows.append([label, ms(value), ms(min(times[key])), f"{ratio:.2f}",
                     f"≤ {target:g}×" if target is not None else "", verdict])
    print(table(["what", "median (ms)", "min (ms)", "× import floor", "target", "met"], rows,
                right=(1, 2, 3)))
    print()
    print(f"`sandbox` is `{' '.join(sandbox)}`; each command ran {config.runs} times after one warm-up run, "
          "interleaved, the order rotated each round. The rule-pack cache lives in a temporary directory for the whole benchmark. "
          "The evaluator's bytecode is written first, as `pip install` does.")

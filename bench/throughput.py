"""In-process throughput over the shipped examples, and where the time of one check goes."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from bench.measure import mark, median, table, us
from bench.run import ROOT, Config, Failures
from evaluator.errors import InputError
from evaluator.loader import load_bytes, load_file
from evaluator.model import build_proposal
from evaluator.pipeline import Session
from evaluator.results import build_report
from evaluator.rulebook import default_rules_dir, load_packs
from evaluator.validate import validate_proposal

EXAMPLES = ROOT / "examples"
STAGES = ("parse", "load", "validate", "model", "evaluate", "report", "check", "to_dict")
LABELS = {
    "parse": "parse: PyYAML C loader (`yaml.load(text, Loader=yaml.CSafeLoader)`)",
    "load": "load: located loader (`evaluator.loader.load_file`)",
    "validate": "validate (`evaluator.validate.validate_proposal`)",
    "model": "model (`evaluator.model.build_proposal`)",
    "evaluate": "evaluate (`Session.evaluator(framework, domain).evaluate(proposal)`)",
    "report": "report (`evaluator.results.build_report`)",
}


def section(config: Config, failures: Failures) -> None:
    examples = sorted(EXAMPLES.glob("*.yaml"))
    packs = load_packs([default_rules_dir()])
    rules = sum(len(p.raw.get("derive", [])) + len(p.raw.get("require", [])) for p in packs)
    print(f"## In-process throughput: the {len(examples)} shipped examples, full shipped rulebook "
          f"({rules} rules in {len(packs)} packs)")
    print()
    start = time.perf_counter()
    Session()
    first = time.perf_counter() - start
    start = time.perf_counter()
    session = Session()
    started = time.perf_counter() - start
    for path in examples:  # warm-up: compiles every rulebook the examples use
        session.check(path)
    rates = []
    for _ in range(config.runs):
        start = time.perf_counter()
        for path in examples:
            session.check(path)
        rates.append(len(examples) / (time.perf_counter() - start))
    rate = median(rates)
    print(f"`Session().check(path)`: **{rate:,.0f} proposals/s** ({1000 / rate:.1f} ms each; median of "
          f"{config.runs} rounds over the {len(examples)} examples after a warm-up round; load, validation, "
          f"evaluation and report included). `Session()` itself took {started * 1000:,.0f} ms with the "
          f"rule-pack cache filled ({first * 1000:,.0f} ms the first time in this run).")
    print()
    per_stage = _stages(session, examples, config.runs)
    check = per_stage["check"]
    rows = [[LABELS[s], us(per_stage[s]), f"{100 * per_stage[s] / check:.0f} %"] for s in LABELS]
    total = sum(per_stage[s] for s in LABELS if s != "parse")
    rows.append(["sum of the product's stages (load to report)", us(total), f"{100 * total / check:.0f} %"])
    rows.append(["`Session.check(path)`, measured", us(check), "100 %"])
    rows.append(["(not in `check`) `Report.to_dict()`, what every output format starts from",
                 us(per_stage["to_dict"]), f"{100 * per_stage['to_dict'] / check:.0f} %"])
    c_loader = getattr(yaml, "CSafeLoader", None)
    print(f"Per stage, µs per proposal (median over {config.runs} runs of each file, mean over the files"
          + ("" if c_loader else "; **libyaml is missing: the parse row is the pure-Python SafeLoader**")
          + "):")
    print()
    print(table(["stage", "µs per proposal", "share of `check`"], rows, right=(1, 2)))
    print()
    evaluate, parse = per_stage["evaluate"], per_stage["parse"]
    print(f"Target: evaluation ≤ C-loader parse of the same YAML: {us(evaluate)} µs vs {us(parse)} µs "
          f"({evaluate / parse:.1f}× the parse) {mark(evaluate <= parse)}")
    print()
    print(f"Refusing a billion-laughs alias bomb (nine levels of ten aliases): {_alias_bomb_ms():.1f} ms.")


def _stages(session: Session, examples: list[Path], runs: int) -> dict[str, float]:
    """Seconds per proposal for each stage: the median over ``runs`` per file, averaged over files."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    clock = time.perf_counter
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for path in examples:
        text = path.read_text(encoding="utf-8")
        mine: dict[str, list[float]] = {stage: [] for stage in STAGES}
        for _ in range(runs):
            t0 = clock()
            yaml.load(text, Loader=loader)
            t1 = clock()
            document = load_file(path)
            t2 = clock()
            validate_proposal(document)
            t3 = clock()
            proposal = build_proposal(document)
            t4 = clock()
            evaluation = session.evaluator(proposal.framework, proposal.domain).evaluate(proposal)
            t5 = clock()
            report = build_report(evaluation, session.policy)
            t6 = clock()
            session.check(path)
            t7 = clock()
            report.to_dict()
            t8 = clock()
            marks = (t0, t1, t2, t3, t4, t5, t6, t7, t8)
            for index, stage in enumerate(STAGES):
                mine[stage].append(marks[index + 1] - marks[index])
        for stage in STAGES:
            samples[stage].append(median(mine[stage]))
    return {stage: sum(values) / len(values) for stage, values in samples.items()}


def _alias_bomb_ms() -> float:
    """Milliseconds to refuse a "billion laughs" file (nine levels of ten aliases)."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    start = time.perf_counter()
    try:
        load_bytes("\n".join(lines).encode(), "bomb.yaml")
    except InputError:
        return (time.perf_counter() - start) * 1000
    raise AssertionError("the alias bomb was not refused")

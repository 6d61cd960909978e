"""Scaling curves: generated rulebooks of 10 to 5,000 rules, and proposals of 10 to 1,000 fields."""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from bench import generate
from bench.measure import mark, secs, table, us
from bench.run import Config, Failures
from evaluator.batch import tune_collector
from evaluator.engine import Projection
from evaluator.evaluate import Evaluator
from evaluator.loader import Document, load_bytes
from evaluator.model import Proposal, build_proposal
from evaluator.pipeline import Session
from evaluator.validate import validate_proposal

DOMAIN = "autonomous_vehicles"
ROUND_SECONDS = 0.05  # CPU time of one timed round of evaluations, about
LINEAR = 1.25  # growth of cost over growth of size that still counts as "at most linear" (noise)


def section(config: Config, failures: Failures) -> None:
    _rules(config, failures)
    print()
    _fields(config, failures)


def _rules(config: Config, failures: Failures) -> None:
    print(f"## Scaling with the rulebook: generated packs (framework ru-elr, every domain), {DOMAIN} "
          "proposals")
    print()
    proposals = [_proposal(generate.proposal(config.seed + i, "ru-elr", DOMAIN), f"gen-{i}.yaml") for i in range(50)]
    built: list[tuple[int, list[float], Evaluator]] = []  # rule count, load timings, evaluator
    refused: dict[int, str] = {}
    with ExitStack() as stack:  # every rulebook's directory lives until all are timed
        for count in config.rule_counts:
            try:
                built.append((count, *_built(Path(stack.enter_context(tempfile.TemporaryDirectory(
                    prefix="sandbox-bench-rules-"))), count, config.seed)))
            except Exception as exc:  # noqa: BLE001 -- a limit hit at scale is a result to report
                refused[count] = failures.note(exc)
        per_eval = dict(zip([count for count, _, _ in built],
                            _evaluation_times([evaluator for _, _, evaluator in built], proposals, config.eval_budget),
                            strict=True))
    rows: list[list[str]] = []
    previous: tuple[int, float, float] | None = None
    for count in config.rule_counts:
        if count in refused:
            rows.append([f"{count:,}", refused[count], "", "", "", "", "", "", ""])
            continue
        (made, first, cached, ready), evaluator = next((t, e) for c, t, e in built if c == count)
        book = evaluator.rulebook
        growth, verdict = "", ""
        if previous is not None:
            last_count, last_eval, last_load = previous
            eval_growth = (per_eval[count] / last_eval) / (count / last_count)
            load_growth = (first / last_load) / (count / last_count)
            growth = f"{eval_growth:.2f} / {load_growth:.2f}"
            verdict = mark(eval_growth <= LINEAR and load_growth <= LINEAR)
        previous = (count, per_eval[count], first)
        rows.append([f"{count:,}", f"{len(book.derive):,} / {len(book.require):,}", secs(made), secs(first),
                     secs(cached), secs(ready), us(per_eval[count]), f"{per_eval[count] * 1e6 / count:.2f}",
                     growth + " " + verdict])
    print(table(["rules", "derive / require", "generate (s)", "load + check + compile, empty cache (s)",
                 "load, cached (s)", "evaluator ready (s)", "µs per evaluation", "µs per rule",
                 "growth vs previous row: evaluation / load (1.00 = linear)"], rows, right=(0, 2, 3, 4, 5, 6, 7)))
    print()
    print("`load + check + compile` is `Session(rule_dirs=...)` with nothing cached (reading, checking and "
          "compiling the rulebooks of every domain); `load, cached` the same again; `evaluator ready` is "
          f"`Session.evaluator('ru-elr', '{DOMAIN}')`. µs per evaluation: CPU time of `Evaluator.evaluate(proposal)` "
          f"on generated proposals, the median of rounds of about {ROUND_SECONDS * 1000:g} ms, for about "
          f"{config.eval_budget:g} s per row after a warm-up "
          "(each proposal once, every projection compiled at its first use: the steady state of a long batch, "
          "see `evaluator.engine.Projection`), with the garbage collector "
          "tuned as `sandbox check` tunes it for many proposals (`evaluator.batch.tune_collector`). "
          "The rows take their rounds in turn, so that a slow spell of the machine falls on all of them. "
          "The growth column divides "
          f"the growth of the cost by the growth of the rule count; ✓ when both are ≤ {LINEAR} (at most "
          "linear, with room for noise).")


def _fields(config: Config, failures: Failures) -> None:
    print(f"## Scaling with the proposal: generated proposals of N fields, full shipped rulebook (ru-elr, {DOMAIN})")
    print()
    session = Session()
    evaluator = session.evaluator("ru-elr", DOMAIN)
    rows: list[list[str]] = []
    for count in config.field_counts:
        try:
            data = generate.proposal_with_fields(count, seed=config.seed)
            raw = generate.to_yaml(data).encode()
            load = _median_time(partial(load_bytes, raw, "fields.yaml"), config.runs)
            document = load_bytes(raw, "fields.yaml")
            validate = _median_time(partial(validate_proposal, document), config.runs)
            proposal = build_proposal(document)
            per_eval = _evaluation_time(evaluator, [proposal], config.eval_budget)
        except Exception as exc:  # noqa: BLE001 -- a limit hit at scale is a result to report
            rows.append([f"{count:,}", failures.note(exc), "", "", "", ""])
            continue
        rows.append([f"{generate.leaf_count(data):,}", f"{len(raw):,}", us(load), us(validate), us(per_eval),
                     f"{per_eval * 1e6 / count:.1f}"])
    print(table(["fields", "YAML bytes", "load (µs)", "validate (µs)", "evaluate (µs)", "evaluate µs per field"],
                rows, right=(0, 1, 2, 3, 4, 5)))
    print()
    print("Fields are leaf values (every scalar, each item of a list of text included); past the schema's scalar "
          "fields they are items of lists (partners, hazards, KPIs, zones, ...), which rules read through "
          "quantifiers, each item asserted as its own fact.")


def _proposal(data: dict[str, Any], name: str) -> Proposal:
    document: Document = load_bytes(generate.to_yaml(data).encode(), name)
    validate_proposal(document)
    return build_proposal(document)


def _built(directory: Path, count: int, seed: int) -> tuple[list[float], Evaluator]:
    """A generated rulebook of ``count`` rules in ``directory``: the seconds to generate it, to load
    it with an empty cache and with a full one, and to get its evaluator; and the evaluator."""
    started = time.perf_counter()
    generate.rule_pack(directory, count, seed=seed)
    made = time.perf_counter() - started
    started = time.perf_counter()
    Session(rule_dirs=(directory,))
    first = time.perf_counter() - started
    started = time.perf_counter()
    session = Session(rule_dirs=(directory,))
    cached = time.perf_counter() - started
    started = time.perf_counter()
    evaluator = session.evaluator("ru-elr", DOMAIN)
    return [made, first, cached, time.perf_counter() - started], evaluator


def _evaluation_time(evaluator: Evaluator, proposals: list[Proposal], budget: float) -> float:
    """``_evaluation_times`` of one evaluator."""
    return _evaluation_times([evaluator], proposals, budget)[0]


def _evaluation_times(evaluators: list[Evaluator], proposals: list[Proposal], budget: float) -> list[float]:
    """Seconds of CPU per ``evaluate`` for each evaluator: the median over rounds of about
    ``ROUND_SECONDS`` (``proposals`` in turn), for about ``budget`` seconds each. The evaluators
    take their rounds in turn, each round sized from the warm-up to take about as long, so that
    a slow spell of the machine falls on all of them rather than on one row that the next is
    compared against. CPU time and a median, because other tenants of a shared machine shift
    wall-clock means by more than the growth a row is compared against.

    The collector is tuned as ``sandbox check`` tunes it before many proposals
    (``evaluator.batch.tune_collector``): otherwise each full collection re-scans the loaded
    rulebook, a cost that grows with the rulebook and that a batch run does not pay.
    """
    sizes: list[int] = []
    compile_after = Projection.COMPILE_AFTER
    Projection.COMPILE_AFTER = 1  # a long batch's steady state: every projection compiled in the warm-up
    try:
        for evaluator in evaluators:
            for proposal in proposals:
                evaluator.evaluate(proposal)
            sample = proposals[:10]  # timed apart from the warm-up, which compiled the projections
            started = time.process_time()
            for proposal in sample:
                evaluator.evaluate(proposal)
            each = (time.process_time() - started) / len(sample)
            sizes.append(max(1, round(ROUND_SECONDS / max(each, 1e-9))))
    finally:
        Projection.COMPILE_AFTER = compile_after
    threshold = gc.get_threshold()
    gc.collect()
    tune_collector()
    rounds: list[list[float]] = [[] for _ in evaluators]
    try:
        for number in range(max(3, round(budget / ROUND_SECONDS))):
            for evaluator, size, mine in zip(evaluators, sizes, rounds, strict=True):
                batch = [proposals[(number * size + i) % len(proposals)] for i in range(size)]
                started = time.process_time()
                for proposal in batch:
                    evaluator.evaluate(proposal)
                mine.append((time.process_time() - started) / size)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    return [statistics.median(mine) for mine in rounds]


def _median_time(function: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(max(runs, 5)):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)

"""Sources registries: rules cite instruments by id, and 'verified' means an official text."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.cli import main
from evaluator.errors import RuleFileError
from evaluator.rulebook import assemble, discover, load_packs
from evaluator.sources import load_registry

REGISTRY = """\
registry:
  framework: ru-elr
  official_hosts: [consultant.ru, government.ru]
instruments:
  258-FZ:
    title: Федеральный закон от 31.07.2020 № 258-ФЗ
    title_en: Federal Law No. 258-FZ of 31 July 2020
    language: ru
    url: https://www.consultant.ru/document/cons_doc_LAW_358738/
    kind: law
    version: as amended in 2025
"""


def pack(basis: str) -> str:
    return f"""\
pack: {{id: src, title: Sources, version: "1.0.0", framework: ru-elr, effective: "2026-01-01"}}
require:
  - id: SRC-TERM
    title: Term
    pillar: oversight
    severity: major
    check: {{field: scope.term.duration_months, op: lte, value: 36}}
    basis:
      - {basis}
    message: M.
    remediation: R.
"""


def packs_dir(tmp_path: Path, basis: str, registry: str | None = REGISTRY) -> Path:
    directory = tmp_path / "packs"
    directory.mkdir()
    (directory / "pack.yaml").write_text(pack(basis), encoding="utf-8")
    if registry is not None:
        (directory / "sources.yaml").write_text(registry, encoding="utf-8")
    load_registry.cache_clear()
    return directory


def test_a_cited_source_gives_the_basis_its_registered_title_and_url(tmp_path: Path) -> None:
    directory = packs_dir(tmp_path, "{source: 258-FZ, article: Art. 9}")
    assert [p.name for p in discover([directory])] == ["pack.yaml"]  # the registry is no pack
    [rule] = assemble(load_packs([directory]), "ru-elr", "autonomous_vehicles").require
    [basis] = rule.basis
    assert (basis.instrument, basis.article, basis.url, basis.source) == (
        "Federal Law No. 258-FZ of 31 July 2020", "Art. 9",
        "https://www.consultant.ru/document/cons_doc_LAW_358738/", "258-FZ")


def test_an_unknown_source_is_refused_at_its_line_with_a_suggestion(tmp_path: Path) -> None:
    directory = packs_dir(tmp_path, "{source: 258-F, article: Art. 9}")
    with pytest.raises(RuleFileError) as raised:
        load_packs([directory])
    [problem] = raised.value.problems
    assert (problem.line, problem.column, problem.field) == (9, 18, "require[0].basis[0].source")
    assert problem.message.startswith("unknown source '258-F' (did you mean '258-FZ'?) in ")


def test_a_source_without_a_registry_is_refused(tmp_path: Path) -> None:
    directory = packs_dir(tmp_path, "{source: 258-FZ, article: Art. 9}", registry=None)
    with pytest.raises(RuleFileError) as raised:
        load_packs([directory])
    assert raised.value.problems[0].message == ("source '258-FZ' cited, but there is no sources.yaml "
                                                "beside the pack")


def test_a_broken_registry_is_reported_with_its_position(tmp_path: Path) -> None:
    directory = packs_dir(tmp_path, "{source: 258-FZ, article: Art. 9}",
                          registry=REGISTRY.replace("kind: law", "kind: statute"))
    with pytest.raises(RuleFileError) as raised:
        load_packs([directory])
    [problem] = raised.value.problems
    assert (problem.line, problem.field) == (10, "instruments.258-FZ.kind")
    assert "'statute' is not one of" in problem.message


OFFICIAL_HOST_MESSAGE = ("packs/pack.yaml:9:52: [require[0].basis[0].url] SRC-TERM: 'verified' needs an official "
                         "text, and rapsinews.com is not among the official hosts of packs/sources.yaml; cite the "
                         "official text or mark the basis 'partial' with a note")
UNCITED_MESSAGE = ("packs/pack.yaml:9:9: [require[0].basis[0]] SRC-TERM: cite the instrument by its id in "
                   "packs/sources.yaml ('source: ID'), not by name alone")


@pytest.mark.parametrize(("basis", "expected"), [
    ('{instrument: 258-FZ, article: Art. 9, url: "http://rapsinews.com/x"}',
     [UNCITED_MESSAGE, OFFICIAL_HOST_MESSAGE]),
    ('{instrument: 258-FZ, article: Art. 9, url: "http://rapsinews.com/x", confidence: partial, note: Press.}',
     [UNCITED_MESSAGE]),
    ('{source: 258-FZ, article: Art. 9, url: "http://rapsinews.com/x"}',
     [OFFICIAL_HOST_MESSAGE.replace(":9:52:", ":9:48:")]),
    ("{source: 258-FZ, article: Art. 9}", []),
    ('{source: 258-FZ, article: Art. 9, url: "https://www.consultant.ru/document/x"}', []),
])
def test_lint_accepts_verified_only_on_an_official_host_and_citations_by_id(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, basis: str,
        expected: list[str]) -> None:
    packs_dir(tmp_path, basis)
    monkeypatch.chdir(tmp_path)
    code = main(["rules", "lint", "--rules", "packs"])
    lines = capsys.readouterr().out.splitlines()
    assert (code, lines[:-1]) == ((1 if expected else 0), expected)  # in file:line:column order


def test_the_shipped_registries_name_258_fz_by_its_2025_title() -> None:
    registry = load_registry((Path(__file__).parents[1] / "rules" / "ru-elr" / "sources.yaml").resolve())
    assert "цифровых и технологических инноваций" in registry.instruments["258-FZ"].title


def test_lint_refuses_a_blocker_that_rests_only_on_unverified_sources(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    directory = packs_dir(tmp_path, "{source: 258-FZ, article: Art. 9, confidence: unverified, note: Recalled.}")
    text = (directory / "pack.yaml").read_text(encoding="utf-8").replace("severity: major", "severity: blocker")
    (directory / "pack.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "lint", "--rules", "packs"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "packs/pack.yaml:6:15: [require[0].severity] SRC-TERM: a blocker rests only on unverified sources; read one "
        "of them (partial or verified) or make the rule major")

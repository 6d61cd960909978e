"""The per-user rule-pack cache: hits, invalidation, refusal of foreign entries, no harm on failure."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from evaluator import cache
from evaluator.pipeline import Session

from conftest import EXAMPLES, MINI


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    """A private copy of the mini pack that a test may edit."""
    directory = tmp_path / "packs"
    shutil.copytree(MINI, directory)
    return directory


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, ...]]:
    """Record every time the packs are read from source."""
    calls: list[tuple[Path, ...]] = []
    original = cache.cached

    def counting(kind: str, inputs: list[Path], build: Any) -> Any:
        def recorded() -> Any:
            calls.append(tuple(inputs))
            return build()

        return original(kind, inputs, recorded if kind == "rulebooks" else build)

    monkeypatch.setattr("evaluator.pipeline.cached", counting)
    return calls


def entries(directory: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in directory.glob("*.pickle"))


def test_a_second_session_reads_the_cache(packs: Path, cache_dir: Path, builds: list[Any]) -> None:
    Session((packs,))
    Session((packs,))
    assert (len(builds), entries(cache_dir), oct(cache_dir.stat().st_mode & 0o777)) == (
        1, ["policy", "rulebooks"], "0o700")


def test_an_edited_pack_is_read_again(packs: Path, cache_dir: Path, builds: list[Any]) -> None:
    Session((packs,))
    pack = packs / "mini.yaml"
    pack.write_text(pack.read_text(encoding="utf-8").replace("title: Minimal pack", "title: Edited pack"),
                    encoding="utf-8")
    session = Session((packs,))
    book, _ = session._packs.load(("ru-elr", "autonomous_vehicles"))
    assert (len(builds), book.packs[0].title) == (2, "Edited pack for engine tests")


def test_an_entry_others_can_write_is_ignored(packs: Path, cache_dir: Path, builds: list[Any]) -> None:
    Session((packs,))
    cache_dir.chmod(0o777)
    Session((packs,))
    assert len(builds) == 2


def test_a_corrupt_entry_is_rebuilt(packs: Path, cache_dir: Path, builds: list[Any]) -> None:
    Session((packs,))
    for entry in cache_dir.glob("rulebooks-*.pickle"):
        entry.write_bytes(b"\x80\x05truncated")
    Session((packs,))
    Session((packs,))
    assert len(builds) == 2


@pytest.mark.parametrize("setting", ["off", "0", ""])
def test_the_cache_can_be_switched_off(packs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       builds: list[Any], setting: str) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", setting)
    monkeypatch.chdir(tmp_path)
    Session((packs,))
    Session((packs,))
    assert (len(builds), list(tmp_path.rglob("*.pickle"))) == (2, [])


def test_an_unusable_cache_dir_does_no_harm(packs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            builds: list[Any]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(blocker / "cache"))
    report = Session((packs,)).check(EXAMPLES / "robotaxi-pilot.yaml")
    assert (len(builds), report.decision in {"admit", "admit_with_conditions", "revise", "reject"}) == (1, True)


def test_cached_and_fresh_sessions_give_identical_reports(cache_dir: Path) -> None:
    paths = sorted(EXAMPLES.glob("*.yaml"))
    fresh = [Session().check(p).to_dict() for p in paths]  # builds the entry
    cached = [Session().check(p).to_dict() for p in paths]  # reads it
    assert (entries(cache_dir), cached) == (["policy", "rulebooks"], fresh)


def test_old_entries_are_pruned(packs: Path, cache_dir: Path) -> None:
    pack = packs / "mini.yaml"
    text = pack.read_text(encoding="utf-8")
    for index in range(cache.KEEP + 3):
        pack.write_text(text.replace("title: Minimal pack", f"title: Pack {index}"), encoding="utf-8")
        Session((packs,))
    assert entries(cache_dir).count("rulebooks") == cache.KEEP


def test_compiled_templates_are_cached_privately_and_render_the_same(cache_dir: Path) -> None:
    import subprocess
    import sys

    script = ("from evaluator.pipeline import Session; from evaluator.render import render_report; "
              "r = Session().check('examples/robotaxi-pilot.yaml').to_dict(); "
              "print(render_report(r, 'html') + render_report(r, 'markdown'))")
    env = {"SANDBOX_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"}
    cold, warm = (subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                 cwd=EXAMPLES.parent, env=env).stdout for _ in range(2))
    templates = cache_dir / "templates"
    assert (cold == warm, len(list(templates.glob("__jinja2_*.cache"))) >= 2,
            oct(templates.stat().st_mode & 0o777)) == (True, True, "0o700")


def test_building_rulebooks_pauses_the_collector_and_always_restores_it(packs: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from evaluator.errors import EvaluatorError
    from evaluator.pipeline import CheckedPacks

    seen: list[bool] = []
    real = CheckedPacks._build.__func__  # type: ignore[attr-defined]

    def spy(cls: type[CheckedPacks], dirs: tuple[Path, ...]) -> CheckedPacks:
        seen.append(gc.isenabled())
        return real(cls, dirs)  # type: ignore[no-any-return]

    monkeypatch.setattr(CheckedPacks, "_build", classmethod(spy))
    CheckedPacks.build((packs,))
    assert (seen, gc.isenabled()) == ([False], True)
    (packs / "broken.yaml").write_text("pack: [", encoding="utf-8")
    with pytest.raises(EvaluatorError):
        CheckedPacks.build((packs,))
    assert gc.isenabled()

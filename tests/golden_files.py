"""Compare text with a golden file, or rewrite it under ``pytest --update-goldens``."""

from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, actual: str, update: bool) -> None:
    path = GOLDEN / name
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        if not update:
            raise AssertionError(f"golden file {path} was missing; it has been written, check it in")
        return
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        path.with_suffix(path.suffix + ".actual").write_text(actual, encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file (see {path.name}.actual)"

"""Writing a generated file (``rules doc -o``, ``init -o``): atomically, with a clear error."""

from __future__ import annotations

from pathlib import Path

from evaluator.errors import EvaluatorError


def write_output(path: Path, text: str, overwrite: bool = True) -> None:
    """Write ``text`` to ``path`` via a temporary file; refuse an existing file unless ``overwrite``."""
    from evaluator.render import write_atomic

    if path.is_dir():
        raise EvaluatorError(f"{path}: is a directory; give a file name")
    if path.exists() and not overwrite:
        raise EvaluatorError(f"{path}: file exists; use --force to overwrite it")
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise EvaluatorError(f"{path}: cannot write: {exc.strerror or exc}") from None

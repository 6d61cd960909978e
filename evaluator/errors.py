"""Error types. Every error a user can cause carries the file and, where known, line and field."""

from __future__ import annotations

from pathlib import Path

from evaluator.records import record


def display_path(path: str) -> str:
    """Paths under the working directory are shown relative to it, as editors expect."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


@record
class Problem:
    """One located problem in an input file (1-based line and column; 0 when unknown)."""

    file: str
    line: int
    column: int
    message: str
    field: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        field = f" [{self.field}]" if self.field else ""
        return f"{where}:{field} {self.message}" if where else self.message


class EvaluatorError(Exception):
    """Base class: a failure that the CLI reports as a message with exit code 2."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("", 0, 0, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = problems
        super().__init__("\n".join(str(p) for p in problems))


class InputError(EvaluatorError):
    """A proposal cannot be read, parsed or validated."""


class RuleFileError(EvaluatorError):
    """A rule pack or decision policy file is broken."""


class EngineError(EvaluatorError):
    """The rule engine refused or failed on an input (a bug or a limit, never silent)."""

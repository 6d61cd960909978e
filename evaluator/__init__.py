"""sandbox: evaluate regulatory-sandbox proposals against YAML rule packs.

The pipeline runs in one direction, one module per stage:
``loader`` (YAML with source positions) -> ``validate`` (JSON Schema) -> ``model``
-> ``evaluate``/``engine`` (durable_rules, behind one adapter) -> ``results`` -> ``render``
-> ``cli``.

Library use::

    from evaluator import Session
    report = Session().check("proposal.yaml")
    report.decision, report.to_dict()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["EvaluatorError", "Report", "Session", "__version__"]

if TYPE_CHECKING:
    from evaluator.errors import EvaluatorError
    from evaluator.pipeline import Session
    from evaluator.results import Report

_LAZY = {"Session": "evaluator.pipeline", "Report": "evaluator.results", "EvaluatorError": "evaluator.errors"}


def __getattr__(name: str) -> Any:
    """Import the public API on first use, so ``sandbox --version`` stays fast."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evaluator' has no attribute {name!r}")

"""Sources registries: the instruments one framework's rule packs cite, by id.

``rules/<framework>/sources.yaml`` lists each instrument once (official title in its own
language, official URL, version or date, kind); a basis cites it as ``source: ID``. The
registry also names the hosts whose pages are official texts: a basis may be ``verified`` only
with a URL on one of them (``sandbox rules lint`` checks both).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evaluator.errors import EvaluatorError, RuleFileError
from evaluator.loader import load_file
from evaluator.records import record

REGISTRY_NAME = "sources.yaml"


@record
class Instrument:
    """One cited source, as the registry describes it."""

    id: str
    title: str
    language: str
    url: str
    kind: str
    version: str
    title_en: str | None = None
    note: str | None = None


@record
class Registry:
    """A framework's instruments and official hosts; ``path`` and ``data`` locate problems."""

    framework: str
    official_hosts: tuple[str, ...]
    instruments: dict[str, Instrument]
    path: str
    data: dict[str, Any]

    def cited(self, basis: dict[str, Any]) -> Instrument | None:
        """The instrument a basis (as written in a pack) cites by ``source``, if it is registered."""
        source = basis.get("source")
        return self.instruments.get(source) if isinstance(source, str) else None

    def is_official(self, url: str) -> bool:
        """Whether ``url`` is on an official host (or a subdomain of one)."""
        host = (urlsplit(url).hostname or "").lower()
        return any(host == h or host.endswith("." + h) for h in self.official_hosts)


def registry_beside(pack_path: Path) -> Registry | None:
    """The registry in the pack's directory, if there is one."""
    candidate = pack_path.parent / REGISTRY_NAME
    return load_registry(candidate.resolve()) if candidate.is_file() else None


@cache
def load_registry(path: Path) -> Registry:
    """Read and check one registry file; raises ``RuleFileError`` with positions."""
    from evaluator.rulebook import bundled_validator, located  # rulebook imports this module

    try:
        document = load_file(path)
    except EvaluatorError as exc:
        raise RuleFileError(exc.problems) from None
    errors = list(bundled_validator("sources-v1.schema.json").iter_errors(document.data))
    if errors:
        raise RuleFileError(sorted({located(document, tuple(e.absolute_path), e.message) for e in errors},
                                   key=lambda p: (p.line, p.column)))
    data = document.data
    instruments = {key: Instrument(key, **value) for key, value in data["instruments"].items()}
    meta = data["registry"]
    return Registry(meta["framework"], tuple(meta["official_hosts"]), instruments, str(path), data)

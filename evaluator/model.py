"""Stage 3: the validated proposal as a typed value, with the fields the engine computes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from evaluator.loader import Document, PathKey, SourceMap
from evaluator.records import record

#: Computed fields: name -> (description, source paths the value is derived from).
COMPUTED_FIELDS: dict[str, tuple[str, tuple[PathKey, ...]]] = {
    "term_months": (
        "Whole months from scope.term.start to scope.term.end, rounded up.",
        (("scope", "term", "start"), ("scope", "term", "end")),
    ),
}


@record
class Proposal:
    """A schema-valid proposal. ``data`` includes a ``computed`` section (see ``COMPUTED_FIELDS``)."""

    path: str
    id: str
    title: str
    version: str
    framework: str
    domain: str
    applicant: str
    sha256: str
    data: dict[str, Any]
    source_map: SourceMap

    def value_at(self, path: PathKey) -> tuple[bool, Any]:
        """(present, value) for a path into ``data``; null counts as absent."""
        node: Any = self.data
        for part in path:
            if isinstance(node, dict):
                if not isinstance(part, str) or part not in node:
                    return False, None
            elif not (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
                return False, None
            node = node[part]
        return node is not None, node

    def source_paths(self, path: PathKey) -> tuple[PathKey, ...]:
        """The descriptor paths a (possibly computed) field comes from."""
        if path[:1] == ("computed",) and len(path) > 1 and path[1] in COMPUTED_FIELDS:
            return COMPUTED_FIELDS[str(path[1])][1]
        return (path,)


def build_proposal(document: Document) -> Proposal:
    """Turn a schema-valid document into a ``Proposal``."""
    # A new top level only: nothing downstream changes the data (the engine works on a copy).
    data = {**document.data}
    data["computed"] = _computed(data)
    meta = data["metadata"]
    return Proposal(
        path=document.path,
        id=meta["id"],
        title=meta["title"],
        version=str(meta["version"]),
        framework=meta["framework"],
        domain=meta["domain"],
        applicant=data["applicant"]["name"],
        sha256=document.sha256,
        data=data,
        source_map=document.source_map,
    )


def _computed(data: dict[str, Any]) -> dict[str, Any]:
    term = data.get("scope", {}).get("term", {})
    out: dict[str, Any] = {}
    months = months_between(term.get("start"), term.get("end"))
    if months is not None:
        out["term_months"] = months
    return out


def months_between(start: object, end: object) -> int | None:
    """Whole months from ``start`` to ``end`` (ISO dates), a started month counting as one."""
    try:
        first = dt.date.fromisoformat(str(start))
        last = dt.date.fromisoformat(str(end))
    except ValueError:
        return None
    if last < first:
        return 0
    following = last + dt.timedelta(days=1)
    months = (following.year - first.year) * 12 + following.month - first.month
    if _add_months(first, months) > following:
        months -= 1
    return months + (1 if _add_months(first, months) < following else 0)


def _add_months(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    month += 1
    length = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, length))

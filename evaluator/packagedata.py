"""Where the data shipped inside the package lives: rule packs, templates, the schema.

The evaluator needs its data as real files (Jinja's ``FileSystemLoader`` reads a directory of
templates; rule packs are read and hashed as files), which a regular or editable install
provides. ``importlib.resources`` would give the same paths, but importing it pulls in
``zipfile`` and ``tempfile``: about 7 ms of every start, for zip imports we cannot serve anyway.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def package_dir(package: str) -> Path:
    """The directory of ``package`` (``evaluator.rules``, ``evaluator.templates``, ...)."""
    return Path(importlib.import_module(package).__path__[0])

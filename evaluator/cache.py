"""A per-user cache of checked rule packs, so a start does not re-read and re-check them.

Reading, schema-checking and assembling the shipped packs takes about 0.3 s; every
``sandbox check`` needs the result, which changes only when a pack, the schemas or the
evaluator itself change. The cache key is a SHA-256 over the bytes of all of them (plus the
Python version), so an edited pack or an upgraded evaluator can never be served a stale entry.

Entries are pickles, so they are only read from a directory that this user owns and that
nobody else can write to (the same rule Jinja's bytecode cache follows); the directory is
created with mode 0700. The cache is an optimisation only: any failure to read or write it
is silent and the packs are loaded from source. ``SANDBOX_CACHE_DIR`` moves it;
``SANDBOX_CACHE_DIR=off`` disables it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import evaluator

T = TypeVar("T")
FORMAT = 2  # bump when the pickled classes change shape in a way the source hash cannot see
DISABLED = {"off", "0", "no", "false", ""}
KEEP = 8


def cache_dir() -> Path | None:
    """Where entries live, or None when caching is disabled."""
    configured = os.environ.get("SANDBOX_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in DISABLED else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "sandbox-evaluator"


def fingerprint(kind: str, inputs: Iterable[Path]) -> str:
    """SHA-256 over ``kind``, the evaluator's own files (by size and modification time: they
    change by installing or editing), and the bytes of each input file."""
    digest = hashlib.sha256(f"{kind}\0{FORMAT}\0{sys.version}\0{evaluator.__version__}\0".encode())
    for own in _own_sources():
        info = own.stat()
        digest.update(f"{own}\0{info.st_size}\0{info.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
    for path in inputs:
        digest.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached(kind: str, inputs: list[Path], build: Callable[[], T]) -> T:
    """``build()``, or the value it returned last time for byte-identical inputs."""
    directory = cache_dir()
    if directory is None:
        return build()
    try:
        entry = directory / f"{kind}-{fingerprint(kind, inputs)}.pickle"
    except OSError:
        return build()  # an input vanished: let build() report it properly
    hit = _read(entry)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    value = build()
    _write(entry, value)
    _prune(directory, kind)
    return value


def private_dir(name: str) -> Path | None:
    """A subdirectory of the cache for another cache (Jinja's bytecode), or None when the cache
    is disabled or the directory is not private to this user (the same rule as for entries)."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        (directory / name).mkdir(mode=0o700, parents=True, exist_ok=True)
        return directory / name if _private(directory) and _private(directory / name) else None
    except OSError:
        return None


def _prune(directory: Path, kind: str) -> None:
    """Keep the newest ``KEEP`` entries of a kind (each pack edit makes a new one)."""
    try:
        entries = sorted(directory.glob(f"{kind}-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in entries[KEEP:]:
            stale.unlink()
    except OSError:
        return


def _own_sources() -> list[Path]:
    package = Path(evaluator.__file__).parent
    return sorted([*package.glob("*.py"), *(package / "schema").glob("*.json")])


def _private(path: Path) -> bool:
    """Owned by this user and writable by nobody else."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(entry: Path) -> Any:
    try:
        if not (_private(entry.parent) and _private(entry)):
            return None
        with entry.open("rb") as handle:
            return pickle.load(handle)  # only from a private directory of our own entries
    except Exception:  # noqa: BLE001 -- missing, truncated or foreign: rebuild instead
        return None


def _write(entry: Path, value: object) -> None:
    import tempfile  # only when the cache is filled: a warm start does not pay for it

    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(entry.parent):
            return
        handle, name = tempfile.mkstemp(dir=entry.parent, prefix=".staged-")
        staged = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
            staged.replace(entry)
        finally:
            staged.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 -- read-only home, full disk, unpicklable value: skip caching
        return

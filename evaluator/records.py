"""``@record``: the project's immutable record classes, frozen for the type checker.

``@dataclass(frozen=True)`` generates ``__setattr__``/``__delattr__`` guards and a frozen
``__init__`` for every class when its module is imported: across the ~35 record classes that
``sandbox check`` loads, that was 15-20 ms of a 200 ms start (measured, bench/). A ``@record``
class compares and hashes by its fields exactly like a frozen dataclass, and PEP 681 declares it
frozen to type checkers, so assigning to a field is still an error, reported by mypy (which CI
runs) rather than when the assignment runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """A dataclass with field-wise ``==`` and ``hash``, frozen for type checkers."""
    return dataclass(eq=True, unsafe_hash=True)(cls)

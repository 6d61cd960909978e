"""``@record``: the project's immutable record classes, frozen for the type checker.

``@dataclass(frozen=True)`` generates ``__setattr__``/``__delattr__`` guards and a frozen
``__init__`` for every class when its module is imported, and every generated method is
compiled from source: across the ~35 record classes that ``sandbox check`` loads, that was
15-20 ms of a 200 ms start (measured, bench/). A ``@record`` class gets only its ``__init__``
generated; its ``==``, ``hash`` and ``repr`` are shared functions that read the fields through
one ``operator.attrgetter``, with the same results as a frozen dataclass's. PEP 681 declares it
frozen to type checkers, so assigning to a field is still an error, reported by mypy (which CI
runs) rather than when the assignment runs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, slots: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, slots: bool = False) -> Any:
    """A dataclass with field-wise ``==``, ``hash`` and ``repr``, frozen for type checkers.

    ``@record(slots=True)`` gives the instances ``__slots__`` and no ``__dict__``: for the
    records made by the hundred for every proposal (one object each instead of two, and less
    for the cyclic collector to visit), never for one that needs ``cached_property``.
    """
    if cls is None:
        return lambda inner: _record(inner, slots)
    return _record(cls, slots)


def _record(cls: type[T], slots: bool) -> type[T]:
    cls = dataclass(eq=False, repr=False, slots=slots)(cls)
    own = fields(cls)  # type: ignore[arg-type]  # a dataclass now
    compared = _values([f.name for f in own if f.compare])
    hashed = _values([f.name for f in own if (f.compare if f.hash is None else f.hash)])
    shown = tuple(f.name for f in own if f.repr)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compared(self) == compared(other)

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    def __repr__(self: Any) -> str:
        return f"{self.__class__.__qualname__}({', '.join(f'{name}={getattr(self, name)!r}' for name in shown)})"

    for method in (__eq__, __hash__, __repr__):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
    return cls


def _values(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving the tuple of ``names``' values of an object (always a tuple)."""
    if len(names) >= 2:
        return operator.attrgetter(*names)
    if names:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return lambda obj: ()

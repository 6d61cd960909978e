"""``@record``: field-wise equality, hash and repr, with or without ``__slots__``."""

from __future__ import annotations

import pickle
from dataclasses import field

import pytest

from evaluator.records import record


@record
class Plain:
    name: str
    items: tuple[int, ...] = ()
    note: str = field(default="", compare=False, repr=False)


@record(slots=True)
class Slotted:
    name: str
    items: tuple[int, ...] = ()
    note: str = field(default="", compare=False, repr=False)


@pytest.mark.parametrize("kind", [Plain, Slotted])
def test_a_record_compares_hashes_and_shows_its_fields(kind: type[Plain | Slotted]) -> None:
    one, same, other = kind("a", (1,), note="x"), kind("a", (1,), note="y"), kind("b")
    assert one == same and hash(one) == hash(same) and one != other
    assert repr(one) == f"{kind.__qualname__}(name='a', items=(1,))"
    assert pickle.loads(pickle.dumps(one)) == one


def test_records_of_two_classes_are_never_equal() -> None:
    assert Plain("a", (1,)) != Slotted("a", (1,))


def test_a_slotted_record_has_no_instance_dictionary() -> None:
    assert not hasattr(Slotted("a"), "__dict__") and hasattr(Plain("a"), "__dict__")
    with pytest.raises(AttributeError):
        Slotted("a").extra = 1  # type: ignore[attr-defined]

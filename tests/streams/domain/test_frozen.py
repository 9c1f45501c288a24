"""Frozen values made quickly: the same dataclass as `dataclass(frozen=True)` makes, but for its `__init__`."""

from dataclasses import FrozenInstanceError, asdict, dataclass, field, fields, replace

import pytest
from hypothesis import given, strategies as st

from streams.domain.frozen import frozen


@frozen
class Quick:
    name: str
    size: int = 0
    tags: list[str] = field(default_factory=list, hash=False)


@dataclass(frozen=True)
class Plain:
    name: str
    size: int = 0
    tags: list[str] = field(default_factory=list, hash=False)


@given(st.text(), st.integers(), st.lists(st.text()))
def test_made_as_the_frozen_dataclass_makes_it(name: str, size: int, tags: list[str]) -> None:
    """Positional or by keyword, defaults taken or not: the fields, the text and the hash a frozen dataclass gives."""
    quick, plain = Quick(name, size, tags), Plain(name, size, tags)
    assert asdict(quick) == asdict(plain) == asdict(Quick(name=name, tags=tags, size=size))
    assert repr(quick) == repr(plain).replace("Plain", "Quick")
    assert Quick(name).size == 0 and Quick(name).tags == [] and Quick(name).tags is not Quick(name).tags
    assert replace(quick, size=size + 1) == Quick(name, size + 1, tags) != quick
    assert hash(quick) == hash(Quick(name, size, list(tags))) and [f.name for f in fields(Quick)] == ["name", "size",
                                                                                                      "tags"]


def test_it_stays_frozen_and_refuses_what_it_cannot_make() -> None:
    """A field cannot be set; a missing or unknown argument is refused as the dataclass's own `__init__` refuses it;
    a class that needs `__post_init__` is refused, not made without it."""
    with pytest.raises(FrozenInstanceError):
        Quick("a").size = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick("a", colour="red")  # type: ignore[call-arg]
    with pytest.raises(AssertionError):
        @frozen
        class Checked:
            size: int

            def __post_init__(self) -> None:
                assert self.size >= 0

"""What an option allows, kept with its dataclass field: a range or a set of choices, as field metadata.

    text_temp: float = ranged(0.7, 0.01, 5.0)
    continuity: str = one_of("stable", CONTINUITY_MODES)

The options' own checks read it (check_fields), and so do the front ends that describe the options to
their users (the REST schema), so a range is written once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from .errors import InputError

RANGE = "range"
CHOICES = "choices"


def ranged(default: Any, low: float, high: float) -> Any:
    """A dataclass field whose value (when not None) lies in [low, high]."""
    return dataclasses.field(default=default, metadata={RANGE: (low, high)})


def one_of(default: str, choices: tuple[str, ...]) -> Any:
    """A dataclass field whose value is one of `choices`."""
    return dataclasses.field(default=default, metadata={CHOICES: tuple(choices)})


def field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """{field name: (its type without None, whether None is allowed)}."""
    result = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
        kinds = [a for a in args if a is not type(None)] or [hint]
        result[name] = (kinds[0], type(None) in args)
    return result


def check_fields(obj: Any) -> None:
    """InputError naming the first field whose value is outside its range or choices."""
    types_ = field_types(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        kind, optional = types_[f.name]
        if value is None and optional:
            continue
        if RANGE in f.metadata:
            check_number(f.name, value, *f.metadata[RANGE], whole=kind is int, optional=optional)
        elif CHOICES in f.metadata and value not in f.metadata[CHOICES]:
            raise InputError(f"{f.name} must be one of {', '.join(f.metadata[CHOICES])}, got {value!r}")


def check_number(name: str, value: Any, low: float, high: float, *, whole: bool, optional: bool = False) -> None:
    if value is None and optional:
        return
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        allowed = f"a {'whole number' if whole else 'number'} from {low} to {high}" + (" or empty" if optional else "")
        raise InputError(f"{name} must be {allowed}, got {value!r}")

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
    """InputError (its `field` set) for the first field outside its range or choices, or a yes/no
    field that is not a bool. The one check of every options dataclass."""
    types_ = field_types(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        kind, optional = types_[f.name]
        if value is None and optional:
            continue
        if RANGE in f.metadata:
            low, high = f.metadata[RANGE]
            if isinstance(value, bool) or not isinstance(value, int if kind is int else int | float):
                value_ok = False
            else:
                value_ok = low <= value <= high  # False for NaN too
            if not value_ok:
                allowed = f"a {'whole number' if kind is int else 'number'} from {low} to {high}"
                raise InputError(f"{f.name} must be {allowed}{' or empty' if optional else ''}, got {value!r}", f.name)
        elif CHOICES in f.metadata and value not in f.metadata[CHOICES]:
            raise InputError(f"{f.name} must be one of {', '.join(f.metadata[CHOICES])}, got {value!r}", f.name)
        elif kind is bool and not isinstance(value, bool):
            raise InputError(f"{f.name} must be true or false, got {value!r}", f.name)

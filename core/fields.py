"""What an option is, kept with its dataclass field: its label, help, unit, range or choices, as metadata.

    text_temp: float = ranged(0.7, 0.01, 5.0, "Text temperature", "higher is more varied, lower more stable")
    continuity: str = one_of("stable", CONTINUITY_MODES, "Voice across segments", "...")
    allow_early_stop: bool = option(True, "Early stop", "end a segment when Bark is done speaking")

The options' own checks read it (check_fields), and so does every front end that describes the options
to its users (the CLI's flags, the Generate form, the REST schema: `described`), so each is written once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from .errors import InputError

ABOUT = "about"  # the metadata key


@dataclass(frozen=True)
class About:
    label: str  # a few words, as a form shows it: "Text temperature"
    help: str = ""  # what it does, one phrase
    unit: str = ""  # of a number: "s", "tokens", "characters"
    group: str = ""  # where a long list of options shows it: "text (semantic) stage"
    off: str = ""  # what None means, for an option that can be None ("all", "argmax")
    range: tuple[float, float] | None = None  # a number's lowest and highest value
    choices: tuple[str, ...] | None = None  # the values a text option takes


@dataclass(frozen=True)
class Described:
    """One field, as a front end shows it: its About, with its name, type and default."""

    name: str
    kind: type  # without None: int, float, bool, str, or a nested dataclass
    optional: bool  # None is allowed (means `about.off`)
    default: Any
    about: About

    def allowed(self) -> str:
        """'from 0.01 to 5', 'one of sentence, line, ...' or ''."""
        if self.about.range is not None:
            low, high = self.about.range
            return f"from {_number(low)} to {_number(high)}"
        if self.about.choices is not None:
            return "one of " + ", ".join(self.about.choices)
        return ""


def option(default: Any, label: str, help: str = "", **more: Any) -> Any:
    """A dataclass field described for its users (`more`: About's unit, group, off)."""
    return dataclasses.field(default=default, metadata={ABOUT: About(label, help, **more)})


def ranged(default: Any, low: float, high: float, label: str, help: str = "", **more: Any) -> Any:
    """A field whose value (when not None) lies in [low, high]."""
    return dataclasses.field(default=default, metadata={ABOUT: About(label, help, range=(low, high), **more)})


def one_of(default: str, choices: tuple[str, ...], label: str, help: str = "", **more: Any) -> Any:
    """A field whose value is one of `choices`."""
    return dataclasses.field(default=default, metadata={ABOUT: About(label, help, choices=tuple(choices), **more)})


def field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """{field name: (its type without None, whether None is allowed)}."""
    result = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
        kinds = [a for a in args if a is not type(None)] or [hint]
        result[name] = (kinds[0], type(None) in args)
    return result


def described(cls: type) -> dict[str, Described]:
    """{field name: its description}, in field order, for every field that has one (core.fields' helpers)."""
    kinds = field_types(cls)
    result = {}
    for f in dataclasses.fields(cls):
        if ABOUT in f.metadata:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            result[f.name] = Described(f.name, *kinds[f.name], default, f.metadata[ABOUT])
    return result


def check_fields(obj: Any) -> None:
    """InputError (its `field` set) for the first field outside its range or choices, or a yes/no
    field that is not a bool. The one check of every options dataclass."""
    for name, d in described(type(obj)).items():
        value = getattr(obj, name)
        if value is None and d.optional:
            continue
        if d.about.range is not None:
            low, high = d.about.range
            if isinstance(value, bool) or not isinstance(value, int if d.kind is int else int | float):
                value_ok = False
            else:
                value_ok = low <= value <= high  # False for NaN too
            if not value_ok:
                allowed = f"a {'whole number' if d.kind is int else 'number'} {d.allowed()}"
                raise InputError(f"{name} must be {allowed}{' or empty' if d.optional else ''}, got {value!r}", name)
        elif d.about.choices is not None and value not in d.about.choices:
            raise InputError(f"{name} must be {d.allowed()}, got {value!r}", name)
        elif d.kind is bool and not isinstance(value, bool):
            raise InputError(f"{name} must be true or false, got {value!r}", name)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)

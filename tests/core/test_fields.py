"""Every options dataclass checks its fields one way (core.fields), and its errors name the field as data."""

from __future__ import annotations

import dataclasses

import pytest

from cloning.options import CloneOptions
from core.engine import EngineSettings
from core.errors import InputError
from core.fields import CHOICES, RANGE
from core.options import GenerationOptions
from core.textsplit import SplitOptions


def bad_values(cls: type) -> list[tuple[str, object]]:
    """(field, a value it refuses) for each field with a range or choices, and each yes/no field."""
    cases = []
    for f in dataclasses.fields(cls):
        if RANGE in f.metadata:
            cases += [(f.name, f.metadata[RANGE][1] + 1), (f.name, f.metadata[RANGE][0] - 1), (f.name, True)]
        elif CHOICES in f.metadata:
            cases.append((f.name, "no-such-choice"))
        elif f.type in (bool, "bool"):
            cases.append((f.name, "yes"))
    return cases


@pytest.mark.parametrize("cls", [GenerationOptions, SplitOptions, EngineSettings, CloneOptions])
def test_each_refused_value_names_its_field(cls):
    cases = bad_values(cls)
    assert cases
    for name, value in cases:
        with pytest.raises(InputError) as refused:
            cls(**{name: value})
        assert refused.value.field == name and str(refused.value).startswith(name), (name, value)


def test_a_split_option_of_a_generation_is_named_under_split():
    with pytest.raises(InputError) as refused:
        GenerationOptions.from_dict({"split": {"mode": "paragraphs"}})
    assert refused.value.field == "split.mode"
    with pytest.raises(InputError) as refused:
        GenerationOptions.from_dict({"split": {"goal_length": 500}})
    assert refused.value.field == "split.goal_length"


def test_cross_field_rules_name_the_field_they_refuse():
    with pytest.raises(InputError) as refused:
        GenerationOptions(coarse_history=700, coarse_window=100)
    assert refused.value.field == "coarse_history"
    with pytest.raises(InputError) as refused:
        SplitOptions(mode="regex", pattern="(a|a")
    assert refused.value.field == "pattern"

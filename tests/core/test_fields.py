"""Every options dataclass checks its fields one way (core.fields), and its errors name the field as data."""

from __future__ import annotations

import pytest

from cloning.options import CloneOptions
from core.engine import EngineSettings
from core.errors import InputError
from core.fields import described
from core.options import GenerationOptions
from core.textsplit import SplitOptions


def bad_values(cls: type) -> list[tuple[str, object]]:
    """(field, a value it refuses) for each field with a range or choices, and each yes/no field."""
    cases = []
    for name, d in described(cls).items():
        if d.about.range is not None:
            low, high = d.about.range
            cases += [(name, high + 1), (name, low - 1), (name, True)]
        elif d.about.choices is not None:
            cases.append((name, "no-such-choice"))
        elif d.kind is bool:
            cases.append((name, "yes"))
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


@pytest.mark.parametrize("cls", [GenerationOptions, SplitOptions, EngineSettings, CloneOptions])
def test_every_field_is_described_for_its_users(cls):
    """Each field but a nested options object has a label (and a number its range): what the CLI,
    the form and the REST schema show of it."""
    nested = {"split"} if cls is GenerationOptions else set()
    assert set(described(cls)) | nested == {f for f in cls.__dataclass_fields__}
    for name, d in described(cls).items():
        assert d.about.label and d.about.label[0].isupper(), name
        assert d.about.range is not None or d.kind not in (int, float), name


def test_saved_settings_with_a_retired_option_still_load():
    """Outputs saved before the no-cache path left the product carry use_kv_cache: reuse ignores it."""
    saved = GenerationOptions(text_temp=0.9).to_dict() | {"use_kv_cache": False}
    assert GenerationOptions.from_dict(saved) == GenerationOptions(text_temp=0.9)
    with pytest.raises(InputError, match="unknown generation option"):
        GenerationOptions.from_dict({"use_kv_cache_": True})

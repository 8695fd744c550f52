"""Each option is described once, with its field (core.fields), and every front end shows that description:
one CLI flag, one Generate control and one REST schema property per field, with the same label, range
and choices. (The form once offered text temperatures 0.05-1.5 while the engine took 0.01-5.)"""

from __future__ import annotations

import gradio as gr
import pytest

import bark_perform
import perform_aliases
from core.fields import Described, described
from core.options import RETIRED_OPTIONS, GenerationOptions
from core.textsplit import SplitOptions
from webui.api.bodies import OptionFields
from webui.form import SPLIT_PREFIX, ZERO_IS_OFF, advanced_controls, simple_controls

SCHEMA = OptionFields.model_json_schema()
CASES = [  # (options class, prefix of its flags' dests and controls' names, its schema properties)
    (GenerationOptions, "", SCHEMA["properties"]),
    (SplitOptions, SPLIT_PREFIX, SCHEMA["$defs"]["SplitFields"]["properties"]),
]


@pytest.fixture(scope="module")
def controls() -> dict[str, gr.Component]:
    with gr.Blocks():
        return {**simple_controls(), **advanced_controls()}


@pytest.fixture(scope="module")
def flags() -> dict[str, list]:
    """argparse dest -> the flags' actions that set it (ours: Bark Infinity's aliases left out)."""
    aliases = {*perform_aliases.VALUES, *perform_aliases.SWITCHES}
    actions: dict[str, list] = {}
    for action in bark_perform.build_parser()._actions:
        if not aliases & set(action.option_strings):
            actions.setdefault(action.dest, []).append(action)
    return actions


def value_schema(prop: dict) -> dict:
    """The schema of a property's value, without its `null` alternative."""
    return next(alt for alt in prop["anyOf"] if alt.get("type") != "null")


def test_every_field_has_one_flag_one_control_and_one_schema_property(controls, flags):
    names = {prefix + name for cls, prefix, _ in CASES for name in described(cls)}
    assert set(controls) == names | {"random_seed"}  # the seed's "random" box: seed None
    assert names <= set(flags) and all(len(flags[name]) == 1 for name in names)
    for cls, _, props in CASES:
        others = {"split", *RETIRED_OPTIONS} if cls is GenerationOptions else set()  # accepted, and ignored
        assert set(props) == set(described(cls)) | others


@pytest.mark.parametrize(("cls", "prefix", "props"), CASES)
def test_every_front_end_shows_the_fields_label_range_and_choices(controls, flags, cls, prefix, props):
    for name, d in described(cls).items():
        flag, control, prop = flags[prefix + name][0], controls[prefix + name], props[name]
        assert control.label.startswith(d.about.label) and prop["title"] == d.about.label, name
        assert flag.help.startswith(d.about.label), name
        if d.about.help:
            assert d.about.help in control.info and d.about.help in prop["description"], name
        _same_range(d, prefix + name, flag, control, value_schema(prop))
        _same_choices(d, flag, control, value_schema(prop))


def _same_range(d: Described, name: str, flag, control, schema: dict) -> None:
    if d.about.range is None:
        assert "minimum" not in schema and "maximum" not in schema, name
        return
    low, high = d.about.range
    assert (schema["minimum"], schema["maximum"]) == (low, high), name
    assert (control.minimum, control.maximum) == (0 if name in ZERO_IS_OFF else low, high), name
    assert d.allowed() in flag.help, name


def _same_choices(d: Described, flag, control, schema: dict) -> None:
    if d.about.choices is None:
        assert flag.choices is None and "enum" not in schema, d.name
        return
    assert list(flag.choices) == list(d.about.choices) == schema["enum"], d.name
    assert [value for _, value in control.choices] == list(d.about.choices), d.name


def test_the_flag_the_control_and_the_schema_start_at_the_fields_default(controls, flags):
    for cls, prefix, props in CASES:
        for name, d in described(cls).items():
            assert flags[prefix + name][0].default == d.default, name
            assert f"default {d.default!r}" in props[name]["description"], name
            if d.default is not None:
                assert controls[prefix + name].value == d.default, name

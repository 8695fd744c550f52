"""The generation controls <-> GenerationOptions mapping (no server)."""

from __future__ import annotations

import gradio as gr
import pytest

from core.errors import InputError
from core.options import GenerationOptions
from core.textsplit import SplitOptions
from webui.form import (
    advanced_controls,
    form_from_options,
    options_from_form,
    simple_controls,
)


@pytest.fixture(scope="module")
def controls() -> dict[str, gr.Component]:
    with gr.Blocks():
        return {**simple_controls(), **advanced_controls()}


def defaults(controls) -> dict:
    return {name: component.value for name, component in controls.items()}


def test_the_controls_start_at_the_defaults(controls):
    assert options_from_form(defaults(controls)) == GenerationOptions()


def test_round_trip_of_options_that_differ_from_the_defaults():
    options = GenerationOptions(
        text_temp=0.9,
        text_top_k=50,
        coarse_top_p=0.8,
        fine_temp=None,
        max_duration_s=3.5,
        seed=42,
        allow_early_stop=False,
        split=SplitOptions(mode="regex", pattern=r"\n", goal_length=80),
        continuity="reset",
        reset_every=2,
        crossfade_s=0.1,
    )
    assert options_from_form(form_from_options(options)) == options
    assert options_from_form(form_from_options(GenerationOptions())) == GenerationOptions()


def test_zero_means_off_and_numbers_become_whole(controls):
    form = defaults(controls) | {"text_top_k": 0.0, "fine_temp": 0, "coarse_history": 600.0, "random_seed": False}
    form["seed"] = 7.0
    options = options_from_form(form)
    assert (options.text_top_k, options.fine_temp, options.coarse_history, options.seed) == (None, None, 600, 7)
    assert isinstance(options.coarse_history, int) and isinstance(options.seed, int)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"coarse_window": 2.5}, "Coarse window must be a whole number"),
        ({"split_goal_length": None}, "Goal length must not be empty"),
        ({"text_temp": 9.0}, "text_temp must be"),
        ({"split_mode": "regex", "split_pattern": "("}, "not a valid regular expression"),
    ],
)
def test_bad_values_are_input_errors(controls, changes, words):
    with pytest.raises(InputError, match=words):
        options_from_form(defaults(controls) | changes)

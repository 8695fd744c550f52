"""The generation controls and their mapping onto GenerationOptions, both ways.

Each control is named after the option it sets (split options as `split_<field>`), and the
generate handler receives them as keyword arguments of those names, so no control can be shown
and then ignored: `options_from_form` reads every one, and tests check that every field of
GenerationOptions and SplitOptions has a control. Each control's label, help, unit, range and
start value are its field's (core.fields); this module only picks the widget and lays them out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gradio as gr

from core.errors import InputError
from core.fields import Described, described
from core.options import GenerationOptions
from core.textsplit import SplitOptions

DEFAULTS = GenerationOptions()
SPLIT_PREFIX = "split_"
_GENERATION = described(GenerationOptions)
_SPLIT = {SPLIT_PREFIX + name: d for name, d in described(SplitOptions).items()}
_FIELDS = {**_GENERATION, **_SPLIT}  # control name -> its field
# Options that can be off (None) but the seed (its own checkbox): their controls show 0 for off, so that
# every control has a value.
ZERO_IS_OFF = {name for name, d in _GENERATION.items() if d.optional and name != "seed"}
_WHOLE = {name for name, d in _FIELDS.items() if d.kind is int}  # Gradio hands numbers over as floats


def bounds(name: str) -> dict[str, float]:
    """The control's minimum and maximum: its option's range (core.fields), from 0 where 0 means off."""
    low, high = _FIELDS[name].about.range
    return {"minimum": 0 if name in ZERO_IS_OFF else low, "maximum": high}


def _described(name: str) -> dict[str, Any]:
    """A control's label (with the unit), info, range and start value, from its field."""
    d: Described = _FIELDS[name]
    info = [d.about.help] if d.about.help else []
    if name in ZERO_IS_OFF:
        info.append(f"0: {d.about.off}")
    shown = {"label": d.about.label + (f" ({d.about.unit})" if d.about.unit else ""), "value": _START[name]}
    if info:
        shown["info"] = " · ".join(info)
    if d.about.range is not None:
        shown.update(bounds(name))
    return shown


def _slider(name: str, step: float, **layout: Any) -> gr.Slider:
    return gr.Slider(step=step, **_described(name), **layout)


def _number(name: str, step: float = 1, **layout: Any) -> gr.Number:
    return gr.Number(precision=0 if name in _WHOLE else None, step=step, **_described(name), **layout)


def simple_controls() -> dict[str, gr.Component]:
    """Temperatures, clip length chance and the seed: the controls most people touch."""
    controls = {
        "text_temp": _slider("text_temp", 0.01),
        "waveform_temp": _slider("waveform_temp", 0.01),
        "min_eos_p": _slider("min_eos_p", 0.01),
    }
    with gr.Row():
        controls["random_seed"] = gr.Checkbox(True, label="Random seed", scale=1, elem_id="random-seed")
        # Hidden while Random is ticked (the tab shows it when unticked), so no number shows that is not used.
        controls["seed"] = _number("seed", scale=2, visible=False, elem_id="seed")
    return controls


def advanced_controls() -> dict[str, gr.Component]:
    """Every other option, per stage, then long-text splitting and joining."""
    c: dict[str, gr.Component] = {}
    with gr.Row():
        c["text_top_k"] = _number("text_top_k")
        c["text_top_p"] = _number("text_top_p", step=0.01)
        c["coarse_top_k"] = _number("coarse_top_k")
        c["coarse_top_p"] = _number("coarse_top_p", step=0.01)
    with gr.Row():
        c["fine_temp"] = _slider("fine_temp", 0.01)
        c["max_duration_s"] = _number("max_duration_s", step=0.1, elem_id="max-duration")
        c["allow_early_stop"] = gr.Checkbox(**_described("allow_early_stop"))
    with gr.Row():
        c["coarse_history"] = _slider("coarse_history", 1)
        c["coarse_window"] = _slider("coarse_window", 1)
    c.update(_split_controls())
    with gr.Row():
        c["continuity"] = gr.Radio(list(_FIELDS["continuity"].about.choices), **_described("continuity"))
        c["reset_every"] = _number("reset_every")
    with gr.Row():
        c["silence_s"] = _slider("silence_s", 0.05)
        c["crossfade_s"] = _slider("crossfade_s", 0.01)
    return c


def _split_controls() -> dict[str, gr.Component]:
    c: dict[str, gr.Component] = {}
    with gr.Row():
        c["split_mode"] = gr.Dropdown(list(_FIELDS["split_mode"].about.choices), **_described("split_mode"))
        c["split_goal_length"] = _number("split_goal_length")
        c["split_max_length"] = _slider("split_max_length", 1)
        c["split_jitter"] = _slider("split_jitter", 0.05)
    with gr.Row():
        c["split_separator"] = gr.Textbox(**_described("split_separator"))
        c["split_pattern"] = gr.Textbox(**_described("split_pattern"))
    return c


def project_controls() -> dict[str, gr.Component]:
    """A compact set for a long-form project: splitting, voice across segments, joining, the length cap
    and the seed; the other options keep their defaults (options_from_some fills them in)."""
    c: dict[str, gr.Component] = {}
    with gr.Row():
        c["split_mode"] = gr.Dropdown(list(_FIELDS["split_mode"].about.choices), **_described("split_mode"))
        c["split_goal_length"] = _number("split_goal_length")
        c["split_max_length"] = _slider("split_max_length", 1)
    with gr.Row():
        c["continuity"] = gr.Radio(list(_FIELDS["continuity"].about.choices), **_described("continuity"))
        c["reset_every"] = _number("reset_every")
        c["max_duration_s"] = _number("max_duration_s", step=0.1, elem_id="project-max-duration")
    with gr.Row():
        c["silence_s"] = _slider("silence_s", 0.05)
        c["crossfade_s"] = _slider("crossfade_s", 0.01)
    with gr.Row():
        c["random_seed"] = gr.Checkbox(True, label="Random seed", scale=1, elem_id="project-random-seed")
        c["seed"] = _number("seed", scale=2, visible=False, elem_id="project-seed")
    return c


def options_from_some(form: dict[str, Any]) -> GenerationOptions:
    """GenerationOptions from some of the controls' values (project_controls), the rest at their defaults."""
    return options_from_form({**_START, **form})


def options_from_form(form: dict[str, Any]) -> GenerationOptions:
    """GenerationOptions from the control values (validated there: InputError naming the field)."""
    values = {name: _value(name, value) for name, value in form.items()}
    split = SplitOptions(**{f.name: values[SPLIT_PREFIX + f.name] for f in dataclasses.fields(SplitOptions)})
    fields = {f.name for f in dataclasses.fields(GenerationOptions)} - {"split", "seed"}
    seed = None if values["random_seed"] else values["seed"]
    if seed is None and not values["random_seed"]:
        raise InputError("Type a seed, or tick Random seed", "seed")
    return GenerationOptions(split=split, seed=seed, **{name: values[name] for name in fields})


def form_from_options(options: GenerationOptions) -> dict[str, Any]:
    """The control values that give `options` back (the inverse of options_from_form)."""
    values = {f.name: getattr(options, f.name) for f in dataclasses.fields(GenerationOptions)}
    values.pop("split")
    values.update({SPLIT_PREFIX + f.name: getattr(options.split, f.name) for f in dataclasses.fields(SplitOptions)})
    values["random_seed"] = options.seed is None
    values["seed"] = options.seed if options.seed is not None else 0  # with random_seed the box is hidden
    values.update({name: 0 for name in ZERO_IS_OFF if values[name] is None})
    return values


def _value(name: str, value: Any) -> Any:
    """A control's value in the type its option takes: 0 -> None (off), whole numbers -> int."""
    if isinstance(value, str) and name not in ("split_separator", "split_pattern") and not value.strip():
        value = None
    if name in ZERO_IS_OFF and value == 0:
        value = None
    if value is None:
        if name in ZERO_IS_OFF or name == "seed":
            return None
        raise InputError(f"{_label(name)} must not be empty", _field(name))
    if name in _WHOLE and isinstance(value, float):
        if not value.is_integer():
            raise InputError(f"{_label(name)} must be a whole number, got {value}", _field(name))
        return int(value)
    return value


def _label(name: str) -> str:
    return _FIELDS[name].about.label if name in _FIELDS else name.replace("_", " ")


def _field(name: str) -> str:
    """The option a control sets, as InputError names it: "split.mode" for split_mode."""
    return "split." + name.removeprefix(SPLIT_PREFIX) if name in _SPLIT else name


_START = form_from_options(DEFAULTS)  # each control's start value

"""The generation controls and their mapping onto GenerationOptions, both ways.

Each control is named after the option it sets (split options as `split_<field>`), and the
generate handler receives them as keyword arguments of those names, so no control can be shown
and then ignored: `options_from_form` reads every one, and tests check that every field of
GenerationOptions and SplitOptions has a control.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gradio as gr

from core.errors import InputError
from core.fields import RANGE
from core.options import CONTINUITY_MODES, MAX_COARSE_CONTEXT, MAX_DURATION_S, GenerationOptions
from core.textsplit import SPLIT_MODES, SplitOptions

DEFAULTS = GenerationOptions()
SPLIT_PREFIX = "split_"
# Controls that are whole numbers (Gradio hands numbers over as floats).
_WHOLE = {"text_top_k", "coarse_top_k", "coarse_history", "coarse_window", "reset_every", "seed"}
_WHOLE |= {"split_goal_length", "split_max_length"}
# Options that can be off (None): their controls show 0 for off, so that every control has a value.
ZERO_IS_OFF = {"text_top_k", "coarse_top_k", "text_top_p", "coarse_top_p", "max_duration_s", "fine_temp"}


def bounds(name: str) -> dict[str, float]:
    """The control's minimum and maximum: its option's range (core.fields), from 0 where 0 means off."""
    cls, field = (SplitOptions, name.removeprefix(SPLIT_PREFIX)) if name.startswith(SPLIT_PREFIX) else (None, name)
    low, high = next(f.metadata[RANGE] for f in dataclasses.fields(cls or GenerationOptions) if f.name == field)
    return {"minimum": 0 if name in ZERO_IS_OFF else low, "maximum": high}


def simple_controls() -> dict[str, gr.Component]:
    """Temperatures, clip length chance and the seed: the controls most people touch."""
    controls = {
        "text_temp": gr.Slider(**bounds("text_temp"), value=DEFAULTS.text_temp, step=0.01, label="Text temperature"),
        "waveform_temp": gr.Slider(
            **bounds("waveform_temp"), value=DEFAULTS.waveform_temp, step=0.01, label="Waveform temperature"
        ),
        "min_eos_p": gr.Slider(
            **bounds("min_eos_p"),
            value=DEFAULTS.min_eos_p,
            step=0.01,
            label="Clip length chance",
            info="A clip ends once ending is this likely: lower gives longer clips",
        ),
    }
    with gr.Row():
        controls["random_seed"] = gr.Checkbox(True, label="Random seed", scale=1)
        controls["seed"] = gr.Number(0, precision=0, **bounds("seed"), label="Seed", scale=2)
    return controls


def advanced_controls() -> dict[str, gr.Component]:
    """Every other option, per stage, then long-text splitting and joining."""
    c: dict[str, gr.Component] = {}
    with gr.Row():
        c["text_top_k"] = gr.Number(0, precision=0, **bounds("text_top_k"), label="Text top-k", info="0: off")
        c["text_top_p"] = gr.Number(0, **bounds("text_top_p"), step=0.01, label="Text top-p", info="0: off")
        c["coarse_top_k"] = gr.Number(0, precision=0, **bounds("coarse_top_k"), label="Waveform top-k", info="0: off")
        c["coarse_top_p"] = gr.Number(0, **bounds("coarse_top_p"), step=0.01, label="Waveform top-p", info="0: off")
    with gr.Row():
        c["fine_temp"] = gr.Slider(
            **bounds("fine_temp"), value=DEFAULTS.fine_temp or 0, step=0.01, label="Fine temperature", info="0: argmax"
        )
        c["max_duration_s"] = gr.Number(
            0,
            **bounds("max_duration_s"),
            label="Max seconds per segment",
            info=f"0: Bark's ~{MAX_DURATION_S:.0f} s",
            elem_id="max-duration",
        )
    with gr.Row():
        c["allow_early_stop"] = gr.Checkbox(DEFAULTS.allow_early_stop, label="Early stop (end when speech ends)")
        c["use_kv_cache"] = gr.Checkbox(DEFAULTS.use_kv_cache, label="KV cache (faster)")
    with gr.Row():
        c["coarse_history"] = gr.Slider(
            **bounds("coarse_history"),
            value=DEFAULTS.coarse_history,
            step=1,
            label="Coarse history (tokens)",
            info=f"history + window: at most {MAX_COARSE_CONTEXT}",
        )
        c["coarse_window"] = gr.Slider(
            **bounds("coarse_window"), value=DEFAULTS.coarse_window, step=1, label="Coarse window (steps)"
        )
    c.update(_split_controls())
    with gr.Row():
        c["continuity"] = gr.Radio(
            list(CONTINUITY_MODES),
            value=DEFAULTS.continuity,
            label="Voice across segments",
            info="stable: every segment from the voice · continuous: from the segment before · reset: both",
        )
        c["reset_every"] = gr.Number(
            DEFAULTS.reset_every, precision=0, **bounds("reset_every"), label="Reset every N segments"
        )
    with gr.Row():
        c["silence_s"] = gr.Slider(
            **bounds("silence_s"), value=DEFAULTS.silence_s, step=0.05, label="Silence between segments (s)"
        )
        c["crossfade_s"] = gr.Slider(
            **bounds("crossfade_s"), value=DEFAULTS.crossfade_s, step=0.01, label="Crossfade (s)"
        )
    return c


def _split_controls() -> dict[str, gr.Component]:
    split = DEFAULTS.split
    c: dict[str, gr.Component] = {}
    with gr.Row():
        c["split_mode"] = gr.Dropdown(list(SPLIT_MODES), value=split.mode, label="Split long text by")
        c["split_goal_length"] = gr.Number(
            split.goal_length,
            precision=0,
            **bounds("split_goal_length"),
            label="Goal length",
            info="characters (words in 'word' mode)",
        )
        c["split_max_length"] = gr.Slider(
            **bounds("split_max_length"), value=split.max_length, step=1, label="Max length (characters)"
        )
        c["split_jitter"] = gr.Slider(**bounds("split_jitter"), value=split.jitter, step=0.05, label="Length jitter")
    with gr.Row():
        c["split_separator"] = gr.Textbox(split.separator, label="Separator (mode 'separator')")
        c["split_pattern"] = gr.Textbox(split.pattern, label="Regex (mode 'regex')")
    return c


def options_from_form(form: dict[str, Any]) -> GenerationOptions:
    """GenerationOptions from the control values (validated there: InputError naming the field)."""
    values = {name: _value(name, value) for name, value in form.items()}
    split = SplitOptions(**{f.name: values[SPLIT_PREFIX + f.name] for f in dataclasses.fields(SplitOptions)})
    fields = {f.name for f in dataclasses.fields(GenerationOptions)} - {"split", "seed"}
    seed = None if values["random_seed"] else values["seed"]
    return GenerationOptions(split=split, seed=seed, **{name: values[name] for name in fields})


def form_from_options(options: GenerationOptions) -> dict[str, Any]:
    """The control values that give `options` back (the inverse of options_from_form)."""
    values = {f.name: getattr(options, f.name) for f in dataclasses.fields(GenerationOptions)}
    values.pop("split")
    values.update({SPLIT_PREFIX + f.name: getattr(options.split, f.name) for f in dataclasses.fields(SplitOptions)})
    values["random_seed"] = options.seed is None
    values["seed"] = options.seed if options.seed is not None else 0
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
        raise InputError(f"{_label(name)} must not be empty")
    if name in _WHOLE and isinstance(value, float):
        if not value.is_integer():
            raise InputError(f"{_label(name)} must be a whole number, got {value}")
        return int(value)
    return value


def _label(name: str) -> str:
    return name.removeprefix(SPLIT_PREFIX).replace("_", " ")

"""The Settings tab: device, model sizes, offload, models folder; prepare or unload the models.

Each control's label and note come from the field's description (core.fields, on EngineSettings), the
same text as the command line's --help.
"""

from __future__ import annotations

import gradio as gr
import torch

from core.engine import EngineSettings
from core.fields import described

from ..studio import Studio
from .handler import handler

ABOUT = described(EngineSettings)
STAGES = ("text", "coarse", "fine")
LABELS = {name: d.about.label for name, d in ABOUT.items()} | {"max_batch": "Segments at once"}  # reads better here
APPLY_NOTE = (
    "Changes take effect when you press **Apply**, which unloads the models: they load again with the new "
    "settings at the next generation, or now with **Download and check the models**."
)
RELOAD = (
    "The models were unloaded; they load again with these settings at the next generation "
    "(or now: *Download and check the models*)."
)


def settings_tab(studio: Studio, tab: gr.Tab) -> dict[str, gr.Component]:
    """The tab's controls, by EngineSettings field."""
    current = studio.engine.settings
    controls: dict[str, gr.Component] = {}
    gr.Markdown(APPLY_NOTE, elem_id="settings-apply-note")
    with gr.Row():
        controls["device"] = _choice("device", current.device)
        controls["dtype"] = _choice("dtype", current.dtype)
        low, high = ABOUT["max_batch"].about.range
        controls["max_batch"] = gr.Number(
            current.max_batch,
            precision=0,
            minimum=low,
            maximum=high,
            label=LABELS["max_batch"],
            info=ABOUT["max_batch"].about.help,
        )
    # A column each, so that a narrow window stacks them rather than squeezing their notes.
    with gr.Row():
        for stage in STAGES:
            with gr.Column(min_width=220):
                controls[f"small_{stage}"] = _checkbox(f"small_{stage}", current.small(stage))
    with gr.Row():
        with gr.Column(min_width=220):
            controls["offload_cpu"] = _checkbox("offload_cpu", current.offload_cpu)
        with gr.Column(min_width=220):
            controls["fast"] = _checkbox("fast", current.fast)
        with gr.Column(min_width=220):
            controls["quantize"] = _choice("quantize", current.quantize)
        # int4 is a fast-mode setting (the engine refuses it alone): fast mode off takes it back to int8
        controls["fast"].change(
            weights_for, [controls["fast"], controls["quantize"]], controls["quantize"], api_visibility="private"
        )
        # Hidden, not left out, without CUDA: the apply_settings endpoint takes the same fields everywhere.
        cuda = torch.cuda.is_available()
        with gr.Column(min_width=220, visible=cuda):
            controls["cuda_graphs"] = _checkbox("cuda_graphs", current.cuda_graphs, visible=cuda)
    if studio.allow_paths:  # a folder of this machine: shown and changed only at this machine
        about = ABOUT["models_dir"].about
        controls["models_dir"] = gr.Textbox(
            str(current.models_dir or ""),
            label=about.label,
            info=f"{about.help}; empty: {about.off}, else ./models if it exists, else the cache alone",
        )
    else:
        gr.Markdown("The models folder can be seen and changed only on the machine running the app.")
    with gr.Row():
        apply_button = gr.Button("Apply (unloads the models)", variant="primary", elem_id="settings-apply")
        prepare_button = gr.Button("Download and check the models")
        unload_button = gr.Button("Unload the models")
        refresh_button = gr.Button("Refresh")
    status = gr.Markdown(label="Engine", elem_id="engine-status")  # filled whenever the tab is opened

    engine_event = {"concurrency_id": "engine", "concurrency_limit": 1}
    apply_button.click(
        handler(apply, studio), None, status, inputs_kwargs=controls, api_name="apply_settings", **engine_event
    )
    prepare_button.click(handler(prepare, studio), None, status, api_name="prepare_models", **engine_event)
    unload_button.click(handler(unload, studio), None, status, api_name="unload_models", **engine_event)
    refresh_button.click(studio.status, None, status, api_name="status")
    tab.select(studio.status, None, status, api_visibility="private")
    return controls


def _choice(name: str, value: str) -> gr.Dropdown:
    about = ABOUT[name].about
    return gr.Dropdown(list(about.choices), value=value, label=about.label, info=about.help)


def _checkbox(name: str, value: bool, visible: bool = True) -> gr.Checkbox:
    about = ABOUT[name].about
    return gr.Checkbox(value, label=about.label, info=about.help, visible=visible)


# Handlers


def weights_for(fast: bool, quantize: str) -> str:
    """The quantize setting once fast mode is turned on or off: without fast mode, int8 (its default)."""
    return quantize if fast else "int8"


def apply(studio: Studio, **settings) -> str:
    """Change the engine's settings; if any changed, loaded models are dropped and load again on first use."""
    before = studio.engine.settings
    changed = studio.apply_settings(**settings)
    if not changed:
        return "**Nothing to apply**: these are the settings in use; the models stay loaded.\n\n" + studio.status()
    after = studio.engine.settings
    told = ", ".join(_change(name, getattr(before, name), getattr(after, name)) for name in changed)
    return f"**Applied: {told}.** {RELOAD}\n\n{studio.status()}"


def _change(name: str, old, new) -> str:
    """'Small text model on', 'Device cpu → auto'."""
    label = LABELS[name]
    if isinstance(new, bool):
        return f"{label} {'on' if new else 'off'}"
    return f"{label} {old or 'none'} → {new or 'none'}"


def prepare(studio: Studio, progress=gr.Progress(track_tqdm=True)) -> str:  # noqa: B008 (Gradio injects it)
    """Download what is missing (when allowed) and load every model, which checks the files."""
    studio.prepare_models(lambda message, fraction: progress(fraction, desc=message))
    return "**Ready**: every model is loaded and its files checked.\n\n" + studio.status()


def unload(studio: Studio) -> str:
    """Free the memory the models hold."""
    studio.unload()
    return "**Unloaded**: the models' memory is free; they load again at the next generation.\n\n" + studio.status()

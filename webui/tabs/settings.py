"""The Settings tab: device, model sizes, offload, models folder; prepare or unload the models."""

from __future__ import annotations

import gradio as gr

from core.devices import DEVICES, DTYPES
from core.engine import MAX_BATCH

from ..studio import Studio
from .handler import handler


def settings_tab(studio: Studio, tab: gr.Tab) -> None:
    current = studio.engine.settings
    controls: dict[str, gr.Component] = {}
    with gr.Row():
        controls["device"] = gr.Dropdown(
            list(DEVICES), value=current.device, label="Device", info="auto: CUDA, MPS, CPU"
        )
        controls["dtype"] = gr.Dropdown(list(DTYPES), value=current.dtype, label="Precision")
        controls["max_batch"] = gr.Number(
            current.max_batch, precision=0, minimum=1, maximum=MAX_BATCH, label="Segments at once", info="stable mode"
        )
    with gr.Row():
        for stage in ("text", "coarse", "fine"):
            controls[f"small_{stage}"] = gr.Checkbox(current.small(stage), label=f"Small {stage} model")
        controls["offload_cpu"] = gr.Checkbox(current.offload_cpu, label="Offload to the CPU between stages")
        controls["fast"] = gr.Checkbox(current.fast, label="Fast mode (int8/bf16 weights)")
        controls["cuda_graphs"] = gr.Checkbox(
            current.cuda_graphs, label="CUDA graphs for decode steps (CUDA GPUs, opt-in)"
        )
    if studio.allow_paths:  # a folder of this machine: shown and changed only at this machine
        controls["models_dir"] = gr.Textbox(
            str(current.models_dir or ""), label="Models folder", info="empty: the Hugging Face cache"
        )
    else:
        gr.Markdown("The models folder can be seen and changed only on the machine running the app.")
    with gr.Row():
        apply_button = gr.Button("Apply", variant="primary")
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


# Handlers


def apply(studio: Studio, **settings) -> str:
    """Change the engine's settings; loaded models are dropped and load again on first use."""
    studio.apply_settings(**settings)
    return studio.status()


def prepare(studio: Studio, progress=gr.Progress(track_tqdm=True)) -> str:  # noqa: B008 (Gradio injects it)
    """Download what is missing (when allowed) and load every model, which checks the files."""
    studio.prepare_models(lambda message, fraction: progress(fraction, desc=message))
    return studio.status()


def unload(studio: Studio) -> str:
    """Free the memory the models hold."""
    studio.unload()
    return studio.status()

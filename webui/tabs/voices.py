"""The Voices tab: the user's voice library: listen, rename, delete, import and export."""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr
import numpy as np

from core.audio import to_int16
from core.constants import SAMPLE_RATE
from core.errors import InputError

from ..errors import user_errors
from ..studio import Studio
from .handler import handler, required

HEADERS = ["Name", "Language", "Source", "Created"]
EMPTY = (
    "**No voices of your own yet.** Clone one from a recording (Clone tab), keep the voice of a generation "
    "(*Save as voice* in Generate) or import an .npz below. Suno's presets are always in Generate's voice picker."
)


@dataclass
class VoicesTab:
    table: gr.Dataframe
    empty: gr.Markdown  # shown instead of an empty table
    picker: gr.Dropdown
    voices_changed: list = field(default_factory=list)


def voices_tab(studio: Studio) -> VoicesTab:
    table = gr.Dataframe(
        studio.voice_rows(), headers=HEADERS, label="Your voices", interactive=False, elem_id="voices-table"
    )
    empty = gr.Markdown(EMPTY, visible=not studio.voice_names(), elem_id="voices-empty")
    with gr.Row():
        picker = gr.Dropdown(
            studio.voice_names(),
            value=None,
            label="Voice",
            scale=2,
            allow_custom_value=True,  # voices made after this page was built; names are checked by the library
            elem_id="voices-picker",
        )
        preview_button = gr.Button("Play its prompt", scale=1, elem_id="voices-play")
        export_button = gr.Button("Export .npz", scale=1, elem_id="voices-export-button")
    # Both show the picked voice only: shown by their buttons, gone when another voice (or none) is picked.
    preview = gr.Audio(
        label="What the voice's prompt sounds like",
        interactive=False,
        autoplay=True,
        visible=False,
        elem_id="voices-preview",
    )
    exported = gr.File(label="Exported voice", interactive=False, visible=False, elem_id="voices-export")
    with gr.Row():
        new_name = gr.Textbox(label="New name", scale=2, elem_id="voices-new-name")
        rename_button = gr.Button("Rename", scale=1, elem_id="voices-rename")
        delete_button = gr.Button("Delete…", variant="stop", scale=1, elem_id="voices-delete")
    with gr.Row(visible=False) as confirm_row:
        confirm_text = gr.Markdown()
        confirm_button = gr.Button("Yes, delete it", variant="stop")
        keep_button = gr.Button("Keep it")
    message = gr.Markdown(elem_id="voices-message")  # under the buttons whose results it says
    with gr.Accordion("Import a voice (.npz)", open=False), gr.Row():
        upload = gr.File(label="Voice file", file_types=[".npz"], type="filepath", scale=2, elem_id="voices-import")
        with gr.Column(scale=1):
            import_name = gr.Textbox(label="Name (default: the file's name)")
            overwrite = gr.Checkbox(False, label="Overwrite a voice of that name")
            import_button = gr.Button("Import")
            import_message = gr.Markdown(elem_id="voices-import-message")

    table.select(pick_row, None, picker, api_visibility="private")
    picker.change(picked, picker, [preview, exported, new_name, confirm_row], api_visibility="private")
    played = preview_button.click(handler(play, studio), picker, preview, api_name="preview_voice")
    played.success(lambda: gr.Audio(visible=True), None, preview, api_visibility="private")
    export_button.click(handler(export, studio), picker, exported, api_name="export_voice")
    renamed = rename_button.click(
        handler(rename, studio), [picker, new_name], [message, picker], api_name="rename_voice"
    )
    delete_button.click(user_errors(studio.redact)(ask), picker, [confirm_row, confirm_text], api_visibility="private")
    keep_button.click(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private")
    deleted = confirm_button.click(
        handler(delete, studio), picker, [message, picker, confirm_row], api_name="delete_voice"
    )
    imported = import_button.click(
        handler(import_voice, studio),
        [upload, import_name, overwrite],
        [import_message, picker],
        api_name="import_voice",
    )
    return VoicesTab(table, empty, picker, voices_changed=[renamed, deleted, imported])


# Handlers


def pick_row(event: gr.SelectData) -> str | dict:
    return event.row_value[0] if event.row_value else gr.skip()


def picked(name: str | None) -> tuple[gr.Audio, gr.File, str, gr.Row]:
    """Another voice (or none) is picked: what showed the last one goes (its prompt's player, its
    exported file, the question about deleting it), and the new-name box starts from its name."""
    return gr.Audio(None, visible=False), gr.File(None, visible=False), name or "", gr.Row(visible=False)


def play(studio: Studio, name: str) -> tuple[int, np.ndarray]:
    """Decode the voice's own prompt: 24 kHz audio."""
    return SAMPLE_RATE, to_int16(studio.preview_voice(required(name, "Choose a voice")))


def export(studio: Studio, name: str) -> gr.File:
    """The voice's .npz file."""
    return gr.File(str(studio.export_voice(required(name, "Choose a voice to export"))), visible=True)


def rename(studio: Studio, old: str, new: str) -> tuple[str, gr.Dropdown]:
    old = required(old, "Choose a voice to rename")
    if not new or not new.strip() or new.strip() == old:
        raise InputError(f"Type a new name for {old} first.")
    info = studio.rename_voice(old, new)
    return f"Renamed **{old}** to **{info.name}**.", gr.Dropdown(studio.voice_names(), value=info.name)


def ask(name: str) -> tuple[gr.Row, str]:
    """Show the question before a voice is deleted."""
    required(name, "Choose a voice to delete")
    return gr.Row(visible=True), f"Delete **{name}** from your voices? This cannot be undone."


def delete(studio: Studio, name: str) -> tuple[str, gr.Dropdown, gr.Row]:
    studio.delete_voice(required(name, "Choose a voice to delete"))
    return f"Deleted **{name}**.", gr.Dropdown(studio.voice_names(), value=None), gr.Row(visible=False)


def import_voice(studio: Studio, path: str | None, name: str, overwrite: bool) -> tuple[str, gr.Dropdown]:
    """Validate an uploaded voice prompt and add it to the library."""
    info = studio.import_voice_file(required(path, "Choose a voice file (.npz) to import"), name, overwrite)
    return f"Imported **{info.name}**.", gr.Dropdown(studio.voice_names(), value=info.name)

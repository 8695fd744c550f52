"""The History tab: past generations in the output folder: replay, download, reuse, delete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from core.outputs import OutputEntry

from ..form import form_from_options
from ..studio import Studio, short_time
from .generate import GenerateTab
from .handler import handler, required

HEADERS = ["When", "Text", "Voice", "Seed", "Seconds"]
TEXT_CHARS = 80
EMPTY = (
    "**No generations yet.** Each one you make in the Generate tab (or with `python bark_perform.py`) is kept "
    "here, with its voice and its settings, to play, download, delete or make again."
)


@dataclass
class HistoryTab:
    views: list[gr.components.Component]  # what `refresh` fills: the table, the picker, the ids shown
    refresh: Callable[[], tuple]


def history_rows(entries: list[OutputEntry]) -> list[list]:
    return [[short_time(e.created), _shorten(e.text), voice_label(e), e.seed, e.duration_s] for e in entries]


def voice_label(entry: OutputEntry) -> str:
    """The voice a generation used: its name, the uploaded file's, or 'random'."""
    if entry.voice_name:
        return entry.voice_name
    upload = entry.record.get("voice_upload")
    return f"uploaded {upload}" if isinstance(upload, str) and upload else "random"


def history_choices(entries: list[OutputEntry]) -> list[tuple[str, str]]:
    return [(f"{short_time(e.created)} · {_shorten(e.text, 50)}", e.id) for e in entries]


def history_tab(studio: Studio, generate: GenerateTab, tabs: gr.Tabs) -> HistoryTab:
    entries = studio.history()
    shown = gr.State([e.id for e in entries])  # the table's rows, so a click picks what the user saw
    with gr.Column(visible=not entries, elem_id="history-empty") as empty:
        gr.Markdown(EMPTY)
        with gr.Row():
            go_button = gr.Button("Go to Generate", variant="primary")
            empty_refresh = gr.Button("Refresh")
    with gr.Column(visible=bool(entries)) as content:
        table = gr.Dataframe(
            history_rows(entries),
            headers=HEADERS,
            label="Past generations",
            interactive=False,
            elem_id="history-table",
        )
        with gr.Row():
            picker = gr.Dropdown(
                history_choices(entries),
                value=None,
                label="Generation",
                scale=3,
                allow_custom_value=True,  # generations made after this page was built; ids are checked
                elem_id="history-picker",
            )
            refresh_button = gr.Button("Refresh", scale=1)
        with gr.Row():
            audio = gr.Audio(label="Audio", interactive=False, buttons=["download"])
            download = gr.File(label="Files", file_count="multiple", interactive=False)
        settings = gr.JSON(label="Settings", open=False)
        with gr.Row():
            reuse_button = gr.Button("Use these settings again", variant="primary")
            delete_button = gr.Button("Delete…", variant="stop", elem_id="history-delete")
        with gr.Row(visible=False) as confirm_row:
            question = gr.Markdown()
            confirm_button = gr.Button("Yes, delete it", variant="stop")
            keep_button = gr.Button("Keep it")
        message = gr.Markdown(label="Notes")
    reuse_outputs = [generate.text, generate.voice, generate.audio_format, *generate.controls.values(), tabs, message]

    views = [table, picker, shown]
    refresh = handler(show_history, studio)
    refresh_button.click(refresh, None, views, api_name="history")
    empty_refresh.click(refresh, None, views, api_visibility="private")
    shown.change(is_empty, shown, [empty, content], api_visibility="private")  # after every refresh
    go_button.click(lambda: gr.Tabs(selected="generate"), None, tabs, api_visibility="private")
    table.select(pick_row, shown, picker, api_visibility="private")
    picker.change(handler(show, studio), picker, [audio, download, settings], api_name="history_entry")
    picker.change(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private")  # asked of another
    reuse_button.click(
        handler(reuse, studio, generate.formats, list(generate.controls)),
        picker,
        reuse_outputs,
        api_name="reuse_settings",
    )
    delete_button.click(handler(ask, studio), picker, [confirm_row, question], api_visibility="private")
    keep_button.click(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private")
    confirm_button.click(handler(delete, studio), picker, [*views, confirm_row], api_name="delete_generation")
    return HistoryTab(views, refresh)


# Handlers


def show_history(studio: Studio) -> tuple:
    """The past generations, for the table and the picker."""
    return _views(studio.history())


def is_empty(ids: list[str]) -> tuple[gr.Column, gr.Column]:
    """The empty state instead of the table and its controls when there is nothing to show."""
    return gr.Column(visible=not ids), gr.Column(visible=bool(ids))


def pick_row(ids: list[str], event: gr.SelectData) -> str | dict:
    return ids[event.index[0]] if event.index and event.index[0] < len(ids) else gr.skip()


def show(studio: Studio, entry_id: str | None) -> tuple[str | None, list[str] | None, dict | None]:
    """A past generation: its audio, its files (audio, voice, settings) and its settings."""
    if not entry_id:
        return None, None, None
    audio, files, settings = studio.entry_view(entry_id)
    return str(audio), [str(p) for p in files], settings


def reuse(studio: Studio, formats: list[str], controls: list[str], entry_id: str | None) -> tuple:
    """Fill the Generate tab with a past generation's text, voice and settings (its seed included)."""
    # controls: the names of the Generate tab's controls, in the order of the outputs
    text, voice, options, fmt, notes = studio.reuse(required(entry_id, "Choose a generation"))
    values = form_from_options(options)
    fmt = fmt if fmt in formats else gr.skip()
    return text, voice, fmt, *(values[name] for name in controls), gr.Tabs(selected="generate"), "  \n".join(notes)


def ask(studio: Studio, entry_id: str | None) -> tuple[gr.Row, str]:
    """Show the question before a generation is deleted, naming it."""
    entry = studio.entry(required(entry_id, "Choose a generation to delete"))
    when = f" of {short_time(entry.created)}" if entry.created else ""
    question = f"Delete the generation {_shorten(entry.text, 50)!r}{when} (its audio, voice and settings)?"
    return gr.Row(visible=True), question + " This cannot be undone."


def delete(studio: Studio, entry_id: str | None) -> tuple:
    studio.delete_entry(required(entry_id, "Choose a generation to delete"))
    return *_views(studio.history(), value=None), gr.Row(visible=False)


def _views(entries: list[OutputEntry], **picker) -> tuple:
    """The table's rows, the picker (with `picker` settings) and the ids of the rows, for HistoryTab.views."""
    return history_rows(entries), gr.Dropdown(history_choices(entries), **picker), [e.id for e in entries]


def _shorten(text: str, limit: int = TEXT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""The Gradio app: one tab per task, each built by its own function in webui/tabs/.

    app = create_app(Studio(engine, Path("outputs")))
    app.launch(**launch_options(Path("outputs")))

Generation, cloning and model changes share one queue slot per engine ("engine", concurrency 1),
so one runs at a time and the others see their place in the queue.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from core.audio import AUDIO_FORMATS, check_format
from core.errors import InputError

from .session import Session, Sessions
from .studio import Studio
from .tabs.clone import clone_tab
from .tabs.generate import generate_tab
from .tabs.handler import handler
from .tabs.history import history_tab
from .tabs.projects import make_project, projects_tab, said
from .tabs.settings import settings_tab
from .tabs.voices import voices_tab

TITLE = "Bark Studio"
CSS = """
.hint { font-size: 0.9em; opacity: 0.85; }

@media (max-width: 640px) {
    /* A phone: the tab names, tighter, fit on one line (wrapping to two if the font is larger). */
    .tab-wrapper .tab-container button[role="tab"] { padding-left: 6px; padding-right: 6px; }

    /* The Generate tab: its two columns opened into one list, then the text box, the buttons, the status
       and the players come first (the examples, the voice and the options after them), so that the
       Generate button sits under the text box and what it does shows right there (the selectors name
       the Generate tab's elem_ids; tests/webui/test_other_tabs.py checks the order). */
    .row:has(> .column > .form > #text),
    .row:has(> .column > .form > #text) > .column { display: contents; }
    .form:has(> #text), .row:has(> #generate), #status, .row:has(> #live) { order: -1; }
}
"""
# Soft's unticked checkbox is edged in neutral_100 (1.1:1 on white); neutral_500 is 4.8:1 (WCAG asks 3:1).
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"]).set(
    checkbox_border_color="*neutral_500", checkbox_border_color_hover="*neutral_600"
)
MAX_UPLOAD = "50mb"  # voice clips and prompts; a 15 s clip is well under 5 MB


def create_app(studio: Studio, *, stream_audio: bool | None = None) -> gr.Blocks:
    """The whole web app on `studio` (its engine, its output folder for the history, its cloner).

    stream_audio: stream segments into one player (needs ffmpeg; default: when ffmpeg is installed),
        else each finished segment replaces the last in the player.
    """
    if stream_audio is None:
        stream_audio = shutil.which("ffmpeg") is not None
    sessions = Sessions()
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as app:
        session = gr.State(Session())
        gr.Markdown(f"# {TITLE}\nSuno's Bark text-to-audio on this machine.")
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # no tab hidden in a menu on a phone
            with gr.Tab("Generate", id="generate"):
                generate = generate_tab(studio, session, sessions, available_formats(), stream_audio)
            with gr.Tab("Clone", id="clone"):
                clone = clone_tab(studio)
            with gr.Tab("Voices", id="voices"):
                voices = voices_tab(studio)
            if studio.projects is not None:
                with gr.Tab("Projects", id="projects"):
                    projects = projects_tab(studio, available_formats())
            with gr.Tab("History", id="history") as history_page:
                history = history_tab(studio, generate, tabs)
            with gr.Tab("Settings", id="settings") as tab:
                settings_tab(studio, tab)

        voice_views = [generate.voice, voices.table, voices.empty, voices.picker]
        voices_refresh = handler(refresh_voices, studio)
        for event in [*generate.voices_changed, *clone.voices_changed, *voices.voices_changed]:
            event.success(voices_refresh, None, voice_views, api_visibility="private", show_progress="hidden")
        for event in generate.history_changed:
            event.success(history.refresh, None, history.views, api_visibility="private")
        if studio.projects is not None:
            made = generate.project_button.click(
                handler(said(make_project, 3), studio),
                [generate.text, generate.voice, generate.voice_file],
                [generate.status, projects.picker, tabs],
                inputs_kwargs=generate.controls,
                api_visibility="private",
            )
            made.success(projects.refresh, None, projects.list_views, api_visibility="private")
        app.load(voices_refresh, None, voice_views, api_visibility="private", show_progress="hidden")
        app.load(history.refresh, None, history.views, api_visibility="private")
        # Opened, it shows what is there now (e.g. what bark_perform.py wrote meanwhile).
        history_page.select(history.refresh, None, history.views, api_visibility="private")

        def tab_closed(request: gr.Request) -> None:
            sessions.close(request.session_hash)

        app.unload(tab_closed)
    app.queue(default_concurrency_limit=4)
    return app


def refresh_voices(studio: Studio) -> tuple[gr.Dropdown, list[list], gr.Markdown, gr.Dropdown]:
    """Every view of the library (Generate's voice picker, the Voices table, its empty state and its
    picker), after it changed or when a page opens."""
    names = studio.voice_names()
    return gr.Dropdown(studio.voice_choices()), studio.voice_rows(), gr.Markdown(visible=not names), gr.Dropdown(names)


def launch_options(output_dir: Path, projects_dir: Path | None = None) -> dict[str, Any]:
    """Keyword arguments of app.launch() that the app needs (theme, CSS, where its files may be served
    from: the outputs, and the projects' takes and exports)."""
    allowed = [output_dir, *([projects_dir] if projects_dir is not None else [])]
    return {
        "theme": THEME,
        "css": CSS,
        "allowed_paths": [str(Path(folder).resolve()) for folder in allowed],
        "max_file_size": MAX_UPLOAD,
        "ssr_mode": False,
        "footer_links": ["api"],
    }


def available_formats() -> list[str]:
    """The output formats this machine's libsndfile can write, wav first."""
    formats = []
    for fmt in AUDIO_FORMATS:
        try:
            formats.append(check_format(fmt))
        except InputError:
            continue
    return formats

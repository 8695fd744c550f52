"""The Projects tab: long-form projects (webui.projects): make one of a text or a script, follow its run,
review its segments and their takes (play, pick, re-roll, edit, insert, split, merge, delete), export it.

The project that is open is the value of the Project picker (per page); the segment that is open is the
Segment picker's. Every action says what it did, or the user's mistake, in the status line, and shows
the project as it is then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from core.engine import voice_name
from core.errors import BarkError, InputError
from core.projects import DIALOGUE_MODES, ProjectSettings
from core.projects.store import MAX_BEST_OF
from core.script import parse_script, script_speakers

from ..form import options_from_form, options_from_some, project_controls
from ..studio import NO_VOICE, Studio, short_time
from .generate import progress_line
from .handler import handler, required

LIST_HEADERS = ["Name", "Created", "Segments", "Generated", "Run"]
SEGMENT_HEADERS = ["#", "Status", "Speaker", "Take", "Flags", "Text"]
SPEAKER_HEADERS = ["Speaker", "Voice"]
TEXT_CHARS = 70
POLL_S = 1.0  # how often an open page asks how its project's run goes
ACTIVE = ("queued", "running")
REROLL_ALL = {
    "flagged": "flagged (a quality check found something)",
    "not continuous": "not continuous (what it follows changed)",
    "edited": "edited (text or voice changed since its take)",
}
SPLIT_MARK = "|"
OWN_VOICE = ("Its speaker's voice (or the project's)", "")
EMPTY = (
    "**No projects yet.** A project is a long text or a dialogue script, made segment by segment: each "
    "segment can be listened to, re-rolled and edited on its own, and the whole exported with subtitles."
)
SCRIPT_HINT = (
    "A script labels each turn at the start of a line, `Alice: text` or `[Alice] text`; `# Title` starts a "
    "chapter. Plain text is split into segments."
)
PRIVATE = {"api_visibility": "private", "show_progress": "hidden"}
OPENED, DETAILS = 8, 6  # how many views an open project has, and an open segment


@dataclass
class ProjectsTab:
    picker: gr.Dropdown  # the open project: its id
    list_views: list[gr.components.Component]  # what `refresh` fills
    refresh: Callable[[], tuple]


def projects_tab(studio: Studio, formats: list[str]) -> ProjectsTab:
    listed = studio.projects.list()
    new = _new_project_form(studio, open_=not listed)
    shelf = _project_list(listed)
    status = gr.Markdown(elem_id="project-status")
    with gr.Column(visible=False, elem_id="project-open") as content:
        project = _project_view()
        seg = _segment_panel(studio)
        with gr.Accordion("Voices of the speakers", open=False):
            project_speakers = _speakers_table("project-speakers")
            speakers_button = gr.Button("Save the voices")
        out = _export_panel(formats)
        removal = _confirmed("Delete the project…", "project-delete", "project, all its takes and exports")
    opened = [content, *project.views, seg.segment, project_speakers]
    details = [seg.take, seg.text, seg.voice, seg.speaker, seg.section, seg.shown_takes]
    wire = _Wiring(studio, status, [*opened, *details])
    refresh = handler(show_list, studio)
    list_views = [shelf.table, shelf.picker, shelf.listed_ids]
    _wire_list_and_new(wire, shelf, new, refresh, list_views, opened, details)
    _wire_project(wire, shelf.picker, project, seg, details)
    _wire_segment(wire, shelf.picker, seg)
    wire(speakers_button, save_speakers, [shelf.picker, project_speakers])
    export_inputs = [shelf.picker, out.format, out.subtitles, out.chapters]
    wire(out.button, export, export_inputs, [out.files], api_name="export_project")
    _wire_confirmed(wire, removal, handler(ask_project, studio), [shelf.picker])
    deleted = wire(removal.confirm, delete_project, [shelf.picker], [shelf.picker, content, removal.row])
    deleted.success(refresh, None, list_views, **PRIVATE)
    return ProjectsTab(shelf.picker, list_views, refresh)


# The layout


@dataclass
class _NewProjectForm:
    name: gr.Textbox
    text: gr.Textbox
    voice: gr.Dropdown
    dialogue: gr.Radio
    speakers: gr.Dataframe
    find: gr.Button
    speakers_note: gr.Markdown
    best_of: gr.Slider
    controls: dict[str, gr.components.Component]  # the generation options (webui.form.project_controls)
    create: gr.Button


def _new_project_form(studio: Studio, open_: bool) -> _NewProjectForm:
    with gr.Accordion("New project", open=open_, elem_id="project-new"):
        with gr.Row():
            with gr.Column(scale=3):
                name = gr.Textbox(label="Name", placeholder="e.g. Chapter one", elem_id="project-name")
                text = gr.Textbox(lines=8, label="Text or script", elem_id="project-text")
                gr.Markdown(SCRIPT_HINT, elem_classes="hint")
            with gr.Column(scale=2):
                voice = _voice_picker(studio, "Voice for narration", "lines without a speaker, and plain text")
                dialogue = gr.Radio(
                    list(DIALOGUE_MODES),
                    value="auto",
                    label="Dialogue",
                    info="auto: a script when 2 lines are labelled",
                )
                speakers = _speakers_table("new-project-speakers")
                with gr.Row():
                    find = gr.Button("Find speakers", size="sm")
                speakers_note = gr.Markdown(elem_id="project-speakers-note")
                best_of = gr.Slider(
                    1, MAX_BEST_OF, value=1, step=1, label="Best of", info="takes a flagged segment gets at most"
                )
        with gr.Accordion("Options", open=False):
            controls = project_controls()
        create = gr.Button("Create & generate", variant="primary", elem_id="project-create")
    return _NewProjectForm(name, text, voice, dialogue, speakers, find, speakers_note, best_of, controls, create)


@dataclass
class _ProjectList:
    empty: gr.Column
    picker: gr.Dropdown  # the open project: its id
    refresh: gr.Button
    table: gr.Dataframe
    listed_ids: gr.State


def _project_list(listed: list[dict]) -> _ProjectList:
    with gr.Column(visible=not listed) as empty:
        gr.Markdown(EMPTY)
    with gr.Row():
        picker = gr.Dropdown(
            _project_choices(listed),
            value=None,
            label="Project",
            scale=3,
            allow_custom_value=True,  # projects made after this page was built; ids are checked
            elem_id="project-picker",
        )
        refresh = gr.Button("Refresh", scale=1)
    table = gr.Dataframe(
        _project_rows(listed), headers=LIST_HEADERS, label="Projects", interactive=False, elem_id="projects-table"
    )
    return _ProjectList(empty, picker, refresh, table, gr.State([p["id"] for p in listed]))


@dataclass
class _ProjectView:
    """The open project's header, run and segments (`views`: what every action refreshes, in order)."""

    header: gr.Markdown
    progress: gr.HTML
    cancel: gr.Button
    ticks: gr.Timer
    segments: gr.Dataframe
    segment_ids: gr.State
    generate: gr.Button
    which: gr.Dropdown
    reroll_all: gr.Button

    @property
    def views(self) -> list:
        return [self.header, self.progress, self.ticks, self.segments, self.segment_ids]


def _project_view() -> _ProjectView:
    header = gr.Markdown(elem_id="project-header")
    with gr.Row():
        progress = gr.HTML("", elem_id="project-progress")
        cancel = gr.Button("Cancel", variant="stop", scale=0, elem_id="project-cancel")
    ticks = gr.Timer(POLL_S, active=False)
    segments = gr.Dataframe(
        headers=SEGMENT_HEADERS,
        label="Segments",
        interactive=False,
        wrap=True,
        column_widths=["6%", "12%", "12%", "10%", "15%", "45%"],
        elem_id="project-segments",
    )
    segment_ids = gr.State([])
    with gr.Row():
        generate = gr.Button("Generate what is missing", elem_id="project-generate")
        which = gr.Dropdown([(v, k) for k, v in REROLL_ALL.items()], value="flagged", show_label=False, scale=2)
        reroll_all = gr.Button("Re-roll all that are…", elem_id="project-reroll-all")
    return _ProjectView(header, progress, cancel, ticks, segments, segment_ids, generate, which, reroll_all)


@dataclass
class _Confirmed:
    """A button that asks before it acts: the row with the question, Yes and Keep."""

    ask: gr.Button
    row: gr.Row
    confirm: gr.Button
    keep: gr.Button


def _confirmed(label: str, elem_id: str, what: str) -> _Confirmed:
    with gr.Row():
        ask = gr.Button(label, variant="stop", elem_id=elem_id)
    with gr.Row(visible=False) as row:
        gr.Markdown(f"Delete this {what}? This cannot be undone.")
        confirm = gr.Button("Yes, delete it", variant="stop", elem_id=f"{elem_id}-yes")
        keep = gr.Button("Keep it")
    return _Confirmed(ask, row, confirm, keep)


@dataclass
class _SegmentPanel:
    segment: gr.Dropdown  # the open segment: its id
    take: gr.Dropdown
    pick: gr.Button
    audio: gr.Audio
    text: gr.Textbox
    voice: gr.Dropdown
    speaker: gr.Textbox
    section: gr.Textbox
    shown_takes: gr.State  # how many takes the take picker shows: a new one is shown when it comes
    reroll: gr.Button
    save: gr.Button
    insert: gr.Button
    split: gr.Button
    merge: gr.Button
    insert_row: gr.Row
    new_text: gr.Textbox
    insert_confirm: gr.Button
    removal: _Confirmed


def _segment_panel(studio: Studio) -> _SegmentPanel:
    with gr.Group():
        segment = gr.Dropdown([], value=None, label="Segment", elem_id="project-segment")
        with gr.Row():
            take = gr.Dropdown([], value=None, label="Take", scale=2, elem_id="project-take")
            pick = gr.Button("Keep this take", scale=1, elem_id="project-pick")
        audio = gr.Audio(label="Take", interactive=False, buttons=["download"], elem_id="project-take-audio")
        text = gr.Textbox(
            lines=2,
            label="Text",
            info=f"edit it and re-roll; or put a {SPLIT_MARK} where it should be split",
            elem_id="project-segment-text",
        )
        with gr.Row():
            voice = _voice_picker(studio, "Voice of this segment", None, own=True)
            speaker = gr.Textbox(label="Speaker", elem_id="project-segment-speaker")
            section = gr.Textbox(label="Starts the chapter", elem_id="project-segment-section")
        with gr.Row():
            reroll = gr.Button("Re-roll", variant="primary", elem_id="project-reroll")
            save = gr.Button("Save changes", elem_id="project-save")
            insert = gr.Button("Insert a segment after it…", elem_id="project-insert")
            split_ = gr.Button(f"Split at {SPLIT_MARK}", elem_id="project-split")
            merge_ = gr.Button("Merge with the next", elem_id="project-merge")
        with gr.Row(visible=False) as insert_row:
            new_text = gr.Textbox(label="The new segment's text", scale=3, elem_id="project-insert-text")
            insert_confirm = gr.Button("Insert it", scale=1, elem_id="project-insert-yes")
        removal = _confirmed("Delete…", "project-delete-segment", "segment and its takes")
    return _SegmentPanel(
        segment, take, pick, audio, text, voice, speaker, section, gr.State(0), reroll, save, insert, split_, merge_,
        insert_row, new_text, insert_confirm, removal,
    )  # fmt: skip


@dataclass
class _ExportPanel:
    format: gr.Dropdown
    subtitles: gr.CheckboxGroup
    chapters: gr.Checkbox
    button: gr.Button
    files: gr.File


def _export_panel(formats: list[str]) -> _ExportPanel:
    with gr.Group():
        with gr.Row():
            fmt = gr.Dropdown(formats, value=formats[0], label="Audio format", elem_id="project-format")
            subtitles = gr.CheckboxGroup(["srt", "vtt"], value=["srt"], label="Subtitles", elem_id="project-subtitles")
            chapters = gr.Checkbox(False, label="One file per chapter", elem_id="project-chapters")
        button = gr.Button("Export", variant="primary", elem_id="project-export")
        files = gr.File(label="Exported files", file_count="multiple", interactive=False, elem_id="project-files")
    return _ExportPanel(fmt, subtitles, chapters, button, files)


# The wiring


@dataclass
class _Wiring:
    """Connects a button to an action whose outputs are the status line and (by default) every view."""

    studio: Studio
    status: gr.Markdown
    views: list

    def __call__(self, button, fn, inputs, outputs=None, **extra):
        outputs = self.views if outputs is None else outputs
        if "api_name" not in extra:
            extra["api_visibility"] = "private"
        return button.click(handler(said(fn, 1 + len(outputs)), self.studio), inputs, [self.status, *outputs], **extra)


def _wire_list_and_new(wire, shelf, new, refresh, list_views, opened, details) -> None:
    studio, status = wire.studio, wire.status
    shelf.refresh.click(refresh, None, list_views, api_name="projects")
    shelf.listed_ids.change(lambda ids: gr.Column(visible=not ids), shelf.listed_ids, shelf.empty, **PRIVATE)
    shelf.table.select(pick_row, shelf.listed_ids, shelf.picker, **PRIVATE)
    views = [*opened, *details]
    shelf.picker.change(handler(said(open_project, 1 + len(views)), studio), shelf.picker, [status, *views], **PRIVATE)
    find = handler(find_speakers, studio)
    for event in (new.find.click, new.text.change, new.dialogue.change, new.speakers.input):
        event(find, [new.text, new.dialogue, new.speakers], [new.speakers, new.speakers_note], **PRIVATE)
    random_seed, seed = new.controls["random_seed"], new.controls["seed"]
    random_seed.change(lambda random: gr.Number(visible=not random), random_seed, seed, **PRIVATE)
    created = new.create.click(
        handler(said(create, 2), studio),
        [new.name, new.text, new.voice, new.speakers, new.dialogue, new.best_of],
        [status, shelf.picker],
        inputs_kwargs=new.controls,
        api_name="create_project",
    )
    created.success(refresh, None, list_views, **PRIVATE)


def _wire_project(wire, picker, project: _ProjectView, seg: _SegmentPanel, details: list) -> None:
    studio = wire.studio
    project.ticks.tick(
        handler(poll, studio),
        [picker, seg.segment, seg.take, seg.shown_takes],
        [project.progress, project.ticks, project.header, project.segments, project.segment_ids, seg.take,
         seg.shown_takes],
        **PRIVATE,
    )  # fmt: skip
    project.cancel.click(handler(said(cancel, 1), studio), picker, wire.status, api_name="cancel_project")
    project.segments.select(pick_row, project.segment_ids, seg.segment, **PRIVATE)
    seg.segment.change(
        handler(said(show_segment, 1 + len(details)), studio), [picker, seg.segment], [wire.status, *details], **PRIVATE
    )
    wire(project.generate, start, [picker])
    wire(project.reroll_all, reroll_all, [picker, project.which])


def _wire_segment(wire, picker, seg: _SegmentPanel) -> None:
    seg.take.change(handler(play, wire.studio), [picker, seg.segment, seg.take], seg.audio, **PRIVATE)
    wire(seg.reroll, reroll, [picker, seg.segment, seg.text], api_name="reroll_segment")
    wire(seg.pick, pick, [picker, seg.segment, seg.take], api_name="pick_take")
    wire(seg.save, save_segment, [picker, seg.segment, seg.text, seg.voice, seg.speaker, seg.section])
    seg.insert.click(lambda: gr.Row(visible=True), None, seg.insert_row, **PRIVATE)
    wire(seg.insert_confirm, insert_after, [picker, seg.segment, seg.new_text]).success(
        lambda: (gr.Row(visible=False), ""), None, [seg.insert_row, seg.new_text], **PRIVATE
    )
    wire(seg.split, split, [picker, seg.segment, seg.text])
    wire(seg.merge, merge, [picker, seg.segment])
    _wire_confirmed(wire, seg.removal, handler(ask_segment, wire.studio), [picker, seg.segment])
    wire(seg.removal.confirm, delete_segment, [picker, seg.segment]).success(
        lambda: gr.Row(visible=False), None, seg.removal.row, **PRIVATE
    )


def _wire_confirmed(wire, confirmed: _Confirmed, ask, inputs) -> None:
    confirmed.ask.click(ask, inputs, confirmed.row, **PRIVATE)
    confirmed.keep.click(lambda: gr.Row(visible=False), None, confirmed.row, **PRIVATE)


def _voice_picker(studio: Studio, label: str, info: str | None, own: bool = False) -> gr.Dropdown:
    choices = studio.voice_choices()
    if own:  # a segment speaks in a voice of its own, or its speaker's: "none" would mean the latter
        choices = [OWN_VOICE, *(c for c in choices if c[1] != NO_VOICE)]
    return gr.Dropdown(
        choices,
        value=OWN_VOICE[1] if own else NO_VOICE,
        label=label,
        info=info,
        allow_custom_value=True,  # a voice saved after this page was built; checked by the service
    )


def _speakers_table(elem_id: str) -> gr.Dataframe:
    return gr.Dataframe(
        headers=SPEAKER_HEADERS,
        value=[],
        type="array",
        column_count=2,
        static_columns=[0],
        interactive=True,
        label="Speakers and their voices",
        elem_id=elem_id,
    )


def said(fn: Callable, outputs: int) -> Callable:
    """`fn` whose first of `outputs` outputs is the status line: a user's mistake (BarkError) is said
    there, and the other outputs stay as they are (nothing typed is lost)."""

    @functools.wraps(fn)
    def wrapped(studio: Studio, *args: Any, **kwargs: Any):
        try:
            return fn(studio, *args, **kwargs)
        except BarkError as e:
            return f"⚠️ {studio.redact(str(e))}", *(gr.skip() for _ in range(outputs - 1))

    return wrapped


# Handlers: the list and a new project


def show_list(studio: Studio) -> tuple:
    """The projects, for the table and the picker."""
    listed = studio.projects.list()
    return _project_rows(listed), gr.Dropdown(_project_choices(listed)), [p["id"] for p in listed]


def pick_row(ids: list[str], event: gr.SelectData) -> str | dict:
    return ids[event.index[0]] if event.index and event.index[0] < len(ids) else gr.skip()


def find_speakers(studio: Studio, text: str, dialogue: str, rows: list[list] | None) -> tuple[list[list], str]:
    """The speakers of the script as it is typed, each with the voice given it so far, and which lack one."""
    try:
        lines = parse_script(text or "", dialogue)
    except InputError as e:
        return gr.skip(), f"⚠️ {e}"
    given = {str(r[0]).casefold(): str(r[1] or "") for r in rows or [] if r and r[0]}
    names = script_speakers(lines)
    table = [[n, given.get(n.casefold(), "")] for n in names]
    lacking = [n for n, v in table if not v.strip()]
    if not names:
        return [], ""
    if lacking:
        return table, f"⚠️ No voice yet for {', '.join(lacking)}: type a voice in the table (e.g. v2/en_speaker_1)."
    return table, f"{len(names)} speaker(s), each with a voice."


def create(
    studio: Studio,
    name: str,
    text: str,
    voice: str,
    speakers: list[list] | None,
    dialogue: str,
    best_of: float,
    **form,
) -> tuple[str, gr.Dropdown]:
    """Make a project of the text (a script's speakers with the voices of the table) and start its run:
    (status, the picker with it open)."""
    required(text, "Type the text or the script")
    settings = ProjectSettings(
        voice=voice_name(voice),
        speakers=speaker_map(speakers),
        options=options_from_some(form),
        dialogue=dialogue,
        best_of=int(best_of),
        name=(name or "").strip(),
    )
    return _made(studio, text, settings)


def make_project(studio: Studio, text: str, voice: str, voice_file: str | None, **form) -> tuple:
    """The Generate tab's text, voice and options as a project, opened in the Projects tab: (the Generate
    tab's status, the Projects picker, the tabs)."""
    if voice_file:
        raise InputError("a project speaks in voices by name: save the uploaded voice in the Voices tab first")
    required(text, "Type the text")
    settings = ProjectSettings(voice=voice_name(voice), options=options_from_form(form))
    status, picker = _made(studio, text, settings)
    return status, picker, gr.Tabs(selected="projects")


def _made(studio: Studio, text: str, settings: ProjectSettings) -> tuple[str, gr.Dropdown]:
    service = studio.projects
    project = service.create(text, settings, start=False)
    project_id = project.folder.name
    unknown = project.unknown_speakers()
    if unknown:
        status = (
            f"Made the project **{project.name}**; {', '.join(unknown)} have no voice yet: give each one a voice "
            "under Voices of the speakers, then press Generate what is missing."
        )
    else:
        service.start(project_id)
        status = f"Made the project **{project.name}** ({len(project.segments())} segments); it is being generated."
    return status, gr.Dropdown(_project_choices(service.list()), value=project_id)


# Handlers: the open project


def open_project(studio: Studio, project_id: str | None, segment_id: str | None = None) -> tuple:
    """(status, *the project's views, *the segment's views) of the project picked (nothing when none); the
    status line keeps what it said (e.g. that the project was made)."""
    if not project_id:
        return gr.skip(), gr.Column(visible=False), *(gr.skip() for _ in range(OPENED + DETAILS - 1))
    return gr.skip(), *_views(studio, studio.projects.view(project_id), segment_id)


def poll(studio: Studio, project_id: str | None, segment_id: str | None, take: int | None, shown: int) -> tuple:
    """(progress line, timer, header, segments table, their ids, the take picker, how many takes it shows)
    while a run goes on; the timer stops with the run, after showing where it ended. The take picker
    keeps the take the user chose, unless the open segment got a new take: then it shows the kept one."""
    if not project_id:
        return "", gr.Timer(active=False), *(gr.skip() for _ in range(5))
    view = studio.projects.view(project_id)
    line, timer = _progress(view["run"])
    seg = _segment(view, segment_id)
    if seg is None:
        takes, count = gr.skip(), gr.skip()
    else:
        count = len(seg["takes"])
        takes = _take_picker(seg, take if count == shown and take in _numbers(seg) else seg["chosen"])
    return line, timer, _header(view), _segment_rows(view), [s["id"] for s in view["segments"]], takes, count


def show_segment(studio: Studio, project_id: str | None, segment_id: str | None) -> tuple:
    """(status, take picker, text, voice, speaker, chapter) of the segment picked."""
    if not project_id or not segment_id:
        return "", *(gr.skip() for _ in range(DETAILS))
    return "", *_details(_segment(studio.projects.view(project_id), segment_id, strict=True))


def play(studio: Studio, project_id: str | None, segment_id: str | None, take: int | None) -> str | None:
    """A take's audio (the chosen one when the segment opens)."""
    if not project_id or not segment_id or take is None:
        return None
    return str(studio.projects.take_audio(project_id, segment_id, int(take)))


def start(studio: Studio, project_id: str | None) -> tuple:
    """Generate every segment that has no take yet."""
    project_id = required(project_id, "Open a project")
    studio.projects.start(project_id)
    return "Generating what is missing…", *_views(studio, studio.projects.view(project_id))


def reroll(studio: Studio, project_id: str | None, segment_id: str | None, text: str | None) -> tuple:
    """A new take of the segment, with its text as typed in the Text box (when changed)."""
    project_id, segment_id = _ids(project_id, segment_id)
    seg = _segment(studio.projects.view(project_id), segment_id, strict=True)
    typed = " ".join((text or "").split())
    changed = typed if typed and typed != " ".join(seg["text"].split()) else None
    if changed and SPLIT_MARK in changed:
        raise InputError(f"the text has a {SPLIT_MARK}: press Split, or take the {SPLIT_MARK} out to re-roll")
    studio.projects.reroll(project_id, [segment_id], text=changed)
    message = f"Segment {seg['index']}: a new take is on its way" + (" (with the new text)." if changed else ".")
    return message, *_views(studio, studio.projects.view(project_id), segment_id)


def reroll_all(studio: Studio, project_id: str | None, which: str) -> tuple:
    """A new take of every segment that is flagged, not continuous or edited (`which`)."""
    project_id = required(project_id, "Open a project")
    if which not in REROLL_ALL:
        raise InputError(f"choose one of: {', '.join(REROLL_ALL)}")
    view = studio.projects.view(project_id)
    chosen = [s for s in view["segments"] if (s["flags"] if which == "flagged" else s["status"] == which)]
    if not chosen:
        return f"No segment is {which}: nothing to re-roll.", *_views(studio, view)
    studio.projects.reroll(project_id, [s["id"] for s in chosen])
    numbers = ", ".join(str(s["index"]) for s in chosen)
    return f"Re-rolling {len(chosen)} segment(s): {numbers}.", *_views(studio, studio.projects.view(project_id))


def pick(studio: Studio, project_id: str | None, segment_id: str | None, take: int | None) -> tuple:
    """Keep the take shown (the export uses it; best of N leaves it)."""
    project_id, segment_id = _ids(project_id, segment_id)
    if take is None:
        raise InputError("Choose a take first.")
    view = studio.projects.choose(project_id, segment_id, int(take))
    seg = _segment(view, segment_id, strict=True)
    return f"Segment {seg['index']} keeps take {int(take)}.", *_views(studio, view, segment_id)


def save_segment(
    studio: Studio,
    project_id: str | None,
    segment_id: str | None,
    text: str | None,
    voice: str | None,
    speaker: str | None,
    section: str | None,
) -> tuple:
    """The segment's text, voice, speaker and chapter title as typed (its takes stay; it shows as edited)."""
    project_id, segment_id = _ids(project_id, segment_id)
    if text and SPLIT_MARK in text:
        raise InputError(f"the text has a {SPLIT_MARK}: press Split, or take the {SPLIT_MARK} out to save it")
    seg = _segment(studio.projects.view(project_id), segment_id, strict=True)
    changes = {"text": text, "speaker": speaker, "section": section}
    if (voice or "") != (seg["voice"] or ""):  # the box shows the voice it speaks in; "": its speaker's
        changes["voice"] = voice or None
    view = studio.projects.edit(project_id, segment_id, **changes)
    seg = _segment(view, segment_id, strict=True)
    after = " It shows as edited: re-roll it for a take that fits." if seg["status"] == "edited" else ""
    return f"Segment {seg['index']} is saved.{after}", *_views(studio, view, segment_id)


def insert_after(studio: Studio, project_id: str | None, segment_id: str | None, text: str | None) -> tuple:
    """A new segment (of the same speaker) after the one open, or at the end when none is; generated by
    Generate what is missing."""
    project_id = required(project_id, "Open a project")
    view = studio.projects.view(project_id)
    seg = _segment(view, segment_id, strict=True) if segment_id else None
    index = seg["index"] if seg is not None else len(view["segments"])
    view = studio.projects.insert(
        project_id, index, required(text, "Type the new segment's text"), seg and seg["speaker"]
    )
    new_id = view["segments"][index]["id"]
    message = f"Segment {index + 1} is new: press Generate what is missing to make its take."
    return message, *_views(studio, view, new_id)


def split(studio: Studio, project_id: str | None, segment_id: str | None, text: str | None) -> tuple:
    """Cut the segment in two where the Text box has a |."""
    project_id, segment_id = _ids(project_id, segment_id)
    seg = _segment(studio.projects.view(project_id), segment_id, strict=True)
    text = text or ""
    if text.count(SPLIT_MARK) != 1:
        raise InputError(f"put one {SPLIT_MARK} in the text where the segment should be split")
    head, tail = (" ".join(part.split()) for part in text.split(SPLIT_MARK))
    whole = " ".join(seg["text"].split())
    if whole not in (f"{head} {tail}", head + tail):
        raise InputError(f"the text was changed besides the {SPLIT_MARK}: save it first, then split")
    view = studio.projects.split(project_id, segment_id, len(head) + (whole != head + tail))
    first = view["segments"][seg["index"] - 1]
    message = f"Segment {seg['index']} is two now: press Generate what is missing to make their takes."
    return message, *_views(studio, view, first["id"])


def merge(studio: Studio, project_id: str | None, segment_id: str | None) -> tuple:
    """Join the segment with the next one (same speaker and voice)."""
    project_id, segment_id = _ids(project_id, segment_id)
    index = _segment(studio.projects.view(project_id), segment_id, strict=True)["index"]
    view = studio.projects.merge(project_id, segment_id)
    merged = view["segments"][index - 1]
    message = f"Segments {index} and {index + 1} are one now: press Generate what is missing to make its take."
    return message, *_views(studio, view, merged["id"])


def ask_segment(studio: Studio, project_id: str | None, segment_id: str | None) -> gr.Row:
    _ids(project_id, segment_id)
    return gr.Row(visible=True)


def delete_segment(studio: Studio, project_id: str | None, segment_id: str | None) -> tuple:
    project_id, segment_id = _ids(project_id, segment_id)
    index = _segment(studio.projects.view(project_id), segment_id, strict=True)["index"]
    view = studio.projects.delete_segment(project_id, segment_id)
    return f"Segment {index} is deleted.", *_views(studio, view)


def save_speakers(studio: Studio, project_id: str | None, rows: list[list] | None) -> tuple:
    """The voices of the script's speakers, as the table has them."""
    project_id = required(project_id, "Open a project")
    view = studio.projects.update_settings(project_id, speakers=speaker_map(rows))
    lacking = view["unknown_speakers"]
    message = f"Still no voice for {', '.join(lacking)}." if lacking else "The speakers' voices are saved."
    return message, *_views(studio, view)


def export(
    studio: Studio, project_id: str | None, fmt: str, subtitle_formats: list[str] | None, chapters: bool
) -> tuple[str, list[str]]:
    """Write the project's audio, subtitles and timeline: (status, the files to download)."""
    result = studio.projects.export(required(project_id, "Open a project"), fmt, subtitle_formats or (), chapters)
    paths = [*result.audio, *result.subtitles, result.timeline]
    message = f"Exported {result.duration_s:.1f} s: {', '.join(p.name for p in paths)}."
    notes = [f"⚠️ {n}" for n in result.notes[:5]]
    if len(result.notes) > 5:
        notes.append(f"… and {len(result.notes) - 5} more")
    return "  \n".join([message, *notes]), [str(p) for p in paths]


def cancel(studio: Studio, project_id: str | None) -> str:
    """Stop the project's run; every finished take is kept."""
    if studio.projects.cancel(required(project_id, "Open a project")):
        return "Cancelling: every finished take is kept."
    return "Nothing of this project is being generated."


def ask_project(studio: Studio, project_id: str | None) -> gr.Row:
    required(project_id, "Open a project")
    return gr.Row(visible=True)


def delete_project(studio: Studio, project_id: str | None) -> tuple:
    name = studio.projects.view(required(project_id, "Open a project"))["name"]
    studio.projects.delete(project_id)
    return (
        f"The project **{name}** is deleted.",
        gr.Dropdown(value=None),
        gr.Column(visible=False),
        gr.Row(visible=False),
    )


# Views


def speaker_map(rows: list[list] | None) -> dict[str, str]:
    """The speakers table as speaker -> voice (rows without a voice are left out: the speaker lacks one)."""
    speakers = {}
    for row in rows or []:
        if len(row) >= 2 and str(row[0] or "").strip() and str(row[1] or "").strip():
            speakers[str(row[0]).strip()] = str(row[1]).strip()
    return speakers


def _ids(project_id: str | None, segment_id: str | None) -> tuple[str, str]:
    return required(project_id, "Open a project"), required(segment_id, "Choose a segment")


def _views(studio: Studio, view: dict, segment_id: str | None = None) -> tuple:
    """The open project's views and its open segment's (the picker keeps it when it is still there)."""
    seg = _segment(view, segment_id)
    line, timer = _progress(view["run"])
    choices = [(f"{s['index']} · {_shorten(s['text'], 50)}", s["id"]) for s in view["segments"]]
    given = {k.casefold(): v for k, v in view["settings"]["speakers"].items()}
    speakers = [[name, given.get(name.casefold()) or ""] for name in view["speakers"]]
    opened = (
        gr.Column(visible=True),
        _header(view),
        line,
        timer,
        _segment_rows(view),
        [s["id"] for s in view["segments"]],
        gr.Dropdown(choices, value=seg["id"] if seg else None),
        speakers,
    )
    return *opened, *(_details(seg) if seg else (gr.Dropdown([], value=None), "", OWN_VOICE[1], "", "", 0))


def _details(seg: dict) -> tuple:
    """The take picker (at the kept take), text, voice, speaker, chapter and how many takes it has."""
    picker = _take_picker(seg, seg["chosen"])
    return picker, seg["text"], seg["voice"] or "", seg["speaker"] or "", seg["section"] or "", len(seg["takes"])


def _take_picker(seg: dict, value: int | None) -> gr.Dropdown:
    choices = []
    for t in seg["takes"]:
        parts = [f"Take {t['number']}", f"{t['duration_s']:.1f} s", f"seed {t['seed']}"]
        if t["number"] == seg["chosen"]:
            parts.append("kept")
        if t["flags"]:
            parts.append(", ".join(_words(f) for f in t["flags"]))
        choices.append((" · ".join(parts), t["number"]))
    return gr.Dropdown(choices, value=value)


def _numbers(seg: dict) -> list[int]:
    return [t["number"] for t in seg["takes"]]


def _segment(view: dict, segment_id: str | None, strict: bool = False) -> dict | None:
    for seg in view["segments"]:
        if seg["id"] == segment_id:
            return seg
    if strict:
        raise InputError("that segment is not in the project any more; choose another")
    return None


def _segment_rows(view: dict) -> list[list]:
    rows = []
    for s in view["segments"]:
        take = f"{s['chosen']} of {len(s['takes'])}" if s["chosen"] is not None else "—"
        flags = ", ".join(_words(f["code"]) for f in s["flags"])
        rows.append([s["index"], s["status"], s["speaker"] or "", take, flags, _shorten(s["text"])])
    return rows


def _header(view: dict) -> str:
    c = view["counts"]
    parts = [f"{c[k]} {k}" for k in ("done", "pending", "edited", "not continuous") if c.get(k)]
    n = c["segments"]
    text = f"### {view['name']}\n{n} segment{'s' if n != 1 else ''}: {', '.join(parts)}"
    if c.get("flagged"):
        text += f" · {c['flagged']} flagged"
    if view["unknown_speakers"]:
        text += f"  \n⚠️ No voice yet for {', '.join(view['unknown_speakers'])}: see Voices of the speakers."
    return text


def _progress(run: dict) -> tuple[str, gr.Timer]:
    """(the progress line, the timer): a bar while the run waits or goes on, how it ended after."""
    if run["state"] in ACTIVE:
        message = run["message"] or "Waiting for its turn"
        return progress_line(run["fraction"], f"{message} · {run['fraction']:.0%}"), gr.Timer(active=True)
    if run["state"] == "failed":
        return f"⚠️ {run['message']}: {run['error']}", gr.Timer(active=False)
    return run["message"], gr.Timer(active=False)


def _project_rows(listed: list[dict]) -> list[list]:
    return [[p["name"], short_time(p["created"]), p["segments"], p["generated"], p["run"]["state"]] for p in listed]


def _project_choices(listed: list[dict]) -> list[tuple[str, str]]:
    return [(f"{p['name']} · {short_time(p['created'])}", p["id"]) for p in listed]


def _words(code: str) -> str:
    return code.replace("_", " ")


def _shorten(text: str, limit: int = TEXT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

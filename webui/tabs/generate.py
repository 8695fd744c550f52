"""The Generate tab: text + voice + options -> audio, streamed segment by segment."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache
from gradio.utils import get_upload_folder

from core.audio import encode_audio
from core.constants import SAMPLE_RATE
from core.engine import GenerationResult, Progress, SegmentResult
from core.errors import BarkError, Cancelled, InputError

from ..errors import UNEXPECTED
from ..form import advanced_controls, options_from_form, simple_controls
from ..session import Session, Sessions
from ..studio import NO_VOICE, Estimate, Job, Studio
from .handler import handler

EXAMPLES = [
    "Hello, my name is Suno. And, uh — and I like pizza. [laughs] But I also have other interests, like tic tac toe.",
    "♪ In the jungle, the mighty jungle, the lion barks tonight ♪",
    "[WOMAN] I can't believe it's already Friday! [sighs] This week went by SO fast.",
    "Bonjour, je m'appelle Bark. Je peux parler plusieurs langues.",
]
TAGS_HINT = (
    "Bark reads a few cues: `[laughs]` `[laughter]` `[sighs]` `[music]` `[gasps]` `[clears throat]`, "
    "`♪` around lyrics, `—` or `...` for hesitation, CAPITALS for emphasis, `[MAN]` / `[WOMAN]` to lean "
    "the speaker. Long texts are split into segments (see Advanced)."
)
LIVE_LABEL = "Segments as they finish"
CANCELLED_WAITING = "Cancelled before it started: nothing was generated."
PROGRESS_EVERY_S = 0.5  # how often the page asks how its generation goes
SEGMENT_COLUMNS = ["12%", "63%", "25%"]  # so "≈ seconds" fits on one line, on a phone too
SUGGESTIONS = 3  # voices named in the note about a voice that is not one
ASK_ABOVE_SEGMENTS = 20  # a longer text is generated only once the user says yes (about 4 min of audio or more)
PRIVATE = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}  # the page's own small events


@dataclass
class GenerateTab:
    text: gr.Textbox
    voice: gr.Dropdown
    audio_format: gr.Dropdown
    formats: list[str]
    controls: dict[str, gr.Component]
    voices_changed: list = field(default_factory=list)  # events after which the library differs
    history_changed: list = field(default_factory=list)  # events after which the history differs
    status: gr.Markdown | None = None
    voice_file: gr.File | None = None
    project_button: gr.Button | None = None  # "Make it a project" (wired by the Projects tab)


def generate_tab(
    studio: Studio, session: gr.State, sessions: Sessions, formats: list[str], stream_audio: bool
) -> GenerateTab:
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(lines=6, label="Text", placeholder="What should Bark say?", elem_id="text")
            gr.Examples(EXAMPLES, inputs=text, label="Examples")
            gr.Markdown(TAGS_HINT, elem_classes="hint")
        with gr.Column(scale=2):
            voice = gr.Dropdown(
                studio.voice_choices(),
                value=NO_VOICE,
                label="Voice",
                info="Suno's presets by language and your own voices; type to search",
                allow_custom_value=True,  # a voice saved after this page was built; checked by the engine
                elem_id="voice",
            )
            voice_note = gr.Markdown(visible=False, elem_id="voice-note")
            voice_file = gr.File(label="…or a voice file (.npz), used instead", file_types=[".npz"], type="filepath")
            controls = simple_controls()
    with gr.Accordion("Advanced", open=False):
        controls.update(advanced_controls())
        audio_format = gr.Dropdown(formats, value=formats[0], label="Output file format")
    with gr.Row():
        generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
        cancel_button = gr.Button("Cancel", variant="stop")
        plan_button = gr.Button("Show segments")
        project_button = gr.Button("Make it a project", visible=studio.projects is not None, elem_id="make-project")
    status = gr.Markdown(label="Status", elem_id="status")
    # Progress has a line of its own (Gradio's overlay covered the player of finished segments), drawn from
    # this tab's session by a timer that runs while it generates.
    progress = gr.HTML("", elem_id="progress", js_on_load=None)
    ticks = gr.Timer(PROGRESS_EVERY_S, active=False)
    with gr.Row(visible=False, elem_id="confirm") as confirm_row:  # a long text: asked once before it runs
        confirm_button = gr.Button("Yes, generate it", variant="primary", elem_id="confirm-yes")
        not_now_button = gr.Button("Not now", elem_id="confirm-no")
    with gr.Row():
        live = gr.Audio(
            label=LIVE_LABEL,
            streaming=stream_audio,
            autoplay=True,
            interactive=False,
            buttons=["download"],
            elem_id="live",
        )
        result = gr.Audio(label="The whole generation", interactive=False, buttons=["download"], elem_id="result")
    with gr.Row(visible=False) as made:  # shown with a generation's file and seed, never empty or at 0
        download = gr.File(label="Download", interactive=False, elem_id="download")
        seed_used = gr.Number(label="Seed used", precision=0, interactive=False, elem_id="seed-used")
    segments = gr.Dataframe(
        headers=["#", "Text", "≈ seconds"],
        label="Segments",
        interactive=False,
        visible=False,
        wrap=True,
        column_widths=SEGMENT_COLUMNS,
        elem_id="segments",
    )
    with gr.Row():
        voice_name = gr.Textbox(label="Save this generation's voice as", placeholder="a name", scale=3)
        save_button = gr.Button("Save as voice", scale=1)
    saved = gr.Markdown(label="Saved")

    # Generate is checked at once, before the queue (a mistake is said in the status line, not after a
    # wait); the check counts `run` up when the generation may start, and its change starts it.
    run = gr.Number(0, visible=False)
    for button, confirmed in [(generate_button, False), (confirm_button, True)]:
        button.click(
            handler(check, studio, sessions, stream_audio, confirmed),
            [text, voice, session, voice_file, run],
            [status, made, run, confirm_row, confirm_button, segments, ticks],
            inputs_kwargs=controls,
            **PRIVATE,
        )
    not_now_button.click(not_now, None, [status, confirm_row], **PRIVATE)
    generated = run.change(
        handler(generate, studio, sessions),
        inputs=[text, voice, session, voice_file, audio_format],
        inputs_kwargs=controls,
        outputs=[status, live, result, download, seed_used],
        show_progress="hidden",  # the progress line says it, and for API clients gr.Progress does
        api_name="generate",
        concurrency_id="engine",
        concurrency_limit=1,
    )
    generated.then(show_made, session, made, **PRIVATE)
    ticks.tick(handler(show_progress, studio), session, [progress, ticks], **PRIVATE)
    if not stream_audio:
        live.stop(next_clip, session, live, **PRIVATE)  # the end of one segment plays the next
    voice.change(handler(check_voice_choice, studio), voice, voice_note, **PRIVATE)
    random_seed, seed = controls["random_seed"], controls["seed"]
    random_seed.change(lambda random: gr.Number(visible=not random), random_seed, seed, **PRIVATE)
    random_seed.input(seed_box, [random_seed, seed, session], seed, **PRIVATE)
    cancel_button.click(cancel, session, status, queue=False, api_name="cancel", cancels=[generated])
    plan_button.click(handler(show_segments, studio), [text], segments, inputs_kwargs=controls, api_name="plan")
    saving = save_button.click(handler(save_voice, studio), [voice_name, session], saved, api_name="save_voice")
    return GenerateTab(
        text,
        voice,
        audio_format,
        formats,
        controls,
        voices_changed=[saving],
        history_changed=[generated],
        status=status,
        voice_file=voice_file,
        project_button=project_button,
    )


# Handlers


def generate(
    studio: Studio,
    sessions: Sessions,
    text: str,
    voice: str,
    session: Session,
    voice_file: str | None = None,
    audio_format: str = "wav",
    request: gr.Request = None,
    progress=gr.Progress(),  # noqa: B008 (Gradio injects it)
    **form,
) -> Iterator[tuple]:
    """Generate speech; yields each segment's audio as it finishes, then the whole file."""
    # Each value: (status, the segment's audio, the whole audio, its download, the seed used);
    # gr.skip() leaves one as it is. (Docstrings of handlers are the API page's descriptions.)
    # In the page, an error ends in the status line (where the result would be), not in a toast.
    try:
        yield from _generate(studio, sessions, text, voice, session, voice_file, audio_format, request, progress, form)
    except BarkError as e:
        if not session.in_page:
            raise
        message = studio.redact(str(e))
        yield _error(message), *_unchanged(4)
        raise gr.Error(message, visible=False, print_exception=False) from e
    except Exception as e:
        if session.in_page:
            yield _error(UNEXPECTED.format(type(e).__name__)), *_unchanged(4)
        raise  # logged, and said in a toast, by webui.errors.user_errors
    finally:
        session.finish()
        if session.job is not None:
            studio.line.leave(session.job)  # also when it ended before it reached the engine


def _generate(studio, sessions, text, voice, session, voice_file, audio_format, request, progress, form):
    options = options_from_form(form)
    prompt = studio.read_voice_file(voice_file) if voice_file else voice
    if not session.start():
        yield CANCELLED_WAITING, *_unchanged(4)  # Gradio's queue ran it all the same
        return
    sessions.track(request.session_hash if request is not None else None, session)
    try:
        yield "Starting…", None, None, None, None
        job = session.job if session.in_page else None
        for event in studio.stream(text, prompt, options, session.cancel, job):
            if isinstance(event, Progress):
                progress(*_progress(event))
            elif isinstance(event, SegmentResult):
                yield *_segment_done(event, session), *_unchanged(3)
            else:
                entry = studio.save_output(event, audio_format, voice_file)
                session.last_entry = session.made = entry.id
                session.last_seed = event.seed
                yield _summary(event), gr.skip(), str(entry.audio), str(entry.audio), event.seed
    except Cancelled:
        yield "Cancelled.", *_unchanged(4)


def cancel(session: Session) -> str | dict:
    """Stop this tab's generation within a step; in the browser it also leaves the line if it waits."""
    waited = session.waiting
    stopped = session.stop()
    session.finish()  # the browser also ends the run's handler, which may never reach its own finish
    if not stopped:
        return gr.skip()
    return CANCELLED_WAITING if waited else "Cancelled."


def check_voice_choice(studio: Studio, voice: str | None) -> gr.Markdown:
    """The note under the voice picker: nothing for a voice there is, else what is wrong (a name
    typed halfway) and voices whose names have what was typed."""
    try:
        studio.check_voice(voice)
    except InputError as e:
        typed = str(voice).strip().lower()
        like = [value for _, value in studio.voice_choices() if typed in value.lower() and value != NO_VOICE]
        note = f"⚠️ {e}"
        if like:
            note += (
                "  \nDid you mean " + ", ".join(like[:SUGGESTIONS]) + (", …" if len(like) > SUGGESTIONS else "") + "?"
            )
        return gr.Markdown(note, visible=True)
    return gr.Markdown(visible=False)


def seed_box(random_seed: bool, seed: float | None, session: Session) -> gr.Number:
    """The Seed box when the user ticks or unticks Random: hidden while it is ticked; unticked, it holds
    the seed of this tab's last generation (to keep the voice just heard), else the seed it held."""
    if random_seed:
        return gr.Number(visible=False)
    return gr.Number(value=session.last_seed if session.last_seed is not None else seed, visible=True)


def check(
    studio: Studio,
    sessions: Sessions,
    stream_audio: bool,
    confirmed: bool,
    text: str,
    voice: str,
    session: Session,
    voice_file: str | None,
    run: float,
    request: gr.Request = None,
    **form,
) -> tuple:
    """Generate (or, `confirmed`, "Yes, generate it") was pressed: (status, the file-and-seed row, run,
    the confirm row, its Yes button, the segments table, the progress line's timer).

    What the generation would refuse (its options, voice and text) is said in the status line at once;
    a text of more than ASK_ABOVE_SEGMENTS segments is first shown with its estimate and asked about,
    once per text; else the generation is requested (so Cancel works while it waits), the last one's
    file and seed make way, `run` counts up, which starts it, and the progress line's timer starts.
    (`stream_audio`: the player streams; else it gets the segments one after another.)"""
    if session.active:
        return "A generation of this tab is under way: wait for it, or press Cancel.", *_unchanged(6)
    try:
        options = options_from_form(form)
        if voice_file:
            studio.read_voice_file(voice_file)
        else:
            studio.check_voice(voice)
        estimate = studio.estimate(text, options)
    except BarkError as e:
        return _error(studio.redact(str(e))), *_unchanged(6)
    n = len(estimate.segments)
    if confirmed:
        session.confirmed = text
    elif n > ASK_ABOVE_SEGMENTS and session.confirmed != text:
        question = f"**This is a long one:** {_plan_summary(estimate)}. Generate it?"
        yes = gr.Button(f"Yes, generate all {n} segments")
        return question, gr.skip(), gr.skip(), gr.Row(visible=True), yes, _segments_table(estimate), gr.skip()
    job = Job(estimate)
    session.request(in_page=True, job=job, one_clip_at_a_time=not stream_audio)
    sessions.track(request.session_hash if request is not None else None, session)
    studio.line.join(job)  # in Gradio's queue from now: others count it ahead of theirs
    started = gr.Row(visible=False), (run or 0) + 1, gr.Row(visible=False), gr.skip(), gr.skip()
    return "Starting…", *started, gr.Timer(active=True)


def not_now() -> tuple[str, gr.Row]:
    return "Not generated: the text is as it was, to shorten or to generate later.", gr.Row(visible=False)


def show_made(session: Session) -> gr.Row:
    """The file and the seed, once this generation made them (not after a cancel or an error)."""
    return gr.Row(visible=session.made is not None)


def show_segments(studio: Studio, text: str, **form) -> gr.Dataframe:
    """The segments a generation would make, with estimated seconds, without generating; its label says
    how many, about how much audio and about how long that takes on this server."""
    return _segments_table(studio.estimate(text, options_from_form(form)))


def _segments_table(estimate: Estimate) -> gr.Dataframe:
    rows = [
        [n, s.clean, round(t, 1)] for n, (s, t) in enumerate(zip(estimate.segments, estimate.seconds, strict=True), 1)
    ]
    return gr.Dataframe(value=rows, visible=True, label=f"Segments: {_plan_summary(estimate)}")


def _plan_summary(estimate: Estimate) -> str:
    """'30 segments, about 4 min of audio, about 12 min to make here (measured over 3 generations)'."""
    n = len(estimate.segments)
    text = f"{n} segment{'s' if n != 1 else ''}, about {_about(estimate.audio_s)} of audio, "
    if estimate.work_s is None:
        return text + "how long it takes here is known once a generation has finished on this server"
    over = f"{estimate.measured} generation{'s' if estimate.measured != 1 else ''}"
    return text + f"about {_about(estimate.work_s)} to make here (measured over {over})"


def _about(seconds: float) -> str:
    """A duration for people: '8 s', '4 min', '2 h 10 min'."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")


def save_voice(studio: Studio, name: str, session: Session) -> str:
    """Save the voice of this tab's last generation into the library."""
    if not session.last_entry:
        raise InputError("Generate something first; then its voice can be saved.")
    info = studio.save_voice(session.last_entry, name)
    return f"Saved the voice **{info.name}**: it is in the voice picker now."


def _error(message: str) -> str:
    return f"⚠️ **Not generated.** {message}"


def _unchanged(n: int) -> list[dict]:
    return [gr.skip() for _ in range(n)]


def _progress(p: Progress) -> tuple[float, str]:
    """(overall fraction, "Segment 2/5 · coarse") of an engine progress report; while a model loads, (how
    much of its download is done, "Downloading suno/bark/text_2.pt for the text model: 1.2 of 5.4 GB (22%)")."""
    if p.stage == "load":
        return (p.step / p.total if p.total else 0.0), p.detail
    which = f"{p.segment + 1}" if p.count == 1 else f"{p.segment + 1}–{p.segment + p.count}"
    return p.fraction(), f"Segment {which}/{p.segments} · {p.stage}"


def show_progress(studio: Studio, session: Session) -> tuple[str, dict]:
    """(the progress line, its timer) of this tab's generation: while it waits, what it waits for and
    about how long; then a bar, where it is, how long so far and about how long is left; empty, and the
    timer stopped, when nothing runs."""
    job = session.job
    if not session.active or job is None:
        return "", gr.Timer(active=False)
    if job.progress is None:
        return progress_line(0.0, _waiting(studio.line.ahead_of(job))), gr.skip()
    fraction, where = _progress(job.progress)
    left = job.left_s()
    text = f"{where} · {fraction:.0%} · {_about(job.elapsed_s())} so far"
    return progress_line(fraction, text + (f", about {_about(left)} left" if left is not None else "")), gr.skip()


def _waiting(ahead: list[Job]) -> str:
    """'Waiting for the engine: 2 generations ahead of yours (the one running: Segment 3/40 · coarse, 12%
    done, 2 min so far), about 9 min until yours starts', from the jobs' own progress and the measured
    speed (a job loading its models names the file it reads or downloads)."""
    if not ahead:
        return "Waiting for the engine…"
    n = len(ahead)
    text = f"Waiting for the engine: {n} generation{'s' if n != 1 else ''} ahead of yours"
    running = next((j for j in ahead if j.progress is not None), None)
    if running is not None:
        where, so_far = _progress(running.progress)[1], _about(running.elapsed_s())
        text += f" (the one running: {where}, {running.fraction:.0%} done, {so_far} so far)"
    left = [j.left_s() for j in ahead]
    if any(s is None for s in left):
        return text + "; how long is known once a generation has finished on this server"
    return text + f", about {_about(sum(left))} until yours starts"


def progress_line(fraction: float, text: str) -> str:
    return (
        f'<div class="progress-line"><progress value="{fraction:.3f}" max="1" style="width: 12em; '
        f'vertical-align: middle; accent-color: var(--color-accent)"></progress> <span>{html.escape(text)}</span></div>'
    )


def _segment_done(segment: SegmentResult, session: Session) -> tuple[str, Any]:
    """(status, the player's new clip) for a finished segment: its audio at once (API callers, a
    streaming player), or played after the one that plays (the page's player, without ffmpeg)."""
    audio = encode_audio(segment.audio, SAMPLE_RATE, "wav")
    ready = f"Segment {segment.index + 1} is ready ({segment.duration_s:.1f} s)"
    if session.clips is None:
        return f"{ready}; playing while the rest is made…", audio
    progress = session.job.progress if session.job is not None else None
    count = progress.segments if progress is not None else len(session.job.estimate.segments)
    # A file of its own name: its download is "segment-3.wav", and two clips of equal sound (the tiny test
    # models make them) are two files, so the player loads (and plays) each.
    n = segment.index + 1
    clip = gr.Audio(
        save_bytes_to_cache(audio, f"segment-{n}.wav", get_upload_folder()), label=f"{LIVE_LABEL} · {n} of {count}"
    )
    if session.clips.offer(clip) is None:
        return f"{ready}; it plays after the one playing now.", gr.skip()
    return f"{ready}; playing while the rest is made…", clip


def next_clip(session: Session) -> Any:
    """The page's player reached the end of a segment: the next finished one, if any."""
    clip = session.clips.ended() if session.clips is not None else None
    return clip if clip is not None else gr.skip()


def _summary(result: GenerationResult) -> str:
    parts = [
        f"Done: {result.duration_s:.1f} s of audio in {len(result.segments)} segment(s), seed {result.seed}, "
        f"{result.timing()}."
    ]
    parts += [f"⚠️ {warning}" for warning in result.warnings]
    return "  \n".join(parts)

"""The Clone tab: a recording or an uploaded clip -> new voices in the library, each with a sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

import cloning
from cloning.options import MAX_MAX_SECONDS, MAX_VARIANTS, MIN_MAX_SECONDS
from core.audio import to_int16
from core.errors import InputError

from ..studio import BEST_CLIP_SECONDS, CLONE_SAMPLE_TEXT, Studio
from .handler import handler

LOW, HIGH = BEST_CLIP_SECONDS
GUIDE = (
    f"Give {LOW:g}–{HIGH:g} seconds of one person speaking clearly, without music or other voices. "
    "Each variant is a voice ending at a different pause of the clip: listen to the samples, keep the good ones."
)


@dataclass
class CloneTab:
    voices_changed: list = field(default_factory=list)


def clone_tab(studio: Studio) -> CloneTab:
    defaults = cloning.CloneOptions()
    gr.Markdown(GUIDE)
    with gr.Row():
        with gr.Column():
            audio = gr.Audio(
                sources=["upload", "microphone"], type="filepath", label="Voice sample", elem_id="clone-audio"
            )
            checked = gr.Markdown(elem_id="clone-check")  # what the clip is, as soon as it is given
            name = gr.Textbox(label="Name of the new voice", elem_id="clone-name")
            overwrite = gr.Checkbox(False, label="Overwrite voices of that name", elem_id="clone-overwrite")
            language = gr.Dropdown(
                [(spec.display_name, code) for code, spec in cloning.QUANTIZERS.items()],
                value=defaults.language,
                label="Language of the speech",
            )
        with gr.Column():
            options = {
                "language": language,
                "trim_silence": gr.Checkbox(defaults.trim_silence, label="Trim silence at the ends"),
                "normalize": gr.Checkbox(defaults.normalize, label="Normalise the loudness"),
                "max_seconds": gr.Slider(
                    MIN_MAX_SECONDS, MAX_MAX_SECONDS, defaults.max_seconds, step=0.5, label="Use at most (seconds)"
                ),
                "variants": gr.Slider(1, MAX_VARIANTS, defaults.variants, step=1, label="Variants"),
            }
            sample_text = gr.Textbox(CLONE_SAMPLE_TEXT, label="Sample sentence")
            sample_seconds = gr.Slider(0.1, 14, 6, step=0.1, label="Sample length (seconds)", elem_id="sample-seconds")
    clone_button = gr.Button("Clone", variant="primary", elem_id="clone")
    notes = gr.Markdown(label="Result", elem_id="clone-notes")
    players = [gr.Audio(visible=False, interactive=False, buttons=["download"]) for _ in range(MAX_VARIANTS)]
    made = gr.State([])  # names of the variants this tab made last
    with gr.Row():
        keep = gr.CheckboxGroup([], label="Keep", info="Unticked variants are deleted", visible=False, scale=3)
        drop_button = gr.Button("Drop the unticked", visible=False, scale=1)

    check = handler(check_clip, studio)
    for given in (audio.upload, audio.stop_recording):
        given(check, [audio, options["max_seconds"]], [checked, audio], api_visibility="private")
    audio.clear(lambda: "", None, checked, api_visibility="private")
    cloned = clone_button.click(
        handler(clone, studio),
        [audio, name, sample_text, sample_seconds, overwrite],
        [notes, *players, keep, drop_button, made],
        inputs_kwargs=options,
        api_name="clone",
        concurrency_id="engine",
        concurrency_limit=1,
    )
    dropped = drop_button.click(
        handler(drop, studio), [keep, made], [notes, *players, keep, made], api_name="drop_variants"
    )
    return CloneTab(voices_changed=[cloned, dropped])


# Handlers


def check_clip(studio: Studio, audio: str | None, max_seconds: float) -> tuple[str, gr.Audio | dict]:
    """What an uploaded or recorded clip is (length, level) and what to know before cloning it; a clip
    that cannot be cloned is said so and taken out of the player (it would play as 0:00)."""
    if audio is None:
        return "", gr.skip()
    try:
        found = studio.check_clip(audio, Path(audio).name, float(max_seconds))
    except InputError as e:
        return f"⚠️ {studio.redact(str(e))}", gr.Audio(None)
    return "  \n".join([f"**Clip** {found.summary()}", *(f"⚠️ {note}" for note in found.notes)]), gr.skip()


def clone(
    studio: Studio,
    audio: str | None,
    name: str,
    sample_text: str,
    sample_seconds: float,
    overwrite: bool = False,
    progress=gr.Progress(),  # noqa: B008 (Gradio injects it)
    **options,
) -> list:
    """Clone a voice from a clip into the library (one voice per variant), with a sample of each."""
    # Returns the notes, a player per variant (MAX_VARIANTS), the Keep choice and its button, the names made.
    if audio is None:
        raise InputError("Upload or record a voice sample first.")
    options = cloning.CloneOptions(**{**options, "variants": int(options["variants"])})
    source = Path(audio).name if isinstance(audio, str) else None
    samples, clone_notes = studio.clone_with_samples(
        audio, name, options, sample_text, float(sample_seconds), source, lambda m, f: progress(f, desc=m), overwrite
    )
    names = [s.info.name for s in samples]
    shown = [gr.Audio((s.sample_rate, to_int16(s.audio)), label=s.info.name, visible=True) for s in samples]
    hidden = [gr.Audio(None, visible=False)] * (MAX_VARIANTS - len(samples))
    text = "  \n".join([f"Saved {', '.join(f'**{n}**' for n in names)} in your voices.", *clone_notes])
    choose = [gr.CheckboxGroup(names, value=names, visible=True), gr.Button(visible=True)]
    return [text, *shown, *hidden, *choose, names]


def drop(studio: Studio, kept: list[str], made: list[str]) -> list:
    """Delete the variants that were not kept."""
    dropped = [n for n in made if n not in kept]
    studio.delete_voices(dropped)
    text = f"Dropped {', '.join(dropped)}." if dropped else "Kept them all."
    views = [gr.Audio(visible=n in kept) for n in made] + [gr.skip()] * (MAX_VARIANTS - len(made))
    remaining = [n for n in made if n in kept]
    return [text, *views, gr.CheckboxGroup(remaining, value=remaining), remaining]

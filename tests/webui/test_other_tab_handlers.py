"""The Clone, Voices, History and Settings tabs' handlers called as plain functions on a real Studio
(tiny models), without any Blocks or browser."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
import torch

from core.engine import EngineSettings
from core.errors import InputError, NameTakenError
from core.fields import described
from core.options import GenerationOptions
from webui.studio import Studio
from webui.tabs import clone, history, settings, voices

from .helpers import voice_clip


@pytest.fixture()
def studio(engine, tmp_path) -> Studio:
    return Studio(engine, tmp_path / "outputs")


def add_voice(studio: Studio, name: str, preset: str = "v2/en_speaker_1") -> None:
    studio.engine.library.save(name, studio.engine.resolve_voice(preset)[0])


def test_renaming_onto_a_taken_name_offers_what_the_tab_can_do(studio):
    add_voice(studio, "Anna")
    add_voice(studio, "Bert")
    with pytest.raises(NameTakenError) as caught:
        voices.rename(studio, "Anna", " Bert ")
    message = str(caught.value)
    assert "'Bert' is already in your voice library" in message and "delete" in message
    assert "overwrit" not in message  # the tab has no overwrite
    assert studio.voice_names() == ["Anna", "Bert"]


def test_renaming_needs_a_new_name(studio):
    add_voice(studio, "Anna")
    with pytest.raises(InputError, match="Type a new name for Anna first"):
        voices.rename(studio, "Anna", "  ")
    with pytest.raises(InputError, match="Type a new name for Anna first"):
        voices.rename(studio, "Anna", "Anna")


# Settings


def test_apply_says_what_changed_and_the_status_shows_each_stage(studio):
    studio.prepare_models(lambda message, fraction: None)
    text = settings.apply(studio, small_text=True, max_batch=2)
    assert text.startswith("**Applied: Small text model on, Segments at once 8 → 2.** The models were unloaded")
    assert "| text | small | float32 | loads on first use |" in text
    assert "| coarse | full | float32 | loads on first use |" in text
    studio.prepare_models(lambda message, fraction: None)
    assert "| text | small | float32 | loaded |" in studio.status()
    assert "| codec | EnCodec | float32 | loaded |" in studio.status()


def test_apply_without_a_change_keeps_the_models(studio):
    studio.prepare_models(lambda message, fraction: None)
    current = studio.engine.settings
    text = settings.apply(studio, small_text=current.small_text, device=current.device)
    assert text.startswith("**Nothing to apply**") and len(studio.engine.models.loaded()) == 4


def test_fast_mode_shows_in_each_stage(studio):
    settings.apply(studio, fast=True)
    assert "| fine | full | fast mode: int8/bf16 | loads on first use |" in studio.status()
    settings.apply(studio, fast=True, quantize="int4")
    assert "| text | full | fast mode: int4/bf16 | loads on first use |" in studio.status()


def test_fast_mode_off_takes_int4_back_to_int8_so_that_apply_works(studio):
    """int4 is a fast-mode setting the engine refuses alone: unticking fast mode resets the dropdown."""
    with gr.Blocks() as demo, gr.Tab("Settings") as tab:
        controls = settings.settings_tab(studio, tab)
    fast, quantize = controls["fast"]._id, controls["quantize"]._id
    (reset,) = [d for d in demo.config["dependencies"] if (fast, "change") in map(tuple, d["targets"])]
    assert reset["inputs"] == [fast, quantize] and reset["outputs"] == [quantize]
    assert settings.weights_for(False, "int4") == "int8" and settings.weights_for(True, "int4") == "int4"
    settings.apply(studio, fast=False, quantize=settings.weights_for(False, "int4"))  # no InputError
    with pytest.raises(InputError, match="turn fast mode on"):  # what the old dropdown sent
        settings.apply(studio, fast=False, quantize="int4")


@pytest.mark.parametrize("cuda", [False, True])
def test_cuda_graphs_shows_only_where_cuda_runs(studio, monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    with gr.Blocks(), gr.Tab("Settings") as tab:
        controls = settings.settings_tab(studio, tab)
    assert controls["cuda_graphs"].visible is cuda
    assert all(control.visible for name, control in controls.items() if name != "cuda_graphs")


def test_each_setting_says_what_it_does_in_its_fields_words(studio):
    with gr.Blocks(), gr.Tab("Settings") as tab:
        controls = settings.settings_tab(studio, tab)
    about = described(EngineSettings)
    for name, control in controls.items():
        assert control.info.startswith(about[name].about.help), name


# Clone


def clip_of(tmp_path, seconds: float | None = None) -> Path:
    """espeak-ng's speech (about 6 s), cut to `seconds` when given."""
    clip = voice_clip(tmp_path / "speech.wav")
    if seconds is None:
        return clip
    audio, rate = sf.read(clip)
    sf.write(tmp_path / "cut.wav", audio[: int(seconds * rate)], rate)
    return tmp_path / "cut.wav"


def test_a_clip_is_checked_as_soon_as_it_is_given(studio, tmp_path):
    text, audio = clone.check_clip(studio, str(clip_of(tmp_path)), 15)
    assert re.fullmatch(r"\*\*Clip\*\* 6\.\d s \(\d\.\d s of sound\) · level −\d+ dBFS RMS, peak −?\d+ dBFS", text)
    assert audio == gr.skip()


def test_a_short_clip_gets_a_note(studio, tmp_path):
    text, _ = clone.check_clip(studio, str(clip_of(tmp_path, 4.5)), 15)
    assert "**Clip** 4.5 s" in text and "s of sound is short: 5–15 s clones best" in text


def test_a_long_clip_says_what_is_used(studio, tmp_path):
    text, _ = clone.check_clip(studio, str(clip_of(tmp_path)), 3)
    assert "only its last 3 s will be used (Use at most)" in text


def test_a_text_file_named_wav_is_refused_on_upload(studio, tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("Remember to buy milk.\n")
    text, audio = clone.check_clip(studio, str(fake), 15)
    assert text.startswith("⚠️ notes.wav cannot be read as audio: it is a text file, not audio")
    assert audio.value is None  # out of the player, which showed it as 0:00


def test_a_silent_clip_is_refused_on_upload(studio, tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(24_000 * 3, dtype=np.float32), 24_000)
    text, _ = clone.check_clip(studio, str(tmp_path / "silence.wav"), 15)
    assert text.startswith("⚠️ silence.wav is silent")


# History


def test_delete_asks_only_about_a_chosen_generation(studio):
    with pytest.raises(InputError, match="Choose a generation to delete first"):
        history.ask(studio, None)
    entry = generate_one(studio, "Hello there.")
    confirm, question = history.ask(studio, entry.id)
    assert confirm.visible is True and "Hello there." in question


def test_the_voice_column_names_random_and_uploaded_voices(studio, tmp_path):
    generate_one(studio, "Random.")
    generate_one(studio, "Preset.", "v2/en_speaker_3")
    prompt_file = studio.engine.resolve_voice("v2/de_speaker_1")[0].save(tmp_path / "Mine.npz")
    generate_one(studio, "Uploaded.", studio.read_voice_file(prompt_file), upload=str(prompt_file))
    voices_by_text = {row[1]: row[2] for row in history.history_rows(studio.history())}
    assert voices_by_text == {"Random.": "random", "Preset.": "v2/en_speaker_3", "Uploaded.": "uploaded Mine.npz"}


def generate_one(studio: Studio, text: str, voice=None, upload: str | None = None):
    result = studio.generate(text, voice, GenerationOptions(seed=1, max_duration_s=0.2))
    return studio.save_output(result, "wav", upload)


def test_a_taken_name_can_be_overwritten_from_the_clone_tab(studio, tmp_path):
    """The library's 'choose another name or allow overwriting' names something the tab has."""
    clip = str(clip_of(tmp_path))
    options = {"language": "en", "trim_silence": True, "normalize": True, "max_seconds": 15.0, "variants": 1}
    progress = lambda fraction, desc=None: None  # noqa: E731
    first = clone.clone(studio, clip, "Twin", "Hi.", 0.2, progress=progress, **options)
    with pytest.raises(NameTakenError, match="allow overwriting"):
        clone.clone(studio, clip, "Twin", "Hi.", 0.2, progress=progress, **options)
    again = clone.clone(studio, clip, "Twin", "Hi.", 0.2, True, progress=progress, **options)
    assert first[0].startswith("Saved **Twin**") and again[0].startswith("Saved **Twin**")
    assert studio.voice_names() == ["Twin"]

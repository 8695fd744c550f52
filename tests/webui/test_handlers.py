"""The tabs' handlers called as plain functions on a real Studio (tiny models), without any Blocks."""

from __future__ import annotations

import inspect

import gradio as gr
import gradio.helpers
import gradio.utils
import pytest

from core.errors import InputError, VoiceError
from core.options import GenerationOptions
from webui.form import form_from_options
from webui.session import Session, Sessions
from webui.studio import NO_VOICE, Studio
from webui.tabs import generate, history, voices
from webui.tabs.handler import handler

FAST = GenerationOptions(seed=5, max_duration_s=0.2)  # tiny models never stop on their own
SKIP = gr.skip()


@pytest.fixture()
def studio(engine, tmp_path) -> Studio:
    return Studio(engine, tmp_path / "outputs")


def run_generation(studio: Studio, session: Session, text: str = "Hello.", voice: str = NO_VOICE) -> list[tuple]:
    """Everything the generate handler yields for one generation with FAST options."""
    return list(generate.generate(studio, Sessions(), text, voice, session, **form_from_options(FAST)))


def test_a_generation_yields_its_segments_then_the_saved_whole(studio):
    session = Session()
    started, *segments, done = run_generation(studio, session)
    assert started == ("Starting…", None, None, None, None)
    assert len(segments) == 1 and segments[0][0].startswith("Segment 1 is ready") and segments[0][2:] == (SKIP,) * 3
    status, live, audio, download, seed = done
    assert status.startswith("Done") and live == SKIP and seed == 5
    (entry,) = studio.history()
    assert audio == download == str(entry.audio) and session.last_entry == entry.id and not session.active


def test_a_failed_generation_raises_and_frees_its_session(studio):
    session = Session()
    with pytest.raises(InputError, match="The text is empty"):
        run_generation(studio, session, text="   ")
    with pytest.raises(VoiceError, match="paths are not accepted"):
        run_generation(studio, session, voice="/etc/passwd.npz")
    assert not session.active and session.last_entry is None and studio.history() == []


def test_cancel_answers_only_when_something_runs():
    session = Session()
    assert generate.cancel(session) == SKIP
    session.request()
    assert generate.cancel(session) == "Cancelled." and session.cancel.is_set() and not session.active


def test_save_voice_needs_a_generation_then_keeps_its_voice(studio):
    session = Session()
    with pytest.raises(InputError, match="Generate something first"):
        generate.save_voice(studio, "mine", session)
    run_generation(studio, session)
    assert "**mine**" in generate.save_voice(studio, "mine", session)
    assert studio.engine.library.info("mine").metadata["seed"] == 5


def test_rename_and_delete_a_voice(studio, tmp_path):
    prompt, _ = studio.engine.resolve_voice("v2/de_speaker_3")
    message, picker = voices.import_voice(studio, str(prompt.save(tmp_path / "Greta.npz")), "", False)
    assert message == "Imported **Greta**." and picker.value == "Greta"
    with pytest.raises(InputError, match="Choose a voice to rename first"):
        voices.rename(studio, None, "Greta 2")
    message, picker = voices.rename(studio, "Greta", "Greta 2")
    assert message == "Renamed **Greta** to **Greta 2**." and picker.value == "Greta 2"
    assert studio.voice_names() == ["Greta 2"]
    with pytest.raises(InputError, match="Choose a voice to delete first"):
        voices.ask("")
    message, picker, confirm = voices.delete(studio, "Greta 2")
    assert message == "Deleted **Greta 2**." and picker.value is None and confirm.visible is False
    assert studio.voice_names() == []
    with pytest.raises(VoiceError, match="no voice named 'Greta 2'"):
        voices.delete(studio, "Greta 2")


def test_reuse_fills_the_controls_in_their_order(studio):
    run_generation(studio, Session(), voice="v2/en_speaker_2")
    (entry,) = studio.history()
    names = ["seed", "max_duration_s", "random_seed"]  # any controls, in the order of the outputs
    text, voice, fmt, *values, tab, notes = history.reuse(studio, ["wav", "flac"], names, entry.id)
    assert (text, voice, fmt, values, notes) == ("Hello.", "v2/en_speaker_2", "wav", [5, 0.2, False], "")
    assert tab.selected == "generate"
    assert history.reuse(studio, ["flac"], [], entry.id)[2] == SKIP  # a format this machine cannot write
    with pytest.raises(InputError, match="Choose a generation first"):
        history.reuse(studio, ["wav"], names, None)


def test_reuse_of_a_voice_that_is_gone_says_so(studio):
    studio.engine.library.save("gone", studio.engine.resolve_voice("v2/en_speaker_1")[0])
    run_generation(studio, Session(), voice="gone")
    studio.delete_voice("gone")
    (entry,) = studio.history()
    _, voice, *_, notes = history.reuse(studio, ["wav"], [], entry.id)
    assert voice == NO_VOICE and notes == "The voice 'gone' is no longer in the library; choose a voice."


def test_a_bound_handler_is_what_gradio_reads(studio):
    bound = handler(generate.generate, studio, Sessions())
    names = list(inspect.signature(bound).parameters)
    assert names == ["text", "voice", "session", "voice_file", "audio_format", "request", "progress", "form"]
    assert inspect.isgeneratorfunction(bound) and bound.__doc__ == generate.generate.__doc__
    assert gradio.utils.get_type_hints(bound)["request"] is gr.Request  # so Gradio passes the request
    assert gradio.helpers.special_args(bound)[1] == names.index("progress")
    with pytest.raises(gr.Error, match="The text is empty"):  # a user's mistake is a message
        list(bound("  ", NO_VOICE, Session(), **form_from_options(FAST)))
    with pytest.raises(gr.Error, match="no voice named 'x' in your voice library"):
        handler(voices.delete, studio)("x")

"""The Generate tab's handlers and the service's generation parts, called as plain functions on a real
Studio (tiny models), without any Blocks (issue 13, items 5-9)."""

from __future__ import annotations

import gradio as gr
import pytest

from core.engine import Progress
from core.errors import InputError, ModelFileError
from core.options import GenerationOptions
from webui.form import form_from_options, options_from_form
from webui.session import Clips, Session, Sessions
from webui.studio import NO_VOICE, Job, Studio
from webui.tabs import generate

FAST = GenerationOptions(seed=5, max_duration_s=0.2)  # tiny models never stop on their own


@pytest.fixture()
def studio(engine, tmp_path) -> Studio:
    return Studio(engine, tmp_path / "outputs")


def test_an_empty_seed_without_random_is_a_mistake_not_a_random_seed():
    form = form_from_options(GenerationOptions())
    with pytest.raises(InputError, match="Type a seed, or tick Random seed") as error:
        options_from_form(form | {"random_seed": False, "seed": None})  # the box emptied
    assert error.value.field == "seed"


def check(studio: Studio, session: Session, text: str = "Hello.", voice: str = NO_VOICE, run: int = 0, **changes):
    """What the page's Generate button gets: (status, the file-and-seed row, run, the confirm row, its
    button, the segments table)."""
    confirmed = changes.pop("confirmed", False)
    stream_audio = changes.pop("stream_audio", False)  # as on a machine without ffmpeg
    form = form_from_options(FAST) | changes
    return generate.check(studio, Sessions(), stream_audio, confirmed, text, voice, session, None, run, **form)


@pytest.mark.parametrize(
    ("text", "voice", "changes", "words"),
    [
        ("  ", NO_VOICE, {}, "The text is empty"),
        ("Hi.", "de", {}, "No voice named 'de'"),
        ("Hi.", NO_VOICE, {"coarse_window": 2.5}, "whole number"),
        ("Hi.", NO_VOICE, {"random_seed": False, "seed": None}, "Type a seed"),
    ],
)
def test_check_says_a_mistake_in_the_status_and_starts_nothing(studio, text, voice, changes, words):
    session = Session()
    status, made, run, *_ = check(studio, session, text, voice, **changes)
    assert status.startswith("⚠️") and words in status
    assert made == run == gr.skip() and not session.active  # the last result stays; nothing waits


def test_check_lets_a_good_generation_start_once(studio):
    session = Session()
    status, made, run, *_ = check(studio, session, run=3)
    assert status == "Starting…" and made.visible is False and run == 4 and session.active and session.in_page
    status, made, run, *_ = check(studio, session, run=4)  # pressed again while it waits or runs
    assert "under way" in status and made == run == gr.skip()


def test_an_error_of_a_generation_of_the_page_ends_in_its_status(studio, monkeypatch):
    def broken(*args, **kwargs):
        raise ModelFileError("The coarse model file is damaged.")

    monkeypatch.setattr(studio.engine, "generate", broken)
    session = Session()
    check(studio, session)
    outputs = []
    with pytest.raises(gr.Error, match="damaged") as error:
        for value in generate.generate(studio, Sessions(), "Hello.", NO_VOICE, session, **form_from_options(FAST)):
            outputs.append(value)
    assert error.value.visible is False  # no toast: the status line says it
    assert studio.line.ahead_of(Job(None)) == []  # it left the line for the engine
    assert [value[0] for value in outputs] == ["Starting…", "⚠️ **Not generated.** The coarse model file is damaged."]
    assert not session.active
    with pytest.raises(ModelFileError):  # an API caller (no check) gets the error itself
        list(generate.generate(studio, Sessions(), "Hello.", NO_VOICE, Session(), **form_from_options(FAST)))


LONG = "This is one of many sentences, each a segment of its own. " * 50


def test_an_estimate_is_measured_from_finished_generations(studio):
    before = studio.estimate("One sentence. " * 30, FAST)
    assert before.work_s is None and before.measured == 0  # said as unknown, not guessed
    assert len(before.seconds) == len(before.segments) > 1
    assert all(0 < s <= 0.21 for s in before.seconds)  # at most max_duration_s each
    assert before.audio_s == pytest.approx(sum(before.seconds))
    result = studio.generate("Hello.", None, FAST)
    after = studio.estimate("One sentence. " * 30, FAST)
    assert after.measured == 1
    assert after.work_s == pytest.approx(after.audio_s * result.compute_s / result.duration_s)


def test_a_long_text_is_shown_and_asked_about_once(studio):
    session = Session()
    status, made, run, confirm, yes, table, _ = check(studio, session, LONG, run=1)
    n = len(studio.plan(LONG, FAST))
    assert n > generate.ASK_ABOVE_SEGMENTS
    assert f"{n} segments, about " in status and "known once a generation has finished" in status
    assert made == run == gr.skip() and not session.active  # nothing generates yet
    assert confirm.visible and yes.value == f"Yes, generate all {n} segments"
    assert table.visible and len(table.value["data"]) == n and table.label.startswith(f"Segments: {n} segments")

    status, _, run, confirm, *_ = check(studio, session, LONG, run=1, confirmed=True)
    assert status == "Starting…" and run == 2 and confirm.visible is False
    session.finish()
    assert check(studio, session, LONG, run=2)[2] == 3  # the same text again: not asked again
    session.finish()
    assert check(studio, session, LONG + " More.", run=3)[2] == gr.skip()  # another text: asked


def test_show_segments_says_how_much_and_how_long(studio):
    studio.generate("Hello.", None, FAST)
    table = generate.show_segments(studio, "One sentence. " * 30, **form_from_options(FAST))
    assert "about" in table.label and "to make here (measured over 1 generation)" in table.label


def test_the_progress_line_follows_the_generation_of_its_tab(studio):
    session = Session()
    line, timer = generate.show_progress(studio, session)
    assert line == "" and timer.active is False  # nothing runs: empty, and the timer stops
    *_, timer = check(studio, session)
    assert timer.active is True
    line, timer = generate.show_progress(studio, session)
    assert "Waiting for the engine" in line and timer == gr.skip()
    result = studio.generate("Hello.", None, FAST, job=session.job)  # as the tab's generation runs it
    assert session.job.started_at is not None and session.job.progress.stage == "decode"
    assert session.job.fraction == 1.0 and result.duration_s > 0
    session.job.progress = Progress("coarse", 0, 2, 5, 10)
    line, _ = generate.show_progress(studio, session)
    assert "Segment 1/2 · coarse · 19% · " in line and "so far, about" in line and 'value="0.188"' in line
    downloading = "Downloading suno/bark/text_2.pt for the text model: 2.7 of 5.4 GB (50%)"
    session.job.progress = Progress("load", 0, 2, 50, 100, detail=downloading)  # a first run's wait
    line, _ = generate.show_progress(studio, session)
    assert downloading in line and 'value="0.500"' in line
    session.finish()
    assert generate.show_progress(studio, session)[0] == ""


def test_a_job_says_how_long_is_left_from_its_progress_or_the_measured_speed(studio):
    estimate = studio.estimate("Hello.", FAST)
    job = Job(estimate)
    assert job.left_s() is None  # no speed measured, no progress: unknown
    job.report(Progress("fine", 0, 1, 1, 2))
    job.started_at -= 10  # 62.5% done in 10 s: 6 s left
    assert job.fraction == 0.625 and job.left_s() == pytest.approx(6.0, rel=0.01)
    job.report(Progress("load", 0, 1, 10, 100, detail="Downloading the codec: 10%"))  # a model loads meanwhile
    assert job.fraction == 0.625 and job.progress.stage == "load"  # shown, and not counted as generation done


def test_a_tab_behind_a_job_that_loads_its_models_is_told_so(studio):
    ahead = Job(studio.estimate("Hello.", FAST))
    studio.line.join(ahead)
    ahead.report(Progress("load", 0, 1, 1, 4, detail="Downloading suno/bark/text_2.pt for the text model: 25%"))
    mine = Session()
    check(studio, mine)
    line, _ = generate.show_progress(studio, mine)
    assert "(the one running: Downloading suno/bark/text_2.pt for the text model: 25%, 0% done" in line


def test_clips_play_one_after_another():
    clips = Clips()
    assert clips.offer("one") == "one"  # nothing plays: at once
    assert clips.offer("two") is None and clips.offer("three") is None  # they wait their turn
    assert clips.ended() == "two" and clips.ended() == "three"
    assert clips.ended() is None  # nothing waits: the next offer plays at once
    assert clips.offer("four") == "four"


@pytest.mark.parametrize("stream_audio", [False, True])
def test_the_page_gets_its_segments_one_at_a_time_unless_its_player_streams(studio, stream_audio):
    session = Session()
    text = "One sentence here. Another one there."
    check(studio, session, text, stream_audio=stream_audio, split_goal_length=20, split_max_length=30)
    form = form_from_options(FAST) | {"split_goal_length": 20, "split_max_length": 30}
    outputs = list(generate.generate(studio, Sessions(), text, NO_VOICE, session, **form))
    first, second = [value for value in outputs if value[0].startswith("Segment")]
    if stream_audio:  # each segment's wav bytes into the streaming player, as before
        assert session.clips is None and isinstance(first[1], bytes) and isinstance(second[1], bytes)
        return
    assert first[1].label == "Segments as they finish · 1 of 2" and first[1].value["path"].endswith("segment-1.wav")
    assert second[1] == gr.skip() and "plays after the one playing now" in second[0]
    clip = generate.next_clip(session)  # the page's player reached the end of segment 1
    assert clip.label.endswith("2 of 2") and clip.value["path"].endswith("segment-2.wav")
    assert generate.next_clip(session) == gr.skip()


def test_a_tab_waiting_for_the_engine_is_told_what_it_waits_for_and_how_long(studio):
    studio.generate("Hello.", None, FAST)  # the speed is measured from here on
    ahead = Job(studio.estimate(LONG, FAST))  # a long generation of another tab, running
    studio.line.join(ahead)
    ahead.report(Progress("text", 0, 25, 1, 100))
    mine, later = Session(), Session()
    check(studio, mine, run=1)
    check(studio, later, run=1)
    line, _ = generate.show_progress(studio, mine)
    assert "Waiting for the engine: 1 generation ahead of yours (the one running: Segment 1/25 · text, 0% done" in line
    assert f"about {generate._about(ahead.left_s())} until yours starts" in line  # its size, not a mean
    assert "2 generations ahead of yours" in generate.show_progress(studio, later)[0]

    assert generate.cancel(mine) == "Cancelled before it started: nothing was generated."
    assert "1 generation ahead of yours" in generate.show_progress(studio, later)[0]  # mine left the line
    assert generate.show_progress(studio, mine)[0] == ""


def test_a_generation_cancelled_while_it_waited_does_not_run(studio, monkeypatch):
    calls = []
    monkeypatch.setattr(studio.engine, "generate", lambda *args, **kwargs: calls.append(args))
    session = Session()
    check(studio, session)
    generate.cancel(session)
    outputs = list(generate.generate(studio, Sessions(), "Hello.", NO_VOICE, session, **form_from_options(FAST)))
    assert outputs == [(generate.CANCELLED_WAITING, *(gr.skip(),) * 4)] and calls == []  # run by Gradio anyway


def test_every_generation_is_in_the_line_while_it_runs(studio, monkeypatch):
    seen = []
    real = studio.engine.generate

    def looking(*args, **kwargs):
        seen.append(len(studio.line.ahead_of(Job(None))))  # a newcomer sees this one ahead
        return real(*args, **kwargs)

    monkeypatch.setattr(studio.engine, "generate", looking)
    studio.generate("Hello.", None, FAST)  # as the REST API calls it: no job of its own
    assert seen == [1] and studio.line.ahead_of(Job(None)) == []

"""The Projects tab's handlers called as plain functions on a real Studio with projects (tiny models),
without any Blocks or browser."""

from __future__ import annotations

import re
import time
from pathlib import Path

import gradio as gr
import pytest

from core.errors import InputError
from core.projects import ProjectBusy, ProjectSettings
from webui.form import form_from_options
from webui.studio import Studio
from webui.tabs import projects as tab

SCRIPT = "Alice: Good morning, Bob.\nBob: Morning! Coffee?\nAlice: Yes, please. Black."
VOICES = [["Alice", "v2/en_speaker_1"], ["Bob", "v2/en_speaker_2"]]
FAST = {"max_duration_s": 0.3, "random_seed": False, "seed": 7}  # tiny random models never stop on their own
OPENED = tab.OPENED  # the views of an open project, after the status line; the segment's views follow


@pytest.fixture()
def studio(engine, tmp_path) -> Studio:
    return Studio(engine, tmp_path / "outputs", projects_dir=tmp_path / "projects")


def made(studio: Studio, text: str = SCRIPT, speakers=VOICES) -> str:
    """A project of `text`, created as the New project form does, generated to the end: its id."""
    status, picker = tab.create(studio, "Talk", text, "none", speakers, "auto", 1, **FAST)
    assert "it is being generated" in status
    finished(studio, picker.value)
    return picker.value


def finished(studio: Studio, project_id: str) -> dict:
    deadline = time.monotonic() + 120
    while (view := studio.projects.view(project_id))["run"]["state"] in tab.ACTIVE:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.05)
    assert view["run"]["state"] == "finished", view["run"]
    return view


def rows(views: tuple) -> list[list]:
    """The segments table of an action's outputs (status, *the project's views, *the segment's)."""
    return views[1 + 4]


def test_the_speakers_of_a_script_are_found_as_it_is_typed_and_those_without_a_voice_named(studio):
    table, note = tab.find_speakers(studio, SCRIPT, "auto", [])
    assert table == [["Alice", ""], ["Bob", ""]]
    assert "No voice yet for Alice, Bob" in note
    given = [["alice", "v2/en_speaker_1"], ["Bob", ""]]  # a voice typed for Alice is kept (any case)
    table, note = tab.find_speakers(studio, SCRIPT + "\nCarol: Me too.", "auto", given)
    assert table == [["Alice", "v2/en_speaker_1"], ["Bob", ""], ["Carol", ""]]
    assert "No voice yet for Bob, Carol" in note
    assert tab.find_speakers(studio, SCRIPT, "off", given) == ([], "")  # dialogue off: no speakers


def test_a_script_with_a_speaker_lacking_a_voice_is_made_but_waits_for_the_voice(studio):
    status, picker = tab.create(studio, "", SCRIPT, "none", [["Alice", "v2/en_speaker_1"]], "auto", 1, **FAST)
    assert "Bob have no voice yet" in status and "Voices of the speakers" in status
    project_id = picker.value
    assert studio.projects.view(project_id)["run"]["state"] == "idle"  # nothing started
    views = tab.open_project(studio, project_id)
    assert "No voice yet for Bob" in views[2]  # the header
    assert views[OPENED] == [["Alice", "v2/en_speaker_1"], ["Bob", ""]]  # the project's speakers table
    status, *_ = tab.said(tab.start, 1 + OPENED + tab.DETAILS)(studio, project_id)
    assert status.startswith("⚠️") and "Bob" in status  # refused, said in the status line
    views = tab.save_speakers(studio, project_id, VOICES)
    assert views[0] == "The speakers' voices are saved."
    tab.start(studio, project_id)
    assert len(finished(studio, project_id)["segments"]) == 3


def test_an_open_project_shows_each_segment_with_its_status_speaker_take_and_flags_in_words(studio):
    project_id = made(studio)
    views = tab.open_project(studio, project_id)
    assert views[1].visible
    assert rows(views) == [
        [1, "done", "Alice", "1 of 1", "length cap", "Good morning, Bob."],
        [2, "done", "Bob", "1 of 1", "length cap", "Morning! Coffee?"],
        [3, "done", "Alice", "1 of 1", "length cap", "Yes, please. Black."],
    ]
    assert "3 segments: 3 done · 3 flagged" in views[2]
    line, timer, *_ = tab.poll(studio, project_id, None, None, 0)
    assert line.startswith("Done: 3 take(s) made") and timer.active is False  # the timer stops with the run


def test_reroll_with_new_text_then_the_new_take_shows_and_the_first_can_be_kept_again(studio):
    project_id = made(studio)
    second = studio.projects.view(project_id)["segments"][1]
    views = tab.reroll(studio, project_id, second["id"], "Morning!  Tea?")
    assert views[0] == "Segment 2: a new take is on its way (with the new text)."
    assert views[4].active  # the progress line's timer runs
    finished(studio, project_id)
    *_, picker, count = tab.poll(studio, project_id, second["id"], 1, 1)  # a new take came: it is shown
    assert picker.value == 2 and count == 2
    labels = [label for label, _ in picker.choices]
    assert re.match(r"Take 2 · 0\.\d s · seed \d+ · kept · length cap", labels[1])
    *_, picker, _ = tab.poll(studio, project_id, second["id"], 1, 2)  # no new take: the user's stays
    assert picker.value == 1
    views = tab.pick(studio, project_id, second["id"], 1)
    assert views[0] == "Segment 2 keeps take 1."
    assert rows(views)[1][1:4] == ["edited", "Bob", "1 of 2"]  # take 1 says the old text
    assert str(tab.play(studio, project_id, second["id"], 2)).endswith("-2.wav")


def test_a_mistake_is_said_in_the_status_line_and_nothing_else_changes(studio):
    project_id = made(studio)
    n = 1 + OPENED + tab.DETAILS
    status, *rest = tab.said(tab.reroll, n)(studio, project_id, None, "typed text")
    assert status == "⚠️ Choose a segment first." and all(r == gr.skip() for r in rest)
    first = studio.projects.view(project_id)["segments"][0]["id"]
    status, *rest = tab.said(tab.split, n)(studio, project_id, first, "no mark here")
    assert "put one | in the text" in status and all(r == gr.skip() for r in rest)
    status, *rest = tab.said(tab.pick, n)(studio, project_id, first, 9)
    assert "has no take 9" in status
    assert studio.projects.view(project_id)["segments"][0]["takes"][0]["number"] == 1


def test_insert_split_merge_and_delete_keep_the_segments_in_order(studio):
    project_id = made(studio)
    first, second, third = (s["id"] for s in studio.projects.view(project_id)["segments"])
    views = tab.insert_after(studio, project_id, first, "Hm.")
    assert [r[0:3] for r in rows(views)][:3] == [[1, "done", "Alice"], [2, "pending", "Alice"], [3, "done", "Bob"]]
    assert views[1 + 6].value == views[1 + 5][1]  # the new segment is the one open
    views = tab.split(studio, project_id, third, "Yes, please. | Black.")
    assert [r[5] for r in rows(views)] == ["Good morning, Bob.", "Hm.", "Morning! Coffee?", "Yes, please.", "Black."]
    assert [r[1] for r in rows(views)][3:] == ["pending", "pending"]
    fourth = views[1 + 5][3]
    views = tab.merge(studio, project_id, fourth)
    assert rows(views)[3][5] == "Yes, please. Black." and len(rows(views)) == 4
    views = tab.delete_segment(studio, project_id, views[1 + 5][1])
    assert [r[5] for r in rows(views)] == ["Good morning, Bob.", "Morning! Coffee?", "Yes, please. Black."]
    tab.start(studio, project_id)
    assert {s["status"] for s in finished(studio, project_id)["segments"]} == {"done"}
    assert second in [s["id"] for s in studio.projects.view(project_id)["segments"]]


def test_edits_wait_while_the_project_is_generated(studio):
    project_id = made(studio)
    first = studio.projects.view(project_id)["segments"][0]["id"]
    tab.reroll_all(studio, project_id, "flagged")
    with pytest.raises(ProjectBusy, match="being generated"):
        tab.merge(studio, project_id, first)
    finished(studio, project_id)


def test_reroll_all_flagged_gives_each_flagged_segment_a_new_take(studio):
    project_id = made(studio)
    views = tab.reroll_all(studio, project_id, "flagged")
    assert views[0] == "Re-rolling 3 segment(s): 1, 2, 3."
    view = finished(studio, project_id)
    assert [len(s["takes"]) for s in view["segments"]] == [2, 2, 2]
    assert tab.reroll_all(studio, project_id, "edited")[0] == "No segment is edited: nothing to re-roll."


def test_saving_a_segment_changes_only_what_was_changed(studio):
    project_id = made(studio)
    seg = studio.projects.view(project_id)["segments"][1]
    views = tab.save_segment(studio, project_id, seg["id"], seg["text"], seg["voice"], "Bob", "Part two")
    assert views[0] == "Segment 2 is saved."  # the voice shown is its speaker's: not made its own
    after = studio.projects.open(project_id).segment(seg["id"])
    assert after.voice is None and after.section == "Part two"
    views = tab.save_segment(studio, project_id, seg["id"], seg["text"], "v2/en_speaker_3", "Bob", "Part two")
    assert "It shows as edited" in views[0]
    assert studio.projects.open(project_id).segment(seg["id"]).voice == "v2/en_speaker_3"


def test_export_gives_the_audio_the_subtitles_and_the_timeline_to_download(studio):
    project_id = made(studio)
    status, files = tab.export(studio, project_id, "wav", ["srt", "vtt"], False)
    assert [p.rsplit(".", 1)[1] for p in files] == ["wav", "srt", "vtt", "json"]
    assert re.match(r"Exported \d+\.\d s: talk\.wav, talk\.srt, talk\.vtt, timeline\.json\.", status)
    assert "⚠️ segment 1:" in status  # the flags are said
    assert "Alice" in Path(files[1]).read_text(encoding="utf-8")


def test_the_generate_tab_text_becomes_a_project_opened_in_the_projects_tab(studio):
    form = form_from_options(tab.options_from_some(FAST))
    status, picker, tabs = tab.make_project(studio, "One sentence. And a second one.", "v2/en_speaker_4", None, **form)
    assert "Made the project" in status and tabs.selected == "projects"
    view = finished(studio, picker.value)
    assert view["settings"]["voice"] == "v2/en_speaker_4"
    assert view["settings"]["options"]["max_duration_s"] == 0.3 and view["settings"]["options"]["seed"] == 7
    with pytest.raises(InputError, match="save the uploaded voice"):
        tab.make_project(studio, "Hello.", "none", "/tmp/voice.npz", **form)


def test_cancel_stops_the_run_keeps_its_takes_and_it_is_not_resumed(studio):
    text = " ".join(f"Sentence number {n} of a longer text." for n in range(8))
    _, picker = tab.create(studio, "Long", text, "none", [], "auto", 1, **{**FAST, "max_duration_s": 2.0})
    project_id = picker.value
    deadline = time.monotonic() + 120
    while studio.projects.view(project_id)["run"]["takes"] < 1:
        assert time.monotonic() < deadline, "no take was made"
        time.sleep(0.02)
    assert tab.cancel(studio, project_id) == "Cancelling: every finished take is kept."
    while (view := studio.projects.view(project_id))["run"]["state"] in tab.ACTIVE:
        assert time.monotonic() < deadline, "the run did not stop"
        time.sleep(0.02)
    assert view["run"]["state"] == "cancelled" and "every finished take is kept" in view["run"]["message"]
    done = [s for s in view["segments"] if s["status"] == "done"]
    assert 1 <= len(done) < 8  # stopped within the run, what it made kept
    assert not any(
        s.wanted for s in studio.projects.store.list()
    )  # a user's cancel is not resumed when the server starts again
    assert tab.cancel(studio, project_id) == "Nothing of this project is being generated."


def test_a_project_left_unfinished_elsewhere_is_idle_not_queued_forever(studio):
    project = studio.projects.store.create(SCRIPT, ProjectSettings(speakers=dict(VOICES)))
    project.set_wanted(True)  # as a killed CLI run leaves it: wanted, and run by no one here
    project_id = project.folder.name
    run = studio.projects.view(project_id)["run"]
    assert run["state"] == "idle" and "Not finished" in run["message"]
    views = tab.open_project(studio, project_id)
    assert "Not finished" in views[3] and views[4].active is False  # said, and the page's timer does not poll


def test_delete_during_a_run_with_a_reroll_waiting_behind_it(studio):
    text = " ".join(f"Sentence number {n} of a longer text." for n in range(6))
    _, picker = tab.create(studio, "Long", text, "none", [], "auto", 1, **{**FAST, "max_duration_s": 2.0})
    project_id = picker.value
    deadline = time.monotonic() + 120
    while studio.projects.view(project_id)["run"]["state"] != "running":
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.02)
    first = studio.projects.view(project_id)["segments"][0]["id"]
    studio.projects.start(project_id, [first])  # a re-roll queued behind the run under way
    studio.projects.delete(project_id)  # waits for the run under way, not only the queued one
    assert studio.projects.list() == []

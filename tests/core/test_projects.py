"""Long-form projects on the tiny pack: generate, review, re-roll, dialogue, best of N, export, resume."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio import clip_spans, encode_audio
from core.constants import SAMPLE_RATE
from core.engine import Engine, EngineSettings, SegmentResult
from core.errors import InputError
from core.options import GenerationOptions
from core.projects import Project, ProjectBusy, ProjectSettings, ProjectStore, export_project, plan_work, run_project
from core.projects.store import derived_seed
from core.textsplit import SplitOptions

ROOT = Path(__file__).resolve().parents[2]
SPLIT = SplitOptions(goal_length=20, max_length=40)
SHORT = GenerationOptions(seed=7, max_duration_s=0.3, split=SPLIT)  # tiny random models never stop on their own
TEXT = "The first line is here. A second one follows it. And the third ends the story."
VOICE = "v2/en_speaker_3"


def make(tmp_path: Path, text: str = TEXT, **settings) -> Project:
    settings = {"voice": VOICE, "options": SHORT, **settings}
    return Project.create(tmp_path / "project", text, ProjectSettings(**settings))


def take_tokens(project: Project, segment_id: str, number: int) -> dict[str, np.ndarray]:
    with np.load(project.folder / f"seg-{segment_id}-{number}.npz") as npz:
        return {key: npz[key] for key in npz.files}


def test_a_plain_text_project_gives_what_generate_gives(engine, tmp_path):
    project = make(tmp_path)
    assert [s.text for s in project.segments()] == [s.clean for s in engine.plan(TEXT, SHORT, 7)]
    report = run_project(engine, project)
    assert len(report.takes) == 3 and not report.cancelled
    assert {s.status for s in project.states()} == {"done"}
    exported = export_project(project, "wav", ())
    reference = engine.generate(TEXT, VOICE, SHORT)
    audio, rate = sf.read(exported.audio[0], dtype="int16")
    expected, _ = sf.read(io.BytesIO(encode_audio(reference.audio, SAMPLE_RATE, "wav")), dtype="int16")
    assert rate == SAMPLE_RATE and np.array_equal(audio, expected)
    assert not Project.open(project.folder).wanted  # finished: nothing to resume


def test_rerolling_a_segment_marks_the_ones_after_it_and_picking_back_restores_them(engine, tmp_path):
    project = make(tmp_path, options=SHORT.replace(continuity="continuous"))
    run_project(engine, project)
    first, second, _ = project.segments()
    assert project.states()[1].segment.chosen_take.after == f"{first.id}/1"
    run_project(engine, project, reroll=[second.id])
    second = project.segment(second.id)
    assert [t.number for t in second.takes] == [1, 2] and second.chosen == 2
    assert second.take(2).seed == derived_seed(project.seed, second.id, 2) != second.take(1).seed
    assert second.take(2).after == f"{first.id}/1"  # continues from the chosen take before it
    assert [s.status for s in project.states()] == ["done", "done", "not continuous"]
    assert plan_work(project) == []  # offered for a re-roll, not silently redone
    project.choose(second.id, 1)
    assert [s.status for s in project.states()] == ["done", "done", "done"]


def test_a_dialogue_keeps_each_speakers_voice_and_lists_unknown_speakers_first(engine, tmp_path):
    script = "Alice: Hello there, Bob.\n[Bob] Hi Alice! [laughs]\nAlice: How are you today?\nCarol: Fine."
    options = SHORT.replace(continuity="continuous")
    project = make(tmp_path, script, voice=None, speakers={"alice": VOICE, "Bob": "none"}, options=options)
    assert [(s.speaker, s.text) for s in project.segments()] == [
        ("Alice", "Hello there, Bob."),
        ("Bob", "Hi Alice! [laughs]"),
        ("Alice", "How are you today?"),
        ("Carol", "Fine."),
    ]
    assert project.unknown_speakers() == ["Carol"]
    with pytest.raises(InputError, match="Carol"):
        run_project(engine, project)
    assert not list(project.folder.glob("*.wav"))  # refused before anything was generated
    project.update_settings(speakers={"alice": VOICE, "Bob": "none", "carol": "v2/en_speaker_1"})
    run_project(engine, project)
    alice1, bob, alice2, carol = project.segments()
    assert alice2.chosen_take.after == f"{alice1.id}/1"  # continuity per speaker
    assert bob.chosen_take.after is None and carol.chosen_take.after is None
    assert [s.voice for s in project.states()] == [VOICE, None, VOICE, "v2/en_speaker_1"]


@pytest.mark.parametrize("no_voice", [None, "none", "Random", ""])
def test_a_speaker_without_a_voice_keeps_the_voice_of_its_first_take(engine, tmp_path, no_voice):
    script = "Bob: One thing.\nAlice: Another.\nBob: And the last."
    project = make(tmp_path, script, voice=None, speakers={"Bob": no_voice, "Alice": VOICE})
    assert project.settings.speakers == {"Bob": None, "Alice": VOICE}
    run_project(engine, project)
    bob1, _, bob2 = project.segments()
    assert bob2.chosen_take.after == f"{bob1.id}/1"  # stable: the first take is Bob's voice from then on


def test_best_of_n_rerolls_flagged_takes_reproducibly(engine, tmp_path):
    project = make(tmp_path, "One short line.", best_of=3)
    run_project(engine, project)
    (segment,) = project.segments()
    assert all(t.flags for t in segment.takes)  # the tiny models always run to the cap: "length_cap"
    assert [t.seed for t in segment.takes] == [segment.seed] + [derived_seed(7, segment.id, n) for n in (2, 3)]
    assert segment.chosen == 1 and not segment.picked  # all equally flagged: the first is kept
    assert run_project(engine, project).takes == []  # N takes made: nothing more to do


def test_flagged_takes_are_marked_and_best_of_keeps_the_first_clean_one(engine, tmp_path, monkeypatch):
    """Crafted takes: the first of each segment clips (a full-scale square wave), the second is clean."""
    calls = []

    def crafted(texts, seeds, voice, options, progress=None, cancel=None, allow_paths=True, on_segment=None):
        results = []
        for i, (text, seed) in enumerate(zip(texts, seeds, strict=True)):
            t = np.arange(int(0.8 * SAMPLE_RATE)) / SAMPLE_RATE
            tone = 0.3 * np.sin(2 * np.pi * 220 * t)
            audio = np.sign(tone) if not calls.count(text) else tone  # clipped on the first try only
            calls.append(text)
            fine = np.zeros((8, len(t) // 320), dtype=np.int64)
            result = SegmentResult(i, text, seed, np.ones(20, np.int64), fine[:2], fine, audio.astype(np.float32), 5)
            on_segment(result)
            results.append(result)
        return results

    monkeypatch.setattr(engine, "generate_segments", crafted)
    project = make(
        tmp_path,
        "One line. Two lines.",
        best_of=3,
        options=SHORT.replace(max_duration_s=None, split=SplitOptions(max_length=20, goal_length=9)),
    )
    run_project(engine, project)
    for state in project.states():
        first, second = state.segment.takes
        assert [f.code for f in first.flags] == ["clipping"] and "full scale" in first.flags[0].message
        assert second.flags == () and state.segment.chosen == 2 and state.flags == ()
    only_flagged = make(tmp_path / "b", "One line.", best_of=1, options=SHORT.replace(max_duration_s=None))
    calls.clear()
    run_project(engine, only_flagged)
    assert [f.code for f in only_flagged.states()[0].flags] == ["clipping"]  # marked, and left (best of 1)


def test_cancel_keeps_finished_takes_and_the_run_stays_wanted(engine, tmp_path):
    project = make(tmp_path, options=SHORT.replace(continuity="continuous"))
    cancel = threading.Event()

    def progress(p):
        if p.done >= 1:
            cancel.set()

    report = run_project(engine, project, progress=progress, cancel=cancel)
    assert report.cancelled and len(report.takes) == 1
    reopened = Project.open(project.folder)
    assert reopened.wanted and [s.status for s in reopened.states()] == ["done", "pending", "pending"]


def test_a_run_follows_segments_inserted_and_deleted_while_it_runs(engine, tmp_path):
    project = make(tmp_path, options=SHORT.replace(continuity="continuous"))
    other = Project.open(project.folder)  # a tab editing the project meanwhile
    *_, third = project.segments()
    edits = []

    def progress(p):
        if p.done == 1 and not edits:
            edits.append(other.insert(1, "Inserted while it ran."))
            other.delete(third.id)

    report = run_project(engine, project, progress=progress)
    final = Project.open(project.folder)
    assert [s.text for s in final.segments()] == [
        "The first line is here.",
        "Inserted while it ran.",
        "A second one follows it.",
    ]
    assert [s.status for s in final.states()] == ["done"] * 3 and third.id not in {i for i, _ in report.takes}
    assert not list(project.folder.glob(f"seg-{third.id}*"))


def test_a_run_makes_a_segment_as_it_reads_when_its_turn_comes(engine, tmp_path, monkeypatch):
    project = make(tmp_path, options=SHORT.replace(continuity="continuous"))
    other = Project.open(project.folder)  # the API editing the project meanwhile
    *_, third = project.segments()
    generate, calls = engine.generate_segments, []

    def spy(texts, seeds, voice, *args, **kwargs):
        calls.append((texts, voice))
        return generate(texts, seeds, voice, *args, **kwargs)

    def progress(p):
        if p.done == 1 and len(calls) == 1:
            other.edit(third.id, text="Changed meanwhile.", voice="v2/en_speaker_1")

    monkeypatch.setattr(engine, "generate_segments", spy)
    run_project(engine, project, progress=progress)
    assert calls[2][0] == ["Changed meanwhile."] and calls[2][1] == "v2/en_speaker_1"  # its own voice: from it
    take = Project.open(project.folder).segment(third.id).chosen_take
    assert (take.text, take.voice) == ("Changed meanwhile.", "v2/en_speaker_1")
    assert [s.status for s in Project.open(project.folder).states()] == ["done"] * 3


def test_a_segment_longer_than_bark_reads_is_flagged_and_not_rerolled_in_vain(engine, tmp_path):
    """An edit may make a segment longer than Bark reads (256 text tokens): its end is never spoken,
    whatever the seed. The take says so, and best of N does not try again (its other flags, too short
    for the whole text, say nothing a re-roll could mend)."""
    project = make(tmp_path, "One line.", best_of=3)
    (segment,) = project.segments()
    long_text = " ".join(f"word{i}" for i in range(10, 70)) + "."  # ~360 tokens of the tiny vocabulary
    project.edit(segment.id, text=long_text)
    run_project(engine, project)
    segment = project.segment(segment.id)
    assert len(segment.takes) == 1
    assert [flag.code for flag in segment.chosen_take.flags][:2] == ["text_cut", "too_short"]


def test_best_of_never_undoes_a_reroll_or_a_pick(engine, tmp_path, monkeypatch):
    clean = np.sin(np.arange(int(0.8 * SAMPLE_RATE)) / SAMPLE_RATE * 2 * np.pi * 220).astype(np.float32) * 0.3
    flagged_next, picks = [False], []

    def crafted(texts, seeds, voice, options, progress=None, cancel=None, allow_paths=True, on_segment=None):
        for i, (text, seed) in enumerate(zip(texts, seeds, strict=True)):
            for action in picks:
                action()
            fine = np.zeros((8, len(clean) // 320), dtype=np.int64)
            audio = np.sign(clean) if flagged_next[0] else clean  # a clipped take, or a clean one
            on_segment(SegmentResult(i, text, seed, np.ones(20, np.int64), fine[:2], fine, audio, 5))

    monkeypatch.setattr(engine, "generate_segments", crafted)
    project = make(tmp_path, "One line.", best_of=3, options=SHORT.replace(max_duration_s=None))
    run_project(engine, project)
    (segment,) = project.segments()
    run_project(engine, project, reroll=[segment.id])  # the user wants another clean take
    assert project.segment(segment.id).chosen == 2  # kept, not replaced by the earlier take 1
    flagged_next[0] = True  # a re-roll whose takes clip: best of 5 retries; the user picks take 1 meanwhile
    project.update_settings(best_of=5)
    picks.append(
        lambda: len(project.segment(segment.id).takes) == 4 and Project.open(project.folder).choose(segment.id, 1)
    )
    run_project(engine, project, reroll=[segment.id])
    final = Project.open(project.folder).segment(segment.id)
    assert (final.chosen, final.picked) == (1, True)  # the take made while the user picked is not chosen
    assert len(final.takes) == 5  # and no retry follows the pick (of 5 a re-roll may make)


def test_one_run_at_a_time(engine, tmp_path):
    project = make(tmp_path)
    with project.running(), pytest.raises(ProjectBusy):
        run_project(engine, Project.open(project.folder))


def test_export_writes_subtitles_whose_cues_match_the_audio_and_one_file_per_chapter(engine, tmp_path):
    text = "# Chapter one\nAlice: It begins here. It goes on.\nBob: Then me.\n# Chapter two\nAlice: The end."
    project = make(tmp_path, text, voice=None, speakers={"Alice": VOICE, "Bob": VOICE})
    with pytest.raises(InputError, match=r"4 segment\(s\) have no take yet \(1, 2, 3, 4\)"):
        export_project(project)
    run_project(engine, project)
    whole = export_project(project, "flac", ("srt", "vtt"))
    srt = whole.subtitles[0].read_text(encoding="utf-8")
    lengths = [s.chosen_take.samples for s in project.segments()]
    spans = clip_spans(lengths, SAMPLE_RATE, SHORT.silence_s, SHORT.crossfade_s)
    assert srt.count(" --> ") == 4 and "Alice: It begins here." in srt and "Bob: Then me." in srt
    assert f"{_srt_time(spans[1][0])} --> {_srt_time(spans[1][1])}" in srt
    assert sf.info(whole.audio[0]).frames == spans[-1][1]
    assert whole.subtitles[1].read_text(encoding="utf-8").startswith("WEBVTT")
    timeline = json.loads(whole.timeline.read_text(encoding="utf-8"))
    assert [s["speaker"] for s in timeline["chapters"][0]["segments"]] == ["Alice", "Alice", "Bob", "Alice"]
    chapters = export_project(project, "wav", ("srt",), chapters=True)
    assert [p.name for p in chapters.audio] == ["01-chapter-one.wav", "02-chapter-two.wav"]
    assert sf.info(chapters.audio[1]).frames == lengths[3]  # a chapter's times start at its own zero
    assert "00:00:00,000 --> " in chapters.subtitles[1].read_text(encoding="utf-8")
    assert [c["title"] for c in json.loads(chapters.timeline.read_text())["chapters"]] == ["Chapter one", "Chapter two"]


def _srt_time(sample: int) -> str:
    ms = round(sample / SAMPLE_RATE * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def test_edits_insert_split_merge_delete_and_change_a_voice(engine, tmp_path):
    project = make(tmp_path)
    run_project(engine, project)
    a, b, c = project.segments()
    project.edit(b.id, text="A new second line.")
    assert project.states()[1].status == "edited" and project.segment(b.id).chosen == 1  # kept until re-rolled
    project.edit(c.id, voice="v2/en_speaker_1")
    assert project.states()[2].status == "edited" and project.states()[2].voice == "v2/en_speaker_1"
    new = project.insert(0, "An opening line.")
    first, second = project.split(a.id, 9)
    assert [s.text for s in project.segments()][:3] == ["An opening line.", "The first", "line is here."]
    assert (first.seed, second.seed) == (derived_seed(7, first.id, 1), derived_seed(7, second.id, 1))
    assert not list(project.folder.glob(f"seg-{a.id}*"))  # the split segment is gone with its takes
    merged = project.merge(first.id)
    assert merged.text == "The first line is here."
    project.delete(new.id)
    reopened = Project.open(project.folder)
    assert [s.id for s in reopened.segments()] == [merged.id, b.id, c.id]
    assert [s.status for s in reopened.states()] == ["pending", "edited", "edited"]
    with pytest.raises(InputError, match="both parts"):
        project.split(b.id, 0)
    with pytest.raises(InputError, match="last segment"):
        project.merge(c.id)


def test_two_writers_do_not_undo_each_others_changes(engine, tmp_path):
    tab = make(tmp_path)
    api = Project.open(tab.folder)
    a, b, _ = tab.segments()
    tab.edit(a.id, text="Changed by the tab.")
    api.edit(b.id, text="Changed by the API.")
    api.insert(3, "Added by the API.")
    tab.edit(a.id, section="Part one")
    texts = [s.text for s in Project.open(tab.folder).segments()]
    assert texts == ["Changed by the tab.", "Changed by the API.", "And the third ends the story.", "Added by the API."]


def test_damaged_projects_and_hostile_ids_are_refused_clearly(tmp_path):
    project = make(tmp_path)
    (project.folder / "project.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"damaged: project\.json cannot be read"):
        Project.open(project.folder)
    store = ProjectStore(tmp_path / "projects")
    for hostile in ("../etc", "/etc", "a/b", "..", ".hidden", "x" * 200):
        with pytest.raises(InputError, match="not the id of a project"):
            store.open(hostile)
    with pytest.raises(InputError, match="best_of"):
        ProjectSettings(best_of=0)
    with pytest.raises(InputError, match="empty"):
        store.create("   ", ProjectSettings())


def test_the_store_lists_creates_renames_and_deletes_projects(tmp_path):
    store = ProjectStore(tmp_path / "projects")
    one = store.create(TEXT, ProjectSettings(options=SHORT, name="My book"))
    (summary,) = store.list()
    assert (summary.id, summary.name, summary.segments, summary.generated) == (one.folder.name, "My book", 3, 0)
    one.update_settings(name="The book")
    assert Project.open(one.folder).name == "The book" and store.list()[0].name == "The book"
    store.delete(summary.id)
    assert store.list() == [] and not one.folder.exists()


def test_the_store_sweeps_what_killed_deletes_exports_and_creates_left(tmp_path):
    store = ProjectStore(tmp_path / "projects")
    project = store.create(TEXT, ProjectSettings(options=SHORT))
    deleted = store.root / ".deleted-0badf00d"
    old_export, new_export = project.folder / "exports" / ".export-1", project.folder / "exports" / ".export-2"
    half_made = store.root / "20260101-000000_never-finished"
    for folder in (deleted, old_export, new_export, half_made):
        folder.mkdir(parents=True)
        (folder / "some.wav").write_bytes(b"x" * 100)
    long_ago = time.time() - 2 * 3600
    for folder in (old_export, half_made):
        os.utime(folder, (long_ago, long_ago))
    store.sweep()
    assert not deleted.exists() and not old_export.exists() and not half_made.exists()
    assert new_export.exists() and (project.folder / "project.json").exists()  # an export under way, a project


def test_a_project_killed_at_any_file_system_call_opens_whole_and_loses_no_take(tmp_path):
    """Kill a project's writes (a take, an inserted segment, the wanted flag) at each file-system call:
    the project always opens, the finished take is untouched, and each later change is there whole or not."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.core.crashing", "projects", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    statuses = dict(line.split() for line in run.stdout.splitlines())
    assert list(statuses.values())[-1] == "0" and set(list(statuses.values())[:-1]) == {"99"}
    start = Project.open(tmp_path / "start")
    first, second = start.segments()
    kept = {p.name: p.read_bytes() for p in start.folder.glob(f"seg-{first.id}-1.*")}
    outcomes = set()
    for limit in statuses:
        project = Project.open(tmp_path / limit)  # never "damaged"
        assert {p.name: p.read_bytes() for p in project.folder.glob(f"seg-{first.id}-1.*")} == kept
        took = project.segment(second.id).chosen_take
        files = sorted(p.suffix for p in project.folder.glob(f"seg-{second.id}-*.*"))
        assert files == ([".npz", ".wav"] if took else []), (limit, files)
        if took:
            assert len(project.read_take_audio(second.id, 1)) == took.samples
            assert project.take_prompt(f"{second.id}/1").semantic.size > 0
        assert len(project.segments()) in (2, 3) and not list(project.folder.glob(".staging-*"))
        outcomes.add((took is not None, len(project.segments()), project.wanted))
    assert outcomes == {(False, 2, True), (True, 2, True), (True, 3, True), (True, 3, False)}  # each step whole


RUNNER = """
import sys
from pathlib import Path
from core.engine import Engine, EngineSettings, SegmentResult
from core.projects import Project, run_project
models, folder = sys.argv[1:]
engine = Engine(EngineSettings(models_dir=Path(models), prompts_dir=Path(folder) / "p", device="cpu",
                               allow_download=False, max_batch=1))
run_project(engine, Project.open(folder))
"""


@pytest.mark.parametrize("kill_after", [1, 3])
def test_a_run_killed_at_any_moment_resumes_and_loses_no_finished_take(engine, tiny_models, tmp_path, kill_after):
    text = " ".join(f"Line number {n} is spoken." for n in range(6))
    options = SHORT.replace(continuity="continuous")
    reference = make(tmp_path / "reference", text, options=options)
    run_project(engine, reference)
    project = make(tmp_path / "killed", text, options=options)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RUNNER), str(tiny_models), str(project.folder)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 120
    while len(list(project.folder.glob("*.wav"))) < kill_after and child.poll() is None:
        assert time.monotonic() < deadline, "the run made no take in time"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    survived = {p.name: p.read_bytes() for p in project.folder.glob("seg-*-*.*")}
    reopened = Project.open(project.folder)
    assert reopened.wanted
    done = [s for s in reopened.states() if s.status == "done"]
    assert len(done) >= kill_after
    run_project(engine, reopened)
    for name, data in survived.items():
        assert (project.folder / name).read_bytes() == data  # no finished take was lost or redone
    assert [s.status for s in reopened.states()] == ["done"] * 6
    for mine, theirs in zip(reopened.segments(), reference.segments(), strict=True):
        a, b = take_tokens(reopened, mine.id, 1), take_tokens(reference, theirs.id, 1)
        assert all(np.array_equal(a[k], b[k]) for k in a)  # the same project an uninterrupted run makes
    assert not list(project.folder.glob(".staging-*"))


def test_segments_generate_with_their_own_seeds_in_batches(tiny_models, tmp_path):
    settings = EngineSettings(models_dir=tiny_models, prompts_dir=tmp_path / "p", device="cpu", allow_download=False)
    engine = Engine(settings)
    results = engine.generate_segments(["One.", "Two."], [5, 9], VOICE, SHORT)
    alone = engine.generate_segments(["Two."], [9], VOICE, SHORT)
    assert [r.seed for r in results] == [5, 9] and [r.index for r in results] == [0, 1]
    assert np.array_equal(results[1].audio, alone[0].audio)

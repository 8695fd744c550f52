"""bark_perform.py --project on the tiny models: create, resume after kill -9, dialogue speakers, review
flags (--reroll, --pick, --text-of, --list), export formats and hostile input."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

import bark_perform
import perform_projects
from bark_perform import main
from core.audio import check_format
from core.errors import InputError
from core.options import GenerationOptions
from core.projects import Project, ProjectSettings
from core.textsplit import SplitOptions

ROOT = Path(bark_perform.__file__).resolve().parent
VOICE = "v2/en_speaker_3"
TEXT = "The first line is here. A second one follows it. And the third ends the story."
# Tiny random models never stop on their own: every take runs to the cap (and is flagged "length cap").
SHORT = ["--max-duration", "0.3", "--seed", "7", "--split-goal", "20", "--split-max", "40"]
SCRIPT = "# One\nAlice: Hello there, Bob.\n[Bob] Hi Alice!\n# Two\nAlice: How are you?\nCarol: Fine."


@pytest.fixture()
def cli(tiny_models, tmp_path, capsys):
    """Run main() offline on the tiny models: (status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        base = ["--models-dir", str(tiny_models), "--prompts-dir", str(tmp_path / "prompts"), "--device", "cpu"]
        status = main([*base, "--offline", "--quiet", *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture()
def folder(tmp_path) -> Path:
    return tmp_path / "book"


def exported(out: str) -> list[Path]:
    """The files an export printed (the lines after 'exported ... to FOLDER:')."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("exported "))
    return [Path(line) for line in lines[start + 1 :]]


def takes_on_disk(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("seg-*-*.*")}


def test_create_generate_and_export_with_subtitles(cli, folder):
    status, out, err = cli("--project", str(folder), "--text", TEXT, "--voice", VOICE, *SHORT, "--subtitles", "srt,vtt")
    assert status == 0, err
    assert f"created the project 'book' in {folder}: 3 segment(s)" in out
    for n in (1, 2, 3):
        assert f"segment {n}/3: take 1, 0.3 s" in out
    assert "flagged: 15 semantic tokens of at most 15: the take ran to the length cap" in out  # QC in words
    assert "made 3 take(s); 3 of 3 segments have one" in out and "flagged: segment(s) 1-3" in out
    audio, srt, vtt, timeline = exported(out)
    assert audio.parent.parent == folder / "exports" and all(p.is_file() for p in (audio, srt, vtt, timeline))
    assert (audio.suffix, srt.suffix, vtt.suffix) == (".wav", ".srt", ".vtt")
    record = json.loads(timeline.read_text(encoding="utf-8"))
    segments = record["chapters"][0]["segments"]
    assert [s["text"] for s in segments] == [
        "The first line is here.",
        "A second one follows it.",
        "And the third ends the story.",
    ]
    assert sf.info(audio).frames == round(record["duration_s"] * 24000)
    assert srt.read_text(encoding="utf-8").count(" --> ") == 3 and vtt.read_text(encoding="utf-8").startswith("WEBVTT")
    project = Project.open(folder)
    assert project.settings.voice == VOICE and project.seed == 7 and not project.wanted


LINES = 20


def test_a_run_killed_with_kill_9_resumes_and_keeps_every_finished_take(cli, tiny_models, folder, tmp_path):
    # Long enough (about 0.2 s a take on the tiny pack) that the random moment below falls inside the run
    text = " ".join(f"Line number {n} is spoken." for n in range(LINES))
    command = [sys.executable, str(ROOT / "bark_perform.py"), "--project", str(folder), "--text", text]
    command += ["--voice", VOICE, *SHORT, "--continuity", "continuous", "--max-batch", "1", "--quiet"]
    command += ["--models-dir", str(tiny_models), "--prompts-dir", str(tmp_path / "prompts"), "--device", "cpu"]
    child = subprocess.Popen([*command, "--offline"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not list(folder.glob("seg-*-*.wav")) and child.poll() is None:
        assert time.monotonic() < deadline, "the run made no take in time"
        time.sleep(0.005)
    time.sleep(random.uniform(0, 1.0))  # a random moment after the first take
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    done = [s for s in Project.open(folder).states() if s.status == "done"]  # (opening cleans what was half written)
    survived = takes_on_disk(folder)
    assert 1 <= len(done) < LINES and len(survived) == 2 * len(done)  # each take whole: its audio and its tokens

    status, out, err = cli("--project", str(folder))
    assert status == 0, err
    assert f"made {LINES - len(done)} take(s); {LINES} of {LINES} segments have one" in out
    for name, data in survived.items():
        assert (folder / name).read_bytes() == data  # no finished take was redone or lost
    project = Project.open(folder)
    assert [s.status for s in project.states()] == ["done"] * LINES and all(
        len(s.takes) == 1 for s in project.segments()
    )
    assert exported(out)[0].is_file()


def test_ctrl_c_keeps_finished_takes_exits_1_and_says_how_to_resume(cli, folder, monkeypatch):
    printed = perform_projects.TakePrinter._print_new_takes
    interrupted = []

    def interrupt_after_the_first_take(self):
        printed(self)
        if any(self._takes.values()) and not interrupted:
            interrupted.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: the run stops within a step

    monkeypatch.setattr(perform_projects.TakePrinter, "_print_new_takes", interrupt_after_the_first_take)
    status, out, err = cli("--project", str(folder), "--text", TEXT, "--voice", VOICE, *SHORT, "--max-batch", "1")
    assert status == 1
    assert f"segment(s) have no take yet; resume with --project {folder}" in err and err.endswith("cancelled\n")
    assert "segment 1/3: take 1" in out and not (folder / "exports").exists()
    assert Project.open(folder).wanted and Project.open(folder).states()[2].status == "pending"
    monkeypatch.undo()
    status, out, _ = cli("--project", str(folder))
    assert status == 0 and "3 of 3 segments have one" in out


def test_dialogue_speakers_unknown_ones_refused_first_and_chapters(cli, folder, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    create = ["--project", str(folder), "--prompt-file", str(script), *SHORT, "--continuity", "continuous"]
    status, out, err = cli(*create, "--speaker", f"alice={VOICE}", "--speaker", "Bob=none")
    assert status == 2 and err.count("\n") == 1
    assert "these speakers have no voice: Carol; give each one with --speaker Carol=VOICE" in err
    assert not folder.exists()  # refused before anything was written or generated

    speakers = ["--speaker", f"alice={VOICE}", "--speaker", "Bob=none", "--speaker", "carol=v2/en_speaker_1"]
    status, out, err = cli(*create, *speakers, "--subtitles", "srt", "--chapters")
    assert status == 0, err
    project = Project.open(folder)
    assert [(s.speaker, s.text) for s in project.segments()] == [
        ("Alice", "Hello there, Bob."),
        ("Bob", "Hi Alice!"),
        ("Alice", "How are you?"),
        ("Carol", "Fine."),
    ]
    assert [s.voice for s in project.states()] == [VOICE, None, VOICE, "v2/en_speaker_1"]  # none: a random voice
    alice1, _, alice2, _ = project.segments()
    assert alice2.chosen_take.after == f"{alice1.id}/1"  # each speaker continues from their own last take
    one, two, srt_one, srt_two, _ = exported(out)
    assert (one.name, two.name) == ("01-one.wav", "02-two.wav")
    assert "Alice: Hello there, Bob." in srt_one.read_text(encoding="utf-8")
    assert "Carol: Fine." in srt_two.read_text(encoding="utf-8")

    status, out, _ = cli("--project", str(folder), "--speaker", "Carol=v2/en_speaker_2", "--no-export")
    assert status == 0 and "made 0 take(s)" in out
    assert "edited or not continuous: segment(s) 4 (re-roll with --reroll 4)" in out
    assert Project.open(folder).settings.speakers["Carol"] == "v2/en_speaker_2"  # the map's name replaced, not doubled
    status, out, _ = cli("--project", str(folder), "--reroll", "changed", "--no-export")
    assert status == 0 and "segment 4/4: take 2" in out and "made 1 take(s)" in out
    assert [s.status for s in Project.open(folder).states()] == ["done"] * 4


def test_reroll_pick_text_of_and_list(cli, folder):
    status, _, err = cli("--project", str(folder), "--text", TEXT, "--voice", VOICE, *SHORT, "--no-export")
    assert status == 0, err
    assert not (folder / "exports").exists()
    status, out, _ = cli("--project", str(folder), "--reroll", "1,2-3", "--no-export")
    assert status == 0 and "made 3 take(s)" in out
    assert [(s.chosen, len(s.takes)) for s in Project.open(folder).segments()] == [(2, 2)] * 3
    status, out, _ = cli("--project", str(folder), "--pick", "2=1", "--text-of", "3=New words here.", "--no-export")
    assert status == 0 and "segment 3/3: take 3" in out and "made 1 take(s)" in out
    _, second, third = Project.open(folder).segments()
    assert (second.chosen, second.picked) == (1, True)
    assert third.text == third.chosen_take.text == "New words here." and third.chosen == 3
    status, out, _ = cli("--project", str(folder), "--list")
    assert status == 0
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [row[:3] for row in rows] == [["1", "done", "-"], ["2", "done", "-"], ["3", "done", "-"]]
    assert [row[3] for row in rows] == ["2/2", "1/2", "3/3"]
    assert out.splitlines()[4].endswith("length cap            New words here.")
    status, out, _ = cli("--project", str(folder), "--reroll", "flagged", "--no-export")  # every tiny take is
    assert status == 0 and "made 3 take(s)" in out


def test_export_alone_in_each_format(cli, folder):
    status, _, err = cli("--project", str(folder), "--text", "One short line.", "--voice", VOICE, *SHORT)
    assert status == 0, err
    take = Project.open(folder).segments()[0].chosen_take
    for fmt in ("wav", "flac", "ogg", "mp3"):
        try:
            check_format(fmt)
        except InputError:
            continue  # mp3 needs libsndfile 1.1
        before = takes_on_disk(folder)
        status, out, _ = cli("--project", str(folder), "--export", "--format", fmt, "--subtitles", "vtt")
        assert status == 0 and "made" not in out and takes_on_disk(folder) == before  # nothing generated
        audio, vtt, _ = exported(out)
        assert audio.suffix == f".{fmt}" and vtt.suffix == ".vtt"
        info = sf.info(audio)
        assert info.samplerate == 24000 and abs(info.frames - take.samples) < 2400  # mp3 pads a little


def test_help_lists_the_project_flags_in_one_group(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    group = out[out.index(perform_projects.GROUP) :]
    for flag in ("--project", "--speaker", "--dialogue", "--best-of", "--list", "--reroll", "--text-of", "--pick"):
        assert flag in group
    for flag in ("--export", "--no-export", "--subtitles", "--chapters"):
        assert flag in group
    assert "ends with an export" in " ".join(group.split())


@pytest.fixture()
def pending(folder) -> Path:
    """A project of three segments, none generated."""
    options = GenerationOptions(seed=7, max_duration_s=0.3, split=SplitOptions(goal_length=20, max_length=40))
    Project.create(folder, TEXT, ProjectSettings(voice=VOICE, options=options))
    return folder


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--speaker", "Bob"], "argument --speaker: expected NAME=VOICE"),
        (["--reroll", "9"], "--reroll: there is no segment 9; the project has 1 to 3 (see --list)"),
        (["--reroll", "3-1"], "--reroll: the range 3-1 runs backwards"),
        (["--reroll", "two"], "--reroll: expected segment numbers like 3,5-7"),
        (["--pick", "1=2"], "--pick 1=2: segment 1 has no take 2 (its takes: none yet)"),
        (["--pick", "4=1"], "--pick: there is no segment 4"),
        (["--pick", "x=1"], "argument --pick: expected N=VALUE"),
        (["--text-of", "2=  "], "--text-of 2: a segment's text is empty"),
        (["--text", "Other words."], "--text: "),
        (["--seed", "3"], "--seed: the project in"),
        (["--split-goal", "60"], "--split-goal: the project in"),
        (["--export"], "3 segment(s) have no take yet (1, 2, 3)"),
        (["--list", "--reroll", "1"], "--list only prints"),
        (["--iterations", "2"], "--iterations does not apply to --project"),
        (["--subtitles", "ass"], "argument --subtitles: expected srt, vtt"),
        (["--best-of", "11"], "argument --best-of: expected a whole number from 1 to 10"),
        (["--voice", "nobody"], "--voice: No voice named 'nobody'"),
        (["--speaker", "Alice=nobody"], "--speaker Alice=nobody: No voice named 'nobody'"),
    ],
)
def test_hostile_input_on_a_project_exits_2_with_one_line(cli, pending, args, words):
    status, _, err = cli("--project", str(pending), *args)
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("bark_perform.py: error:") and words in err
    assert not list(pending.glob("*.wav")) and not (pending / "exports").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--reroll", "1"], "--reroll works on a project: give --project DIR"),
        (["--text", "hi", "--speaker", "A=none"], "--speaker works on a project"),
        (["--project", "{folder}"], "holds no project: create one with --text or --prompt-file"),
        (["--project", "{folder}", "--text", "hi", "--list"], "--list works on a project that exists"),
    ],
)
def test_project_flags_without_a_project_exit_2(cli, folder, args, words):
    status, _, err = cli(*(a.replace("{folder}", str(folder)) for a in args))
    assert status == 2 and err.count("\n") == 1 and words in err
    assert not folder.exists()

"""Output files: naming, writing (audio, JSON, voice) and reading the history back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import outputs
from core.errors import InputError
from core.fileio import FileSet
from core.options import GenerationOptions
from core.outputs import (
    delete_output,
    get_output,
    list_outputs,
    recover_outputs,
    reserve_output,
    slugify,
    write_outputs,
)

SHORT = GenerationOptions(seed=3, max_duration_s=0.2)


def test_slugify():
    assert slugify("Hello, World! [laughs] Ça va?") == "hello-world-laughs-ca-va"
    assert slugify("你好") == "audio"
    assert slugify("../../etc/passwd") == "etc-passwd"
    long = slugify("word " * 100)
    assert len(long) <= outputs.MAX_SLUG_CHARS and long.endswith("word")


def test_reserve_output_never_reuses_a_name(tmp_path):
    (tmp_path / "other-2.json").write_text("{}")
    with FileSet(tmp_path) as files, FileSet(tmp_path) as other_run:
        first = reserve_output(files, "stem", "wav")
        second = reserve_output(other_run, "stem", "wav")
        third = reserve_output(files, "other", "wav")
        fourth = reserve_output(other_run, "other", "wav")
        assert (first, second) == (("stem.wav", "stem.json"), ("stem-2.wav", "stem-2.json"))
        assert (third[0], fourth[0]) == ("other.wav", "other-3.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-2.json"]  # claims never written are dropped


def test_written_outputs_come_back_as_history(engine, tmp_path):
    out = tmp_path / "out"
    first = engine.generate("Hello world.", "v2/en_speaker_1", SHORT)
    audio, sidecar, record = write_outputs(first, engine, out, "wav", save_voice=True, extra={"note": "x"})
    second = engine.generate("Second one.", options=SHORT)
    write_outputs(second, engine, out, "flac")
    (out / "broken.json").write_text("{not json")
    with FileSet(out) as in_progress:  # a run writing its output meanwhile
        reserve_output(in_progress, "half-written", "wav")
        in_progress.write("half-written.wav", b"RIFF")
        entries = list_outputs(out)
    assert {e.text for e in entries} == {"Hello world.", "Second one."}
    entry = get_output(out, sidecar.stem)
    assert entry.audio == audio and entry.voice == audio.with_suffix(".npz")
    assert (entry.seed, entry.voice_name, record["note"]) == (3, "v2/en_speaker_1", "x")
    assert entry.options() == SHORT and entry.voice_prompt().equals(first.voice)
    assert json.loads(sidecar.read_text())["voice_file"] == entry.voice.name

    delete_output(out, entry.id)
    assert not audio.exists() and not sidecar.exists() and not entry.voice.exists()
    assert [e.text for e in list_outputs(out)] == ["Second one."]
    with pytest.raises(InputError, match="voice of"):
        list_outputs(out)[0].voice_prompt()


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ".hidden", "", "x" * 300, "missing"])
def test_get_output_takes_names_not_paths(tmp_path, name):
    with pytest.raises(InputError):
        get_output(tmp_path, name)


def test_a_record_cannot_point_outside_its_folder(tmp_path):
    (tmp_path / "secret.wav").write_bytes(b"x")
    out = tmp_path / "out"
    out.mkdir()
    (out / "evil.json").write_text(json.dumps({"audio_file": "../secret.wav", "voice_file": "/etc/passwd"}))
    assert list_outputs(out) == []


def test_messages_say_the_outputs_folder_not_its_path(tmp_path):
    with pytest.raises(InputError) as missing:
        get_output(tmp_path, "gone")
    assert str(missing.value) == "no output named 'gone' in the outputs folder; it may have been deleted"


def test_an_output_killed_at_any_moment_appears_whole_or_not_at_all(tmp_path):
    """Kill write_outputs at each file-system call: the history lists the whole output or nothing,
    and recovery leaves exactly its three files or none."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.core.crashing", "outputs", str(tmp_path)],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    statuses = dict(line.split() for line in run.stdout.splitlines())
    assert list(statuses.values())[-1] == "0" and set(list(statuses.values())[:-1]) == {"99"}
    published = 0
    for limit in statuses:
        folder = tmp_path / limit
        entries = list_outputs(folder)  # before any recovery
        for entry in entries:
            assert entry.voice_prompt() and entry.audio.stat().st_size > 44 and entry.text == "Hello."
        recover_outputs(folder)
        files = sorted(p.suffix for p in folder.iterdir()) if folder.exists() else []
        assert files in ([], [".json", ".npz", ".wav"]), (limit, files)
        assert len(list_outputs(folder)) == len(files) // 3
        published += bool(files)
    assert len(statuses) - published >= 3  # some kills came before the set was complete

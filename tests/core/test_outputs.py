"""Output files: naming, writing (audio, JSON, voice) and reading the history back."""

from __future__ import annotations

import json

import pytest

from core import outputs
from core.errors import InputError
from core.options import GenerationOptions
from core.outputs import delete_output, get_output, list_outputs, reserve_output, slugify, write_outputs

SHORT = GenerationOptions(seed=3, max_duration_s=0.2)


def test_slugify():
    assert slugify("Hello, World! [laughs] Ça va?") == "hello-world-laughs-ca-va"
    assert slugify("你好") == "audio"
    assert slugify("../../etc/passwd") == "etc-passwd"
    long = slugify("word " * 100)
    assert len(long) <= outputs.MAX_SLUG_CHARS and long.endswith("word")


def test_reserve_output_never_reuses_a_name(tmp_path):
    first = reserve_output(tmp_path, "stem", "wav")
    second = reserve_output(tmp_path, "stem", "wav")
    (tmp_path / "other-2.json").write_text("{}")
    third = reserve_output(tmp_path, "other", "wav")
    assert first == (tmp_path / "stem.wav", tmp_path / "stem.json")
    assert second == (tmp_path / "stem-2.wav", tmp_path / "stem-2.json")
    assert third[0] == tmp_path / "other.wav"
    assert reserve_output(tmp_path, "other", "wav")[0] == tmp_path / "other-3.wav"


def test_written_outputs_come_back_as_history(engine, tmp_path):
    out = tmp_path / "out"
    first = engine.generate("Hello world.", "v2/en_speaker_1", SHORT)
    audio, sidecar, record = write_outputs(first, engine, out, "wav", save_voice=True, extra={"note": "x"})
    second = engine.generate("Second one.", options=SHORT)
    write_outputs(second, engine, out, "flac")
    (out / "broken.json").write_text("{not json")
    reserve_output(out, "half-written", "wav")  # empty placeholders of a run in progress

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

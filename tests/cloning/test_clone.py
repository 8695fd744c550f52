"""Cloning end to end on the tiny models: every format, variants, the library, errors and the command line."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

import bark_perform
from cloning import QUANTIZERS, CloneOptions, VoiceCloner
from cloning.__main__ import main
from core import fileio
from core.errors import InputError, ModelFileError
from core.options import GenerationOptions
from core.voice import VoicePrompt

from .test_audio import speechlike

HOSTILE_NAMES = ["../evil", "/etc/passwd", "a/b", "a\\b", "..", ".hidden", "CON", "x\x00y", "", "  ", "a" * 300]


def assert_prompt_is_sound(prompt: VoicePrompt) -> None:
    assert 1.45 <= prompt.coarse.shape[1] / prompt.semantic.shape[0] <= 1.55
    assert np.array_equal(prompt.fine[:2], prompt.coarse)


@pytest.mark.parametrize("kind", ["wav", "flac", "ogg", "opus", "mp3", "stereo", "8k", "48k"])
def test_every_format_clones_into_the_library(cloner, clips, engine, kind):
    result = cloner.clone(clips[kind], f"voice {kind}")
    (voice,) = result.voices
    assert voice.name == f"voice {kind}" and voice.path == engine.library.root / f"voice {kind}.npz"
    assert_prompt_is_sound(VoicePrompt.load(voice.path))
    assert 4.0 < result.duration_s < 12.0
    meta = json.loads(voice.path.with_suffix(".json").read_text())
    assert meta["source"] == "clone" and meta["source_file"] == clips[kind].name
    assert meta["source_sha256"] == hashlib.sha256(clips[kind].read_bytes()).hexdigest()
    assert meta["language"] == "en" and meta["quantizer"] == str(QUANTIZERS["en"].file)
    assert meta["quantizer_version"] == 1 and meta["duration_s"] == result.duration_s
    assert meta["created"] and meta["preparation"]["trim_silence"] is True


def test_a_cloned_voice_drives_generation(cloner, clips, engine):
    cloner.clone(clips["wav"], "robert")
    assert engine.library.info("robert").source == "clone"
    result = engine.generate("Hello there.", voice="robert", options=GenerationOptions(max_duration_s=0.5, seed=1))
    assert result.voice_name == "robert" and result.audio.size > 0


def test_bark_perform_uses_a_cloned_voice(cloner, clips, engine, tiny_models, tmp_path):
    cloner.clone(clips["wav"], "robert")
    models = ["--models-dir", str(tiny_models), "--offline", "--device", "cpu", "--small-models"]
    files = ["--prompts-dir", str(engine.library.root), "--output-dir", str(tmp_path / "out"), "--quiet"]
    status = bark_perform.main([*models, *files, "--max-duration", "0.2", "--voice", "robert", "--text", "Hi."])
    assert status == 0 and list((tmp_path / "out").glob("*.wav"))


def test_variants_are_saved_under_numbered_names(cloner, clips, engine):
    result = cloner.clone(clips["wav"], "rob", CloneOptions(variants=3))
    assert [v.name for v in result.voices] == ["rob", "rob-2", "rob-3"]
    ends = [v.metadata["clip_end_s"] for v in result.voices]
    assert ends == sorted(ends, reverse=True) and len(set(ends)) == 3  # best first: the clip's own end
    assert [v.metadata["variant"] for v in result.voices] == [1, 2, 3]
    for voice in result.voices:
        assert_prompt_is_sound(engine.library.get(voice.name))


def test_a_long_clip_keeps_its_end(cloner, clips):
    result = cloner.clone(clips["wav"], "short", CloneOptions(max_seconds=3.0))
    assert result.duration_s <= 3.0
    assert any("kept the last" in note for note in result.notes)


def test_v0_quantizer_arrays_and_options(cloner, clips, engine):
    samples, rate = sf.read(clips["wav"], dtype="int16")
    progress = []
    options = CloneOptions(language="en-v0", trim_silence=False, normalize=False)
    result = cloner.clone(
        (samples, rate), "from array", options, source_name="mic", progress=lambda s, f: progress.append(f)
    )
    meta = result.voices[0].metadata
    assert meta["quantizer_version"] == 0 and meta["source_file"] == "mic" and meta["language"] == "en-v0"
    assert meta["preparation"] == {"trim_silence": False, "normalize": False, "max_seconds": 15.0, "notes": []}
    assert progress == sorted(progress) and progress[-1] == 1.0
    cloner.unload()
    assert cloner.clone(clips["wav"], "after unload").voices


def test_overwrite_replaces_only_when_asked(cloner, clips, engine):
    cloner.clone(clips["wav"], "taken")
    before = (engine.library.root / "taken.npz").read_bytes()
    with pytest.raises(InputError, match=r"already has 'taken'.*overwrit"):
        cloner.clone(clips["flac"], "taken")
    assert (engine.library.root / "taken.npz").read_bytes() == before
    cloner.clone(clips["wav"], "other-2")
    with pytest.raises(InputError, match="other-2"):  # a variant's name counts too
        cloner.clone(clips["flac"], "other", CloneOptions(variants=2))
    cloner.clone(clips["flac"], "taken", overwrite=True)
    assert engine.library.info("taken").metadata["source_file"] == "speech.flac"


# Nothing is written on failure


def write_wav(path, samples, rate=22_050):
    sf.write(path, samples, rate)
    return path


BAD_FILES = {
    "corrupt.wav": lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(range(256)) * 8),
    "notes.wav": lambda p: p.write_text("Dear diary, this is a text file with a .wav name.\n" * 20),
    "song.m4a": lambda p: p.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00" + bytes(2000)),
    "silence.wav": lambda p: write_wav(p, np.zeros(22_050 * 3, np.float32)),
    "short.wav": lambda p: write_wav(p, speechlike([("pause", 1.0), ("sound", 0.5), ("pause", 1.0)])),
    "empty.wav": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_clips_are_refused_and_nothing_is_written(cloner, engine, tmp_path, library_files, name):
    path = tmp_path / name
    BAD_FILES[name](path)
    with pytest.raises(InputError) as caught:
        cloner.clone(path, "voice")
    assert name in str(caught.value)
    assert library_files() == []


def test_an_oversized_file_is_refused(engine, clips, library_files):
    with pytest.raises(InputError, match="limit"):
        VoiceCloner(engine, max_file_bytes=10_000).clone(clips["wav"], "voice")
    assert library_files() == []


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused_before_anything_runs(cloner, clips, tmp_path, library_files, name):
    with pytest.raises(InputError):
        cloner.clone(clips["wav"], name)
    assert library_files() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing beside the library either


def test_a_failed_write_removes_what_this_call_wrote(cloner, clips, engine, monkeypatch, library_files):
    cloner.clone(clips["wav"], "keep-2")  # an older voice that variant 2 will overwrite
    old = (engine.library.root / "keep-2.npz").read_bytes()
    real_write, calls = fileio.FileSet.write, []

    def failing_write(self, name, data):
        calls.append(name)
        if name == "keep-3.npz":
            raise OSError("disk full")
        real_write(self, name, data)

    monkeypatch.setattr(fileio.FileSet, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        cloner.clone(clips["wav"], "keep", CloneOptions(variants=3), overwrite=True)
    assert calls == ["keep.npz", "keep.json", "keep-2.npz", "keep-2.json", "keep-3.npz"]
    assert library_files() == ["keep-2.json", "keep-2.npz"]
    assert (engine.library.root / "keep-2.npz").read_bytes() == old


def test_missing_model_files_are_model_file_errors(tiny_models, tmp_path, clips):
    from core.engine import Engine, EngineSettings

    engine = Engine(EngineSettings(models_dir=tmp_path, prompts_dir=tmp_path / "p", device="cpu", allow_download=False))
    with pytest.raises(ModelFileError, match="hubert"):
        VoiceCloner(engine).clone(clips["wav"], "voice")
    with pytest.raises(ModelFileError, match="Hobis"):
        VoiceCloner(engine, hubert_path=tiny_models / "facebook/hubert-base-ls960").clone(
            clips["wav"], "voice", CloneOptions(language="pl")
        )
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"language": "xx"},
        {"variants": 0},
        {"variants": 6},
        {"variants": True},
        {"max_seconds": 1.0},
        {"max_seconds": float("nan")},
        {"max_seconds": "15"},
        {"trim_silence": "yes"},
        {"normalize": None},
    ],
)
def test_options_are_validated_naming_the_field(changes):
    with pytest.raises(InputError, match=next(iter(changes))):
        CloneOptions(**changes)


# Command line


def test_cli_clones_and_prints_where(tiny_models, tmp_path, clips, capsys):
    prompts = tmp_path / "prompts"
    base = ["--models-dir", str(tiny_models), "--prompts-dir", str(prompts), "--offline", "--device", "cpu"]
    assert main([str(clips["mp3"]), "--name", "cli", "--variants", "2", *base]) == 0
    out = capsys.readouterr().out
    assert str(prompts / "cli.npz") in out and str(prompts / "cli-2.npz") in out
    assert (prompts / "cli.json").is_file()
    assert main([str(clips["mp3"]), "--name", "cli", *base]) == 2  # taken
    assert "overwrit" in capsys.readouterr().err
    quantizer = tiny_models / QUANTIZERS["en-v0"].repo_id / QUANTIZERS["en-v0"].filename
    local = ["--quantizer", str(quantizer), "--hubert", str(tiny_models / "facebook/hubert-base-ls960")]
    assert main([str(clips["mp3"]), "--name", "cli", "--overwrite", "--no-trim", "--no-normalize", *local, *base]) == 0
    meta = json.loads((prompts / "cli.json").read_text())
    assert meta["quantizer"] == quantizer.name and meta["quantizer_version"] == 0
    assert meta["preparation"]["trim_silence"] is False


def test_cli_exit_status(tiny_models, tmp_path, clips, capsys):
    base = ["--prompts-dir", str(tmp_path / "prompts"), "--offline", "--device", "cpu"]
    text = tmp_path / "text.wav"
    text.write_text("not audio " * 50)
    assert main([str(text), "--name", "x", "--models-dir", str(tiny_models), *base]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("python -m cloning: error:") and "text file" in err[-1]
    assert main([str(clips["wav"]), "--name", "x", "--language", "klingon", *base]) == 2
    assert main([str(clips["wav"]), "--name", "x", "--variants", "9", *base]) == 2
    assert main([str(clips["wav"]), "--name", "../x", *base]) == 2
    assert main([str(clips["wav"]), "--name", "x", "--models-dir", str(tmp_path / "no-such-folder"), *base]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(clips["wav"]), "--name", "x", "--models-dir", str(tmp_path / "empty"), *base]) == 1
    assert "hubert" in capsys.readouterr().err
    assert not (tmp_path / "prompts").exists()
